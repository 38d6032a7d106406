"""Rows of a big SQLite query, read on a thread of their own while the caller works on them.

SQLite releases the GIL while it steps, and stepping is where it reads (overflow pages of large
rows, sorting), so reading overlaps with the caller's parsing. Memory stays bounded by the queue.
Stdlib only: the export's worker process uses it too.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]
Query = Callable[[sqlite3.Connection], sqlite3.Cursor]


def stream_query(connect: Connect, query: Query, *, batch: int = 256, depth: int = 8) -> Iterator[Any]:
    """The rows of ``query(conn)`` on a connection from ``connect()``, fetched ``depth`` batches ahead."""
    batches: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: list[Any] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with connect() as conn:
                cursor = query(conn)
                while not stop.is_set():
                    rows = cursor.fetchmany(batch)
                    if not rows or not put(rows):
                        break
                cursor.close()
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        put(None)

    thread = threading.Thread(target=produce, name="sqlite-stream", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield from item
    finally:
        stop.set()
        thread.join()

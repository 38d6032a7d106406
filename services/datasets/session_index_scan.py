"""Scanning LM (``cais``) events by id range: per-pair call counts and the examples each row yields.

This is the expensive half of building a session index (every ``call_records`` value is parsed), so
it lives in a module without numpy, pydantic or SQLAlchemy that a worker process imports in
milliseconds; on big DBs ``ParallelScan`` shares the ranges between the caller and such workers.
Which records become examples is decided by ``services.datasets.examples``, the exporter's own code (a
shortcut handles the typical record shape and is fuzz-tested against it), so the preview counts
exactly what an export writes.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import sqlite3
import subprocess
import sys
import tempfile
import threading
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from services.common.atomic import atomic_output
from services.common.child_process import child_env, die_with_parent
from services.datasets.examples import ExampleCounters, _example, _loads

#: Example flag bits.
FLAG_IMAGE = 1  # a message carries an image (user or assistant)
FLAG_SEGMENTS = 2  # some content is a list of segments: the reference's validator aborts the export on it

_SCAN_SQL = (
    "SELECT id, session_id, model_name, provider, metadata, {records} FROM events "
    "WHERE event_type = 'cais' AND id >= ? AND id <= ?"
)
_CHECK_EVERY = 2048


@dataclass
class ScanChunk:
    """What one id range holds; tables are local (small ints), the caller maps them to global ids."""

    sessions: list[Any] = field(default_factory=list)
    pairs: list[tuple[Any, Any]] = field(default_factory=list)  # (model_name, provider) as stored
    #: (session, pair) -> LM events, for events with a non-null model_name (the dominant-model rule).
    calls: dict[tuple[int, int], int] = field(default_factory=dict)
    ex_event: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    ex_session: array = field(default_factory=lambda: array("i"))  # type: ignore[type-arg]
    ex_pair: array = field(default_factory=lambda: array("i"))  # type: ignore[type-arg]
    ex_chars: array = field(default_factory=lambda: array("q"))  # type: ignore[type-arg]
    ex_flags: array = field(default_factory=lambda: array("B"))  # type: ignore[type-arg]
    rows: int = 0
    bad_turn: int = 0
    bad_call_records: int = 0
    non_object_output: int = 0
    not_utf8: int = 0
    no_assistant_output: int = 0
    no_prompt: int = 0
    bad_metadata: int = 0  # degraded rows (``ExampleCounters.bad_metadata``), not dropped


class ScanStopped(Exception):
    """``should_stop`` said so."""


def _turn_ok(metadata: Any) -> bool:
    """False when the exporter skips the row: ``metadata.turn`` present but not int()-able."""
    if not isinstance(metadata, dict):
        return True
    turn = metadata.get("turn")
    if turn is None:
        return True
    try:
        int(turn)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _utf8_ok(messages: list[dict[str, Any]]) -> bool:
    """False when the exporter drops the example: some text cannot be written as UTF-8 (a lone
    surrogate from a ``\\udXXX`` escape that json.loads accepted)."""
    try:
        json.dumps(messages, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def example_chars(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """(characters, flags) of one example: content text plus tool-call arguments, as the exporter's
    token estimate counts them; FLAG_SEGMENTS when some content is a segment list."""
    chars = 0
    flags = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            flags |= FLAG_SEGMENTS
            chars += sum(len(s.get("text", "")) for s in content if isinstance(s, dict))
        for call in message.get("tool_calls", ()):
            chars += len(call["function"]["arguments"])
    return chars, flags


def _plain_text(parts: Any) -> str | None:
    """The text of a one-text-part message (the common shape), else None."""
    if type(parts) is list and len(parts) == 1:
        part = parts[0]
        if type(part) is dict and part.get("type") == "text":
            text = part.get("text")
            if type(text) is str:
                return text
    return None


def _common_shape(record: Any) -> int | None:
    """Characters of the example a typical record gives (text-only messages, tool calls with string
    arguments in the output JSON), or None for any other shape: those go through the exporter's own
    ``_example``. Same verdict and count, 3x faster on the records every Crafter DB is made of."""
    if type(record) is not dict:
        return None
    inputs = record.get("input_messages")
    output_text = record.get("output_text")
    if type(inputs) is not list or type(output_text) is not str or not output_text:
        return None
    chars = 0
    kept = 0
    for message in inputs:
        if type(message) is not dict:
            return None
        text = _plain_text(message.get("parts"))
        if text is None:
            return None
        if text:
            kept += 1
            chars += len(text)
    try:
        parsed = orjson.loads(output_text)  # no json fallback here: a text only json reads goes the slow way
    except orjson.JSONDecodeError:
        return None
    if type(parsed) is not dict or not parsed:
        return None
    choices = parsed.get("choices")
    if type(choices) is not list or not choices or type(choices[0]) is not dict:
        return None
    message = choices[0].get("message")
    if type(message) is not dict or not message:
        return None
    content = message.get("content")
    calls = message.get("tool_calls")
    if (content is not None and type(content) is not str) or type(calls) is not list or not calls:
        return None
    for call in calls:
        function = call.get("function") if type(call) is dict else None
        if type(function) is not dict or type(function.get("arguments")) is not str:
            return None
        chars += len(function["arguments"])
    if not kept:
        return None  # fewer than 2 messages: let _example say so
    return chars + len(content or "")


def scan_lm_events(
    uri: str,
    lo: int,
    hi: int,
    *,
    has_records: bool = True,
    timeout: float = 5.0,
    should_stop: Callable[[], bool] | None = None,
) -> ScanChunk:
    """Scan ``cais`` events with ``lo <= id <= hi`` of the read-only DB at ``uri``."""
    out = ScanChunk()
    sess_ids: dict[Any, int] = {}
    pair_ids: dict[tuple[Any, Any], int] = {}
    calls = out.calls
    counters = ExampleCounters()
    add_event, add_session, add_pair = out.ex_event.append, out.ex_session.append, out.ex_pair.append
    add_chars, add_flags = out.ex_chars.append, out.ex_flags.append
    conn = sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    try:
        cursor = conn.execute(_SCAN_SQL.format(records="call_records" if has_records else "NULL"), (lo, hi))
        rows = 0
        for event_id, sid, model, provider, meta_text, records_text in cursor:
            rows += 1
            if should_stop is not None and rows % _CHECK_EVERY == 0 and should_stop():
                raise ScanStopped
            s = sess_ids.get(sid)
            if s is None:
                s = sess_ids[sid] = len(out.sessions)
                out.sessions.append(sid)
            key = (model, provider)
            p = pair_ids.get(key)
            if p is None:
                p = pair_ids[key] = len(out.pairs)
                out.pairs.append(key)
            if model is not None:
                calls[s, p] = calls.get((s, p), 0) + 1
            if records_text is None:
                continue
            meta = _loads(meta_text)
            if meta_text is not None and not isinstance(meta, dict):
                out.bad_metadata += 1
            if not _turn_ok(meta):
                out.bad_turn += 1
                continue
            # The exporter parses with orjson, falling back to json.loads; only the fallback can make
            # lone surrogates (which orjson refuses), so only then is UTF-8 checked per example.
            try:
                records, clean = orjson.loads(records_text), True
            except orjson.JSONDecodeError:
                records, clean = _loads(records_text), False
            if not isinstance(records, list) or not records:
                out.bad_call_records += 1
                continue
            for record in records:
                common = _common_shape(record) if clean else None
                if common is not None:
                    chars, flags = common, 0
                else:
                    example = _example(record, counters)
                    if example is None:
                        continue
                    if not _utf8_ok(example[0]):
                        out.not_utf8 += 1
                        continue
                    chars, flags = example_chars(example[0])
                    if example[1] or example[2]:
                        flags |= FLAG_IMAGE
                add_event(event_id)
                add_session(s)
                add_pair(p)
                add_chars(chars)
                add_flags(flags)
        out.rows = rows
    finally:
        conn.close()
    out.bad_call_records += counters.bad_call_records
    out.non_object_output = counters.non_object_output
    out.no_assistant_output = counters.no_assistant_output
    out.no_prompt = counters.no_prompt
    return out


# --------------------------------------------------------------------------------------------------
# Worker process: ``python -c "from services.datasets.session_index_scan import worker_main; worker_main()" JOB``.
# A plain subprocess, not multiprocessing: nothing of the parent's __main__ is re-imported, so it
# behaves the same under the TUI, pytest and ad-hoc scripts. The parent hands out id ranges one at a
# time on stdin ("INDEX LO HI"), so fast and slow workers (and the parent itself) share the work; each
# chunk goes to a pickle file, and only a short line comes back on stdout, so a busy parent never
# stalls a worker on a full pipe.


def chunk_path(outdir: str | Path, index: int) -> Path:
    return Path(outdir) / f"chunk-{index}.pkl"


def load_chunk(outdir: str | Path, index: int) -> ScanChunk:
    with chunk_path(outdir, index).open("rb") as fh:
        chunk = pickle.load(fh)  # written by our own worker into our own temp dir
    if not isinstance(chunk, ScanChunk):
        raise TypeError(f"unexpected chunk payload {type(chunk).__name__}")
    return chunk


def worker_main() -> None:
    """Answer each "INDEX LO HI" line with "INDEX" once OUTDIR/chunk-INDEX.pkl is written, or with
    "! message" (then exit) when SQLite fails."""
    job = json.loads(sys.argv[1])
    die_with_parent(job.get("parent"))  # a killed app or CLI leaves no scanner behind
    for line in sys.stdin:
        index, lo, hi = (int(x) for x in line.split())
        try:
            chunk = scan_lm_events(job["uri"], lo, hi, timeout=job["timeout"])
        except sqlite3.Error as exc:
            print("! " + " ".join(str(exc).split()), flush=True)
            return
        with atomic_output(chunk_path(job["outdir"], index), durable=False) as out:  # scratch: no fsync
            pickle.dump(chunk, out, protocol=pickle.HIGHEST_PROTOCOL)
        print(index, flush=True)


# --------------------------------------------------------------------------------------------------
# The parent side: ranges shared between this thread and the worker processes.

T = TypeVar("T")
_Result = tuple[int, "ScanChunk | None", "str | None"]  # (range index, chunk or None if lost, SQLite error)
_WORKER = "from services.datasets.session_index_scan import worker_main; worker_main()"


class ParallelScan:
    """Scan id ranges in this thread, helped by ``workers`` child processes that take ranges one at
    a time. A worker that cannot start or dies leaves its ranges to this thread; an SQLite error in a
    worker is raised here as sqlite3.OperationalError; ``should_stop`` raises ScanStopped."""

    def __init__(
        self,
        uri: str,
        ranges: list[tuple[int, int]],
        *,
        timeout: float = 5.0,
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.uri, self.ranges, self.timeout = uri, ranges, timeout
        self.progress, self.should_stop = progress, should_stop
        self.pending = deque(enumerate(ranges))
        self.lock = threading.Lock()

    def _check_stop(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise ScanStopped

    def _take(self) -> tuple[int, tuple[int, int]] | None:
        with self.lock:
            return self.pending.popleft() if self.pending else None

    def run(self, workers: int, meanwhile: Callable[[], T]) -> tuple[list[ScanChunk], T]:
        """Start the workers, run ``meanwhile`` here (other reads), then scan here too until every
        range is done; chunks come back in range order."""
        results: queue.Queue[_Result] = queue.Queue()
        chunks: dict[int, ScanChunk] = {}
        lost: list[int] = []

        def done(index: int, chunk: ScanChunk) -> None:
            chunks[index] = chunk
            if self.progress is not None:
                self.progress(chunk.rows)

        def collect(block: bool) -> None:
            try:
                while True:
                    index, chunk, error = results.get(timeout=0.1) if block else results.get_nowait()
                    if error is not None:
                        raise sqlite3.OperationalError(error)
                    if chunk is None:
                        lost.append(index)
                    else:
                        done(index, chunk)
                    if block:
                        return
            except queue.Empty:
                return

        def scan_here(index: int) -> None:
            done(index, scan_lm_events(self.uri, *self.ranges[index], timeout=self.timeout,
                                       should_stop=self.should_stop))  # fmt: skip

        procs: list[subprocess.Popen[str]] = []
        with tempfile.TemporaryDirectory(prefix="sft-studio-index-") as outdir:
            try:
                for _ in range(workers):
                    proc = _start_worker(self.uri, self.timeout, outdir)
                    if proc is None:
                        break
                    procs.append(proc)
                    threading.Thread(target=self._feed, args=(proc, outdir, results), daemon=True).start()
                extra = meanwhile()
                while (item := self._take()) is not None:
                    self._check_stop()
                    collect(block=False)
                    scan_here(item[0])
                while len(chunks) < len(self.ranges):
                    self._check_stop()
                    collect(block=True)
                    while lost:  # ranges of a worker that died
                        scan_here(lost.pop())
            finally:
                for proc in procs:
                    _end_worker(proc)
        self._check_stop()
        return [chunks[i] for i in range(len(self.ranges))], extra

    def _feed(self, proc: subprocess.Popen[str], outdir: str, results: queue.Queue[_Result]) -> None:
        """Hand ``proc`` one range at a time and report each chunk (None: the worker is gone)."""
        assert proc.stdin is not None and proc.stdout is not None
        while (item := self._take()) is not None:
            index, (lo, hi) = item
            try:
                proc.stdin.write(f"{index} {lo} {hi}\n")
                proc.stdin.flush()
                answer = proc.stdout.readline().strip()
                if answer.startswith("!"):
                    results.put((index, None, answer[1:].strip()))
                    return
                if answer != str(index):
                    results.put((index, None, None))
                    return
                results.put((index, load_chunk(outdir, index), None))
            except (OSError, ValueError, EOFError, TypeError, pickle.UnpicklingError):
                results.put((index, None, None))
                return


def _start_worker(uri: str, timeout: float, outdir: str) -> subprocess.Popen[str] | None:
    env = child_env()
    job = json.dumps({"uri": uri, "timeout": timeout, "outdir": outdir, "parent": os.getpid()})
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _WORKER, job],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )
    except OSError:
        return None


def _end_worker(proc: subprocess.Popen[str]) -> None:
    """Close the worker's input (it exits after its current range); kill it if it lingers."""
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()

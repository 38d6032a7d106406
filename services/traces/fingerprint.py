"""A cheap fingerprint of a trace DB on disk, so auto-refresh recomputes only when a writer changed it."""

from __future__ import annotations

import os
from pathlib import Path

from services.traces.db import SQLD_DATA

Signature = tuple[tuple[str, int, int], ...]


def db_signature(path: Path) -> Signature | None:
    """(name, size, mtime_ns) of the SQLite file behind ``path`` and its ``-wal`` file; None if absent.

    The WAL file matters: a collector in WAL mode appends there, and the main file only changes at
    checkpoints. Only ``os.stat`` calls, so it is safe to run on a timer in the event loop.
    """
    target = path / SQLD_DATA if path.is_dir() else path
    parts: list[tuple[str, int, int]] = []
    for suffix in ("", "-wal"):
        try:
            st = os.stat(f"{target}{suffix}")
        except OSError:
            continue
        parts.append((suffix or "db", st.st_size, st.st_mtime_ns))
    return tuple(parts) or None

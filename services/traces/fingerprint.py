"""A cheap fingerprint of a trace DB on disk, so auto-refresh recomputes only when a writer changed it."""

from __future__ import annotations

import os
from pathlib import Path

from services.traces.db_path import SQLD_DATA

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


#: (part, size, mtime_ns, ctime_ns, inode) of the main file ("db") and of a non-empty "-wal" (ctime 0).
Fingerprint = tuple[tuple[str, int, int, int, int], ...]

#: A file changed this recently (seconds) may change again within the same timestamp tick without
#: changing its fingerprint: answers computed from it are not kept (git's "racy" rule).
SETTLE_S = 1.0


def content_fingerprint(path: Path) -> Fingerprint | None:
    """A stricter fingerprint for caches that answer *instead of* reading the DB (stats, count):
    ``db_signature``'s size and mtime of the main file and the ``-wal``, plus the inode (a file
    replaced by another) and the main file's ctime (which no ``touch``/``utime`` can set back). None
    if the file is absent.

    ``path`` is the SQLite file itself (``services.traces.db_path.resolve_db_path``). A WAL-mode
    writer appends frames to the ``-wal`` or, after a checkpoint, rewrites it from its start: either
    way its mtime and ctime move. An empty ``-wal`` holds no frame (the DB reads as its main file; a
    reader of a WAL-mode DB leaves one behind), so it counts as absent.

    Only ``os.stat``, never ``open``: closing a descriptor of the DB file would drop every POSIX lock
    this process holds on it, SQLite's included (see ``services.datasets.export._DBHash``), and a
    collector may be writing to it from another thread. Use ``is_settled`` before keeping an answer.
    """
    parts: list[tuple[str, int, int, int, int]] = []
    for part in ("db", "-wal"):
        try:
            st = os.stat(f"{path}{'' if part == 'db' else part}")
        except OSError:
            continue
        if part == "-wal" and st.st_size == 0:
            continue
        # Not the -wal's ctime: SQLite, run as root, fchowns the -wal each time it opens it, so every
        # reader would move it. Its frames only ever change with its size or mtime.
        ctime = st.st_ctime_ns if part == "db" else 0
        parts.append((part, st.st_size, st.st_mtime_ns, ctime, st.st_ino))
    if not parts or parts[0][0] != "db":
        return None
    return tuple(parts)


def is_settled(fingerprint: Fingerprint, taken_at: float) -> bool:
    """Whether no file of ``fingerprint`` (taken at ``time.time()`` = ``taken_at``) was modified within
    ``SETTLE_S`` before: only then can no later write hide in the same timestamp tick (a write sets the
    mtime to its own tick, so an older mtime always moves)."""
    newest = max(mtime for _part, _size, mtime, _ctime, _ino in fingerprint) / 1e9
    return taken_at - newest >= SETTLE_S

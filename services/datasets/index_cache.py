"""A session index kept between commands: ``sft-studio count`` answers from it while the DB is
unchanged, instead of reading the whole DB again (issue 10 item 23: count was 0.55x the reference's
selection on a 3,000-session DB, all of it the index build).

One file per DB (by its resolved path) under the data dir's ``index-cache/``, written atomically. It
is used only when its DB fingerprints (``services.traces.fingerprint``: ``db_signature`` and the
stricter ``content_fingerprint``, main file and ``-wal``) still match, the path is the same and the
cache format is this version's; anything else (a missing, stale or unreadable file) means "build
again". An index of a DB modified within the last second is not kept (``fingerprint.is_settled``).
The file is a pickle: it is only ever read from the user's own data dir, where only sft-studio
writes it.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from pathlib import Path

from services.common.atomic import keep_best_effort
from services.common.data_dir import data_dir
from services.datasets.session_index import SessionIndex
from services.traces.db import TraceDB
from services.traces.fingerprint import Fingerprint, content_fingerprint, is_settled

#: Bumped whenever SessionIndex's fields or the file's layout change, so an old file is never read.
CACHE_FORMAT = 2


def _code_stamp() -> str:
    """The cache format plus a hash of the code that builds an index (the index modules and the skip
    reasons): a file written by other code is never read, even when nobody remembered to bump
    ``CACHE_FORMAT``."""
    import services.datasets.session_index as index_module
    import services.datasets.session_index_scan as scan_module
    import services.traces.skipped as skipped_module

    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for module in (index_module, scan_module, skipped_module):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def cache_file(db: TraceDB) -> Path:
    key = hashlib.sha256(str(db.path.resolve()).encode()).hexdigest()[:24]
    return data_dir() / "index-cache" / f"{key}.pickle"


def load_index(db: TraceDB) -> SessionIndex | None:
    """The cached index of ``db`` if it still describes it, else None."""
    try:
        with cache_file(db).open("rb") as f:
            fmt, path, fingerprint, index = pickle.load(f)
    except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError, pickle.UnpicklingError):
        return None
    if fmt != _code_stamp() or path != str(db.path.resolve()) or not isinstance(index, SessionIndex):
        return None
    # The content fingerprint as well as the index's own signature: inode and ctime too.
    if fingerprint is None or fingerprint != content_fingerprint(db.path.resolve()):
        return None
    return index if index.is_current(db) else None


def save_index(db: TraceDB, index: SessionIndex, fingerprint: Fingerprint) -> None:
    """Keep ``index`` (built from the DB state ``fingerprint``, taken before the build) for the next
    command (best effort: a cache that cannot be written is no error)."""
    data = (_code_stamp(), str(db.path.resolve()), fingerprint, index)
    keep_best_effort(cache_file(db), pickle.dumps(data, protocol=5))


def cached_index(db: TraceDB) -> tuple[SessionIndex, bool]:
    """(index, whether it came from the cache): built and kept when there is none for ``db``'s state."""
    index = load_index(db)
    if index is not None:
        return index, True
    taken_at = time.time()
    fingerprint = content_fingerprint(db.path.resolve())  # taken first: a write during the build shows
    index = SessionIndex.build(db)
    if fingerprint is not None and is_settled(fingerprint, taken_at):  # else a write could hide in its tick
        save_index(db, index, fingerprint)
    return index, False

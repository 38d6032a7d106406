"""Stats kept between commands: ``sft-studio stats`` and the Traces pane answer an unchanged DB from the
last computation instead of reading it again (issue 10 item 23: on a 3,000-session DB the reading was
as slow as synth-ai's analyze_trace_db.py, half of it SQLAlchemy's import).

One JSON file per DB (by its resolved path) under the data dir's ``stats-cache/``, written atomically
there, never beside the DB. It is used only when everything below still matches, else the DB is read
again (a first run, or any change, costs what it did before):

- the DB's content fingerprint (``fingerprint.content_fingerprint``: size, mtime, ctime and inode of
  the main file and its ``-wal``, so rows a WAL-mode writer appended count as a change while the main
  file is untouched); stats of a DB modified within the last second are not kept at all
  (``fingerprint.is_settled``: a write in the same timestamp tick would not show);
- the resolved path;
- a stamp of the code that computes stats (a hash of its modules' source), so a file written by
  other code is never read.

A hit imports neither SQLAlchemy nor the computation, and never opens the DB through SQLite. What
depends on the call rather than on the DB (the path as given, the file's size now, the time this
answer took) is filled in afresh; every other figure is what the computation returned.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.atomic import keep_best_effort
from services.common.data_dir import data_dir
from services.traces.db_path import resolve_db_path
from services.traces.fingerprint import Fingerprint, content_fingerprint, is_settled
from services.traces.stats_models import TraceStats

if TYPE_CHECKING:
    from services.traces.db import TraceDB

#: Bumped when the file's layout changes.
CACHE_FORMAT = 1
#: The modules whose code decides the figures (all in this package).
_COMPUTING = ("stats.py", "stats_models.py", "rewards.py", "achievement_keys.py", "skipped.py", "db.py", "schema.py")

ComputeFn = Callable[["TraceDB"], TraceStats]


def _code_stamp() -> str:
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    here = Path(__file__).parent
    for name in _COMPUTING:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def cache_file(resolved: Path) -> Path:
    """Where the stats of the DB at ``resolved`` (a resolved SQLite file path) are kept."""
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:24]
    return data_dir() / "stats-cache" / f"{key}.json"


def _as_json(fingerprint: Fingerprint) -> list[list[Any]]:
    return [list(part) for part in fingerprint]


def load_stats(resolved: Path, fingerprint: Fingerprint) -> TraceStats | None:
    """The kept stats of the DB at ``resolved`` if they describe its state ``fingerprint``, else None."""
    try:
        data = json.loads(cache_file(resolved).read_bytes())
        if (
            data["code"] != _code_stamp()
            or data["path"] != str(resolved)
            or data["fingerprint"] != _as_json(fingerprint)
        ):
            return None
        return TraceStats.model_validate(data["stats"])
    except (OSError, ValueError, KeyError, TypeError):  # pydantic's ValidationError is a ValueError
        return None


def save_stats(resolved: Path, fingerprint: Fingerprint, stats: TraceStats) -> None:
    """Keep ``stats`` for the next call (best effort: a cache that cannot be written is no error)."""
    target = cache_file(resolved)
    data = {
        "code": _code_stamp(),
        "path": str(resolved),
        "fingerprint": _as_json(fingerprint),
        "stats": stats.model_dump(mode="json"),
    }
    keep_best_effort(target, json.dumps(data).encode())


def cached_stats(
    path: Path, *, busy_timeout_s: float = 5.0, compute: ComputeFn | None = None
) -> tuple[TraceStats, bool]:
    """(stats of the trace DB at ``path``, whether they came from the cache).

    Raises TraceDBError (plain message) as ``TraceDB``/``compute_stats`` do when the DB has to be read
    and cannot be. ``compute`` replaces ``compute_stats`` (tests)."""
    started = time.perf_counter()
    sqlite_file = resolve_db_path(path)
    resolved = sqlite_file.resolve()
    taken_at = time.time()
    before = content_fingerprint(resolved)
    if before is not None:
        stats = load_stats(resolved, before)
        if stats is not None:
            header = stats.header
            header.path = str(Path(path))
            header.resolved_path = str(resolved)
            header.size_bytes = os.stat(resolved).st_size
            header.elapsed_s = time.perf_counter() - started
            return stats, True
    from services.traces.db import TraceDB
    from services.traces.stats import compute_stats

    with TraceDB(path, busy_timeout_s=busy_timeout_s) as db:
        stats = (compute or compute_stats)(db)
    # The fingerprint taken before reading: a write during the computation shows as a change next time.
    if before is not None and is_settled(before, taken_at):
        save_stats(resolved, before, stats)
    return stats, False

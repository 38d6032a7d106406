"""The sha256 of a trace DB's file, kept between exports while the file is unchanged (issue 10 item
23): every export's manifest names the source DB by its hash, and hashing a 365 MiB DB took a third
of a core-second beside the export's own work on a 2-core machine.

One JSON file per DB (by its resolved path) under the data dir's ``db-hash-cache/``, written
atomically there, never beside the DB. A kept hash is used only while the DB's content fingerprint
(``services.traces.fingerprint.content_fingerprint``: size, mtime, inode and ctime of the file, and
its ``-wal``) is the one it was computed under; it is kept only when that fingerprint was the same
before and after the hashing and the file had not been modified within the last second
(``is_settled``), so a hash of a file that changed while it was read is never reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from services.common.atomic import keep_best_effort
from services.common.data_dir import data_dir
from services.traces.fingerprint import Fingerprint

#: Bumped when the file's layout changes.
CACHE_FORMAT = 1


def cache_file(resolved: Path) -> Path:
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:24]
    return data_dir() / "db-hash-cache" / f"{key}.json"


def _fingerprint_json(fingerprint: Fingerprint) -> list[list[Any]]:
    return [list(part) for part in fingerprint]


def load_sha256(resolved: Path, fingerprint: Fingerprint) -> str | None:
    """The kept sha256 of the file at ``resolved`` (a resolved path) in the state ``fingerprint``, or None."""
    try:
        data = json.loads(cache_file(resolved).read_bytes())
        if (
            data["format"] != CACHE_FORMAT
            or data["path"] != str(resolved)
            or data["fingerprint"] != _fingerprint_json(fingerprint)
        ):
            return None
        sha = data["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) and len(sha) == 64 else None


def save_sha256(resolved: Path, fingerprint: Fingerprint, sha: str) -> None:
    """Keep ``sha`` (best effort: a cache that cannot be written is no error)."""
    data = {"format": CACHE_FORMAT, "path": str(resolved), "fingerprint": _fingerprint_json(fingerprint), "sha256": sha}
    target = cache_file(resolved)
    keep_best_effort(target, json.dumps(data).encode())

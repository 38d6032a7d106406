"""Answers of `sft-studio count` kept between commands, per filter: the same filter on an unchanged DB
is answered without the index, numpy or SQLAlchemy (issue 10 item 23: most of a cached-index count
was importing them, not counting).

One JSON file per DB (by its resolved path) under the data dir's ``count-cache/``, written atomically
there, never beside the DB. It holds the answers (preview figures and filter warnings) of the last
``MAX_ANSWERS`` filters asked, and is used only when all of this still matches, else `count` reads
its index as before (``index_cache``, which builds it when the DB changed):

- the DB's content fingerprint (``services.traces.fingerprint.content_fingerprint``: size, mtime,
  ctime and inode of the main file and its ``-wal``, so a WAL-only append counts as a change); the
  caller keeps no answer for a DB modified within the last second (``fingerprint.is_settled``);
- the resolved path;
- a stamp of the code that computes an answer (a hash of the source of ``services/datasets``, the
  trace readers it uses, and the caller's modules that turn its input into a ``FilterSpec``), so an
  answer computed by other code is never shown.

The caller keys each answer by the filter *as given* (`count`: its filter flags and the bytes of its
preset file), so a hit needs neither pydantic nor the spec's validation: the same input gives the same
spec, and an input that gives no valid spec never has an answer kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.common.atomic import keep_best_effort
from services.common.data_dir import data_dir
from services.traces.fingerprint import Fingerprint

#: Bumped when the file's layout changes.
CACHE_FORMAT = 1
#: Answers kept per DB (the one computed longest ago goes first).
MAX_ANSWERS = 32
_TRACE_MODULES = ("achievement_keys.py", "db.py", "fingerprint.py", "rewards.py", "schema.py", "skipped.py",
                  "snapshot.py", "sqlite_stream.py")  # fmt: skip


def _code_stamp(caller_code: Sequence[Path]) -> str:
    datasets = Path(__file__).parent
    traces = datasets.parent / "traces"
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for path in [*sorted(datasets.glob("*.py")), *(traces / name for name in _TRACE_MODULES), *caller_code]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_file(resolved: Path) -> Path:
    """Where the answers for the DB at ``resolved`` (a resolved SQLite file path) are kept."""
    key = hashlib.sha256(str(resolved).encode()).hexdigest()[:24]
    return data_dir() / "count-cache" / f"{key}.json"


def _fingerprint_json(fingerprint: Fingerprint) -> list[list[Any]]:
    return [list(part) for part in fingerprint]


def _read(resolved: Path, fingerprint: Fingerprint, stamp: str) -> dict[str, Any]:
    """The file's answers if it describes this DB state and code, else {}."""
    try:
        data = json.loads(cache_file(resolved).read_bytes())
        if (
            data["code"] != stamp
            or data["path"] != str(resolved)
            or data["fingerprint"] != _fingerprint_json(fingerprint)
            or not isinstance(data["answers"], dict)
        ):
            return {}
        answers: dict[str, Any] = data["answers"]
        return answers
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def load_answer(
    resolved: Path, fingerprint: Fingerprint, key: str, caller_code: Sequence[Path]
) -> dict[str, Any] | None:
    """The answer kept under ``key`` for the DB state ``fingerprint`` (a JSON object, as saved), or
    None. ``caller_code``: the caller's source files that map its input to the spec ``key`` names."""
    answer = _read(resolved, fingerprint, _code_stamp(caller_code)).get(key)
    return answer if isinstance(answer, dict) else None


def save_answer(
    resolved: Path, fingerprint: Fingerprint, key: str, caller_code: Sequence[Path], answer: dict[str, Any]
) -> None:
    """Keep ``answer`` beside the other answers for this DB state (best effort: no error if it cannot)."""
    stamp = _code_stamp(caller_code)
    answers = _read(resolved, fingerprint, stamp)
    answers.pop(key, None)
    answers[key] = answer
    while len(answers) > MAX_ANSWERS:
        answers.pop(next(iter(answers)))
    data = {"code": stamp, "path": str(resolved), "fingerprint": _fingerprint_json(fingerprint), "answers": answers}
    target = cache_file(resolved)
    keep_best_effort(target, json.dumps(data).encode())

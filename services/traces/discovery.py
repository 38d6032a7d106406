"""Which trace DB a command or the app opens, by one rule everywhere (issue 10 item 1).

1. the path given with ``--db``;
2. else where synth-ai's exporter looks: ``DEMO_DIR`` from ``~/.synth-ai/demo.json``, then
   ``traces/v3/synth_ai.db`` in the current folder and each parent, then ``~/synth-ai/...``;
3. else sft-studio's demo DB (when it exists; the app builds it, ``sft-studio demo`` too).

:func:`find_trace_db` says which rule chose the DB and where it looked, so every command can print
the same line. Standard library only: ``sft-studio --version`` and ``--help`` must not pay for
SQLAlchemy (``services.traces.db`` re-exports these names for older callers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_RELATIVE = Path("traces/v3/synth_ai.db")

#: Rule names (:attr:`DBChoice.rule`), each with the phrase that explains it to the user.
RULE_FLAG = "--db"
RULE_SYNTH_DEMO = "demo.json"
RULE_UPWARD = "found upward"
RULE_HOME = "~/synth-ai"
RULE_DEMO = "demo DB"
RULE_NONE = "none found"
RULE_PHRASES = {
    RULE_FLAG: "given with --db",
    RULE_SYNTH_DEMO: "DEMO_DIR in ~/.synth-ai/demo.json, as synth-ai's exporter finds it",
    RULE_UPWARD: "traces/v3/synth_ai.db in the current folder or a parent, as synth-ai's exporter finds it",
    RULE_HOME: "~/synth-ai/traces/v3/synth_ai.db, as synth-ai's exporter finds it",
    RULE_DEMO: "sft-studio's demo DB: no synth-ai trace DB was found",
    RULE_NONE: "no trace DB found",
}


@dataclass(frozen=True)
class DBChoice:
    """The DB chosen (``path`` None: none found), the rule that chose it, and every place looked at."""

    path: Path | None
    rule: str
    looked: tuple[Path, ...] = field(default=())

    @property
    def why(self) -> str:
        """The rule as a phrase: "given with --db", "sft-studio's demo DB: ..."."""
        return RULE_PHRASES[self.rule]


def _demo_dir_candidate(home: Path) -> Path | None:
    demo = home / ".synth-ai" / "demo.json"
    try:
        data = json.loads(demo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    demo_dir = data.get("DEMO_DIR") if isinstance(data, dict) else None
    return Path(demo_dir) / DEFAULT_RELATIVE if isinstance(demo_dir, str) and demo_dir else None


def _ruled_candidates(cwd: Path | None, home: Path | None) -> list[tuple[Path, str]]:
    cwd = (cwd or Path.cwd()).resolve()
    home = home or Path.home()
    found: list[tuple[Path, str]] = []
    demo = _demo_dir_candidate(home)
    if demo is not None:
        found.append((demo, RULE_SYNTH_DEMO))
    found += [(parent / DEFAULT_RELATIVE, RULE_UPWARD) for parent in (cwd, *cwd.parents)]
    found.append((home / "synth-ai" / DEFAULT_RELATIVE, RULE_HOME))
    unique: list[tuple[Path, str]] = []
    for path, rule in found:
        if all(path != p for p, _ in unique):
            unique.append((path, rule))
    return unique


def discovery_candidates(cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """Where the reference exporter looks for a DB without ``--db``, in its order."""
    return [path for path, _ in _ruled_candidates(cwd, home)]


def locate_db(explicit: str | Path | None = None, cwd: Path | None = None, home: Path | None = None) -> Path | None:
    """The DB to open: ``explicit`` if given (as typed), else the first synth-ai location that exists."""
    return find_trace_db(explicit, cwd=cwd, home=home).path


def find_trace_db(
    explicit: str | Path | None = None,
    *,
    demo: Path | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> DBChoice:
    """The one rule: ``explicit`` (as typed, even if absent: the command reports that), else the first
    synth-ai location that exists, else ``demo`` when it exists; else a choice with ``path`` None
    listing every place looked at (``demo`` last)."""
    if explicit is not None:
        return DBChoice(Path(explicit), RULE_FLAG)
    ruled = _ruled_candidates(cwd, home)
    looked = tuple(path for path, _ in ruled) + ((demo,) if demo is not None else ())
    for path, rule in ruled:
        if path.exists():
            return DBChoice(path, rule, looked)
    if demo is not None and demo.exists():
        return DBChoice(demo, RULE_DEMO, looked)
    return DBChoice(None, RULE_NONE, looked)

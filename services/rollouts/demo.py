"""The embedded default: a demo trace DB made by our own policies, in the user data dir.

The README's first command opens the app on something real. The demo DB is recorded by the
scripted teacher and the random policy under two model names (so filters have something to
separate), through the same collector and trace writer as any user collection. Building it again
adds nothing: session ids are fixed per (policy, seed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from services.common.data_dir import data_dir

if TYPE_CHECKING:  # the collector pulls in crafter: imported only when a demo is built
    from services.rollouts.collector import CollectProgress, CollectSpec

DEMO_TEACHER_SEEDS = (0, 119)
DEMO_RANDOM_SEEDS = (0, 79)
DEMO_MAX_TURNS = 30
#: How long a build takes, as the README, the app's build screen, its help and `demo --help` say it
#: (measured: bench/bench_demo.py, bench/RESULTS.md). The time follows the free CPU: 21.8 s on a quiet
#: 2-core machine when crafter built the 120 worlds in pure Python (~0.2 s each; ~30 ms since
#: services/crafter/fast_worldgen.py), and on a crowded one 166 s before that port, 104 s after it.
BUILD_TIME = (
    "under half a minute on a quiet 2-core machine, one to a few minutes when other programs keep the CPUs busy"
)


def demo_db_path() -> Path:
    """Where the demo lives: under the data dir (``services.common.data_dir``)."""
    return data_dir() / "demo" / "traces" / "v3" / "synth_ai.db"


COMPLETE_MARKER = ".complete"


def demo_is_complete(db: Path | None = None) -> bool:
    """True once a build finished: an interrupted first start is completed by the next one."""
    db = db or demo_db_path()
    return db.exists() and (db.parent / COMPLETE_MARKER).exists()


@dataclass(frozen=True)
class DemoPart:
    label: str
    spec: CollectSpec


def demo_parts(db: Path) -> list[DemoPart]:
    from services.rollouts.collector import CollectSpec

    return [
        DemoPart(
            label="teacher",
            spec=CollectSpec(
                db=db, policy="teacher", seeds=DEMO_TEACHER_SEEDS, max_turns=DEMO_MAX_TURNS, concurrency=2
            ),
        ),
        DemoPart(
            label="random",
            spec=CollectSpec(db=db, policy="random", seeds=DEMO_RANDOM_SEEDS, max_turns=DEMO_MAX_TURNS, concurrency=2),
        ),
    ]


def build_demo(
    db: Path | None = None,
    on_progress: Callable[[str, CollectProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Create (or complete) the demo DB and return its path; stopping keeps what finished.

    Raises CollectError (or TraceDBError) with the reason when a part fails.
    """
    from services.rollouts.collector import CollectError, collect

    db = db or demo_db_path()
    for part in demo_parts(db):
        result = collect(part.spec, _labelled(part.label, on_progress), should_stop)
        if result.stopped == "stopped on request":
            return db
        if result.stopped:
            raise CollectError(f"The demo's {part.label} part stopped: {result.stopped}")
    (db.parent / COMPLETE_MARKER).write_text("built by sft-studio demo\n", encoding="utf-8")
    return db


def _labelled(
    label: str, on_progress: Callable[[str, CollectProgress], None] | None
) -> Callable[[CollectProgress], None] | None:
    if on_progress is None:
        return None
    return lambda progress: on_progress(label, progress)

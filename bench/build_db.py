"""Build the benchmark trace DB (default: 10,000 sessions x 20 decisions) through our trace writer.

The DB is what ``tests.support.tracegen.build_db(path, sessions=..., decisions=..., style=KeyStyle.REFERENCE,
seed=0, quirks=False)`` writes, byte for byte, but episodes are generated one at a time and streamed
into the writer instead of being held in a list first, so a 10k-session build stays small in memory.
An existing file is reused (delete it, or pass --force, to rebuild).

    uv run python bench/build_db.py                      # bench/out/bench_10k.db
    uv run python bench/build_db.py --sessions 200 --decisions 5
    uv run python bench/build_db.py --size mid           # bench/out/bench_3000x15.db (~370 MB, issue 10 item 23)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First on the path, always: opensimplex 0.3 installs a top-level `tests` package into site-packages,
# which would shadow this repository's tests/ (the editable install only appends the root).
sys.path[:0] = [str(ROOT)]

from services.traces.achievement_keys import KeyStyle  # noqa: E402
from services.traces.writer import Episode, TraceWriter  # noqa: E402
from tests.support.tracegen import fixed_clock, make_episode  # noqa: E402

OUT = ROOT / "bench" / "out"
SEED = 0
#: Named shapes: ``mid`` is issue 10's mid-size DB (3,000 sessions x 15 decisions, ~8 KB per decision).
SIZES = {"big": (10_000, 20), "mid": (3_000, 15)}


def default_path(sessions: int, decisions: int) -> Path:
    if (sessions, decisions) == (10_000, 20):
        return OUT / "bench_10k.db"
    return OUT / f"bench_{sessions}x{decisions}.db"


def _episodes(sessions: int, decisions: int, seed: int) -> Iterator[Episode]:
    # Same draws in the same order as tests.support.tracegen.build_db(quirks=False): one rng, episode by episode.
    rng = random.Random(seed)
    for i in range(sessions):
        yield make_episode(rng, i, decisions=decisions, style=KeyStyle.REFERENCE)


def build(path: Path, sessions: int, decisions: int, seed: int = SEED) -> float:
    """Write the DB at ``path`` (must not exist); return the build time in seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.unlink(missing_ok=True)
    clock = fixed_clock()
    started = time.perf_counter()
    with TraceWriter(tmp, clock=lambda: next(clock)) as writer:
        writer.create()
        writer.write(_episodes(sessions, decisions, seed))
    elapsed = time.perf_counter() - started
    tmp.replace(path)  # only a complete DB ever gets the final name
    return elapsed


def ensure_db(
    sessions: int, decisions: int, path: Path | None = None, force: bool = False
) -> tuple[Path, float | None]:
    """(path, build seconds), or (path, None) when an existing file was reused."""
    path = path or default_path(sessions, decisions)
    if path.exists() and not force:
        return path, None
    path.unlink(missing_ok=True)
    return path, build(path, sessions, decisions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--db", type=Path, help="output path (default bench/out/bench_10k.db or bench_SxD.db)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    parser.add_argument("--size", choices=sorted(SIZES), help="a named shape (sets --sessions and --decisions)")
    args = parser.parse_args()
    if args.size:
        args.sessions, args.decisions = SIZES[args.size]
    path, seconds = ensure_db(args.sessions, args.decisions, args.db, args.force)
    size = path.stat().st_size
    built = "reused existing file" if seconds is None else f"built in {seconds:.1f} s"
    print(f"{path}: {args.sessions} sessions x {args.decisions} decisions, {size / 2**20:.1f} MiB, {built}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

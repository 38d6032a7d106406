"""Time the session index (build, memory, one filter change) against re-running synth-ai's selection.

    uv run python bench/bench_index.py                          # bench/out/bench_10k.db (built if absent)
    uv run python bench/bench_index.py --db bench/out/bench_200x20.db --specs 50 --no-reference

What is measured:

- **build**: ``SessionIndex.build`` in this process, ``--repeat`` times (the first run also warms the
  OS page cache and is reported apart). On 2 cores one worker process parses call records
  alongside the calling thread.
- **memory**: a separate build under ``tracemalloc``: the peak of Python allocations in this
  process during the build, and what the finished index keeps (current after minus before); plus
  this process's RSS growth; and one worker process's peak RSS (spawned apart, scanning a quarter
  of the DB).
- **filter change**: ``preview(index, spec)`` (eligibility, examples, funnel, breakdowns) for
  ``--specs`` random filters over the DB's own models, providers, achievements and reward types
  (seeded, so every run times the same specs); p50 / p95 / max.
- **reference selection**: ``python export_trace_sft.py --db DB --output … --model <no such model>``
  end to end: the script runs its whole session selection (every query, every JSON parse), finds
  no session and exits — the work it would redo on each filter change. Also, once, the same script
  with no filter writing all examples (``--full-reference``), and our own exporter's selection
  (``sft_export.select_sessions``: the re-query this index replaces).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First on the path, always: opensimplex 0.3 installs a top-level `tests` package into site-packages.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from build_db import ensure_db  # noqa: E402

from services.datasets.export import select_sessions  # noqa: E402
from services.datasets.filter_spec import EventRewardFilter, FilterSpec  # noqa: E402
from services.datasets.preview import preview  # noqa: E402
from services.datasets.session_index import SessionIndex  # noqa: E402
from services.traces.achievement_keys import ACHIEVEMENTS  # noqa: E402
from services.traces.db import TraceDB  # noqa: E402
from tests.support.reference_tools import reference_script  # noqa: E402

TARGET_CHANGE_P95_MS = 15.0
TARGET_SPEEDUP = 100.0
TARGET_BUILD_S = 3.0
TARGET_MEMORY_MB = 150.0
OUT = ROOT / "bench" / "out"


def random_spec(rng: random.Random, index: SessionIndex) -> FilterSpec:
    """A filter like someone exploring would set: a few fields at a time, real values mostly."""
    models = [str(m) for m in index.models]
    providers = list(index.providers)
    types = [str(t) for t in index.reward_types if t is not None] or ["sparse"]
    lo = rng.choice([0, 0, 1, 3, 5, 8, 10, 12])
    pick = rng.random
    return FilterSpec(
        models=rng.sample(models, rng.randint(1, min(2, len(models)))) if models and pick() < 0.4 else [],
        providers=rng.sample(providers, 1) if providers and pick() < 0.2 else [],
        min_unique=lo,
        max_unique=lo + rng.randint(0, 8) if pick() < 0.3 else None,
        exclude_achievements=rng.sample(ACHIEVEMENTS, rng.randint(1, 3)) if pick() < 0.2 else [],
        require_achievements=rng.sample(ACHIEVEMENTS[:12], rng.randint(1, 2)) if pick() < 0.3 else [],
        min_outcome_reward=float(rng.randint(0, 10)) if pick() < 0.3 else None,
        max_outcome_reward=float(rng.randint(10, 20)) if pick() < 0.15 else None,
        event_rewards=[EventRewardFilter(reward_type=rng.choice(types), min_total=float(rng.randint(0, 8)))]
        if pick() < 0.3
        else [],
        limit=rng.choice([100, 1000, 50_000]) if pick() < 0.2 else None,
    )


def worker_peak_rss(db: TraceDB) -> float | None:
    """Peak RSS (MiB) of one scan worker, started as the index starts it, scanning a quarter of the
    LM events; measured by GNU time (a child forked from this big process would count its pages)."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time is None:
        return None
    with sqlite3.connect(f"file:{db.path}?mode=ro", uri=True) as conn:
        lo, hi = conn.execute("SELECT MIN(id), MAX(id) FROM events WHERE event_type = 'cais'").fetchone()
    quarter = (hi - lo) // 4
    with tempfile.TemporaryDirectory(prefix="bench-index-") as job_dir:
        job = json.dumps({"uri": f"file:{db.path}?mode=ro", "timeout": 5.0, "outdir": job_dir})
        proc = subprocess.run(
            [gnu_time, "-f", "%M", sys.executable, "-c",
             "from services.datasets.session_index_scan import worker_main; worker_main()", job],
            input=f"0 {lo} {lo + quarter // 2}\n1 {lo + quarter // 2 + 1} {lo + quarter}\n",
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    try:
        return int(proc.stderr.strip().splitlines()[-1]) / 1024
    except (ValueError, IndexError):
        return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def time_reference(script: Path, db: Path, extra: list[str]) -> tuple[float, str]:
    out = OUT / "bench_index_reference.jsonl"
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), "--db", str(db), "--output", str(out), *extra],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    out.unlink(missing_ok=True)
    return wall, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, default=None, help="trace DB (default: bench/out/bench_10k.db, built if absent)")
    ap.add_argument("--repeat", type=int, default=3, help="timed index builds (default 3)")
    ap.add_argument("--specs", type=int, default=200, help="random filter changes to time (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-reference", action="store_true", help="skip the reference script runs")
    ap.add_argument("--full-reference", action="store_true", help="also time the reference writing every example")
    args = ap.parse_args()
    db_path = args.db or ensure_db(10_000, 20)[0]
    print(f"DB: {db_path} ({db_path.stat().st_size / 2**20:.0f} MiB); load average {os.getloadavg()[0]:.2f}")

    with TraceDB(db_path) as db:
        first = time.perf_counter()
        index = SessionIndex.build(db)
        first_s = time.perf_counter() - first
        builds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            index = SessionIndex.build(db)
            builds.append(time.perf_counter() - started)
        del index

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        index = SessionIndex.build(db)
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        worker_rss = worker_peak_rss(db)

        rng = random.Random(args.seed)
        specs = [random_spec(rng, index) for _ in range(args.specs)]
        preview(index, specs[0])  # warm-up
        times, kept_sessions = [], []
        for spec in specs:
            started = time.perf_counter()
            p = preview(index, spec)
            times.append((time.perf_counter() - started) * 1000)
            kept_sessions.append(p.eligible_sessions)
        elig_times = []
        for spec in specs:
            started = time.perf_counter()
            index.eligible(spec)
            elig_times.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        select_sessions(db, specs[1])
        ours_requery = time.perf_counter() - started

    p50, p95, worst = pct(times, 0.5), pct(times, 0.95), max(times)
    print(f"\nIndex: {index.candidates:,} sessions, {index.examples_total:,} examples; "
          f"arrays {index.nbytes() / 2**20:.1f} MiB")  # fmt: skip
    print(f"Filters: {len(specs)} random specs keep {min(kept_sessions):,}–{max(kept_sessions):,} sessions "
          f"(median {statistics.median(kept_sessions):,.0f})\n")  # fmt: skip

    rows = [
        ("index build, first run (page cache warm-up)", f"{first_s:.2f} s", ""),
        (f"index build, median of {len(builds)}", f"{statistics.median(builds):.2f} s",
         f"≤ {TARGET_BUILD_S:g} s: {'PASS' if statistics.median(builds) <= TARGET_BUILD_S else 'FAIL'}"),
        ("index build, min", f"{min(builds):.2f} s", ""),
        ("memory: tracemalloc peak during build", f"{(peak - base) / 2**20:.1f} MiB",
         f"≤ {TARGET_MEMORY_MB:g} MB: {'PASS' if (peak - base) / 1e6 <= TARGET_MEMORY_MB else 'FAIL'}"),
        ("memory: kept by the index (tracemalloc)", f"{(kept - base) / 2**20:.1f} MiB", ""),
        ("memory: this process's peak RSS growth", f"{rss_growth:.0f} MiB", ""),
        ("memory: one worker process scanning 1/4 of the DB, peak RSS",
         f"{worker_rss:.0f} MiB" if worker_rss is not None else "n/a (no GNU time)", ""),
        ("filter change (preview), p50", f"{p50:.2f} ms", ""),
        ("filter change (preview), p95", f"{p95:.2f} ms",
         f"≤ {TARGET_CHANGE_P95_MS:g} ms: {'PASS' if p95 <= TARGET_CHANGE_P95_MS else 'FAIL'}"),
        ("filter change (preview), max", f"{worst:.2f} ms", ""),
        ("eligible() alone, p50 / p95", f"{pct(elig_times, 0.5):.2f} / {pct(elig_times, 0.95):.2f} ms", ""),
        ("our exporter's select_sessions (re-query)", f"{ours_requery:.2f} s",
         f"{ours_requery * 1000 / p95:,.0f}× p95"),
    ]  # fmt: skip
    if not args.no_reference:
        script = reference_script("export_trace_sft.py")
        ref_s, ref_msg = time_reference(script, db_path, ["--model", "no-such-model-bench"])
        rows.append(("reference selection (export_trace_sft.py, wall)", f"{ref_s:.2f} s",
                     f"{ref_s * 1000 / p95:,.0f}× p95 (≥ {TARGET_SPEEDUP:g}×: "
                     f"{'PASS' if ref_s * 1000 / p95 >= TARGET_SPEEDUP else 'FAIL'})"))  # fmt: skip
        print(f"reference said: {ref_msg}")
        if args.full_reference:
            full_s, full_msg = time_reference(script, db_path, [])
            rows.append(
                ("reference full export, no filter (wall)", f"{full_s:.2f} s", f"{full_s * 1000 / p95:,.0f}× p95")
            )
            print(f"reference said: {full_msg}")

    width = max(len(r[0]) for r in rows)
    print(f"| {'measurement':<{width}} | value | target / ratio |")
    print(f"|{'-' * (width + 2)}|------:|---|")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value} | {note} |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

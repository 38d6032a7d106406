"""Eval launcher speed and reproducibility (issue 14's performance targets and first acceptance line).

1. Teacher eval of seeds 0..49 x 100 decisions, twice (target <= 30 s each): the two runs must give
   the same episodes and score, and the figures of bench/RESULTS.md's "Teacher vs random quality"
   (mean unique 14.70, Crafter score 34.49 %); the random policy likewise (2.30, 1.42 %).
2. An OpenAI-compatible policy against a loopback server (its own process) that sleeps 200 ms per
   call: the same eval (16 seeds x 30 decisions) at concurrency 1 and 8 (target: >= 6x).
3. The bootstrap 95 % CI of the Crafter score over 50 episodes (2,000 resamples; target <= 100 ms).

    uv run python bench/bench_eval.py [--seeds 50] [--decisions 100] [--http-episodes 16] [--http-turns 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before site-packages: opensimplex 0.3 ships a top-level `tests`

import services.crafter.env as crafter_env  # noqa: E402
from services.evals.launcher import run_eval  # noqa: E402
from services.evals.scoring import aggregate, bootstrap_score_ci, unlock_matrix  # noqa: E402
from services.evals.settings import build_settings  # noqa: E402

#: bench/RESULTS.md, "Teacher vs random quality", seeds 0-49 x 100 decisions (bench_env.py --quality 50).
RECORDED = {"teacher": (14.70, 34.49, 23), "random": (2.30, 1.42, 50)}


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def reproduce(seeds: int, decisions: int) -> bool:
    ok = True
    for policy in ("teacher", "random"):
        runs = []
        for attempt in (1, 2):
            crafter_env._PRISTINE.clear()  # every world generated: the cold case
            settings = build_settings(
                {"policy": policy, "seeds": list(range(seeds)), "max_turns": decisions, "concurrency": 8}
            )
            t0 = time.perf_counter()
            run = run_eval(settings)
            wall = time.perf_counter() - t0
            agg = aggregate(run.episodes, run.wall_s)
            runs.append((run, agg))
            print(f"{policy} run {attempt}: {seeds} seeds x <= {decisions} decisions = {agg.decisions} decisions in "
                  f"{wall:.2f} s ({agg.decisions / wall:.0f}/s); mean unique {agg.mean_unique:.2f} "
                  f"(95% CI {agg.mean_unique_ci[0]:.2f}-{agg.mean_unique_ci[1]:.2f}), died {agg.died}/{agg.episodes}, "
                  f"Crafter score {agg.crafter_score:.2f}% (95% CI {agg.crafter_score_ci[0]:.2f}-"
                  f"{agg.crafter_score_ci[1]:.2f})")  # fmt: skip
            if policy == "teacher":
                verdict = "PASS" if wall <= 30 else "FAIL"
                print(f"  teacher eval <= 30 s: {verdict}")
                ok &= wall <= 30
        (r1, a1), (r2, a2) = runs
        timing = {"policy_s", "mean_latency_ms"}  # wall-clock, not play
        played = [[e.model_dump(exclude=timing) for e in r.episodes] for r in (r1, r2)]
        same = played[0] == played[1]
        same_score = a1.crafter_score == a2.crafter_score and a1.crafter_score_ci == a2.crafter_score_ci
        mean, score, died = RECORDED[policy]
        matches = (round(a1.mean_unique, 2), round(a1.crafter_score, 2), a1.died) == (mean, score, died)
        if seeds == 50 and decisions == 100:
            print(f"  same episodes twice: {same}; same score and CI twice: {same_score}; "
                  f"matches bench/RESULTS.md ({mean:.2f}, {score:.2f} %, died {died}/50): {matches}")  # fmt: skip
            ok &= same and same_score and matches
        else:
            print(f"  same episodes twice: {same}; same score and CI twice: {same_score}")
            ok &= same and same_score
    return ok


SERVER = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.support.fake_inference import FakeInferenceServer
with FakeInferenceServer(models=["bench-model"], delay_ms=200) as srv:
    print(srv.base_url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


def http(episodes: int, turns: int) -> bool:
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().strip()
    times = {}
    try:
        for conc in (1, 8):
            crafter_env._PRISTINE.clear()  # both runs generate every world: a fair comparison
            values = {"model": "bench-model", "inference_url": url, "api_key_env": None,
                      "seeds": list(range(episodes)), "max_turns": turns, "concurrency": conc}  # fmt: skip
            settings = build_settings(values)
            t0 = time.perf_counter()
            run = run_eval(settings)
            times[conc] = time.perf_counter() - t0
            d = sum(e.decisions for e in run.episodes)
            print(f"http 200 ms/call, concurrency {conc}: {episodes} episodes, {d} decisions in {times[conc]:.2f} s "
                  f"({d / times[conc]:.1f} decisions/s)")  # fmt: skip
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    speedup = times[1] / times[8]
    print(f"  speed-up at concurrency 8: {speedup:.2f}x   target >= 6x: {'PASS' if speedup >= 6 else 'FAIL'}")
    return speedup >= 6


def bootstrap(episodes: int = 50) -> bool:
    run = run_eval(build_settings({"policy": "teacher", "seeds": list(range(episodes)), "max_turns": 60}))
    matrix = unlock_matrix(run.episodes)
    times = []
    for _ in range(21):
        t0 = time.perf_counter()
        bootstrap_score_ci(matrix)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    aggregate(run.episodes)
    whole = time.perf_counter() - t0
    median = statistics.median(times)
    print(f"bootstrap CI over {episodes} episodes (2,000 resamples): median {median * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms; whole aggregate {whole * 1000:.1f} ms   "
          f"target <= 100 ms: {'PASS' if median <= 0.1 else 'FAIL'}")  # fmt: skip
    return median <= 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--decisions", type=int, default=100)
    parser.add_argument("--http-episodes", type=int, default=16)
    parser.add_argument("--http-turns", type=int, default=30)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args()
    print(f"load average (1/5/15 min) before: {_load()}")
    ok = reproduce(args.seeds, args.decisions)
    ok &= bootstrap(args.seeds)
    if not args.skip_http:
        ok &= http(args.http_episodes, args.http_turns)
    print(f"load average after: {_load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Collector throughput: teacher decisions/s end to end, and the speed-up of concurrency over HTTP.

1. Teacher, end to end (world generation, observation text, teacher decision, env step, trace rows,
   one SQLite transaction per episode): decisions/s over whole episodes, reported with and without
   world generation (Crafter builds each seeded world in ~0.17 s of pure-Python noise).
2. An OpenAI-compatible policy against a loopback server (its own process) that sleeps 200 ms per
   call: the same collection (8 episodes x 30 decisions) at concurrency 1 and 8 (target: >= 6x).

    uv run python bench/bench_collect.py [--episodes 20] [--max-turns 100] [--http-episodes 8]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before site-packages: opensimplex 0.3 ships a top-level `tests`

import services.crafter.env as crafter_env  # noqa: E402
from services.crafter.env import CrafterTextEnv  # noqa: E402
from services.rollouts.collector import CollectSpec, collect  # noqa: E402


def teacher(episodes: int, max_turns: int, out: Path) -> None:
    crafter_env._PRISTINE.clear()
    t0 = time.perf_counter()
    for seed in range(episodes):
        CrafterTextEnv(seed, cache_worlds=False)
    world_s = time.perf_counter() - t0
    walls = {}
    for label in ("cold", "warm"):  # cold: every world generated; warm: the seeds' worlds are cached
        if label == "cold":
            crafter_env._PRISTINE.clear()
        spec = CollectSpec(db=out / f"teacher-{label}.db", policy="teacher", seeds=(0, episodes - 1),
                           max_turns=max_turns, concurrency=1)  # fmt: skip
        t0 = time.perf_counter()
        result = collect(spec)
        walls[label] = time.perf_counter() - t0
    d = result.progress.decisions
    print(f"teacher: {episodes} episodes x <= {max_turns} decisions = {d} decisions, mean unique "
          f"{result.progress.mean_unique:.2f}")  # fmt: skip
    for label, wall in walls.items():
        verdict = "PASS" if d / wall >= 300 else "FAIL"
        print(f"  end to end, {label} worlds : {wall:6.2f} s  {d / wall:7.0f} decisions/s   target >= 300: {verdict}")
    print(f"  world generation alone : {world_s:6.2f} s  ({world_s / episodes * 1000:.0f} ms/world, uncached)")


SERVER = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from tests.support.fake_inference import FakeInferenceServer
with FakeInferenceServer(models=["bench-model"], delay_ms=200) as srv:
    print(srv.base_url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


class _ServerProcess:
    """The loopback server in its own process, as a real inference server would be."""

    def __enter__(self) -> _ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)  # fmt: skip
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def http(episodes: int, max_turns: int, out: Path) -> None:
    times = {}
    with _ServerProcess() as srv:
        for conc in (1, 8):
            crafter_env._PRISTINE.clear()  # both runs generate every world: a fair comparison
            spec = CollectSpec(db=out / f"http{conc}.db", policy="openai", model="bench-model",
                               inference_url=srv.base_url, seeds=(0, episodes - 1), max_turns=max_turns,
                               concurrency=conc)  # fmt: skip
            t0 = time.perf_counter()
            result = collect(spec)
            times[conc] = time.perf_counter() - t0
            print(f"http 200 ms/call, concurrency {conc}: {episodes} episodes, {result.progress.decisions} decisions "
                  f"in {times[conc]:.2f} s ({result.progress.decisions / times[conc]:.1f} decisions/s)")  # fmt: skip
    speedup = times[1] / times[8]
    print(f"  speed-up at concurrency 8: {speedup:.2f}x   target >= 6x: {'PASS' if speedup >= 6 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--max-turns", type=int, default=100)
    parser.add_argument("--http-episodes", type=int, default=8)
    parser.add_argument("--http-turns", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teacher(args.episodes, args.max_turns, Path(tmp))
        http(args.http_episodes, args.http_turns, Path(tmp))


if __name__ == "__main__":
    main()

"""Sweep planning: how long ``sweep plan`` takes to expand and check a 48-cell plan.

Collects a small teacher DB (--episodes seeds × --turns turns) into a temp workspace, writes a plan
over lora_rank (4) × learning_rate (3) × examples (2) × min_unique (2) = 48 cells, and times
``load_plan`` (every cell's config edited and checked, every filter counted from the session index,
the ledger's throughput read) cold (index built) and warm (index cached).

    uv run python bench/bench_sweep.py [--episodes 20] [--turns 20] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLAN = """\
[sweep]
name = "bench"
base_config = "configs/base.toml"
db = "traces.db"
backend = "local"
hold_global_batch = true

[axes]
lora_rank = [4, 8, 16, 32]
learning_rate = [1e-5, 2e-5, 5e-5]
examples = [10, 20]
min_unique = [0, 1]

[eval]
policy = "model"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    os.environ["SFT_STUDIO_WORKSPACE"] = str(root)
    os.environ["SFT_STUDIO_DATA_DIR"] = str(root / "data")
    os.environ["SFT_STUDIO_LEDGER"] = str(root / "ledger.db")
    from services.rollouts.collector import CollectSpec, collect
    from services.sweeps.plan import load_plan, refusal
    from tests.services.jobs.support import write_config

    (root / "configs").mkdir()
    write_config(root / "configs", model="sft-studio/tiny-qwen3", name="base.toml")
    started = time.perf_counter()
    collect(
        CollectSpec(
            db=root / "traces.db", policy="teacher", seeds=(1, args.episodes), max_turns=args.turns, concurrency=2
        )
    )
    print(f"DB: {args.episodes} episodes × {args.turns} turns in {time.perf_counter() - started:.1f} s")
    plan_path = root / "plan.toml"
    plan_path.write_text(PLAN, encoding="utf-8")
    t0 = time.perf_counter()
    plan = load_plan(plan_path)
    cold = time.perf_counter() - t0
    assert refusal(plan) is None, refusal(plan)
    warm = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        load_plan(plan_path)
        warm.append(time.perf_counter() - t0)
    print(f"{len(plan.cells)} cells; load_plan cold (index built): {cold * 1000:.0f} ms")
    print(f"load_plan warm: p50 {statistics.median(warm) * 1000:.0f} ms, max {max(warm) * 1000:.0f} ms")
    t0 = time.perf_counter()
    load_plan(plan_path, estimate=False)
    print(f"load_plan without estimates (sweep status): {(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()

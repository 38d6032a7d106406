"""How long the demo DB takes to build: `sft-studio demo` (CLI) and the app's first start, with and
without extra CPU load.

Each build goes into a fresh data dir (``SFT_STUDIO_DATA_DIR``), in a fresh process, so imports and
world generation are paid as a new user pays them. "app" runs the real app headless (80x24) on first
start and stops the clock when the Traces pane shows the finished demo's statistics. ``--load N``
starts N busy Python loops first (each wants a whole core), to see what a shared machine costs.

    uv run python bench/bench_demo.py [--mode cli|app|both] [--load 0,2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APP_CHILD = r"""
import asyncio, sys, time
from pathlib import Path
from tui.app.app import SftStudioApp
from tui.panes.traces.pane import TracesPane

async def main() -> None:
    app = SftStudioApp(db_path=None, build_demo=True, watch_interval=None)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(TracesPane)
        while pane.stats is None:
            await pilot.pause(0.05)
    print(time.time())

if __name__ == "__main__":
    asyncio.run(main())
"""

BUSY = "while True: pass"


def one_build(mode: str) -> float:
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "SFT_STUDIO_DATA_DIR": data}
        command = [sys.executable, "-m", "tui.cli", "demo"] if mode == "cli" else [sys.executable, "-c", APP_CHILD]
        t0 = time.time()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        end = time.time() if mode == "cli" else float(done.stdout.split()[-1])
        return end - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["cli", "app", "both"], default="both")
    parser.add_argument("--load", default="0,2", help="comma-separated numbers of busy loops to run alongside")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    modes = ["cli", "app"] if args.mode == "both" else [args.mode]
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    for load in (int(n) for n in args.load.split(",")):
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(load)]
        try:
            for mode in modes:
                walls = [one_build(mode) for _ in range(args.repeat)]
                shown = ", ".join(f"{w:.1f}" for w in walls)
                print(f"{mode:>11} with {load} busy loop(s): {min(walls):6.1f} s  (runs: {shown}; "
                      f"load average now {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
        finally:
            for p in busy:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()

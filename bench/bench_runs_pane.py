"""Runs pane: open with 1,000 runs and 10,000 metric points (target ≤ 300 ms), sort and filter (≤ 50 ms).

Fills a fresh ledger through the real :class:`services.ledger.store.Ledger` API as the hooks do
(per run: a dataset from a real manifest + JSONL, a submission with its config, a job end with
``--points / --runs`` loss points, an eval), then runs the app headless at 120x40:

- open: from pressing 6 (the pane is built on first use, reads the ledger in its worker, hands the
  rows to its table) to the pane's handler of the read done; a fresh app each time;
- open, painted: the same until the table has drawn its rows on screen for the first time;
- open, CPU: the CPU time the process (event loop and worker threads) spent on that, which a busy
  shared machine inflates far less than the wall-clock figures;
- open, GC: the time Python's cyclic garbage collector ran during the open (a full collection
  walks every object of the process; the earlier repeats' apps are collected before each open);
- refresh: r on the open pane (the ledger read again, the table given the new rows);
- sort: s on a column: the 1,000 rows re-sorted and given to the table (the work the key does on
  the event loop; the table draws its visible rows on the next refresh: see "paint");
- filter: a filter text applied (rows matched, given to the table), alternating a text that keeps a
  tenth of the rows and an empty one (all rows back);
- paint: one frame of the table (``render_lines``: the header and the rows in view), every frame
  drawn during the sorts and filters.

The pane's table was a DataTable until the virtual table (``tui/widgets/virtual_table.py``); the
scenario is unchanged.

    uv run python bench/bench_runs_pane.py [--runs 1000] [--points 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.jobs.store import JobRecord  # noqa: E402
from services.ledger.store import Ledger  # noqa: E402


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms, max {values[-1] * 1e3:.1f} ms"


def fill(folder: Path, runs: int, points: int) -> Path:
    per_run = max(1, points // runs)
    path = folder / "runs.db"
    config = folder / "c.toml"
    config.write_text("[job]\nmodel = 'sft-studio/tiny-qwen3'\n")
    config_sha = hashlib.sha256(config.read_bytes()).hexdigest()
    with Ledger(path) as ledger:
        for i in range(runs):
            data = folder / f"d{i}.jsonl"
            data.write_text(json.dumps({"messages": [{"role": "user", "content": f"run {i}"}]}) + "\n")
            sha = hashlib.sha256(data.read_bytes()).hexdigest()
            manifest = folder / f"d{i}.manifest.json"
            manifest.write_text(json.dumps({
                "file": data.name, "sha256": sha, "counts": {"examples": 100 + i, "sessions": 10},
                "token_estimate": 4000 + i, "filter": {"min_unique": i % 5, "policies": ["teacher"]},
                "source_db": {"path": "/db", "sha256": "0" * 64},
            }))  # fmt: skip
            ledger.record_manifest(manifest)
            job_id = f"job_{i:05d}"
            hp = {"learning_rate": 1e-4 * (i % 7 + 1), "lora_rank": [8, 16, 32][i % 3] if i % 2 else None}
            ledger.record_submission(
                JobRecord(backend="local", base_url="http://127.0.0.1:1", job_id=job_id, config_path=str(config),
                          config_sha256=config_sha, dataset_path=str(data), dataset_sha256=sha,
                          payload={"model": "sft-studio/tiny-qwen3", "hyperparameters": hp})
            )  # fmt: skip
            model = f"{'peft' if i % 2 else 'fft'}:sft-studio/tiny-qwen3:{job_id}"
            ledger.record_job_end(
                job_id, status="succeeded", fine_tuned_model=model, final_loss=1.0 / (i + 1),
                final_val_loss=1.1 / (i + 1), tokens_per_s=1000.0 + i,
                loss_points=[(s, 2.0 / (s + 1)) for s in range(per_run)],
            )  # fmt: skip
            score = (i * 37) % 100 / 10
            agg = SimpleNamespace(episodes=50, crafter_score=score, crafter_score_ci=(score - 1, score + 1),
                                  mean_unique=score / 2, mean_unique_ci=(score / 2 - 0.5, score / 2 + 0.5))  # fmt: skip
            result = SimpleNamespace(eval_id=f"e{i:05d}", model=model, policy="openai", backend="local backend",
                                     mode="in-process", seeds=list(range(10000, 10050)), settings={"max_turns": 50},
                                     finished_at="2026-12-07T00:00:00")  # fmt: skip
            ledger.record_eval(result, agg, None)
    return path


async def measure(ledger: Path, repeats: int, ops: int) -> dict[str, list[float]]:
    from tests.support.pilot import make_app
    from tui.panes.runs.pane import RunsPane
    from tui.widgets.deferred import DeferredPane
    from tui.widgets.virtual_table import VirtualTable

    names = ("open", "open, painted", "open, CPU", "open, GC", "refresh", "sort", "filter", "paint")
    times: dict[str, list[float]] = {name: [] for name in names}
    painted: list[float] = []  # when the table last drew rows
    render_lines = VirtualTable.render_lines

    def timed(self: VirtualTable, crop: Any) -> Any:
        t = time.perf_counter()
        strips = render_lines(self, crop)
        if self.row_count:
            painted.append(time.perf_counter())
            times["paint"].append(painted[-1] - t)
        return strips

    VirtualTable.render_lines = timed  # type: ignore[method-assign]
    gc_time = [0.0, 0.0]  # total, start of the collection running

    def gc_timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(gc_timed)
    for attempt in range(repeats):
        app = make_app(None, pane_options={"runs": {"ledger_path": ledger, "export_dir": ledger.parent}})
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            slot = app.query_one("#runs-slot", DeferredPane)  # found before: polling with a query walks the DOM
            # The earlier repeats' apps are garbage a real session would not hold: collected now, so a
            # full collection they would trigger does not land in (and dominate) this open.
            gc.collect()
            t, cpu, gc_before = time.perf_counter(), time.process_time(), gc_time[0]
            app.simulate_key("6")
            while slot.pane is None or slot.pane.loads < 1:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)  # the table's first paint is scheduled after the handler
            times["open"].append(time.perf_counter() - t)
            while not painted or painted[-1] < t:
                await asyncio.sleep(0.001)
            times["open, painted"].append(painted[-1] - t)
            times["open, CPU"].append(time.process_time() - cpu)
            times["open, GC"].append(gc_time[0] - gc_before)
            pane = slot.pane
            assert isinstance(pane, RunsPane)
            assert len(pane.rows) == len(pane.all_rows) == pane.query_one("#runs-table", VirtualTable).row_count > 0
            if attempt:
                continue
            times["paint"].clear()  # frames of the sorts and filters only
            for _ in range(ops):
                t = time.perf_counter()
                loads = pane.loads
                app.simulate_key("r")
                while pane.loads == loads:
                    await asyncio.sleep(0.001)
                times["refresh"].append(time.perf_counter() - t)
            table = pane.query_one("#runs-table", VirtualTable)
            for n in range(ops):
                table.move_cursor(column=1 + n % 14)
                t = time.perf_counter()
                pane.action_sort()
                times["sort"].append(time.perf_counter() - t)
                await pilot.pause()
            for n in range(ops):
                t = time.perf_counter()
                pane.filter_text = "min_unique=2 peft" if n % 2 == 0 else ""
                pane.apply()
                times["filter"].append(time.perf_counter() - t)
                await pilot.pause()
                assert len(pane.rows) < len(pane.all_rows) if n % 2 == 0 else len(pane.rows) == len(pane.all_rows)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ops", type=int, default=20)
    ap.add_argument("--ledger", type=Path, help="folder of a ledger filled by an earlier run (filled there if empty)")
    args = ap.parse_args()
    folder = args.ledger or Path(tempfile.mkdtemp(prefix="bench-runs-pane-"))
    os.environ["SFT_STUDIO_LEDGER"] = "off"  # nothing else records while we time
    t = time.perf_counter()
    if (folder / "runs.db").exists():
        ledger = folder / "runs.db"
        print(f"Reusing {ledger}; load average {os.getloadavg()[0]:.1f}")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        ledger = fill(folder, args.runs, args.points)
        print(f"Filled {args.runs} runs ({args.points} metric points) in {time.perf_counter() - t:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    times = asyncio.run(measure(ledger, args.repeats, args.ops))
    for name, values in times.items():
        print(f"  {name:13s}: {_ms(values)} ({len(values)} samples)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

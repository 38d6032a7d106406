"""Runs ledger: write cost and ``runs list`` over 1,000 runs and 10,000 metric points.

Fills a fresh ledger file through the real :class:`services.ledger.store.Ledger` API, as the hooks
do: per run one dataset (a real manifest + JSONL on disk, recorded with ``verify``), one submission
(``jobs`` row + config row + links), one job end with --points/--runs loss points, one eval (a real
``EvalResult``-shaped record with its aggregate). Then times ``run_rows`` (what ``runs list`` and
the pane read), ``runs list`` rendered by Rich to a string, ``runs list --json`` as a fresh process
(start-up included), and ``lineage`` of one run.

    uv run python bench/bench_ledger.py [--runs 1000] [--points 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.jobs.store import JobRecord  # noqa: E402
from services.ledger.lineage import lineage  # noqa: E402
from services.ledger.store import Ledger  # noqa: E402
from services.ledger.table import run_rows  # noqa: E402


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1e3:.2f} ms, p95 {p95 * 1e3:.2f} ms, max {values[-1] * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--points", type=int, default=10_000)
    args = ap.parse_args()
    per_run = max(1, args.points // args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    ledger = Ledger(tmp / "runs.db")
    config = tmp / "c.toml"
    config.write_text("[job]\nmodel = 'sft-studio/tiny-qwen3'\n")
    config_sha = hashlib.sha256(config.read_bytes()).hexdigest()
    times: dict[str, list[float]] = {"dataset": [], "submit": [], "job end": [], "eval": []}
    started = time.perf_counter()
    for i in range(args.runs):
        data = tmp / f"d{i}.jsonl"
        data.write_text(json.dumps({"messages": [{"role": "user", "content": f"run {i}"}]}) + "\n")
        sha = hashlib.sha256(data.read_bytes()).hexdigest()
        manifest = tmp / f"d{i}.manifest.json"
        manifest.write_text(json.dumps({
            "file": data.name, "sha256": sha, "counts": {"examples": 1, "sessions": 1}, "token_estimate": 5,
            "filter": {"min_unique": i % 5}, "source_db": {"path": "/db", "sha256": "0" * 64},
        }))  # fmt: skip
        t = time.perf_counter()
        ledger.record_manifest(manifest)
        times["dataset"].append(time.perf_counter() - t)
        job_id = f"job_{i:05d}"
        t = time.perf_counter()
        ledger.record_submission(
            JobRecord(backend="local", base_url="http://127.0.0.1:1", job_id=job_id, config_path=str(config),
                      config_sha256=config_sha, dataset_path=str(data), dataset_sha256=sha,
                      payload={"model": "sft-studio/tiny-qwen3",
                               "hyperparameters": {"learning_rate": 1e-4 * (i % 7 + 1)}})
        )  # fmt: skip
        times["submit"].append(time.perf_counter() - t)
        model = f"fft:sft-studio/tiny-qwen3:{job_id}"
        t = time.perf_counter()
        ledger.record_job_end(
            job_id, status="succeeded", fine_tuned_model=model, final_loss=1.0 / (i + 1), tokens_per_s=1000.0,
            loss_points=[(s, 2.0 / (s + 1)) for s in range(per_run)],
        )  # fmt: skip
        times["job end"].append(time.perf_counter() - t)
        agg = SimpleNamespace(episodes=50, crafter_score=5.0, crafter_score_ci=(3.0, 7.0), mean_unique=2.0,
                              mean_unique_ci=(1.5, 2.5))  # fmt: skip
        result = SimpleNamespace(eval_id=f"e{i:05d}", model=model, policy="openai", backend="local backend",
                                 mode="in-process", seeds=list(range(10000, 10050)), settings={"max_turns": 50},
                                 finished_at="2026-12-07T00:00:00")  # fmt: skip
        t = time.perf_counter()
        ledger.record_eval(result, agg, None)
        times["eval"].append(time.perf_counter() - t)
    fill = time.perf_counter() - started
    print(f"Filled {args.runs} runs ({args.runs * per_run} metric points) in {fill:.1f} s; "
          f"file {os.path.getsize(tmp / 'runs.db') / 1e6:.1f} MB")  # fmt: skip
    for name, values in times.items():
        print(f"  write {name:8s}: {_ms(values)}")
    rows_t = []
    for _ in range(5):
        t = time.perf_counter()
        rows = run_rows(ledger)
        rows_t.append(time.perf_counter() - t)
    assert len(rows) == args.runs
    print(f"run_rows ({len(rows)} rows): {_ms(rows_t)}")
    from rich.console import Console

    from tui.cli.runs import _list

    render_t = []
    for _ in range(3):
        console = Console(file=open(os.devnull, "w"), width=200)  # noqa: SIM115
        t = time.perf_counter()
        _list(SimpleNamespace(json=False), ledger, console, console)  # type: ignore[arg-type]
        render_t.append(time.perf_counter() - t)
    print(f"runs list rendered (Rich table, 200 columns): {_ms(render_t)}")
    lin_t = []
    for i in range(0, args.runs, max(1, args.runs // 20)):
        t = time.perf_counter()
        lineage(ledger, f"job_{i:05d}")
        lin_t.append(time.perf_counter() - t)
    print(f"lineage (with the dataset file re-hashed): {_ms(lin_t)}")
    ledger.close()
    env = {**os.environ, "SFT_STUDIO_LEDGER": str(tmp / "runs.db")}
    proc_t = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tui.cli", "runs", "list", "--json"], cwd=ROOT, env=env,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        proc_t.append(time.perf_counter() - t)
    print(f"`sft-studio runs list --json` as a new process: {_ms(proc_t)}")


if __name__ == "__main__":
    main()

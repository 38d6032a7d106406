"""Keystroke-to-repaint of the Jobs pane while it polls 3 jobs of the local backend (target ≤ 50 ms).

Starts ``python -m services.training.server serve`` in its own process (a fresh data dir, the fake
trainer of tests/support in ``stream`` mode: after its first steps it writes one more progress event
and metric point every 0.1 s until cancelled), submits 3 jobs over HTTP (the backend trains one at a
time: one streams, two wait queued; all three are unfinished, so the pane polls all three every
tick), records them in a job store as sft-studio would, and runs the app headless at 120x40 on the
Jobs pane with its default loopback poll interval (1 s; ``--poll-interval`` to change it).

Then it presses ↓/↑ in the jobs table ``--keys`` times, a random 20–120 ms apart (so keys land
during polls too), and times each from the key being posted to the end of the first screen update
that shows the moved cursor (the compositor's update handed to the driver; headless, so no terminal
write is included). Each key also redraws the job's detail (timeline, progress, chart, event log).

    uv run python bench/bench_jobs_pane.py [--keys 200] [--poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from textual import events  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from services.jobs.store import JobRecord, JobStore  # noqa: E402
from services.training.server.lifecycle import running_server, stop_server  # noqa: E402

FAKE_TRAINER = ROOT / "tests" / "support" / "fake_trainer.py"
ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_jobs(data_dir: Path, n: int) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    info = running_server(data_dir)
    assert info is not None
    key = (data_dir / "backend" / "api_key").read_text().strip()
    base = data_dir / "local-base"
    base.mkdir(exist_ok=True)
    (base / "config.json").write_text("{}")
    jobs = []
    with httpx.Client(base_url=f"{info.url}/api", headers={"Authorization": f"Bearer {key}"}, trust_env=False) as c:
        file_id = c.post("/files", files={"file": ("d.jsonl", (json.dumps(ROW) + "\n").encode())}).json()["id"]
        for _ in range(n):
            body = {
                "model": str(base),
                "hyperparameters": {"n_epochs": 1, "train_kind": "peft"},
                "training_type": "sft_offline",
                "metadata": {"fake_trainer": {"mode": "stream", "steps": 50, "stream_delay": 0.1}},
                "training_file_id": file_id,
            }
            job_id = c.post("/learning/jobs", json=body).json()["job_id"]
            c.post(f"/learning/jobs/{job_id}/start", json={})
            jobs.append((job_id, body))
    return info.url, jobs


async def measure(data_dir: Path, keys: int, poll_interval: float | None) -> dict[str, Any]:
    from tui.app.app import SftStudioApp
    from tui.panes.jobs.pane import JobsPane

    options: dict[str, Any] = {"backends": ("local",), "store_path": data_dir / "runs.db"}
    if poll_interval is not None:
        options["poll_interval"] = poll_interval
    app = SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": options})
    stamps: list[tuple[float, int]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        while not app.query(JobsPane):
            await pilot.pause(0.05)
        pane = app.query_one(JobsPane)
        deadline = time.monotonic() + 60
        while (len(pane.rows) < 3 or pane.polls < 3) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        if len(pane.rows) < 3:
            raise SystemExit(f"the pane did not list the 3 jobs: {pane.describe_rows()} ({pane.state})")
        table = app.query_one("#jobs-table", DataTable)
        table.focus()
        await pilot.pause(0.2)

        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is not None:
                stamps.append((time.perf_counter(), table.cursor_row))

        app._display = display  # type: ignore[method-assign]
        polls_before = pane.polls
        latencies: list[float] = []
        rng = random.Random(7)
        for i in range(keys):
            key = "down" if i % 2 == 0 else "up"
            want = table.cursor_row + (1 if key == "down" else -1)
            t0 = time.perf_counter()
            app.post_message(events.Key(key, None))
            while True:
                seen = [t for t, row in stamps if t > t0 and row == want]
                if seen:
                    latencies.append((seen[0] - t0) * 1000)
                    break
                if time.perf_counter() - t0 > 5:
                    raise SystemExit(f"no repaint with the cursor on row {want} within 5 s")
                await asyncio.sleep(0.001)
            stamps.clear()
            await asyncio.sleep(rng.uniform(0.02, 0.12))
        polls = pane.polls - polls_before
        rows = pane.describe_rows()
    return {"latencies": latencies, "polls": polls, "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=None, help="seconds (default: the pane's, 1 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-pane-") as tmp:
        data_dir = Path(tmp)
        os.environ["SFT_STUDIO_DATA_DIR"] = str(data_dir)
        env = {k: v for k, v in os.environ.items() if k != "SFT_STUDIO_BACKEND_KEY"}
        cmd = [sys.executable, "-m", "services.training.server", "serve", "--port", "0", "--data-dir", str(data_dir),
               "--trainer-command", shlex.join([sys.executable, str(FAKE_TRAINER)])]  # fmt: skip
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while running_server(data_dir) is None:
                if time.monotonic() > deadline:
                    print("the backend did not start", file=sys.stderr)
                    return 1
                time.sleep(0.1)
            url, jobs = start_jobs(data_dir, 3)
            store = JobStore(data_dir / "runs.db")
            for job_id, body in jobs:
                store.add(JobRecord(backend="local", base_url=f"{url}/api", job_id=job_id, payload=body))
            store.close()
            load_before = os.getloadavg()[0]
            t0 = time.perf_counter()
            result = asyncio.run(measure(data_dir, args.keys, args.poll_interval))
            wall = time.perf_counter() - t0
            load_after = os.getloadavg()[0]
        finally:
            stop_server(data_dir)
            if server.poll() is None:
                server.terminate()
                server.wait(20)
    lat = result["latencies"]
    print(f"jobs: {', '.join(result['rows'])}")
    print(
        f"{len(lat)} keystrokes over {wall:.1f} s with {result['polls']} pane polls of 3 jobs "
        f"(interval {args.poll_interval or 1.0:g} s); load {load_before:.2f} before, {load_after:.2f} after"
    )
    print(
        f"keystroke → repaint ms: p50 {statistics.median(lat):.1f}  p95 {percentile(lat, 95):.1f}  "
        f"p99 {percentile(lat, 99):.1f}  max {max(lat):.1f}  (target p95 ≤ 50)"
    )
    return 0 if percentile(lat, 95) <= 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())

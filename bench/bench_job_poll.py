"""Cost of one poll tick of sft-studio's job poller against the local backend, with a job running,
and the poller's memory over 10,000+ events.

Starts ``python -m services.training.server serve`` (its own process, a fresh data dir, the fake
trainer of tests/support in ``stream`` mode: --steps steps written as fast as it can, each one
``sft.progress`` event and 2 metric points, then one more step every --stream-delay s until
cancelled, so the job keeps writing while we poll). Uses the real
:class:`services.jobs.client.LearningClient` and :class:`services.jobs.poller.JobWatch`:

1. memory: ticks until the watcher has caught up on the --steps events (10,000 by default), its
   retained state (bytes reachable from it) and the process RSS after each tick: flat is the target;
2. cost: --ticks ticks --gap s apart while the job streams (a step every 0.1 s, a realistic logging
   rate); one tick = every request of one poll: the job, the events past the cursor, the train
   metrics past the last step and ``val.loss`` past its own, one request in flight at a time.
   p50/p95/p99/max in ms, target p95 <= 20 ms.

    uv run python bench/bench_job_poll.py [--steps 10000] [--ticks 300] [--gap 0.2] [--stream-delay 0.1]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.jobs.client import LearningClient  # noqa: E402
from services.jobs.poller import JobWatch  # noqa: E402
from services.training.server.lifecycle import running_server, stop_server  # noqa: E402

FAKE_TRAINER = ROOT / "tests" / "support" / "fake_trainer.py"
ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def deep_size(root: object) -> int:
    """Bytes reachable from the watcher's own state (not its client)."""
    seen: set[int] = set()
    total = 0
    todo = [v for k, v in vars(root).items() if k not in ("client", "_clock")]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type) or callable(obj):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return total


def rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000, help="steps (events) written up front")
    parser.add_argument("--ticks", type=int, default=300, help="timed ticks while the job streams")
    parser.add_argument("--stream-delay", type=float, default=0.1, help="seconds between streamed steps")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between ticks")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-jobpoll-") as tmp:
        data_dir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "SFT_STUDIO_BACKEND_KEY"}
        cmd = [sys.executable, "-m", "services.training.server", "serve", "--port", "0", "--data-dir", str(data_dir),
               "--trainer-command", shlex.join([sys.executable, str(FAKE_TRAINER)])]  # fmt: skip
        server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            info = None
            while info is None and time.monotonic() < deadline:
                info = running_server(data_dir)
                time.sleep(0.1)
            if info is None:
                print("the backend did not start", file=sys.stderr)
                return 1
            key = (data_dir / "backend" / "api_key").read_text().strip()
            dataset = data_dir / "d.jsonl"
            dataset.write_text(json.dumps(ROW) + "\n")
            base = data_dir / "local-base"
            base.mkdir()
            (base / "config.json").write_text("{}")
            with LearningClient(info.url, key) as client:
                file_id = client.upload_file(dataset).file_id
                job = client.create_job(
                    {
                        "model": str(base),
                        "hyperparameters": {"n_epochs": 1, "train_kind": "peft"},
                        "training_type": "sft_offline",
                        "metadata": {
                            "fake_trainer": {"mode": "stream", "steps": args.steps, "stream_delay": args.stream_delay}
                        },
                        "training_file_id": file_id,
                    }
                )
                client.start_job(job.job_id)
                while (client.job_status(job.job_id).progress.get("step") or 0) < args.steps:
                    time.sleep(0.2)
                print(f"job {job.job_id} streaming; {args.steps} steps up front; load {os.getloadavg()[0]:.2f}")
                watcher = JobWatch(client, job.job_id)
                print("\nmemory while catching up: events seen | watcher state (bytes) | process RSS (MiB)")
                marks: list[tuple[int, int, float]] = []
                while watcher.events_seen < args.steps:
                    snap = watcher.poll_once()
                    gc.collect()
                    marks.append((watcher.events_seen, deep_size(watcher), rss_mib()))
                    print(
                        f"  {marks[-1][0]:>6} | {marks[-1][1]:>12,} | {marks[-1][2]:>6.1f}  ({snap.requests} requests)"
                    )
                ticks: list[float] = []
                cpu: list[float] = []
                requests: list[int] = []
                new_events: list[int] = []
                for _ in range(args.ticks):
                    time.sleep(args.gap)
                    t0, c0 = time.perf_counter(), time.process_time()
                    snap = watcher.poll_once()
                    ticks.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.process_time() - c0) * 1000)
                    requests.append(snap.requests)
                    new_events.append(len(snap.new_events))
                gc.collect()
                marks.append((watcher.events_seen, deep_size(watcher), rss_mib()))
                load = os.getloadavg()[0]
                client.cancel_job(job.job_id)
            p95 = percentile(ticks, 95)
            print(f"  {marks[-1][0]:>6} | {marks[-1][1]:>12,} | {marks[-1][2]:>6.1f}  (after the timed ticks)")
            mean_new = statistics.mean(new_events)
            print(f"\n{len(ticks)} ticks {args.gap} s apart, job streaming (~{mean_new:.1f} new events per tick), "
                  f"{statistics.mean(requests):.1f} requests per tick; load {load:.2f}")  # fmt: skip
            print(f"tick ms: p50 {statistics.median(ticks):.2f}  p95 {p95:.2f}  p99 {percentile(ticks, 99):.2f}  "
                  f"max {max(ticks):.2f}")  # fmt: skip
            print(f"client CPU per tick (ms, this process: httpx + parsing + the watcher): "
                  f"p50 {statistics.median(cpu):.2f}  p95 {percentile(cpu, 95):.2f}")  # fmt: skip
            half = next((m for m in marks if m[0] >= args.steps // 2), marks[0])
            flat = marks[-1][1] <= half[1] * 1.25
            verdict = "PASS" if p95 <= 20 and flat else "FAIL"
            print(f"\np95 {p95:.2f} ms (target <= 20 ms); state {'flat' if flat else 'GROWING'}: {verdict}")
            return 0 if verdict == "PASS" else 1
        finally:
            stop_server(data_dir)
            server.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())

"""Poll latency of the local backend with a job running, and paging of many events and metrics.

Starts ``python -m services.training.server serve`` (its own process, a fresh data dir, the fake
trainer of tests/support, which writes --steps progress events and 2 metric points per step as fast
as it can, then one more step every 0.1 s until cancelled: the job keeps writing while we poll).
Then, over one keep-alive HTTP connection, times --polls requests of each of:

* ``GET /learning/jobs/{id}/status``
* ``GET /learning/jobs/{id}/events?since_seq=<last seen>&limit=200`` (the cursor a client keeps)
* ``GET /learning/jobs/{id}/metrics?name=train.loss&after_step=<last seen>&limit=200``

and reports p50/p95/p99 in ms (target p95 <= 10 ms). Finally it pages through every event
(``since_seq``, limit 200) and every metric point of each name (``after_step``, limit 200) and checks
nothing is lost or repeated (1,000+ events, 5,000+ metric points with the default --steps 2500).

    uv run python bench/bench_backend_poll.py [--steps 2500] [--polls 500]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from services.training.server.lifecycle import running_server, stop_server  # noqa: E402

FAKE_TRAINER = ROOT / "tests" / "support" / "fake_trainer.py"
ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(client: httpx.Client, url: str) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - t0) * 1000
    response.raise_for_status()
    body: dict[str, object] = response.json()
    return elapsed, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2500, help="trainer steps written up front (2 metrics each)")
    parser.add_argument("--polls", type=int, default=500, help="timed requests per endpoint")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-backend-") as tmp:
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
            api = f"{info.url}/api"
            # TCP_NODELAY as curl and aiohttp (synth-ai's client) set it by default; httpx does not, and
            # Nagle on the client side adds a few ms to every request that has nothing to do with the server.
            transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(headers=headers, trust_env=False, timeout=30, transport=transport) as client:
                upload = client.post(f"{api}/files", files={"file": ("d.jsonl", (json.dumps(ROW) + "\n").encode())})
                file_id = upload.json()["id"]
                body = {
                    "model": "local-base",
                    "hyperparameters": {"n_epochs": 1, "train_kind": "peft"},
                    "training_type": "sft_offline",
                    "metadata": {"fake_trainer": {"mode": "stream", "steps": args.steps, "stream_delay": 0.1}},
                    "training_file_id": file_id,
                }
                base = data_dir / "local-base"
                base.mkdir()
                (base / "config.json").write_text("{}")
                body["model"] = str(base)
                job_id = client.post(f"{api}/learning/jobs", json=body).json()["job_id"]
                client.post(f"{api}/learning/jobs/{job_id}/start", json={})
                t0 = time.perf_counter()
                while True:  # until the up-front steps are stored
                    status = client.get(f"{api}/learning/jobs/{job_id}/status").json()
                    if (status.get("progress") or {}).get("step", 0) >= args.steps:
                        break
                    if status["status"] in ("failed", "cancelled", "succeeded") or time.perf_counter() - t0 > 300:
                        print(f"job did not stream: {status}", file=sys.stderr)
                        return 1
                    time.sleep(0.2)
                ingest_s = time.perf_counter() - t0
                print(f"job {job_id}: {args.steps} steps ({args.steps} events, {2 * args.steps} metric points) "
                      f"stored in {ingest_s:.1f} s; load {os.getloadavg()[0]:.2f}")  # fmt: skip

                cpu_before = cpu_seconds(info.pid)
                polls_t0 = time.perf_counter()
                results: dict[str, list[float]] = {"status": [], "events": [], "metrics": []}
                last_seq = max(0, args.steps - 5)
                last_step = max(0, args.steps - 5)
                for _ in range(args.polls):
                    ms, _body = timed(client, f"{api}/learning/jobs/{job_id}/status")
                    results["status"].append(ms)
                    ms, ev = timed(client, f"{api}/learning/jobs/{job_id}/events?since_seq={last_seq}&limit=200")
                    results["events"].append(ms)
                    events = ev["events"]
                    assert isinstance(events, list)
                    if events:
                        last_seq = int(events[-1]["seq"])
                    ms, met = timed(
                        client,
                        f"{api}/learning/jobs/{job_id}/metrics?name=train.loss&after_step={last_step}&limit=200",
                    )
                    results["metrics"].append(ms)
                    points = met["points"]
                    assert isinstance(points, list)
                    if points:
                        last_step = int(points[-1]["step"])
                    time.sleep(0.005)
                cpu_ms = (cpu_seconds(info.pid) - cpu_before) * 1000 / (3 * args.polls)
                print(f"\npoll latency over {args.polls} requests each, job running (ms); server CPU "
                      f"{cpu_ms:.2f} ms per request (all its threads, the streaming job's writes included), "
                      f"{time.perf_counter() - polls_t0:.1f} s; load {os.getloadavg()[0]:.2f}:")  # fmt: skip
                print(f"{'endpoint':<10} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}")
                worst = 0.0
                for name, values in results.items():
                    p95 = percentile(values, 95)
                    worst = max(worst, p95)
                    print(f"{name:<10} {statistics.median(values):7.2f} {p95:7.2f} {percentile(values, 99):7.2f} "
                          f"{max(values):7.2f}")  # fmt: skip

                # paging: every event once, in order; every metric point of each name once
                seqs: list[int] = []
                cursor = 0
                while True:
                    page = client.get(f"{api}/learning/jobs/{job_id}/events?since_seq={cursor}&limit=200").json()
                    if not page["events"]:
                        break
                    seqs.extend(e["seq"] for e in page["events"])
                    cursor = seqs[-1]
                events_ok = seqs == list(range(1, len(seqs) + 1))
                counts: dict[str, int] = {}
                metrics_ok = True
                for name in ("train.loss", "train.learning_rate"):
                    steps: list[int] = []
                    after = -1
                    while True:
                        url = f"{api}/learning/jobs/{job_id}/metrics?name={name}&after_step={after}&limit=200"
                        points = client.get(url).json()["points"]
                        if not points:
                            break
                        steps.extend(p["step"] for p in points)
                        after = steps[-1]
                    counts[name] = len(steps)
                    metrics_ok &= steps == sorted(set(steps)) and steps[0] == 1
                total = sum(counts.values())
                print(f"\npaging: {len(seqs)} events ({'ok' if events_ok else 'WRONG'}: seq 1..{len(seqs)}, no gap, "
                      f"no repeat); {total} metric points {counts} ({'ok' if metrics_ok else 'WRONG'})")  # fmt: skip
                cancel = client.post(f"{api}/learning/jobs/{job_id}/cancel").json()
                print(f"cancelled the streaming job: {cancel['status']}")
                verdict = "PASS" if worst <= 10 and events_ok and metrics_ok else "FAIL"
                print(f"\nworst p95 {worst:.2f} ms (target <= 10 ms): {verdict}")
                return 0 if verdict == "PASS" else 1
        finally:
            stop_server(data_dir)
            server.wait(30)


if __name__ == "__main__":
    raise SystemExit(main())

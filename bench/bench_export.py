"""`sft-studio export` vs synth-ai's export_trace_sft.py on the same DB, same run, same bytes.

    uv run python bench/bench_export.py [--db bench/out/bench_10k.db] [--repeat 3]

Each command runs as a fresh process (what a user waits for), alternating; peak RSS from os.wait4.
The outputs must be byte-identical (sha256); our manifest's DB hash runs on a second thread.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference_tools import reference_script  # noqa: E402


def run(cmd: list[str], cwd: Path) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{cmd[:3]} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=ROOT / "bench/out/bench_10k.db")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out = ROOT / "bench/out"
    ours_out, ref_out = out / "export_ours.jsonl", out / "export_ref.jsonl"
    ours = [str(ROOT / ".venv/bin/sft-studio"), "export", "--db", str(args.db), "--output", str(ours_out), "--force"]
    ref = [sys.executable, str(reference_script("export_trace_sft.py")), "--db", str(args.db), "--output", str(ref_out)]
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
    for i in range(args.repeat):
        order = [("ours", ours), ("reference", ref)] if i % 2 == 0 else [("reference", ref), ("ours", ours)]
        for name, cmd in order:
            results[name].append(run(cmd, out))
    same = sha(ours_out) == sha(ref_out)
    print(f"DB: {args.db} ({args.db.stat().st_size / 2**20:.0f} MiB); output {ours_out.stat().st_size / 2**20:.0f} MiB")
    print("| command | median wall s | min wall s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        print(f"| {name} | {statistics.median(walls):.2f} | {min(walls):.2f} | {max(r for _, r in rows):.0f} |")
    speedup = statistics.median(w for w, _ in results["reference"]) / statistics.median(w for w, _ in results["ours"])
    print(f"speed-up {speedup:.2f}x (target >= 2x); byte-identical: {same}")


if __name__ == "__main__":
    main()

"""A/B of `sft-studio export` on the mid-size DB: another checkout ("before") against this one, and
synth-ai 0.2.10's export_trace_sft.py, in alternating rounds after a warm-up (issue 10 item 23).

    uv run python bench/ab_export.py --before /work/main --rounds 7 --ref

Each checkout runs its own ``.venv/bin/sft-studio`` with a data dir of its own (what it keeps
between runs, e.g. the DB hash, is its own). Wall time and CPU (user+sys of the command and its
children, ``getrusage``) per run; the medians, minima and the 1-minute load averages are printed,
and the three export files are compared byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from tests.support.reference_tools import reference_script  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True, help="the other checkout (with its .venv)")
    ap.add_argument("--db", type=Path, default=OUT / "bench_3000x15.db")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ref", action="store_true", help="also time the reference export_trace_sft.py")
    args = ap.parse_args()
    db = str(args.db.resolve())
    OUT.mkdir(parents=True, exist_ok=True)
    rows: dict[str, tuple[list[str], str, Path]] = {}
    for name, tree in (("before", args.before.resolve()), ("after", ROOT)):
        out = OUT / f"ab_export_{name}.jsonl"
        argv = [str(tree / ".venv" / "bin" / "sft-studio"), "export", "--db", db, "--output", str(out), "--force"]
        rows[f"{name} ({tree})"] = (argv, str(OUT / f"ab-data-{name}"), out)
    if args.ref:
        out = OUT / "ab_export_ref.jsonl"
        rows["reference export_trace_sft.py"] = (
            [sys.executable, str(reference_script("export_trace_sft.py")), "--db", db, "--output", str(out)],
            str(OUT / "ab-data-ref"),
            out,
        )

    def one(name: str) -> tuple[float, float, float]:
        argv, data, _out = rows[name]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(argv, env={**os.environ, "SFT_STUDIO_DATA_DIR": data}, cwd=OUT, capture_output=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed: {proc.stderr.decode()[-2000:]}")
        return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, load

    names = list(rows)
    for name in names:
        one(name)  # warm-up: page cache, the DB hash kept
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for i in range(args.rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            results[name].append(one(name))
    print("| command | median wall s | min wall s | median CPU s | min CPU s | load avg (1 min) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        walls, cpus, loads = zip(*runs, strict=True)
        print(
            f"| {name} | {statistics.median(walls):.3f} | {min(walls):.3f} | {statistics.median(cpus):.3f} | "
            f"{min(cpus):.3f} | {min(loads):.2f}–{max(loads):.2f} |"
        )
    files = [out for _argv, _data, out in rows.values()]
    same = all(filecmp.cmp(files[0], f, shallow=False) for f in files[1:])
    print("export files byte-identical:", same)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

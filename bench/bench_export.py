"""Time ``sft-studio export`` against synth-ai's ``export_trace_sft.py`` on the same DB, in one run.

    uv run python bench/bench_export.py                                  # 10k x 20 DB, 3 rounds
    uv run python bench/bench_export.py --sessions 200 --decisions 5 --repeat 2   # smoke run

Builds the DB first if absent (bench/build_db.py). Both commands run once untimed (warming the OS
page cache and the bytecode cache), then ``--repeat`` rounds alternate their order. Wall time is end
to end (process start to exit). Peak RSS: ``ru_maxrss`` from ``os.wait4`` is the largest single
process of the tree (on Linux it covers the descendants the child waited for, e.g. our worker
process); since our export runs two processes at once, a sampler also sums the RSS of the whole
process tree every 20 ms ("tree"). Outputs go to bench/out/ and must be byte-identical (sha256);
the exit status is 1 if not.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First on the path, always: opensimplex 0.3 installs a top-level `tests` package into site-packages.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from build_db import ensure_db  # noqa: E402

from tests.support.reference_tools import reference_script  # noqa: E402

TARGET_SPEEDUP = 2.0
TARGET_RSS_MB = 300.0
OUT = ROOT / "bench" / "out"
PYCACHE = OUT / "pycache"


@dataclass
class Row:
    name: str
    argv: list[str]
    output: Path
    walls: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    tree_kib: list[int] = field(default_factory=list)


def child_env() -> dict[str, str]:
    """With a bytecode cache in bench/out/pycache where PYTHONDONTWRITEBYTECODE is set (as bench_stats)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def _tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and all its descendants (0 for those already gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run_child(row: Row, env: dict[str, str]) -> None:
    row.output.unlink(missing_ok=True)
    log = OUT / "bench_export_child.log"
    started = time.perf_counter()
    pid = os.posix_spawn(
        row.argv[0],
        row.argv,
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_kib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(row.argv)} exited {code}:\n{log.read_text()[-2000:]}")
    row.walls.append(wall)
    row.rss_kib.append(usage.ru_maxrss)
    row.tree_kib.append(max(peak[0], usage.ru_maxrss))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"machine: {platform.system()} {platform.release()}, nproc={os.cpu_count()}, CPU={cpu}",
        f"python {platform.python_version()} ({sys.executable}), SQLite {sqlite3.sqlite_version}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per command (default 3)")
    parser.add_argument("--db", type=Path, help="benchmark this existing DB instead of building one")
    args = parser.parse_args()

    db_path, built = (args.db, None) if args.db else ensure_db(args.sessions, args.decisions)
    print(*machine(), sep="\n")
    how = "reused" if built is None else f"built in {built:.1f} s"
    print(f"DB: {db_path} ({db_path.stat().st_size / 2**20:.1f} MiB, {how})")
    ours_exe = shutil.which("sft-studio", path=str(Path(sys.executable).parent)) or shutil.which("sft-studio")
    if ours_exe is None:
        raise SystemExit("sft-studio is not installed in this environment (run through `uv run`)")
    OUT.mkdir(parents=True, exist_ok=True)
    ours_out, ref_out = OUT / "export_ours.jsonl", OUT / "export_ref.jsonl"
    ours = Row(
        "sft-studio export",
        [ours_exe, "export", "--db", str(db_path), "--output", str(ours_out), "--force"],
        ours_out,
    )
    theirs = Row(
        "export_trace_sft.py (reference 0.2.10)",
        [sys.executable, str(reference_script("export_trace_sft.py")), "--db", str(db_path), "--output", str(ref_out)],
        ref_out,
    )
    rows = [ours, theirs]
    for r in rows:
        print(f"{r.name}: {' '.join(r.argv)}")

    env = child_env()
    load_before = os.getloadavg()[0]
    for r in rows:  # warm-up, not timed
        run_child(r, env)
        r.walls.clear()
        r.rss_kib.clear()
        r.tree_kib.clear()
    for i in range(args.repeat):
        for r in rows if i % 2 == 0 else rows[::-1]:
            run_child(r, env)

    same = sha256(ours_out) == sha256(ref_out)
    ref_median = statistics.median(theirs.walls)
    print(f"\nload average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"output: {ours_out.stat().st_size / 2**20:.0f} MiB; {args.repeat} rounds, alternating order:\n")
    print("| command | median wall s | min wall s | peak RSS MB (largest process) | peak RSS MB (tree) | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        med = statistics.median(r.walls)
        print(
            f"| {r.name} | {med:.2f} | {min(r.walls):.2f} | {max(r.rss_kib) * 1024 / 1e6:.0f} | "
            f"{max(r.tree_kib) * 1024 / 1e6:.0f} | {ref_median / med:.2f}x |"
        )
    ours_med = statistics.median(ours.walls)
    tree_mb = max(ours.tree_kib) * 1024 / 1e6
    checks = [
        (f"outputs byte-identical (sha256 {sha256(ours_out)[:16]}…)", same),
        (f"export >= {TARGET_SPEEDUP:g}x faster than the reference ({ref_median / ours_med:.2f}x)",
         ref_median / ours_med >= TARGET_SPEEDUP),
        (f"export peak RSS <= {TARGET_RSS_MB:g} MB, all processes ({tree_mb:.0f} MB)", tree_mb <= TARGET_RSS_MB),
    ]  # fmt: skip
    print()
    for what, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {what}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())

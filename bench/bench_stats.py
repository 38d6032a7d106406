"""Time ``sft-studio stats`` against synth-ai's ``analyze_trace_db.py`` on the same DB, in one run.

    uv run python bench/bench_stats.py                                   # 10k x 20 DB, 5 rounds
    uv run python bench/bench_stats.py --sessions 200 --decisions 5 --repeat 2   # smoke run

Builds the DB first if absent (bench/build_db.py). Every command runs once untimed (warming the OS
page cache), then ``--repeat`` rounds alternate the order of the commands. Wall time is end to end
(process start to exit: what a user waits for); peak RSS is each child's ``ru_maxrss`` from
``os.wait4``, which on Linux covers the child and the descendants it waited for (so ``uv run``'s
row includes the Python it starts). ``--cold`` adds rounds run after evicting the DB file from the
page cache with ``posix_fadvise(DONTNEED)`` (the interpreter and libraries stay cached).

The five report sections of our output must have the same lines as the reference's, compared as
multisets (the reference orders equal counts by set iteration order); the exit status is 1 if not.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# First on the path, always: opensimplex 0.3 installs a top-level `tests` package into site-packages.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from build_db import ensure_db  # noqa: E402

from services.traces.db import TraceDB  # noqa: E402
from services.traces.stats import compute_stats  # noqa: E402
from services.traces.stats_report import reference_sections  # noqa: E402
from tests.support.reference_tools import reference_script  # noqa: E402

TARGET_WALL_S = 2.0
TARGET_SPEEDUP = 2.0
TARGET_RSS_MB = 300.0
PYCACHE = ROOT / "bench" / "out" / "pycache"


@dataclass
class Row:
    name: str
    argv: list[str] | None  # None: in-process compute_stats
    walls: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    output: str = ""


def child_env(keep_env: bool) -> dict[str, str]:
    """The children's environment: by default with a bytecode cache, as on any normal install.

    Where PYTHONDONTWRITEBYTECODE is set (some sandboxes and CI images), every start recompiles
    SQLAlchemy, pydantic and rich from source; the .pyc files go to bench/out/pycache instead, so
    neither the venv nor the repository is touched.
    """
    env = dict(os.environ)
    if not keep_env:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, stdout) of one run; raises on a non-zero exit."""
    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, out.fileno(), 1)])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}")
    return wall, usage.ru_maxrss, text


def run_in_process(db_path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    with TraceDB(db_path) as db:
        stats = compute_stats(db)
    return time.perf_counter() - started, reference_sections(stats)


def measure(row: Row, db_path: Path, env: dict[str, str], cold: bool = False) -> None:
    if cold:
        evict(db_path)
    if row.argv is None:
        wall, text = run_in_process(db_path)
        rss = 0
    else:
        wall, rss, text = run_child(row.argv, env)
    (row.cold if cold else row.walls).append(wall)
    if not cold and rss:
        row.rss_kib.append(rss)
    row.output = text


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def sections_of(report: str) -> list[str]:
    """The five reference sections of a report (drops our header, which comes before them)."""
    lines = report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Model usage (by LLM calls):", "No model usage recorded.")):
            return lines[i:]
    return lines


def figures_agree(ours: str, theirs: str) -> tuple[bool, list[str]]:
    a, b = Counter(sections_of(ours)), Counter(sections_of(theirs))
    diff = [f"- ours only:   {line!r}" for line in (a - b).elements()]
    diff += [f"+ theirs only: {line!r}" for line in (b - a).elements()]
    return a == b, diff


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


def fmt_row(r: Row, ref_median: float | None) -> str:
    med, lo = statistics.median(r.walls), min(r.walls)
    rss = f"{max(r.rss_kib) * 1024 / 1e6:.0f}" if r.rss_kib else "n/a"
    cold = f"{statistics.median(r.cold):.3f}" if r.cold else "-"
    speed = f"{ref_median / med:.2f}x" if ref_median else "1.00x"
    return f"| {r.name} | {med:.3f} | {lo:.3f} | {cold} | {rss} | {speed} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per command (default 5)")
    parser.add_argument("--cold", type=int, default=0, help="extra rounds after evicting the DB from the page cache")
    parser.add_argument("--db", type=Path, help="benchmark this existing DB instead of building one")
    parser.add_argument(
        "--keep-env",
        action="store_true",
        help="run children in this environment as is (no bytecode cache if PYTHONDONTWRITEBYTECODE is set)",
    )
    args = parser.parse_args()

    if args.db:
        db_path, built = args.db, None
    else:
        db_path, built = ensure_db(args.sessions, args.decisions)
    size = db_path.stat().st_size
    print(*machine(), sep="\n")
    how = "reused" if built is None else f"built in {built:.1f} s"
    print(f"DB: {db_path} ({size / 2**20:.1f} MiB, {how})\n")

    env = child_env(args.keep_env)
    pyc = "off (PYTHONDONTWRITEBYTECODE)" if env.get("PYTHONDONTWRITEBYTECODE") else "on"
    print(f"children's bytecode cache: {pyc}" + ("" if args.keep_env else f" (PYTHONPYCACHEPREFIX={PYCACHE})"))
    bindir = Path(sys.executable).parent
    ours_exe = shutil.which("sft-studio", path=str(bindir)) or shutil.which("sft-studio")
    if ours_exe is None:
        raise SystemExit("sft-studio is not installed in this environment (run through `uv run`)")
    ref = reference_script("analyze_trace_db.py")
    uv = shutil.which("uv")
    ours = Row("sft-studio stats --db (subprocess)", [ours_exe, "stats", "--db", str(db_path)])
    theirs = Row("analyze_trace_db.py --db (reference)", [sys.executable, str(ref), "--db", str(db_path)])
    rows = [ours, theirs]
    if uv:
        rows.append(Row("uv run sft-studio stats --db", [uv, "run", "--project", str(ROOT), "sft-studio", "stats",
                                                         "--db", str(db_path)]))  # fmt: skip
    rows.append(Row("compute_stats() in-process", None))
    for r in rows:
        print(f"{r.name}: {' '.join(r.argv) if r.argv else 'services.traces.stats.compute_stats(TraceDB(path))'}")

    load_before = os.getloadavg()[0]
    for r in rows:  # warm-up: fills the page cache, imports .pyc files; not timed
        measure(r, db_path, env)
        r.walls.clear()
        r.rss_kib.clear()
    for i in range(args.repeat):
        for r in rows if i % 2 == 0 else rows[::-1]:
            measure(r, db_path, env)
    for i in range(args.cold):
        for r in rows if i % 2 == 0 else rows[::-1]:
            measure(r, db_path, env, cold=True)

    ref_median = statistics.median(theirs.walls)
    # Other work on the machine skews every figure; the 1-minute load average shows it (ours adds ~1).
    print(f"\nload average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"{args.repeat} warm rounds (DB in the OS page cache), alternating order"
          + (f"; {args.cold} cold round(s), DB evicted first" if args.cold else "") + ":\n")  # fmt: skip
    print("| command | median wall s | min wall s | cold median s | peak RSS MB | speed-up vs reference |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(fmt_row(r, None if r is theirs else ref_median))

    ok, diff = figures_agree(ours.output, theirs.output)
    in_proc_ok, _ = figures_agree(rows[-1].output, theirs.output)
    ours_med = statistics.median(ours.walls)
    ours_rss = max(ours.rss_kib) * 1024 / 1e6
    speedup = ref_median / ours_med
    print()
    checks = [
        (f"figures agree with the reference ({len(sections_of(theirs.output))} lines)", ok and in_proc_ok),
        (f"stats wall <= {TARGET_WALL_S:g} s (median {ours_med:.3f} s)", ours_med <= TARGET_WALL_S),
        (f"stats >= {TARGET_SPEEDUP:g}x faster than the reference ({speedup:.2f}x)", speedup >= TARGET_SPEEDUP),
        (f"stats peak RSS <= {TARGET_RSS_MB:g} MB ({ours_rss:.0f} MB)", ours_rss <= TARGET_RSS_MB),
    ]
    for what, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {what}")
    if not (ok and in_proc_ok):
        print("\nFigures differ (multiset of section lines, subprocess run):", *diff[:40], sep="\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Issue 10 item 23 in one run: start-up, and `stats`, `count`, `export` and the app's first paint on
a mid-size DB (3,000 sessions x 15 decisions, ~370 MB; ``bench/build_db.py --size mid``) against
synth-ai 0.2.10's reference scripts on the same DB.

    uv run python bench/build_db.py --size mid
    uv run python bench/bench_midsize.py                 # 5 rounds
    uv run python bench/bench_midsize.py --repeat 2 --db bench/out/bench_200x5.db   # smoke run

Every command runs once untimed (page cache), then ``--repeat`` rounds alternate the order of ours
and the reference's. Wall time is end to end (fresh process each time). The 1-minute load average is
printed with each row: the figures mean little on a machine other work keeps busy.

- start-up: ``sft-studio --version`` / ``--help`` (target <= 0.15 s), beside a bare ``python -c pass``;
  ``uv run sft-studio --version`` with and without ``UV_COMPILE_BYTECODE=1`` (what the removed
  ``[tool.uv] compile-bytecode = true`` did on every run: item 19).
- stats: ``sft-studio stats`` vs ``analyze_trace_db.py`` (target >= 2x).
- count: ``sft-studio count --json`` vs the reference's selection re-run (``export_trace_sft.py
  --model <none>``: every query and JSON parse, no session kept; as bench/bench_index.py) (>= 5x).
- export: ``sft-studio export`` vs ``export_trace_sft.py`` writing everything (>= 3x).
- first paint: the app headless, bench/bench_first_paint.py's probe (<= 0.5 s).

What the commands keep between runs (issue 10 item 23: stats, count answers, the session index, the
DB's hash) lives in the bench's own data dir (``bench/out/bench-data`` unless SFT_STUDIO_DATA_DIR is
set): the plain rows are later runs on the unchanged DB; the "first run" rows empty the cache first.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # first: opensimplex ships a top-level `tests` package

from bench_first_paint import one_run  # noqa: E402
from build_db import SIZES, ensure_db  # noqa: E402

from tests.support.reference_tools import reference_script  # noqa: E402

OUT = ROOT / "bench" / "out"


@dataclass
class Row:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    #: cache folders (under the data dir) emptied before each run: a first run's figure
    forget: tuple[str, ...] = ()

    def run(self) -> None:
        for name in self.forget:
            shutil.rmtree(Path(self.env["SFT_STUDIO_DATA_DIR"]) / name, ignore_errors=True)
        self.loads.append(os.getloadavg()[0])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(self.argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, cwd=OUT)
        self.walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds (user + system) of the command and the processes it waited for: on a loaded
        # machine the wall time mostly measures the wait for a core.
        self.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):  # the reference's "no sessions" selection run exits 1
            raise SystemExit(f"{self.name} failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")

    @property
    def median(self) -> float:
        return statistics.median(self.walls)


def pairs(ours: Row, theirs: Row | None, repeat: int) -> None:
    rows = [ours] if theirs is None else [ours, theirs]
    for r in rows:  # warm-up
        r.run()
        r.walls.clear()
        r.cpus.clear()
        r.loads.clear()
    for i in range(repeat):
        for r in rows if i % 2 == 0 else rows[::-1]:
            r.run()


def line(row: Row, ref: Row | None, target: str) -> str:
    ratio = f"{ref.median / row.median:.2f}x" if ref is not None else ""
    cpu = statistics.median(row.cpus)
    cpu_ratio = f"{statistics.median(ref.cpus) / cpu:.2f}x" if ref is not None and cpu else ""
    return (
        f"| {row.name} | {row.median:.3f} | {min(row.walls):.3f} | {ratio} | {cpu:.3f} | {cpu_ratio} | {target} | "
        f"{statistics.median(row.loads):.2f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, help="trace DB (default: the mid-size DB, built if absent)")
    ap.add_argument("--repeat", type=int, default=5, help="timed rounds per command (default 5)")
    ap.add_argument("--startup-repeat", type=int, default=10, help="timed start-ups per row (default 10)")
    args = ap.parse_args()
    db = args.db.resolve() if args.db else ensure_db(*SIZES["mid"])[0]
    OUT.mkdir(parents=True, exist_ok=True)
    # A data dir of the bench's own: what the commands keep between runs (stats, count answers, the
    # session index, the DB hash) is then only what this bench's runs of this code wrote.
    os.environ.setdefault("SFT_STUDIO_DATA_DIR", str(OUT / "bench-data"))
    exe = shutil.which("sft-studio", path=str(Path(sys.executable).parent))
    uv = shutil.which("uv")
    if exe is None:
        raise SystemExit("run through `uv run` (sft-studio must be installed in this environment)")
    analyze, export = reference_script("analyze_trace_db.py"), reference_script("export_trace_sft.py")
    py = sys.executable
    print(f"DB: {db} ({db.stat().st_size / 2**20:.0f} MiB); {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print("| command | median wall s | min wall s | wall speed-up | median CPU s | CPU speed-up | target | load avg |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")

    bare = Row("python -c pass", [py, "-c", "pass"])
    for flag in ("--version", "--help"):
        row = Row(f"sft-studio {flag}", [exe, flag])
        pairs(row, None, args.startup_repeat)
        if flag == "--version":
            pairs(bare, None, args.startup_repeat)
            print(line(bare, None, ""))
        print(line(row, None, "<= 0.15 s"))
    if uv is not None:
        compiled = Row("uv run sft-studio --version, UV_COMPILE_BYTECODE=1 (before item 19)",
                       [uv, "run", "--project", str(ROOT), "sft-studio", "--version"],
                       {**os.environ, "UV_COMPILE_BYTECODE": "1"})  # fmt: skip
        plain = Row("uv run sft-studio --version (after item 19)", [uv, "run", "--project", str(ROOT), "sft-studio",
                                                                    "--version"])  # fmt: skip
        pairs(plain, compiled, args.startup_repeat)
        print(line(compiled, None, ""))
        print(line(plain, compiled, ""))

    out_ours, out_ref = OUT / "mid_export_ours.jsonl", OUT / "mid_export_ref.jsonl"
    cases = [
        ("stats", [exe, "stats", "--db", str(db)], [py, str(analyze), "--db", str(db)], ">= 2x"),
        ("count", [exe, "count", "--db", str(db), "--json"],
         [py, str(export), "--db", str(db), "--output", str(OUT / "mid_sel.jsonl"), "--model", "no-such-model"],
         ">= 5x"),
        ("export", [exe, "export", "--db", str(db), "--output", str(out_ours), "--force"],
         [py, str(export), "--db", str(db), "--output", str(out_ref)], ">= 3x"),
    ]  # fmt: skip
    # What each command keeps between runs (issue 10 item 23), forgotten before each run of its
    # first-run row: the rows without ``forget`` are later runs on the unchanged DB.
    first_runs = {
        "stats": [("first run: stats computed", ("stats-cache",))],
        "count": [("first run: index built", ("count-cache", "index-cache")),
                  ("new filter: index kept, answer counted", ("count-cache",))],
        "export": [("first run: DB hashed", ("db-hash-cache",))],
    }  # fmt: skip
    for name, ours_argv, ref_argv, target in cases:
        ours, ref = Row(f"sft-studio {name}, cached", ours_argv), Row(f"reference for {name}", ref_argv)
        pairs(ours, ref, args.repeat)
        print(line(ref, None, ""))
        print(line(ours, ref, target))
        for what, forget in first_runs[name]:
            cold = Row(f"sft-studio {name}, {what}", ours_argv, forget=forget)
            pairs(cold, None, args.repeat)
            print(line(cold, ref, target))

    for label, forget in (("stats kept", ()), ("stats computed (first run)", ("stats-cache",))):
        paints, shown, loads = [], [], []
        for _ in range(max(3, args.repeat)):
            for name in forget:
                shutil.rmtree(Path(os.environ["SFT_STUDIO_DATA_DIR"]) / name, ignore_errors=True)
            loads.append(os.getloadavg()[0])
            marks = one_run(db)
            paints.append(marks["first_paint"])
            shown.append(marks["stats_shown"])
        print(f"| app first paint, {label} (stats shown: median {statistics.median(shown):.3f}) | "
              f"{statistics.median(paints):.3f} | {min(paints):.3f} |  |  |  | <= 0.5 s | "
              f"{statistics.median(loads):.2f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Time from `sft-studio --db PATH` start to the Traces pane's first paint, and to stats shown.

Each run is a fresh Python process (imports included, as a user starting the app pays them): the
parent stamps the time just before spawning; the child runs the real app headless and reports the
wall-clock time of (1) the first refresh after mount (the pane is on screen, stats may still be
loading) and (2) the first refresh after the pane holds stats (figures on screen). Target: (1) <= 1 s.
Then it switches to the Configs pane (built on first use) and reports (3) how long that first
switch took until the shipped config is on screen, checked.

    uv run python bench/bench_first_paint.py [--db bench/out/bench_10k.db] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
from tui.app.app import SftStudioApp
from tui.panes.traces.pane import TracesPane

marks = {}

class Timed(SftStudioApp):
    CSS_PATH = str(Path(sys.modules["tui.app.app"].__file__).with_name("app.tcss"))

    def on_mount(self) -> None:
        super().on_mount()
        self.call_after_refresh(lambda: marks.setdefault("first_paint", time.time()))
        self.set_interval(0.01, self._poll)

    def _poll(self) -> None:
        if self.query_one(TracesPane).stats is not None and "loaded" not in marks:
            marks["loaded"] = time.time()
            self.call_after_refresh(self._done)

    def _done(self) -> None:
        marks.setdefault("stats_shown", time.time())
        marks["configs_switch"] = time.time()
        self.action_show_pane("configs")
        self.set_interval(0.005, self._poll_configs)

    def _poll_configs(self) -> None:
        pane = self.query("#configs-pane")
        if pane and pane.first().report is not None and "configs_loaded" not in marks:
            marks["configs_loaded"] = time.time()
            self.call_after_refresh(self._configs_shown)

    def _configs_shown(self) -> None:
        marks["configs_shown"] = time.time()
        self.exit()

app = Timed(db_path=Path(sys.argv[1]), db_explicit=True, watch_interval=None)
app.run(headless=True, size=(120, 40))
print(json.dumps(marks))
"""


def one_run(db: Path) -> dict[str, float]:
    start = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(db)], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr[-3000:])
    marks = json.loads(out.stdout.strip().splitlines()[-1])
    times = {k: v - start for k, v in marks.items()}
    times["configs"] = marks["configs_shown"] - marks["configs_switch"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=ROOT / "bench/out/bench_10k.db")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.db.exists():
        sys.exit(f"{args.db} missing: build it with `uv run python bench/build_db.py`")
    runs = [one_run(args.db) for _ in range(args.repeat)]
    print(f"DB: {args.db} ({args.db.stat().st_size / 2**20:.0f} MiB), {args.repeat} runs, fresh process each")
    for key in ("first_paint", "stats_shown", "configs"):
        values = [r[key] for r in runs]
        print(f"  {key:12} median {statistics.median(values):.3f} s  min {min(values):.3f} s  max {max(values):.3f} s")
    print("  (configs: the first switch to the Configs pane, from the key to the checked config on screen)")
    verdict = "PASS" if statistics.median(r["first_paint"] for r in runs) <= 1.0 else "FAIL"
    print(f"  target first paint <= 1 s: {verdict}")


if __name__ == "__main__":
    main()

"""Screens of the Runs pane after issue 15's acceptance loop (bench/acceptance_loop.sh), as SVG files.

Opens the real app headless on the runs ledger of ``SFT_STUDIO_DATA_DIR`` (the loop's data dir),
shows the Runs pane, saves the table; then marks the runs whose model ids are given and compares
them, and saves the comparison (scroll positions as the pane leaves them).

    SFT_STUDIO_DATA_DIR=WORK/data uv run python bench/acceptance_screens.py OUT_DIR MODEL_ID MODEL_ID...
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def shoot(out: Path, models: list[str], size: tuple[int, int]) -> list[Path]:
    from tui.app.app import SftStudioApp
    from tui.panes.runs.pane import RunsPane

    app = SftStudioApp(db_path=None, db_explicit=False, watch_interval=None, candidates=[])
    saved: list[Path] = []
    async with app.run_test(size=size) as pilot:
        await pilot.press("6")
        deadline = time.monotonic() + 60
        while not app.query(RunsPane) or app.query_one(RunsPane).loads < 1:
            assert time.monotonic() < deadline, "the Runs pane did not load the ledger"
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        pane = app.query_one(RunsPane)
        saved.append(Path(app.save_screenshot(f"runs_table_{size[0]}x{size[1]}.svg", str(out))))
        wanted = set(models)
        for index, row in enumerate(pane.rows):  # rows in the table's order: move down, mark
            if index:
                await pilot.press("down")
            if row.run.id in wanted:
                await pilot.press("space")
        await pilot.press("c")
        await pilot.pause(3.0)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(1.0)
        saved.append(Path(app.save_screenshot(f"runs_compare_{size[0]}x{size[1]}.svg", str(out))))
        for page in range(1, 4):  # the rest of the comparison: loss curves, scores, achievements
            await pilot.press("pagedown")
            await pilot.pause(0.5)
            saved.append(Path(app.save_screenshot(f"runs_compare_{size[0]}x{size[1]}_p{page}.svg", str(out))))
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.out, args.models, (width, height))):
        print(path)


if __name__ == "__main__":
    main()

"""The Runs pane's sweep view (issue 15, "Sweeps that run"): a sweep read from its state file shown as
a grid by its two axes (state, estimate, result per cell); a sweep started from the app (the plan's
path typed in, its estimates confirmed in a modal, Escape cancelling) on the real local backend with
the fake trainer, the grid following the run to ``done``; Escape goes back to the runs table."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from services.sweeps.plan import SweepPlan, load_plan
from services.sweeps.state import CellRecord, SweepStateFile, save_state
from tests.services.jobs.support import local_backend
from tests.services.sweeps.support import plan_text, workspace, write_plan
from tests.support.pilot import SIZE, key_active, make_app, show_pane, until
from tui.panes.runs.pane import RunsPane
from tui.panes.runs.sweep_grid import ConfirmSweep, QuitWhileRunning, SweepGrid

EVAL = 'policy = "random"\nseeds = "10000-10001"\nmax_turns = 2\nconcurrency = 2'


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    workspace(tmp_path)
    return tmp_path


def recorded_sweep(root: Path, db: str = "traces.db") -> SweepPlan:
    """A 2 × 2 sweep (lora_rank × learning_rate) whose state file says: done with a result, failed,
    training (job submitted), and one cell never started."""
    text = plan_text("lora_rank = [4, 8]\nlearning_rate = [1e-4, 2e-4]", eval_=EVAL).replace("traces.db", db)
    plan = load_plan(write_plan(root, text, "sweep.toml"), estimate=False)
    done, failed, training, _pending = plan.cells
    records = {
        done.settings_hash: CellRecord(
            name=done.name, values=done.values, state="done", examples=12, job_id="job_a", model="peft:m:job_a",
            crafter_score=12.5, crafter_score_ci=(10.0, 15.25), mean_unique=3.2, seeds=2,
        ),
        failed.settings_hash: CellRecord(
            name=failed.name, values=failed.values, state="failed", error="job job_b ended failed: out of memory"
        ),
        training.settings_hash: CellRecord(
            name=training.name, values=training.values, state="training", job_id="job_c"
        ),
    }  # fmt: skip
    save_state(plan.state_path, SweepStateFile(plan=str(plan.path), cells=records))
    return plan


def _text(widget: Static) -> str:
    """The dialog's text: its cells table printed wide, and the lines after it."""
    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(getattr(widget.render(), "_renderable", None) or str(widget.render()))
    for line in widget.parent.query(Static) if widget.parent else []:
        if line is not widget:
            console.print(str(line.render()))
    return console.export_text()


def _app(root: Path) -> Any:
    return make_app(None, pane_options={"runs": {"ledger_path": root / "ledger.db", "export_dir": root / "exports"}})


def cell(grid: DataTable[Any], row: int, column: int) -> str:
    return str(grid.get_cell(f"r{row}", f"c{column}"))


async def _sweeps(pilot: Any) -> tuple[RunsPane, SweepGrid]:
    pane = await show_pane(pilot, "6", RunsPane)
    await pilot.press("w")
    await until(pilot, lambda: pane.query_one("#runs-views").current == "runs-sweeps")  # type: ignore[attr-defined]
    await until(pilot, lambda: bool(pane.query(SweepGrid)))  # built on the first w
    return pane, pane.query_one(SweepGrid)


async def test_a_sweep_shows_as_a_grid_of_its_axes(ws: Path) -> None:
    plan = recorded_sweep(ws)
    app = _app(ws)
    async with app.run_test(size=SIZE) as pilot:
        pane, view = await _sweeps(pilot)
        await until(pilot, lambda: view.opens >= 1)  # the newest known sweep opens by itself
        await pilot.pause()
        assert view.opened is not None and view.opened.path == plan.path
        grid = view.query_one("#sweep-grid", DataTable)
        labels = ["lora_rank", "learning_rate=0.0001", "learning_rate=0.0002"]
        assert [str(c.label) for c in grid.columns.values()] == labels
        assert [str(grid.get_cell(f"r{r}", "axis")) for r in range(2)] == ["4", "8"]
        done, failed, training, pending = cell(grid, 0, 0), cell(grid, 0, 1), cell(grid, 1, 0), cell(grid, 1, 1)
        assert done.startswith("done") and "12.5% [10.0, 15.2] u 3.20" in done
        assert "12 ex · 6 st · time ?" in done  # the plan's estimate: 12 examples, batch 2, time unmeasured
        assert failed.startswith("failed") and "job job_b ended failed: out o…" in failed  # clipped
        assert training.startswith("train job_c")
        assert app.focused is grid and grid.cursor_coordinate == (0, 1)  # on the first cell, not its label
        await pilot.press("right")  # the note says in full what the cell has no room for
        assert "job job_b ended failed: out of memory" in str(view.query_one("#sweep-note").render())
        assert pending.startswith("pending") and "%" not in pending
        title = str(view.query_one("#sweep-title").render())
        assert "4 cells · 1 done, 1 failed, 1 train, 1 pending" in title
        assert app.focused is grid
        assert key_active(app, "runs.sweep_start") and not key_active(app, "runs.sweep_stop")
        assert not key_active(app, "runs.compare") and not key_active(app, "runs.export")

        # quitting while a sweep runs asks first: n stays, y stops the run after its step and quits
        view.running = plan.path
        quit_asked: list[bool] = []
        assert not pane.may_close(lambda: quit_asked.append(True))
        await until(pilot, lambda: isinstance(app.screen, QuitWhileRunning))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, QuitWhileRunning))
        assert not quit_asked and not view.stop_flag.is_set()
        assert not pane.may_close(lambda: quit_asked.append(True))
        await until(pilot, lambda: isinstance(app.screen, QuitWhileRunning))
        await pilot.press("y")
        await until(pilot, lambda: bool(quit_asked))
        assert view.stop_flag.is_set() and pane.may_close(lambda: None)  # asked once
        view.running = None

        await pilot.press("escape")
        assert pane.query_one("#runs-views").current == "runs-table-view"  # type: ignore[attr-defined]
        assert not key_active(app, "runs.sweep_start")


@pytest.mark.slow
async def test_start_a_sweep_from_the_app_and_watch_it_finish(ws: Path) -> None:
    plan_path = write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL))
    app = _app(ws)
    with local_backend(ws / "data"):
        async with app.run_test(size=SIZE) as pilot:
            _, view = await _sweeps(pilot)
            assert isinstance(app.focused, Input)  # no sweep ran yet: the path field
            await pilot.press(*plan_path.name, "enter")
            await until(pilot, lambda: view.opened is not None)
            grid = view.query_one("#sweep-grid", DataTable)
            assert [str(c.label) for c in grid.columns.values()] == ["lora_rank", "cell"]
            assert all(cell(grid, r, 0).startswith("pending\n12 ex · 6 st") for r in range(2))

            await pilot.press("n")  # the estimates, asked first; Escape cancels
            await until(pilot, lambda: isinstance(app.screen, ConfirmSweep))
            body = _text(app.screen.query_one("#confirm-sweep-cells", Static))
            assert "lora_rank=4" in body and "lora_rank=8" in body and "Training time, all cells" in body
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmSweep) and view.running is None
            assert not (ws / "configs" / "sweeps" / "demo" / "sweep-state.json").exists()

            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, ConfirmSweep))
            await pilot.press("y")
            await until(pilot, lambda: view.running is not None)
            assert key_active(app, "runs.sweep_stop") and not key_active(app, "runs.sweep_start")
            await until(pilot, lambda: view.summary is not None, timeout=120)
            await until(pilot, lambda: view.running is None and view.opens >= 2)
            await pilot.pause()
            assert view.summary is not None and view.summary.ok and len(view.summary.done) == 2
            assert view.updates >= 2  # the grid followed the run (export, job, eval of each cell)
            for r in range(2):
                text = cell(grid, r, 0)
                assert text.startswith("done") and "%" in text and " u " in text, text
            assert "Sweep finished: 2 done" in str(view.query_one("#sweep-note").render())
            assert key_active(app, "runs.sweep_start")


@pytest.mark.slow
async def test_x_stops_a_running_sweep_after_the_current_step(ws: Path) -> None:
    from services.sweeps.state import sweep_status

    plan_path = write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL))
    app = _app(ws)
    with local_backend(ws / "data"):
        async with app.run_test(size=SIZE) as pilot:
            _, view = await _sweeps(pilot)
            await pilot.press(*plan_path.name, "enter")
            await until(pilot, lambda: view.opened is not None)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, ConfirmSweep))
            await pilot.press("enter")
            await until(pilot, lambda: view.updates >= 1)  # the first cell has started
            await pilot.press("x")
            assert view.stop_flag.is_set() and not key_active(app, "runs.sweep_stop")  # asked once
            note = str(view.query_one("#sweep-note").render())  # (the run may have ended already)
            assert "Stopping after the current step" in note or "Sweep stopped" in note, note
            await until(pilot, lambda: view.summary is not None, timeout=120)
            await until(pilot, lambda: view.running is None)
            await pilot.pause()
            summary = view.summary
            assert summary is not None and summary.stopped and "stopped by the user" in summary.stopped
            assert len(summary.done) < 2 and not summary.failed
            assert "Sweep stopped" in str(view.query_one("#sweep-note").render())
            assert key_active(app, "runs.sweep_start")  # n resumes it
    states = [c.state for c in sweep_status(plan_path)]
    assert states[-1] != "done" and ("stopped" in states or states == ["done", "pending"]), states

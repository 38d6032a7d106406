"""Pilot tests of the TUI: panes and keys, the Traces pane's states, refresh and auto-refresh.

Every app here runs headless at 120x40; DB work happens in the pane's thread worker, so tests wait
for it (``workers.wait_for_complete`` then ``pause``) before asserting on widgets.
"""

from __future__ import annotations

import io
import random
import sqlite3
import threading
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Label, OptionList, Static, TabbedContent

from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle
from services.traces.db import DBLockedError, TraceDB
from services.traces.schema import Flavour
from services.traces.stats import TraceStats, compute_stats
from services.traces.writer import TraceWriter
from tests.support.pilot import SIZE, key_active, settle, show_pane
from tests.support.pilot import make_app as pilot_app
from tests.support.tracegen import build_db, make_episode, set_total_rewards
from tui.app.app import SftStudioApp
from tui.app.help import HelpScreen
from tui.app.registry import PANES
from tui.panes.configs.pane import ConfigsPane
from tui.panes.filters.pane import FiltersPane
from tui.panes.traces.pane import TracesPane
from tui.panes.traces.states import ErrorState
from tui.widgets.bars import BarChart
from tui.widgets.tables import cursor_key, sync_rows

CANDIDATES = [Path("/home/me/crafter/traces/v3/synth_ai.db"), Path("/home/me/synth-ai/traces/v3/synth_ai.db")]


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces/v3/synth_ai.db", sessions=12, decisions=4)


def make_app(db: Path | None, **kwargs: object) -> SftStudioApp:
    kwargs.setdefault("candidates", CANDIDATES)
    return pilot_app(db, **kwargs)


def view(app: SftStudioApp) -> str | None:
    return app.query_one(TracesPane).query_one(ContentSwitcher).current


def plain(widget: Static | Label) -> str:
    """The text a Static shows, whether it holds Content, a string or a Rich renderable."""
    content = widget.content
    if isinstance(content, Content):
        return content.plain
    if isinstance(content, str):
        return content
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


# ------------------------------------------------------------------------------------- panes, keys


async def test_number_keys_and_tab_clicks_switch_panes(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tabs = app.query_one(TabbedContent)
        for n, spec in reversed(list(enumerate(PANES, start=1))):
            await pilot.press("escape", str(n))  # a shown pane focuses its first field: Escape leaves it
            await pilot.pause()
            assert tabs.active == spec.id
            if not spec.built:  # the built ones have their own tests (test_filters.py, test_configs.py, ...)
                body = app.query_one(f"#{spec.id}-body")
                text = " ".join(plain(s) for s in body.query(Static))
                assert "Not built yet" in text and spec.title in str(body.query_one(".planned-panel").border_title)
                for i, built in enumerate(PANES, start=1):  # what works now
                    assert (f"{built.title} (press {i})" in text) == built.built
        await pilot.click("#--content-tab-jobs")
        await pilot.pause()
        assert tabs.active == "jobs"
        assert not key_active(app, "traces.refresh")  # Traces keys hide off the Traces pane
        await pilot.press("1")
        await pilot.pause()
        assert tabs.active == "traces" and key_active(app, "traces.refresh")


async def test_hidden_panes_are_built_on_first_use_and_kept(small_db: Path, tmp_path: Path) -> None:
    """Start-up composes only the Traces pane; Filters and Configs are built once, when first shown."""
    (tmp_path / "configs").mkdir()
    app = make_app(small_db, pane_options={"configs": {"config_dir": tmp_path / "configs", "watch_interval": None}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.query(FiltersPane) and not app.query(ConfigsPane)
        assert "Opening the Configs pane" in plain(app.query_one("#configs-slot .deferred-note", Static))
        configs = await show_pane(pilot, "3", ConfigsPane)
        assert not app.query("#configs-slot .deferred-note")
        assert configs.has_focus_within  # the pane took the focus once built, so ctrl+s etc. work at once
        filters = await show_pane(pilot, "2", FiltersPane)
        assert filters.db_path == small_db  # built after the DB opened: it reads the open DB itself
        await pilot.press("escape", "3")  # Escape leaves the Filters field the switch focused
        await pilot.pause()
        assert app.query_one(ConfigsPane) is configs and len(app.query(ConfigsPane)) == 1


async def test_f1_opens_help_and_escape_closes_it(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(plain(s) for s in app.screen.query(Static))
        assert "Command palette" in text and "Filters" in text and "runs ledger" in text
        await pilot.press("2")  # pane keys do nothing behind the modal
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "traces"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_has_our_commands_and_runs_them(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Traces: refresh", "Traces: toggle auto-refresh", "Go to: Filters", "Go to: Runs"):
            assert title in titles
        goto_eval = next(c for c in app.get_system_commands(app.screen) if c.title == "Go to: Eval")
        goto_eval.callback()
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "eval"


async def test_palette_by_keyboard(small_db: Path) -> None:
    """ctrl+p, type a command name, Enter: the command runs."""
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"go to jobs")
        for _ in range(40):  # the palette searches asynchronously
            await pilot.pause(0.05)
            if app.screen.query(OptionList) and app.screen.query_one(OptionList).option_count:
                break
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "jobs"


async def test_q_quits(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.return_code is None
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0  # exit() was called


# ------------------------------------------------------------------------------------------ stats


async def test_stats_of_a_small_db(small_db: Path) -> None:
    expected = compute_stats(TraceDB(small_db))
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-stats"
        models = app.query_one("#traces-models", DataTable)
        assert models.row_count == len(expected.model_usage) >= 3
        names = {str(models.get_row_at(i)[0]) for i in range(models.row_count)}
        assert "qwen/qwen3-32b" in names and "Qwen/Qwen3-0.6B" in names
        rewards = app.query_one("#traces-reward-types", DataTable)
        assert rewards.row_count == len(expected.reward_types or [])
        achievements = app.query_one("#traces-achievements", BarChart)
        assert len(achievements.rows) == 22 and achievements.total == expected.header.sessions
        assert [r.label for r in achievements.rows] == list(ACHIEVEMENTS)  # zeros included
        assert dict(expected.achievements.all_crafter()) == {r.label: r.value for r in achievements.rows}
        histogram = app.query_one("#traces-histogram", BarChart)
        assert sum(r.value for r in histogram.rows) == sum(expected.achievements.size_counts.values())
        header = plain(app.query_one("#traces-header", Static))
        assert str(small_db) in header and f"{expected.header.sessions} sessions" in header
        assert "task-app keys" in header and "malformed rows" in header
        outcome = plain(app.query_one("#traces-outcome", Static))
        assert "Episodes" in outcome and f"{expected.outcome.episodes}" in outcome  # type: ignore[union-attr]
        assert plain(app.query_one("#status-db", Label)).startswith(f"DB {small_db.name}")
        assert plain(app.query_one("#status-where", Label)) == f" in {small_db.parent}"
        assert plain(app.query_one("#status-activity", Label)) == "auto-refresh off"


async def test_header_counts_a_total_reward_that_is_not_a_number(tmp_path: Path) -> None:
    """Stats skip such a row the way the export does, and the header says why it was skipped."""
    path = build_db(tmp_path / "odd.db", sessions=4, decisions=2, quirks=False)
    set_total_rewards(path, (None, "abc", "2.5", "x"))
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-stats"
        header = plain(app.query_one("#traces-header", Static))
        assert "2 malformed rows" in header and "outcome reward not a number 2" in header


async def test_old_flavour_says_what_is_unavailable(tmp_path: Path) -> None:
    """A 0.2.3 DB has no reward tables: the pane says why, instead of showing zeros."""
    db = build_db(tmp_path / "old.db", sessions=6, decisions=3, flavour=Flavour.V0_2_3)
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-stats"
        header = plain(app.query_one("#traces-header", Static))
        assert header.count("Unavailable") == 3 and "outcome_rewards" in header
        assert not app.query_one("#traces-reward-types").display
        assert "event_rewards" in plain(app.query_one("#traces-reward-note", Static))
        assert "outcome_rewards" in plain(app.query_one("#traces-outcome", Static))
        assert app.query_one("#traces-achievements", BarChart).rows == []


async def test_r_recomputes(small_db: Path) -> None:
    seen: list[Message] = []
    app = make_app(small_db)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        loaded = [m for m in seen if isinstance(m, TracesPane.StatsLoaded)]
        assert len(loaded) == 1
        await pilot.press("r")
        await settle(pilot)
        loaded = [m for m in seen if isinstance(m, TracesPane.StatsLoaded)]
        assert len(loaded) == 2 and loaded[1].generation == 2
        assert view(app) == "traces-stats"


async def test_loading_state_then_refreshing_marker_keeps_figures(small_db: Path) -> None:
    gate = threading.Event()

    def slow_stats(db: TraceDB) -> TraceStats:
        gate.wait(10)
        return compute_stats(db)

    app = make_app(small_db, stats_fn=slow_stats)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert view(app) == "traces-loading"
        assert plain(app.query_one("#status-activity", Label)) == "loading…"
        gate.set()
        await settle(pilot)
        assert view(app) == "traces-stats"
        gate.clear()
        await pilot.press("r")
        await pilot.pause()
        assert view(app) == "traces-stats"  # old figures stay up
        assert app.query_one("#traces-header").border_subtitle == "refreshing…"
        assert plain(app.query_one("#status-activity", Label)) == "refreshing…"
        gate.set()
        await settle(pilot)
        assert app.query_one("#traces-header").border_subtitle == ""


# ------------------------------------------------------------------------------ empty and errors


async def test_empty_state_when_no_db(tmp_path: Path) -> None:
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-empty"
        text = " ".join(plain(s) for s in app.query_one("#traces-empty").query(Static))
        assert "No trace DB found" in text and "sft-studio --db PATH" in text
        assert "sft-studio demo" in text and "sft-studio collect" in text and "not built yet" not in text
        for candidate in CANDIDATES:
            assert str(candidate) in text
        assert plain(app.query_one("#status-db", Label)) == "no trace DB open"
        assert not key_active(app, "traces.refresh") and not key_active(app, "traces.collect")
        assert not app.workers  # nothing to read, no demo built unless asked


def _not_sqlite(tmp: Path) -> Path:
    path = tmp / "random.db"
    path.write_bytes(random.Random(7).randbytes(4096))
    return path


def _no_trace_tables(tmp: Path) -> Path:
    path = tmp / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    return path


def _bare_dir(tmp: Path) -> Path:
    path = tmp / "sqld"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing.db", "Database not found"),
        (_not_sqlite, "is not an SQLite database"),
        (_no_trace_tables, "not a synth-ai trace DB"),
        (_bare_dir, "dbs/default/data is missing"),
    ],
    ids=["missing", "not-sqlite", "no-trace-tables", "dir-without-sqld-data"],
)
async def test_error_states(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app(make(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-error"
        panel = app.query_one(ErrorState)
        assert expected in panel.message_text
        assert "Traceback" not in panel.message_text
        assert "Press r to retry" in " ".join(plain(s) for s in panel.query(Static))
        assert plain(app.query_one("#status-activity", Label)) == "error: press r to retry"


async def test_locked_and_unexpected_errors_become_panels(small_db: Path) -> None:
    def locked(db: TraceDB) -> TraceStats:
        raise DBLockedError("x.db is locked by another process.", "Retry in a moment.")

    def buggy(db: TraceDB) -> TraceStats:
        raise RuntimeError("boom")

    for fn, expected in ((locked, "Retry in a moment."), (buggy, "RuntimeError: boom")):
        app = make_app(small_db, stats_fn=fn)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert view(app) == "traces-error"
            assert expected in app.query_one(ErrorState).message_text


async def test_r_retries_after_an_error(tmp_path: Path) -> None:
    path = tmp_path / "traces/v3/synth_ai.db"
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-error"
        build_db(path, sessions=6, decisions=3)
        await pilot.press("r")
        await settle(pilot)
        assert view(app) == "traces-stats"


# ----------------------------------------------------------------------------------- auto-refresh


async def test_auto_refresh_keeps_cursor_and_scroll(small_db: Path) -> None:
    app = make_app(small_db, watch_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one(TracesPane)
        assert pane.stats is not None
        before = pane.stats.header.sessions
        models = app.query_one("#traces-models", DataTable)
        models.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        key = models.coordinate_to_cell_key(models.cursor_coordinate).row_key
        scroller = app.query_one("#traces-stats")
        scroller.scroll_to(y=4, animate=False, immediate=True)
        await pilot.pause()
        assert scroller.scroll_y == 4

        with TraceWriter(small_db) as writer:
            writer.write([make_episode(random.Random(1), 999, decisions=4, style=KeyStyle.TASK_APP)])

        for _ in range(100):
            await pilot.pause(0.05)
            if pane.stats.header.sessions == before + 1 and not pane.reading:
                break
        await settle(pilot)
        assert pane.stats.header.sessions == before + 1
        assert f"{before + 1} sessions" in plain(app.query_one("#traces-header", Static))
        assert models.coordinate_to_cell_key(models.cursor_coordinate).row_key == key
        assert models.has_focus
        assert scroller.scroll_y == 4
        assert plain(app.query_one("#status-activity", Label)) == "auto-refresh every 0.05 s"


async def test_auto_refresh_can_be_turned_off(small_db: Path) -> None:
    seen: list[Message] = []
    app = make_app(small_db, watch_interval=0.05)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await pilot.pause()
        assert not app.query_one(TracesPane).watching
        with TraceWriter(small_db) as writer:
            writer.write([make_episode(random.Random(2), 998, decisions=3, style=KeyStyle.TASK_APP)])
        await pilot.pause(0.3)
        await settle(pilot)
        assert len([m for m in seen if isinstance(m, TracesPane.StatsLoaded)]) == 1
        assert plain(app.query_one("#status-activity", Label)) == "auto-refresh off"


async def test_sync_rows_keeps_the_cursor_on_its_row() -> None:
    """Same keys update in place; a reorder moves the cursor with its row; a vanished row clamps."""

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    def rows(*pairs: tuple[str, str]) -> list[tuple[str, list[Text]]]:
        return [(key, [Text(value)]) for key, value in pairs]

    app = TableApp()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(DataTable)
        table.add_column("v", key="v")
        sync_rows(table, rows(("x", "1"), ("y", "2"), ("z", "3")))
        table.move_cursor(row=1)
        await pilot.pause()
        sync_rows(table, rows(("x", "1"), ("y", "5"), ("z", "3")))
        assert cursor_key(table) == "y" and str(table.get_cell("y", "v")) == "5"
        sync_rows(table, rows(("z", "3"), ("x", "1"), ("y", "5")))
        await pilot.pause()
        assert cursor_key(table) == "y" and table.cursor_row == 2
        sync_rows(table, rows(("x", "1")))
        assert table.cursor_row == 0 and cursor_key(table) == "x"

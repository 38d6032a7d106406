"""The app shell, for every pane of the registry: where the focus goes when a pane is shown, what r does
on a pane without a refresh of its own, and the focus style of every kind of focusable widget."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import Input, Static, Switch

from tests.support.pilot import SIZE, settle, show_pane, until
from tests.support.pilot import make_app as pilot_app
from tests.support.tracegen import build_db
from tui.app.app import SftStudioApp
from tui.app.registry import PANES
from tui.panes.configs.pane import ConfigsPane
from tui.panes.filters.pane import FiltersPane
from tui.widgets.placeholder import PlaceholderPane


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces/v3/synth_ai.db", sessions=8, decisions=3)


def pane_of(app: SftStudioApp, widget: Widget | None) -> str | None:
    return None if widget is None else app._pane_of(widget)


async def focus_in(pilot, pane_id: str) -> Widget:  # type: ignore[no-untyped-def]
    """Wait until the focus is inside pane ``pane_id`` and return the focused widget."""
    app = pilot.app
    await until(pilot, lambda: pane_of(app, app.focused) == pane_id, timeout=30)
    assert app.focused is not None
    return app.focused


async def test_start_and_every_switch_focus_the_shown_pane(small_db: Path) -> None:
    """At start and after each number key the focus is inside the shown pane (placeholders too), so
    arrows and typing act on it at once (Escape leaves a field, so the next number key switches)."""
    app = pilot_app(small_db, pane_options={"filters": {"debounce_s": 0.05}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await focus_in(pilot, "traces")
        for n, spec in enumerate(PANES, start=1):
            await pilot.press("escape", str(n))
            focused = await focus_in(pilot, spec.id)
            if not spec.built:
                assert isinstance(focused, PlaceholderPane)


async def test_filters_first_field_takes_typing_after_the_switch(small_db: Path) -> None:
    """Press 2, then type: the characters land in the first field of the form, no Tab needed."""
    app = pilot_app(small_db, pane_options={"filters": {"debounce_s": 0.05}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = await show_pane(pilot, "2", FiltersPane)
        await until(pilot, lambda: pane.preview is not None, timeout=30)
        focused = await focus_in(pilot, "filters")
        assert isinstance(focused, Input)
        first = next(w for w in app.screen.focus_chain if pane_of(app, w) == "filters")
        assert focused is first
        await pilot.press("4", "2")
        assert focused.value.endswith("42")


async def test_coming_back_focuses_what_had_the_focus(small_db: Path) -> None:
    """Leave Filters with the focus on its third field (or, after Escape, on the preview); back on Filters
    the focus is there again."""
    app = pilot_app(small_db, pane_options={"filters": {"debounce_s": 0.05}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = await show_pane(pilot, "2", FiltersPane)
        await until(pilot, lambda: pane.preview is not None, timeout=30)
        await focus_in(pilot, "filters")
        await pilot.press("tab", "tab")
        chosen = app.focused
        assert isinstance(chosen, Input) and pane_of(app, chosen) == "filters"
        app.action_show_pane("traces")  # as a tab click or the palette does, without leaving the field
        await focus_in(pilot, "traces")
        await pilot.press("2")
        await focus_in(pilot, "filters")
        assert app.focused is chosen
        await pilot.press("escape")  # the pane's Escape moves the focus to the preview
        preview = app.focused
        assert preview is not chosen and pane_of(app, preview) == "filters"
        await pilot.press("1")
        await focus_in(pilot, "traces")
        await pilot.press("2")
        await focus_in(pilot, "filters")
        assert app.focused is preview


async def test_configs_is_focused_when_first_built(small_db: Path, tmp_path: Path) -> None:
    """A pane built on first show (Configs) gets the focus once it is built."""
    configs = tmp_path / "configs"
    configs.mkdir()
    app = pilot_app(small_db, pane_options={"configs": {"config_dir": configs}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await show_pane(pilot, "3", ConfigsPane)
        await focus_in(pilot, "configs")


@pytest.mark.parametrize("key", ["7"])
async def test_r_on_a_pane_without_refresh_says_so(small_db: Path, key: str) -> None:
    """r works on every pane: where there is nothing to re-read it says why instead of doing nothing
    (every pane of ours is built now: a planned one is added for this, as a new pane would be)."""
    from tests.tui.test_registry import WithNotes

    app = WithNotes(db_path=small_db, db_explicit=True, watch_interval=None, candidates=[])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await pilot.pause()
        await pilot.press("r")
        await until(pilot, lambda: bool(app._notifications))
        message = list(app._notifications)[-1].message
        assert message.startswith("Nothing to refresh:") and "not built yet" in message


async def test_r_without_a_db_says_there_is_nothing_to_read(tmp_path: Path) -> None:
    app = pilot_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: bool(app._notifications))
        assert list(app._notifications)[-1].message == "Nothing to refresh: no trace DB is open."


async def test_placeholders_list_every_built_pane(small_db: Path) -> None:
    """ "Working now" comes from the registry: every built pane with its key, none of the planned ones."""
    from tests.tui.test_registry import WithNotes

    app = WithNotes(db_path=small_db, db_explicit=True, watch_interval=None, candidates=[])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await pilot.pause()
        text = " ".join(str(s.content) for s in app.query_one("#notes-body", PlaceholderPane).query(Static))
        for n, spec in enumerate(WithNotes.PANES, start=1):
            assert (f"{spec.title} (press {n})" in text) == spec.built
        assert "Runs (press 6)" in text


# ------------------------------------------------------------------------------------ focus style


async def test_focused_switch_keeps_its_knob_and_size_and_is_marked(small_db: Path, tmp_path: Path) -> None:
    """A Configs form Switch: focusing it changes neither its size nor its border (the knob stays) and
    marks it with the accent colour, not a one-step tint."""
    configs = tmp_path / "configs"
    configs.mkdir()
    root = Path(__file__).resolve().parents[2]
    (configs / "lora.toml").write_bytes((root / "configs" / "crafter_lora_qwen0p6b.toml").read_bytes())
    app = pilot_app(small_db, pane_options={"configs": {"config_dir": configs}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = await show_pane(pilot, "3", ConfigsPane)
        pane.open(configs / "lora.toml")
        await until(pilot, lambda: bool(pane.query(Switch)), timeout=30)
        await settle(pilot)
        switch = pane.query(Switch).first()
        switch.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        before_size, before_bg = switch.outer_size, switch.styles.background
        switch.focus()
        await until(pilot, lambda: switch.has_focus)
        await pilot.pause()
        assert switch.outer_size == before_size
        assert switch.styles.border_top[0] in ("", "none")
        accent = app.theme_variables["accent"]
        assert switch.styles.background != before_bg
        assert switch.styles.background.hex.lower()[:7] == accent.lower()[:7]


async def test_focused_compact_select_is_marked_with_the_accent(small_db: Path, tmp_path: Path) -> None:
    from textual.widgets import Select
    from textual.widgets._select import SelectCurrent

    configs = tmp_path / "configs"
    configs.mkdir()
    root = Path(__file__).resolve().parents[2]
    (configs / "lora.toml").write_bytes((root / "configs" / "crafter_lora_qwen0p6b.toml").read_bytes())
    app = pilot_app(small_db, pane_options={"configs": {"config_dir": configs}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = await show_pane(pilot, "3", ConfigsPane)
        pane.open(configs / "lora.toml")
        await until(pilot, lambda: bool(pane.query(Select)), timeout=30)
        await settle(pilot)
        select = pane.query(Select).first()
        current = select.query_one(SelectCurrent)
        before_size = current.outer_size
        select.focus()
        await until(pilot, lambda: select.has_focus)
        await pilot.pause()
        assert current.outer_size == before_size
        accent = app.theme_variables["accent"]
        assert current.styles.background.hex.lower()[:7] == accent.lower()[:7]


# ------------------------------------------------------------------------------- Traces at 80x24


async def test_traces_tables_fit_80_columns(small_db: Path) -> None:
    """At 80x24 the sections stack and every column of every table is visible (no "Epi… Tot…"); at
    120 columns the lower sections sit side by side with the long labels."""
    from textual.widgets import DataTable

    from tui.panes.traces.pane import TracesPane

    app = pilot_app(small_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.query_one(TracesPane)
        await until(pilot, lambda: pane.stats is not None)
        await pilot.pause()
        assert pane.has_class("-narrow")
        for table in pane.query(DataTable):
            if table.display:
                assert table.virtual_size.width <= table.scrollable_content_region.width, table.id
        outcome = pane.query_one("#traces-outcome", Static)
        assert "Episodes" in outcome.render_lines(outcome.region.reset_offset)[1].text  # type: ignore[attr-defined]
        achievements = pane.query_one("#traces-achievements")
        histogram = pane.query_one("#traces-histogram")
        assert achievements.region.x == histogram.region.x and achievements.region.width >= 76
        labels = [str(c.label) for c in pane.query_one("#traces-models", DataTable).columns.values()]
        assert labels[-1] == "Sessions"
        await pilot.resize_terminal(160, 48)
        await until(pilot, lambda: not pane.has_class("-narrow"))
        await pilot.pause()
        assert achievements.region.x > histogram.region.x
        labels = [str(c.label) for c in pane.query_one("#traces-models", DataTable).columns.values()]
        assert "Tokens total" in labels and pane.query_one("#traces-models", DataTable).row_count == 5

"""The pane registry: a pane is one registration, every spec is consistent, and keys are remappable by id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
from textual.actions import parse
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from tests.support.paths import ROOT
from tests.support.pilot import SIZE, settle, show_pane, until
from tests.support.pilot import make_app as pilot_app
from tests.support.tracegen import build_db
from tui.app import registry
from tui.app.app import SftStudioApp
from tui.app.help import HelpScreen
from tui.app.pane_spec import PaneSpec
from tui.panes.filters.export_dialog import ExportDialog
from tui.panes.filters.pane import FiltersPane
from tui.widgets.placeholder import PlaceholderPane

NOTES = PaneSpec(
    id="notes",
    title="Notes",
    summary="Write down what each run taught us.",
    plans=("Keep a note per run, next to its config and results.", "Search the notes."),
)


class WithNotes(SftStudioApp):
    """The app with one more pane and no other change."""

    PANES: ClassVar[tuple[PaneSpec, ...]] = (*registry.PANES, NOTES)


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces/v3/synth_ai.db", sessions=8, decisions=3)


def _text(widget: Static) -> str:
    return str(widget.content)


async def test_a_new_spec_gets_tab_key_palette_help_and_placeholder(small_db: Path) -> None:
    app = WithNotes(db_path=small_db, watch_interval=None, candidates=[])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert str(app.query_one("#--content-tab-notes").label) == "7 Notes"  # type: ignore[attr-defined]
        await pilot.press("7")
        await pilot.pause()
        assert app.active_pane == "notes"
        placeholder = app.query_one("#notes-body", PlaceholderPane)
        text = " ".join(_text(s) for s in placeholder.query(Static))
        assert "Write down what each run taught us." in text and "Not built yet" in text
        assert "Search the notes." in text and "Configs (press 3)" in text
        await pilot.press("1")
        await pilot.pause()
        goto = next(c for c in app.get_system_commands(app.screen) if c.title == "Go to: Notes")
        assert "(key 7)" in goto.help
        goto.callback()
        await pilot.pause()
        assert app.active_pane == "notes"
        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        assert ("1 … 7", "Go to Traces, Filters, Configs, Jobs, Eval, Runs, Notes (or click a tab)") in (
            help_screen.key_table
        )
        left, right = help_screen.pane_table[-1]
        assert left == "7 Notes" and right.plain == "Not built yet. " + " ".join(NOTES.plans)
    assert len(SftStudioApp.PANES) == 6 and not SftStudioApp(candidates=[]).spec("notes")  # the base app unchanged


def test_every_spec_is_consistent() -> None:
    """Ids are unique; every key's action exists on its pane; commands and key help name real bindings."""
    panes = registry.PANES
    assert [p.id for p in panes] == ["traces", "filters", "configs", "jobs", "eval", "runs"]
    ids = [b.id for p in panes for b in p.bindings]
    assert all(ids) and len(ids) == len(set(ids))
    for spec in panes:
        assert all(b.id.startswith(f"{spec.id}.") for b in spec.bindings if b.id)
        assert all(spec.binding(c.binding_id) for c in spec.commands)
        assert {i for row in spec.key_help for i in row.ids} <= {b.id for b in spec.bindings}
        if spec.factory is None:
            assert spec.plans and not spec.bindings
            continue
        assert spec.help and not spec.plans
        pane_class = type(spec.factory(None, {}))
        for binding in spec.bindings:
            _, name, _ = parse(binding.action)
            assert hasattr(pane_class, f"action_{name}"), (spec.id, binding.action)
        assert list(spec.focus_keys) == pane_class.BINDINGS  # the pane's own keys are declared in its spec


def test_no_pane_module_is_imported_by_the_registry() -> None:
    """Start-up pays only for what it shows: the specs import no pane module (the factories do, when called)."""
    code = (
        "import json, sys, tui.app.registry; print(json.dumps([m for m in sys.modules if m.startswith('tui.panes.')]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "tui.panes.jobs.spec" in loaded
    assert [m for m in loaded if m.count(".") > 2 and not m.endswith(".spec")] == []


async def test_keys_are_remappable_by_id(small_db: Path) -> None:
    """Textual's keymap (Posting's pattern): filters.export on E; e does nothing, E exports; footer and help say E."""
    app = pilot_app(small_db, pane_options={"filters": {"debounce_s": 0.05}})
    async with app.run_test(size=SIZE) as pilot:
        app.set_keymap({"filters.export": "E"})
        pane = await show_pane(pilot, "2", FiltersPane)
        await until(pilot, lambda: pane.preview is not None)
        await pilot.press("escape")  # leave the form: letters are keys again
        await pilot.pause()
        shown = {key.key_display: key.description for key in app.query(FooterKey)}
        assert shown.get("E") == "Export" and "e" not in shown
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, ExportDialog)
        await pilot.press("E")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = dict(help_screen.key_table)
        assert rows["E"].startswith("Filters: export") and "e" not in rows
        export = next(c for c in app.get_system_commands(app.screen) if c.title == "Filters: export")
        assert export.help.endswith("(key E)")

"""SVG snapshots of every pane, the empty and error states, and the F1 help (textual 8.2.8 baselines).

Deterministic by construction: 120x40, file watcher off, the DB from ``build_db`` (byte-identical
for the same arguments) opened by the relative path ``traces/v3/synth_ai.db`` from inside tmp_path,
and fixed discovery candidates for the empty state. Nothing shows a clock or compute time.
``snap_compare`` runs the app itself, so these tests are plain ``def``s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from services.trace_db import discovery_candidates
from tests.tracegen import build_db
from tui.app import SftStudioApp

SIZE = (120, 40)
REL = Path("traces/v3/synth_ai.db")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def db_app(in_tmp: Path) -> SftStudioApp:
    build_db(in_tmp / REL, sessions=12, decisions=4)
    return SftStudioApp(db_path=REL, db_explicit=True, watch_interval=None)


async def loaded(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def loaded_and_scrolled_to_end(pilot: Pilot[None]) -> None:
    await loaded(pilot)
    pilot.app.query_one("#traces-stats").scroll_end(animate=False, immediate=True)
    await pilot.pause()


def test_traces_pane(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Header (relative path, size, flavour, counts, skipped rows, note), model table, rewards, bars."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=loaded)


def test_traces_pane_scrolled_to_achievements(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Bottom of the pane: the 22 achievement bars (zeros muted) and the unique-count histogram."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=loaded_and_scrolled_to_end)


def test_empty_state(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """No DB: where we looked (fixed candidates), how to get one, footer without r/a."""
    candidates = discovery_candidates(cwd=Path("/home/me/crafter"), home=Path("/home/me"))
    app = SftStudioApp(db_path=None, watch_interval=None, candidates=candidates)
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


def test_error_state_not_sqlite(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """A file of non-SQLite bytes: red panel with message, hint and 'Press r to retry'."""
    (in_tmp / REL).parent.mkdir(parents=True)
    (in_tmp / REL).write_bytes(b"this is not a database\n" * 200)
    app = SftStudioApp(db_path=REL, db_explicit=True, watch_interval=None)
    assert snap_compare(app, terminal_size=SIZE, run_before=loaded)


@pytest.mark.parametrize("key", ["2", "3", "4", "5", "6"], ids=["filters", "configs", "jobs", "eval", "runs"])
def test_planned_pane(db_app: SftStudioApp, key: str, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Each not-yet-built pane: what it will do and 'Not built yet', no fake content."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=loaded, press=[key])


def test_help_modal(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F1 over the Traces pane: keys table and one entry per pane."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=loaded, press=["f1"])

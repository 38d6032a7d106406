"""Collecting from the TUI: the form, a real (tiny) collection, stopping, errors, and the first-start demo.

Collections here are real: sft-studio's teacher plays a few short Crafter episodes into a DB in
tmp_path (SFT_STUDIO_DATA_DIR points there too, so nothing touches the user's data dir). Auto-refresh
stays off, so growing figures prove that the collection itself asks for re-reads.
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from rich.console import Console
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input, Label, Static

import services.rollouts.demo as demo_mod
import tui.cli.errors as errors_module
import tui.cli.open_app as open_app_module
from services.rollouts.collector import CollectError, CollectProgress, CollectResult
from services.traces.discovery import find_trace_db
from tests.support.pilot import SIZE, key_active, make_app, settle, until
from tests.support.tracegen import build_db
from tui.app.app import SftStudioApp
from tui.app.collect_runner import CollectRunner
from tui.cli.dispatch import build_parser
from tui.panes.traces.collect_form import CollectForm, CollectRequest, parse_form
from tui.panes.traces.collect_progress import CollectStrip, DemoBuildState, DemoPartRow, progress_text, summary_text
from tui.panes.traces.pane import TracesPane
from tui.panes.traces.states import ErrorState


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces/v3/synth_ai.db", sessions=5, decisions=3)


def pane(app: SftStudioApp) -> TracesPane:
    return app.query_one(TracesPane)


def view(app: SftStudioApp) -> str | None:
    return pane(app).query_one(ContentSwitcher).current


def sessions_shown(app: SftStudioApp) -> int:
    stats = pane(app).stats
    assert stats is not None
    return stats.header.sessions


def sessions_in(db: Path, prefix: str = "") -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM session_traces WHERE session_id LIKE ?", (f"{prefix}%",)).fetchone()
    return int(n)


async def fill(pilot: Pilot[None], field: str, text: str) -> None:
    """Focus a form field by Tab (as a user would) and replace its text."""
    form = pilot.app.screen
    assert isinstance(form, CollectForm)
    target = form.query_one(f"#collect-{field}", Input)
    for _ in range(12):
        if target.has_focus:
            break
        await pilot.press("tab")
    assert target.has_focus
    await pilot.press("ctrl+a", "ctrl+k", *text)


def put(form: CollectForm, **values: str) -> None:
    """Set form fields directly (the keyboard path is covered by ``fill`` in other tests)."""
    for field, text in values.items():
        form.query_one(f"#collect-{field}", Input).value = text


async def press_busy(pilot: Pilot[None], key: str) -> None:
    """Press a key while a collector thread keeps the CPU busy.

    ``pilot.press`` waits for the process to go idle after each key, up to 1 s twice; a running
    collection never lets it, so post the key and just let the app handle it.
    """
    pilot.app.simulate_key(key)
    await pilot.pause(0.05)


async def open_form(pilot: Pilot[None]) -> CollectForm:
    await pilot.press("c")
    await pilot.pause()
    form = pilot.app.screen
    assert isinstance(form, CollectForm)
    return form


def hint(form: CollectForm, field: str) -> tuple[str, bool]:
    widget = form.query_one(f"#hint-{field}", Static)
    return str(widget.content), widget.has_class("-error")


# ------------------------------------------------------------------------------------------ form


def test_parse_form_defaults_and_reasons() -> None:
    request, errors = parse_form(
        {"policy": "teacher", "seeds": "0-49", "episodes": "", "max_turns": "50", "concurrency": "4"}
    )
    assert errors == {} and request == CollectRequest()
    assert request.model_label == "sft-studio/teacher"
    assert parse_form(request.as_values()) == (request, {})
    request, errors = parse_form(
        {"policy": "openai", "model": "", "url": "ftp://x", "seeds": "9-3", "episodes": "0", "max_turns": "ten",
         "concurrency": "-2"}
    )  # fmt: skip
    assert request is None
    assert set(errors) == {"model", "url", "seeds", "episodes", "max_turns", "concurrency"}
    assert "empty" in errors["seeds"] and "http" in errors["url"] and "whole number" in errors["max_turns"]
    assert "at least 1" in errors["episodes"] and "at least 1" in errors["concurrency"]
    _, errors = parse_form({"policy": "teacher", "seeds": "x-y", "max_turns": "5", "concurrency": "1"})
    assert set(errors) == {"seeds"} and "START-END" in errors["seeds"]
    request, _ = parse_form({"policy": "random", "seeds": " 7 ", "url": "http://ignored", "max_turns": "3",
                             "concurrency": "2", "episodes": "4"})  # fmt: skip
    assert request == CollectRequest(policy="random", seeds=(7, 7), episodes=4, max_turns=3, concurrency=2)


async def test_form_validates_and_escape_cancels(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "Traces: collect rollouts" in [c.title for c in app.get_system_commands(app.screen)]
        form = await open_form(pilot)
        assert form.query_one("#collect-url", Input).disabled  # openai only
        await fill(pilot, "seeds", "x-y")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form  # stays open, says why
        text, is_error = hint(form, "seeds")
        assert is_error and "START-END" in text and "Traceback" not in text
        assert form.query_one("#collect-seeds", Input).has_focus
        await pilot.press("backspace")
        assert not hint(form, "seeds")[1]  # editing clears the reason

        form.query_one("#collect-policy").focus()
        await pilot.press("right", "right")  # arrows pick: openai
        await pilot.pause()
        assert form.policy == "openai" and not form.query_one("#collect-url", Input).disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form
        assert hint(form, "model")[1] and "Required for openai" in hint(form, "model")[0]
        assert hint(form, "url")[1]
        assert form.query_one("#collect-model", Input).has_focus

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CollectForm)
        assert not pane(app).collecting and not app.workers


def test_summary_and_progress_lines(tmp_path: Path) -> None:
    p = CollectProgress(episodes_total=4, episodes_done=3, episodes_skipped=1, decisions=300, tool_call_failures=2,
                        unique_sum=12, elapsed_s=2.0)  # fmt: skip
    assert (
        progress_text(p) == "episodes 3/4 · 150 dec/s · mean unique 4.0 · 2 bad tool calls · skipped 1 already recorded"
    )
    done = CollectResult(progress=p, db=tmp_path / "t.db", session_ids=["a", "b", "c"])
    assert summary_text(done) == (
        "Recorded 3 episodes (300 decisions, 150 dec/s, mean unique 4.0); 2 bad tool calls; skipped 1 already recorded."
    )
    stopped = done.model_copy(update={"stopped": "stopped on request"})
    assert summary_text(stopped).endswith("Stopped early: stopped on request; finished episodes are kept.")
    nothing = CollectResult(progress=CollectProgress(episodes_total=0, episodes_skipped=50), db=done.db, session_ids=[])
    assert summary_text(nothing).startswith("Nothing new: all 50 episodes are already recorded")


# ------------------------------------------------------------------------------------ collecting


async def test_collect_by_keyboard_grows_the_figures(small_db: Path) -> None:
    seen: list[Message] = []
    app = make_app(small_db)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        pane(app).refresh_min_s = 0.3  # re-reads during a collection: at most one per 0.3 s here
        before = sessions_shown(app)
        assert key_active(app, "traces.collect") and not key_active(app, "traces.stop")
        await open_form(pilot)
        await fill(pilot, "seeds", "0-1")
        await fill(pilot, "max_turns", "5")
        await press_busy(pilot, "enter")  # starts the collection
        assert not isinstance(app.screen, CollectForm)
        await until(pilot, lambda: not pane(app).collecting)
        await until(pilot, lambda: sessions_shown(app) == before + 2 and not pane(app).reading)
        assert sessions_in(small_db, "teacher-") == 2
        strip = app.query_one(CollectStrip)
        assert not strip.running  # gone again
        changes = {id(m) for m in seen if isinstance(m, CollectRunner.StateChanged)}
        assert len(changes) == 2  # shown, then hidden (the hook sees each hop of a bubbling message)
        assert any(isinstance(m, CollectRunner.Progressed) for m in seen)
        assert "episodes 2/2" in strip.figures
        loads = [m for m in seen if isinstance(m, TracesPane.StatsLoaded)]
        assert len(loads) >= 2  # re-read with auto-refresh off
        assert pane(app).last_summary is not None
        text, severity = pane(app).last_summary
        assert text.startswith("Recorded 2 episodes") and "dec/s" in text and "mean unique" in text
        assert severity == "information"
        # the next form starts from the last one
        form = await open_form(pilot)
        assert form.query_one("#collect-seeds", Input).value == "0-1"
        assert form.query_one("#collect-max_turns", Input).value == "5"


async def test_stop_keeps_finished_episodes_and_one_at_a_time(small_db: Path) -> None:
    seen: list[Message] = []
    app = make_app(small_db)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        put(form, seeds="0-39", max_turns="10", concurrency="1")
        await press_busy(pilot, "enter")  # starts the collection
        await until(pilot, lambda: pane(app).runner.landed >= 1)
        strip = app.query_one(CollectStrip)
        assert pane(app).collecting and strip.running and "episodes" in strip.figures
        assert key_active(app, "traces.stop")
        await press_busy(pilot, "c")  # one collection at a time: says so, no form
        await until(pilot, lambda: any("already running" in n.message for n in app._notifications))
        assert not isinstance(app.screen, CollectForm)
        await press_busy(pilot, "x")
        # The runner is idle before the pane has handled its Finished message: wait for both.
        await until(pilot, lambda: not pane(app).collecting and pane(app).last_summary is not None)
        (finished,) = {id(m): m for m in seen if isinstance(m, CollectRunner.Finished)}.values()
        result = finished.result
        assert result.stopped and 1 <= result.progress.episodes_done < 40
        assert sessions_in(small_db, "teacher-") == result.progress.episodes_done
        text, severity = pane(app).last_summary or ("", "")
        assert severity == "warning" and "Stopped early" in text and "kept" in text
        assert not strip.running and not key_active(app, "traces.stop")


def test_activity_after_the_screens_are_gone_is_ignored() -> None:
    """A stats read can end while the app shuts down; its activity message must not crash the exit
    (it did, NoMatches/ScreenStackError, in test_stop_keeps_finished_episodes_and_one_at_a_time)."""
    app = SftStudioApp(db_path=None, build_demo=False, watch_interval=None)
    app.on_traces_pane_activity_changed(TracesPane.ActivityChanged("Reading the trace DB"))


async def test_unreachable_inference_url_shows_the_collect_error(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = sessions_shown(app)
        form = await open_form(pilot)
        await pilot.press("right", "right")
        put(form, model="m", url="http://127.0.0.1:9", seeds="0-0")
        await press_busy(pilot, "enter")  # starts the collection
        await until(pilot, lambda: pane(app).last_summary is not None)
        await settle(pilot)
        assert app.screen is not form and app.is_running
        text, severity = pane(app).last_summary or ("", "")
        assert severity == "error" and "Cannot reach" in text and "Traceback" not in text
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and errors[-1].message == text and errors[-1].title == "Collection failed"
        assert not app.query_one(CollectStrip).running and not pane(app).collecting
        assert sessions_shown(app) == before and view(app) == "traces-stats"


async def test_quitting_during_a_collection_stops_it(small_db: Path) -> None:
    app = make_app(small_db)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = await open_form(pilot)
        put(form, seeds="0-4", max_turns="20", concurrency="1")
        await press_busy(pilot, "enter")  # starts the collection
        await until(pilot, lambda: pane(app).runner.landed >= 1)
        started = time.monotonic()
        await press_busy(pilot, "q")
    assert time.monotonic() - started < 10
    assert 1 <= sessions_in(small_db, "teacher-") < 5


# ------------------------------------------------------------------------------------------ demo


@pytest.fixture
def tiny_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_mod, "DEMO_TEACHER_SEEDS", (0, 1))
    monkeypatch.setattr(demo_mod, "DEMO_RANDOM_SEEDS", (0, 2))
    monkeypatch.setattr(demo_mod, "DEMO_MAX_TURNS", 3)


async def test_first_start_builds_the_demo_then_opens_it(data_dir: Path, tiny_demo: None) -> None:
    seen: list[Message] = []
    looked = threading.Event()  # the real build waits until the building state has been checked

    def gated_build(path: Path, on_progress: Callable[..., None], should_stop: Callable[[], bool]) -> Path:
        looked.wait(30)
        return demo_mod.build_demo(path, on_progress, should_stop)

    app = make_app(None, build_demo=True, demo_fn=gated_build)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        assert view(app) == "traces-demo"
        panel = app.query_one(DemoBuildState)
        text = " ".join(str(s.content) for s in panel.query(Static))
        assert "Building the demo trace DB (first start)" in text and "5 Crafter episodes" in text
        assert str(data_dir / "demo/traces/v3/synth_ai.db") in text
        assert not key_active(app, "traces.collect")
        looked.set()
        await until(pilot, lambda: view(app) == "traces-stats")
        await settle(pilot)
        path = demo_mod.demo_db_path()
        assert path.is_file() and path.is_relative_to(data_dir)
        assert sessions_shown(app) == 5 and sessions_in(path, "teacher-") == 2
        labels = {m.label for m in seen if isinstance(m, CollectRunner.Progressed)}
        assert labels == {"teacher", "random"}
        rows = {row.part: row.progress for row in panel.query(DemoPartRow)}
        assert rows == {"teacher": 2, "random": 3}
        assert str(app.query_one("#status-db", Label).content) == f"DB {path.name} (demo DB)"  # the rule said
        assert str(app.query_one("#status-where", Label).content) == f" in {path.parent}"
        assert app.db_path == path and key_active(app, "traces.collect")


async def test_demo_build_failure_shows_the_error(data_dir: Path) -> None:
    def broken(db: Path, on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Path:
        raise CollectError("Cannot create a trace DB at /nope: Permission denied.")

    app = make_app(None, build_demo=True, demo_fn=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert view(app) == "traces-error"
        panel = app.query_one(ErrorState)
        assert panel.border_title == "Cannot build the demo trace DB"
        assert "Permission denied" in panel.message_text and "sft-studio demo" in panel.message_text
        assert not panel.query_one("#error-retry").display
        assert app.db_path is None


def _cmd_app(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> SftStudioApp:
    """Run ``open_app`` with the app's run() stubbed out; returns the app it made."""
    made: list[SftStudioApp] = []

    def fake_run(self: SftStudioApp) -> None:
        made.append(self)

    monkeypatch.setattr(SftStudioApp, "run", fake_run)
    # the synth-ai locations looked at are under the test's data dir (empty), never the real ones
    here = demo_mod.demo_db_path().parent.parent.parent.parent
    monkeypatch.setattr(errors_module, "find_trace_db", partial(find_trace_db, cwd=here, home=here))
    args: argparse.Namespace = build_parser().parse_args(argv)
    assert open_app_module.open_app(args, Console(), Console(stderr=True)) == 0
    return made[0]


def test_cli_builds_the_demo_only_when_missing(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _cmd_app(monkeypatch, [])
    assert app.build_demo and app.db_path is None
    app = _cmd_app(monkeypatch, ["--no-demo"])
    assert not app.build_demo and app.db_path is None
    demo = build_db(demo_mod.demo_db_path(), sessions=2, decisions=2)
    app = _cmd_app(monkeypatch, [])
    assert app.build_demo and app.db_path is None  # an interrupted first start is completed
    app = _cmd_app(monkeypatch, ["--no-demo"])
    assert not app.build_demo and app.db_path == demo  # ... unless asked not to: opened as it is
    (demo.parent / demo_mod.COMPLETE_MARKER).write_text("done")
    app = _cmd_app(monkeypatch, [])
    assert not app.build_demo and app.db_path == demo  # complete: opened as is, no rebuild
    app = _cmd_app(monkeypatch, ["--db", "mine.db"])
    assert not app.build_demo and app.db_path == Path("mine.db") and app.db_explicit


async def test_existing_demo_opens_without_a_build(data_dir: Path) -> None:
    demo = build_db(demo_mod.demo_db_path(), sessions=3, decisions=2)
    signature = demo.stat().st_mtime_ns
    seen: list[Message] = []
    app = make_app(demo)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await settle(pilot)
        assert view(app) == "traces-stats"
        assert not any(isinstance(m, CollectRunner.Progressed) for m in seen)
        assert not app.query(DemoBuildState)
    assert demo.stat().st_mtime_ns == signature

"""The Eval pane by keyboard: choose a model, run (teacher, random, an OpenAI-compatible fake), stop,
see the result and compare two; bad input and unreachable servers said plainly, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Static

from services.evals.results import list_results, load_result
from services.evals.settings import EvalError
from tests.support.fake_inference import FakeInferenceServer
from tests.support.pilot import SIZE, key_active, make_app, settle, show_pane, until
from tests.support.tracegen import build_db
from tui.panes.eval.form import EvalForm, parse_eval_form
from tui.panes.eval.local_models import LocalModel, models_at
from tui.panes.eval.pane import EvalPane
from tui.widgets.bars import BarChart
from tui.widgets.compare_bars import CompareBars

BASE = "sft-studio/tiny-qwen3"
TUNED = "fft:sft-studio/tiny-qwen3:job_abc123"


@pytest.fixture
def data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(root))
    return root


def no_backend(root: Path | None, *, start: bool) -> list[LocalModel] | None:
    """No local backend runs; starting one is refused (tests never start the real one here)."""
    if start:
        raise EvalError("The local backend is not available: not in this test")
    return None


def eval_app(db: Path | None, root: Path, **options: Any) -> Any:
    options.setdefault("models_fn", no_backend)
    options.setdefault("leakage_fn", lambda model, seeds, root: None)
    options.setdefault("leakage_debounce_s", 0.01)
    return make_app(db, pane_options={"eval": {"data_root": root, **options}})


def text_of(pilot: Pilot[Any], selector: str) -> str:
    return str(pilot.app.query_one(selector, Static).render())


async def fill(pilot: Pilot[Any], field: str, value: str) -> None:
    """Focus a field of the form and type ``value`` over what it held (by keyboard)."""
    widget = pilot.app.query_one(f"#eval-{field}", Input)
    widget.focus()
    await pilot.pause()
    await pilot.press("home", "shift+end", "backspace")
    await pilot.press(*value)


async def choose_source(pilot: Pilot[Any], source: str) -> None:
    """Move along the source row with the arrow keys until ``source`` is picked."""
    pilot.app.query_one("#eval-source").focus()
    await pilot.pause()
    pane = pilot.app.query_one(EvalPane)
    for _ in range(4):
        if pane.form.source == source:
            return
        await pilot.press("right")
        await pilot.pause()
    assert pane.form.source == source


async def run_from_form(pilot: Pilot[Any], pane: EvalPane, *, timeout: float = 60) -> None:
    """Enter in the last field runs; wait until the eval ended."""
    started = pane.runs_started
    pilot.app.query_one("#eval-concurrency", Input).focus()
    await pilot.press("enter")
    await until(pilot, lambda: pane.runs_started > started or bool(pane.form.errors), 10)
    assert not pane.form.errors, pane.form.errors
    await until(pilot, lambda: pane.running is None, timeout)
    await settle(pilot)


# ---------------------------------------------------------------------------------- form parsing


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("seeds", "5-2", "5-2"),
        ("seeds", "a-b", "a-b"),
        ("concurrency", "0", "at least 1"),
        ("max_turns", "x", "whole number"),
        ("temperature", "3", "between 0 and 2"),
    ],
)
def test_bad_fields_have_reasons(field: str, value: str, words: str) -> None:
    request, errors = parse_eval_form(
        {"source": "teacher", "seeds": "1-2", "max_turns": "5", "concurrency": "2", field: value}
    )
    assert request is None and words in errors[field]


def test_form_needs_a_model_and_url_for_model_sources() -> None:
    _, errors = parse_eval_form({"source": "url", "seeds": "1-2", "max_turns": "5", "concurrency": "2"})
    assert set(errors) == {"model", "url"}
    _, errors = parse_eval_form(
        {"source": "url", "model": "m", "url": "ftp://x", "seeds": "1", "max_turns": "5", "concurrency": "2"}
    )
    assert "http://" in errors["url"]
    request, errors = parse_eval_form(
        {"source": "local", "model": TUNED, "seeds": "10000-10004", "max_turns": "5", "concurrency": "2"}
    )
    assert request is not None and not errors
    assert request.settings_values(Path("t.db")) | {"trace_db": None} == {
        "policy": "openai",
        "model": TUNED,
        "seeds": [10000, 10001, 10002, 10003, 10004],
        "max_turns": 5,
        "concurrency": 2,
        "temperature": 0.2,
        "trace_db": None,
        "backend": "local",
    }


def test_models_at_lists_ids_and_says_why_not(tmp_path: Path) -> None:
    with FakeInferenceServer(models=[BASE, TUNED], api_key="k1") as srv:
        assert models_at(srv.base_url.rstrip("/") + "/v1", "k1") == [BASE, TUNED]
        with pytest.raises(EvalError, match="refused its key"):
            models_at(srv.base_url + "/v1", "wrong")
    with pytest.raises(EvalError, match="Cannot reach the local backend"):
        models_at(srv.base_url + "/v1", "k1", timeout_s=1)


# ------------------------------------------------------------------------------------ the pane


async def test_teacher_eval_runs_traces_and_lands_in_results(tmp_path: Path, data_root: Path) -> None:
    """Teacher on two seeds × few turns, traced into the open DB: live episodes, then the result with
    its 22 bars in Results, saved in the results store."""
    db = build_db(tmp_path / "traces.db", sessions=4, decisions=3)
    app = eval_app(db, data_root)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        assert isinstance(app.focused, type(app.query_one("#eval-source")))
        assert "not running" in text_of(pilot, "#eval-models-note")
        await choose_source(pilot, "teacher")
        assert app.query_one("#eval-model", Input).disabled
        await fill(pilot, "seeds", "10000-10001")
        await fill(pilot, "max_turns", "8")
        app.query_one("#eval-trace").focus()
        await pilot.press("space")
        assert pane.form.trace
        landed: list[int] = []
        real = pane._episode_landed

        def spy(event: EvalPane.EpisodeLanded) -> None:
            landed.append(event.episode.seed)
            real(event)

        pane._episode_landed = spy  # type: ignore[method-assign]
        await run_from_form(pilot, pane)
        saved = list_results(data_root)
        assert len(saved) == 1 and saved[0]["model"] == "sft-studio/teacher" and saved[0]["seeds"] == "10000-10001"
        result = load_result(saved[0]["eval_id"], data_root)
        assert [e.seed for e in result.episodes] == [10000, 10001]
        assert all(e.decisions == 8 for e in result.episodes)
        assert app.query_one("#eval-views").active == "eval-results"  # type: ignore[attr-defined]
        assert pane.shown is not None and pane.shown.eval_id == result.eval_id
        assert app.query_one("#eval-episodes", DataTable).row_count == 2
        assert len(app.query_one("#eval-bars", BarChart).rows) == 22
        summary = text_of(pilot, "#eval-summary")
        assert "Crafter score" in summary and "95 % CI" in summary and "dec/s" in summary
        assert app.query_one("#eval-saved", DataTable).row_count == 1
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT session_id FROM session_traces")]
        assert sum(i.startswith("eval-") for i in ids) == 2
        assert pane.form.source == "teacher"  # the form keeps what ran
        assert app.query_one("#eval-run-switch").current == "eval-form"  # type: ignore[attr-defined]


async def test_compare_teacher_with_random_by_keyboard(data_root: Path) -> None:
    """Two evals on the same seeds, marked a and b in Results, c compares: verdict, deltas, CI."""
    app = eval_app(None, data_root)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        await fill(pilot, "seeds", "10000-10002")
        await fill(pilot, "max_turns", "30")
        for source in ("random", "teacher"):
            await choose_source(pilot, source)
            await run_from_form(pilot, pane)
        assert len(pane.saved) == 2
        assert not key_active(app, "eval.compare")
        table = app.query_one("#eval-saved", DataTable)
        table.focus()
        await pilot.press("home", "a", "down", "b")  # newest (teacher) is A
        await pilot.pause()
        assert key_active(app, "eval.compare")
        await pilot.press("c")
        await until(pilot, lambda: pane.comparison is not None)
        await settle(pilot)
        c = pane.comparison
        assert c is not None and c.a_model == "sft-studio/teacher" and c.b_model == "sft-studio/random"
        assert c.seeds == 3
        assert app.query_one("#eval-views").active == "eval-compare"  # type: ignore[attr-defined]
        summary = text_of(pilot, "#eval-compare-summary")
        assert "Verdict: A is" in summary and "95 % CI" in summary and "3 common seeds" in summary
        bars = app.query_one(CompareBars)
        assert len(bars.rows) == 22 and any(r.a != r.b for r in bars.rows)


async def test_openai_compatible_url_eval_and_its_errors(data_root: Path) -> None:
    """Any URL + model: a fake OpenAI-compatible server plays; an unknown model and an unreachable URL
    are one sentence in the form (preflight), nothing saved, no traceback."""
    app = eval_app(None, data_root)
    with FakeInferenceServer(models=["fake-model"]) as srv:
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_pane(pilot, "5", EvalPane)
            await settle(pilot)
            await choose_source(pilot, "url")
            await fill(pilot, "model", "not-a-model")
            await fill(pilot, "url", srv.base_url)
            await fill(pilot, "seeds", "10000-10001")
            await fill(pilot, "max_turns", "3")
            await run_from_form(pilot, pane)
            problem = text_of(pilot, "#eval-problem")
            assert "not served" in problem and "fake-model" in problem and "Traceback" not in problem
            assert list_results(data_root) == []
            await fill(pilot, "model", "fake-model")
            assert not app.query_one("#eval-problem").display  # a change clears the old problem
            await run_from_form(pilot, pane)
            saved = list_results(data_root)
            assert len(saved) == 1 and saved[0]["model"] == "fake-model"
            result = load_result(saved[0]["eval_id"], data_root)
            assert [e.decisions for e in result.episodes] == [3, 3] and srv.chat_count >= 6
    # the server is gone now: unreachable
    app = eval_app(None, data_root)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        await choose_source(pilot, "url")
        await fill(pilot, "model", "fake-model")
        await fill(pilot, "url", srv.base_url)
        await fill(pilot, "seeds", "1-2")
        await run_from_form(pilot, pane)
        assert "Cannot reach" in text_of(pilot, "#eval-problem")


async def test_stop_keeps_finished_episodes(data_root: Path) -> None:
    """x while a slow model plays: the eval stops, the finished episodes are saved and shown."""
    app = eval_app(None, data_root, progress_min_s=0.0)
    with FakeInferenceServer(models=["slow"], delay_ms=60) as srv:
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_pane(pilot, "5", EvalPane)
            await settle(pilot)
            await choose_source(pilot, "url")
            await fill(pilot, "model", "slow")
            await fill(pilot, "url", srv.base_url)
            await fill(pilot, "seeds", "10000-10005")
            await fill(pilot, "max_turns", "4")
            await fill(pilot, "concurrency", "1")
            await pilot.press("enter")
            await until(pilot, lambda: len(pane.live_episodes) >= 1, 60)
            assert key_active(app, "eval.stop") and not key_active(app, "eval.run")
            assert app.query_one("#eval-live-episodes", DataTable).row_count >= 1
            assert "episodes " in text_of(pilot, "#eval-live-text")
            await pilot.press("x")
            await until(pilot, lambda: pane.running is None, 60)
            await settle(pilot)
            saved = list_results(data_root)
            assert len(saved) == 1
            result = load_result(saved[0]["eval_id"], data_root)
            assert 1 <= len(result.episodes) < 6 and result.stopped == "stopped on request"
            assert "Stopped early" in text_of(pilot, "#eval-summary")


async def test_bad_input_is_shown_at_its_field_and_nothing_runs(data_root: Path) -> None:
    app = eval_app(None, data_root)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        await choose_source(pilot, "random")
        await fill(pilot, "seeds", "5-2")
        await fill(pilot, "concurrency", "0")
        await pilot.press("enter")
        await settle(pilot)
        assert pane.running is None and list_results(data_root) == []
        assert "5-2" in text_of(pilot, "#hint-seeds") and "at least 1" in text_of(pilot, "#hint-concurrency")
        assert app.focused is app.query_one("#eval-seeds")  # the first wrong field
        await pilot.press("escape")  # leaves the field: number keys switch panes again
        assert app.focused is app.query_one("#eval-source")
        assert key_active(app, "eval.run") and not key_active(app, "eval.stop") and not key_active(app, "eval.compare")
        await pilot.press("3")
        await pilot.pause()
        assert app.query_one("#panes").active == "configs"  # type: ignore[attr-defined]


def test_view_wording() -> None:
    from tui.panes.eval.view import short_achievement
    from tui.widgets.compare_bars import delta_text

    assert [short_achievement(a) for a in ("collect_wood", "place_table", "make_wood_pickaxe", "defeat_zombie")] == [
        "wood",
        "place table",
        "wood pickaxe",
        "defeat zombie",
    ]
    assert (delta_text(0.7, 0.3), delta_text(0.1, 0.4), delta_text(0.5, 0.5)) == ("+40", "-30", "0")


async def test_local_models_listed_picked_and_leakage_warned(data_root: Path) -> None:
    """r starts the backend and lists its models with job and dataset; ↓ picks one into the Model field;
    a known lineage with overlapping seeds warns before running; the Jobs pane's hand-off presets it."""
    models = [LocalModel(BASE), LocalModel(TUNED, "job_abc123", "crafter_sft.jsonl")]
    asked: list[bool] = []

    def models_fn(root: Path | None, *, start: bool) -> list[LocalModel] | None:
        asked.append(start)
        return models if start else None

    def leakage_fn(model: str, seeds: list[int], root: Path | None) -> tuple[int, int, str] | None:
        overlap = [s for s in seeds if s < 120]
        if model != TUNED or not overlap:
            return None
        return len(overlap), 120, f"{len(overlap)} eval seed(s) appear in {model}'s training data"

    app = eval_app(None, data_root, models_fn=models_fn, leakage_fn=leakage_fn)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        assert asked == [False]  # showing the pane never starts the backend
        await pilot.press("r")
        await until(pilot, lambda: pane.models_state == "listed")
        await settle(pilot)
        options = app.query_one("#eval-models", OptionList)
        assert options.display and options.option_count == 2
        assert "job job_abc123" in str(options.get_option_at_index(1).prompt)
        assert "crafter_sft.jsonl" in str(options.get_option_at_index(1).prompt)
        options.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert app.query_one("#eval-model", Input).value == TUNED
        await settle(pilot)
        assert not app.query_one("#eval-leakage").display  # default seeds are disjoint
        await fill(pilot, "seeds", "100-109")
        await until(pilot, lambda: app.query_one("#eval-leakage").display)
        assert "10 eval seed(s)" in text_of(pilot, "#eval-leakage")
        await fill(pilot, "seeds", "10000-10009")
        await until(pilot, lambda: not app.query_one("#eval-leakage").display)
        # the hand-off from the Jobs pane
        await choose_source(pilot, "teacher")
        pane.preset_model(BASE)
        await settle(pilot)
        assert pane.form.source == "local" and app.query_one("#eval-model", Input).value == BASE
        assert app.focused is app.query_one("#eval-seeds")
        pane.preset_model("peft:Qwen/Qwen3-0.6B:job_1", "http://127.0.0.1:9/v1")  # a remote backend's model
        await settle(pilot)
        assert pane.form.source == "url" and app.query_one("#eval-url", Input).value == "http://127.0.0.1:9/v1"


async def test_local_backend_that_cannot_start_is_one_sentence(data_root: Path) -> None:
    app = eval_app(None, data_root)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "5", EvalPane)
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: pane.models_state == "failed")
        assert "not available" in text_of(pilot, "#eval-models-note")
        assert isinstance(pane.form, EvalForm)


@pytest.mark.slow
async def test_local_backend_model_end_to_end_from_the_pane(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real local backend (started by r in a temporary data dir) lists its base model; picked by
    keyboard and played on two seeds, it lands in Results and compares with the random policy."""
    import contextlib

    from services.training.server.auth import KEY_ENV
    from services.training.server.lifecycle import stop_server

    monkeypatch.delenv(KEY_ENV, raising=False)
    app = make_app(None, pane_options={"eval": {"data_root": data_root, "leakage_debounce_s": 0.01}})
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_pane(pilot, "5", EvalPane)
            await settle(pilot)
            await pilot.press("r")
            await until(pilot, lambda: pane.models_state in ("listed", "failed"), 120)
            assert pane.models_state == "listed", text_of(pilot, "#eval-models-note")
            options = app.query_one("#eval-models", OptionList)
            assert BASE in [options.get_option_at_index(i).id for i in range(options.option_count)]
            options.focus()
            await pilot.press("down")
            await until(pilot, lambda: app.query_one("#eval-model", Input).value == BASE)
            await fill(pilot, "seeds", "10000-10001")
            await fill(pilot, "max_turns", "2")
            await run_from_form(pilot, pane, timeout=180)
            assert not app.query_one("#eval-problem").display
            saved = list_results(data_root)
            assert len(saved) == 1 and saved[0]["model"] == BASE and saved[0]["backend"] == "local backend"
            result = load_result(saved[0]["eval_id"], data_root)
            assert [e.decisions for e in result.episodes] == [2, 2] and all(e.total_tokens > 0 for e in result.episodes)
            await choose_source(pilot, "random")
            await run_from_form(pilot, pane)
            await pilot.press("f3")
            await settle(pilot)
            await pilot.press("home", "b", "down", "a", "c")  # the base model (older) is A
            await until(pilot, lambda: pane.comparison is not None)
            assert pane.comparison is not None and pane.comparison.a_model == BASE and pane.comparison.seeds == 2
    finally:
        with contextlib.suppress(Exception):
            stop_server(data_root)

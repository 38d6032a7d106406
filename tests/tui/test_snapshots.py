"""SVG snapshots of every pane, the empty and error states, the F1 help, the collect form, the
collection strip and the first-start demo build (textual 8.2.8 baselines).

Deterministic by construction: 120x40, file watcher off, the DB from ``build_db`` (byte-identical
for the same arguments) opened by the relative path ``traces/v3/synth_ai.db`` from inside tmp_path,
and fixed discovery candidates for the empty state. Nothing shows a clock or compute time; the
collector and the demo build are stubs that report one fixed progress and wait to be stopped.
``snap_compare`` runs the app itself, so these tests are plain ``def``s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

import services.rollouts.collector as collector_mod
from services.rollouts.collector import CollectProgress, CollectResult, CollectSpec
from services.traces.db import discovery_candidates
from tests.support.fake_jobs import FakeClient, FakeJob, failed_job, fake_pane_options, running_job, succeeded_job
from tests.support.paths import ROOT
from tests.support.pilot import SIZE, focus_in_place, show_pane
from tests.support.tracegen import build_db
from tui.app.app import SftStudioApp
from tui.panes.filters.export_dialog import ExportDialog
from tui.panes.filters.pane import FiltersPane
from tui.panes.traces.collect_progress import CollectStrip, DemoPartRow

REL = Path("traces/v3/synth_ai.db")
#: The common SSH terminal size: every pane of ours has a snapshot here too (issue 10).
NARROW = (80, 24)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of a fixed name: the status line shows the workspace as ``…/crafter`` in every run."""
    here = tmp_path / "crafter"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("SFT_STUDIO_WORKSPACE", raising=False)
    return here


@pytest.fixture
def db_app(in_tmp: Path) -> SftStudioApp:
    build_db(in_tmp / REL, sessions=12, decisions=4)
    return SftStudioApp(db_path=REL, db_explicit=True, watch_interval=None)


async def settled(pilot: Pilot[None]) -> None:
    """Workers done, focus settled (in the shown pane, the same widget over three short pauses; 5 s at
    most), animations and pending messages run. One pause was not enough on a loaded machine: the
    Traces pane gives its stats the focus once they have loaded, and the snapshot caught the tab bar
    still focused."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    deadline = time.monotonic() + 5
    seen, steady = pilot.app.focused, 0
    while steady < 3 and time.monotonic() < deadline:  # the focus moves once a pane has loaded
        await pilot.pause(0.05)
        await pilot.app.workers.wait_for_complete()
        now = pilot.app.focused
        steady = steady + 1 if now is seen and focus_in_place(pilot.app) else 0
        seen = now
    await pilot.wait_for_scheduled_animations()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(0.2)  # a repaint after the last focus change (a modal pushed next shows it behind)


async def loaded(pilot: Pilot[None]) -> None:
    await settled(pilot)


def pressing(*keys: str) -> Callable[[Pilot[None]], object]:
    """run_before: loaded, then ``keys``, then settled again (a modal focuses its first field later)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press(*keys)
        await settled(pilot)

    return run_before


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


def test_traces_pane_80x24(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24: stacked sections, the model table with short labels and every column visible."""
    assert snap_compare(db_app, terminal_size=NARROW, run_before=loaded)


async def _scrolled_to(pilot: Pilot[None], y: int) -> None:
    await loaded(pilot)
    pilot.app.query_one("#traces-stats").scroll_to(y=y, animate=False, immediate=True)
    await pilot.pause()


def test_traces_pane_80x24_rewards(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24, scrolled: the outcome figures and the reward-type table whole, then the histogram."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _scrolled_to(pilot, 18)

    assert snap_compare(db_app, terminal_size=NARROW, run_before=run_before)


def test_traces_pane_80x24_achievements(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24, at the end: the achievement bars full width, one line each."""
    assert snap_compare(db_app, terminal_size=NARROW, run_before=loaded_and_scrolled_to_end)


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


def test_help_modal_80x24(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F1 at 80x24: the help fits the screen and scrolls."""
    assert snap_compare(db_app, terminal_size=NARROW, run_before=pressing("f1"))


def test_collect_form_80x24(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The collect form at 80x24."""
    assert snap_compare(db_app, terminal_size=NARROW, run_before=pressing("c"))


def test_help_modal(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F1 over the Traces pane: keys table and one entry per pane."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=pressing("f1"))


def test_collect_form(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """c on the Traces pane: the form with its defaults (teacher picked, URL disabled, hints)."""
    assert snap_compare(db_app, terminal_size=SIZE, run_before=pressing("c"))


def test_collect_form_errors(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """openai picked, bad seeds, Enter: the reasons in red under model, URL and seeds; form stays."""

    async def run_before(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        pilot.app.screen.query_one("#collect-seeds", Input).value = "x-y"
        await pilot.press("right", "right", "enter")
        await settled(pilot)

    assert snap_compare(db_app, terminal_size=SIZE, run_before=run_before)


FIXED = CollectProgress(
    episodes_total=50, episodes_done=20, decisions=1000, tool_call_failures=3, unique_sum=62, elapsed_s=2.0
)


def _wait_until_stopped(should_stop: Callable[[], bool] | None) -> None:
    while should_stop is not None and not should_stop():
        time.sleep(0.02)


def test_collect_progress_strip(db_app: SftStudioApp, monkeypatch: pytest.MonkeyPatch, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """A running collection: the two-line strip (title, bar at 40 %, figures, x stops) and x in the footer."""

    def stub_collect(
        spec: CollectSpec,
        on_progress: Callable[[CollectProgress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> CollectResult:
        if on_progress is not None:
            on_progress(FIXED.model_copy())
        _wait_until_stopped(should_stop)
        return CollectResult(progress=FIXED, db=spec.db, session_ids=[], stopped="stopped on request")

    monkeypatch.setattr(collector_mod, "collect", stub_collect)

    async def run_before(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        pilot.app.simulate_key("enter")
        strip = pilot.app.query_one(CollectStrip)
        for _ in range(200):
            await pilot.pause(0.02)
            if strip.running and "20/50" in strip.figures:
                break
        await pilot.pause()

    assert snap_compare(db_app, terminal_size=SIZE, run_before=run_before)


def test_demo_building(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """First start without a DB: what is built and where, teacher bar at 45/120, random waiting."""

    def stub_build(
        db: Path, on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]
    ) -> Path:
        on_progress(
            "teacher",
            CollectProgress(episodes_total=120, episodes_done=45, decisions=1350, unique_sum=140, elapsed_s=4.5),
        )
        _wait_until_stopped(should_stop)
        return db

    app = SftStudioApp(
        db_path=None,
        watch_interval=None,
        build_demo=True,
        demo_fn=stub_build,
        demo_path=Path("data/demo/traces/v3/synth_ai.db"),
    )

    async def run_before(pilot: Pilot[None]) -> None:
        row = pilot.app.query_one("#demo-part-teacher", DemoPartRow)
        for _ in range(200):
            await pilot.pause(0.02)
            if row.progress == 45:
                break
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# ------------------------------------------------------------------------------------------ Filters


async def filters_shown(pilot: Pilot[None]) -> None:
    """Filters pane open, index built and the first preview shown; no blinking cursors."""
    await loaded(pilot)
    pane = await show_pane(pilot, "2", FiltersPane)
    for _ in range(250):
        await pilot.pause(0.02)
        if pane.preview is not None and not pane.indexing:
            break
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def filter_set(pilot: Pilot[None], key: str, value: str) -> None:
    pilot.app.query_one(f"#filter-{key}", Input).value = value
    await pilot.pause(0.1)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


#: The common SSH terminal size (issue 10 #10): every pane has a snapshot here too.
SMALL = (80, 24)


def test_filters_no_db(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Filters without a DB: says plainly that none is open and how to open one; no e/s/l keys."""
    app = SftStudioApp(db_path=None, watch_interval=None, candidates=[])

    async def shown(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        await show_pane(pilot, "2", FiltersPane)

    assert snap_compare(app, terminal_size=SIZE, run_before=shown)


def test_filters_pane(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """min unique 2: form left; preview right (counts, token method, task-app-keys note, funnel, models)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await filters_shown(pilot)
        await filter_set(pilot, "min_unique", "2")

    assert snap_compare(db_app, terminal_size=SIZE, run_before=run_before)


def test_filters_pane_80x24(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24: the form (one row per field) above the full-width preview."""

    async def run_before(pilot: Pilot[None]) -> None:
        await filters_shown(pilot)
        await filter_set(pilot, "min_unique", "2")

    assert snap_compare(db_app, terminal_size=SMALL, run_before=run_before)


def test_filters_invalid_fields(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """x:abc marked red (an error: MIN is not a number), colect_wood yellow (a warning: did you mean
    collect_wood?); the last valid preview kept, flagged."""

    async def run_before(pilot: Pilot[None]) -> None:
        await filters_shown(pilot)
        await filter_set(pilot, "min_unique", "1")
        await filter_set(pilot, "event_rewards", "x:abc")
        await filter_set(pilot, "require_achievements", "colect_wood")

    assert snap_compare(db_app, terminal_size=SIZE, run_before=run_before)


async def _exported(pilot: Pilot[None]) -> None:
    await filters_shown(pilot)
    await filter_set(pilot, "min_unique", "1")
    await pilot.press("escape", "e")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ExportDialog)
    await pilot.press("enter")
    pane = pilot.app.query_one(FiltersPane)
    for _ in range(250):
        await pilot.pause(0.02)
        if pane.last_export is not None:
            break
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_filters_export_summary_80x24(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24 after an export: the result panel takes at most 7 rows, scrolls, and says Esc closes it."""
    assert snap_compare(db_app, terminal_size=SMALL, run_before=_exported)


def test_filters_export_summary(db_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """e, Enter: the default ft_data/crafter_traces.jsonl written; strip shows file, counts, sha256, validation."""

    async def run_before(pilot: Pilot[None]) -> None:
        await filters_shown(pilot)
        await filter_set(pilot, "min_unique", "1")
        await pilot.press("escape", "e")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ExportDialog)
        await pilot.press("enter")
        pane = pilot.app.query_one(FiltersPane)
        for _ in range(250):
            await pilot.pause(0.02)
            if pane.last_export is not None:
                break
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(db_app, terminal_size=SIZE, run_before=run_before)


# ------------------------------------------------------------------------------------- Configs pane

_CONFIGS = ROOT / "configs"
BAD_CONFIG = """# A config with mistakes synth-ai 0.2.23 would refuse, and one the backend would.
[algorithm]
type = "offline"
method = "sft"
variety = "qlora"

[job]
model = "Qwen/Qwen3-0.6B"

[training]
mode = "lora"
use_qlora = true

[hyperparameters]
n_epochs = 0
train_kind = "peft"
per_device_batch = 2
gradient_accumulation_steps = 32
learning_rate = 5e-6
warmup_ratio = 2
weight_decay = 0.01
lora_rank = 8
"""


@pytest.fixture
def configs_app(in_tmp: Path) -> SftStudioApp:
    (in_tmp / "configs").mkdir()
    for name in ("crafter_lora_qwen0p6b.toml", "crafter_fft_qwen0p6b.toml"):
        (in_tmp / "configs" / name).write_bytes((_CONFIGS / name).read_bytes())
    (in_tmp / "configs" / "broken_qlora.toml").write_text(BAD_CONFIG)
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[])


def _open_config(name: str, tab: str | None = None) -> Callable[[Pilot[None]], object]:
    async def run(pilot: Pilot[None]) -> None:
        from tui.panes.configs.pane import ConfigsPane

        pane = await show_pane(pilot, "3", ConfigsPane)
        pane.open(Path("configs") / name)
        await pilot.pause()
        if tab:
            pane.action_tab(tab)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run


def test_configs_pane_valid_lora(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The shipped LoRA config: accepted, global batch, the form with help per key."""
    assert snap_compare(configs_app, terminal_size=SIZE, run_before=_open_config("crafter_lora_qwen0p6b.toml"))


def test_configs_pane_errors(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """qlora refused by synth-ai, n_epochs 0 and warmup 2 at their fields, no [compute] (backend)."""
    assert snap_compare(configs_app, terminal_size=SIZE, run_before=_open_config("broken_qlora.toml"))


def test_configs_pane_payload(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The exact job body for the shipped LoRA config, placeholder file ids."""
    assert snap_compare(
        configs_app, terminal_size=SIZE, run_before=_open_config("crafter_lora_qwen0p6b.toml", "cfg-payload")
    )


def test_configs_pane_sweep_preview(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """LoRA-rank sweep 4/8/16/64 of the shipped LoRA config: files, global batch, status."""
    assert snap_compare(
        configs_app, terminal_size=SIZE, run_before=_open_config("crafter_lora_qwen0p6b.toml", "cfg-sweep")
    )


def test_configs_pane_80x24(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24 (a common SSH size): files above the editor, one-line header, all view tabs, several fields."""
    assert snap_compare(
        configs_app, terminal_size=(80, 24), run_before=_open_config("crafter_lora_qwen0p6b.toml", "cfg-form")
    )


def test_configs_pane_errors_80x24(configs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24 with problems: the Problems list collapsed to one row until focused."""
    assert snap_compare(configs_app, terminal_size=(80, 24), run_before=_open_config("broken_qlora.toml"))


def test_status_line_at_80_columns(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Issue 10 item 10: at 80 columns the open DB's file name and rule stay whole; its folder gives way."""
    deep = Path("a_rather_long_project_folder/with/several/levels/of/folders") / REL
    build_db(in_tmp / deep, sessions=3, decisions=2)
    app = SftStudioApp(db_path=deep, db_explicit=True, watch_interval=None)
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)


# ----------------------------------------------------------------------------------------------- Eval


#: Achievements a weak agent reaches first (the fixtures' episodes unlock some of these).
EARLY = (
    "collect_wood", "collect_sapling", "place_sapling", "collect_drink", "wake_up",
    "place_table", "make_wood_pickaxe", "collect_stone", "eat_cow", "defeat_zombie",
)  # fmt: skip


def _eval_results(root: Path) -> None:
    """Two saved evals of the same ten seeds (a fine-tuned model and its base), made from fixed
    episodes and a fixed wall time: the figures (bootstrap seeded) are the same in every run."""
    import random

    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalRun
    from services.evals.results import result_from_run, save_result
    from services.evals.settings import build_settings

    for eval_id, model, skill in (
        ("20261201-110000-base", "sft-studio/tiny-qwen3", 3),
        ("20261201-120000-fine-tuned", "fft:sft-studio/tiny-qwen3:job_abc123", 6),
    ):
        rng = random.Random(skill)
        seeds = list(range(10000, 10010))
        episodes = [
            EpisodeResult(
                seed=seed,
                achievements=[a for a in EARLY if rng.random() < skill / len(EARLY)],
                decisions=50,
                steps=100,
                died=rng.random() < 0.2,
                tool_call_failures=rng.randrange(0, 3),
                total_tokens=4000,
                policy_s=5.0,
                mean_latency_ms=100.0,
            )
            for seed in seeds
        ]
        for e in episodes:
            e.total_reward = float(len(e.achievements))
        settings = build_settings(
            {"model": model, "backend": "local", "inference_url": None, "seeds": seeds, "max_turns": 50}
        )
        run = EvalRun(
            eval_id=eval_id, settings=settings, episodes=episodes, wall_s=25.0, started_at="2026-12-01T12:00:00+00:00"
        )
        save_result(result_from_run(run), root)


def _no_backend(root: Path | None, *, start: bool) -> None:
    """No local backend runs (snapshots never start one)."""
    return None


@pytest.fixture
def eval_app(in_tmp: Path) -> SftStudioApp:
    build_db(in_tmp / REL, sessions=12, decisions=4)
    root = in_tmp / "data"
    _eval_results(root)
    options = {"data_root": root, "models_fn": _no_backend, "leakage_fn": lambda model, seeds, root: None}
    return SftStudioApp(db_path=REL, db_explicit=True, watch_interval=None, pane_options={"eval": options})


async def _eval_shown(pilot: Pilot[None], *keys: str) -> None:
    from tui.panes.eval.pane import EvalPane

    await loaded(pilot)
    await show_pane(pilot, "5", EvalPane)
    await settled(pilot)
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    if keys:
        await pilot.press(*keys)
        await settled(pilot)


def test_eval_form(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The Eval pane's Run form: local backend picked (not running: r lists), default seeds 10000-10049,
    the hints beside each field, Trace off with the open DB's name; footer g Run, r Refresh."""
    assert snap_compare(eval_app, terminal_size=SIZE, run_before=_eval_shown)


def test_eval_form_80x24(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The Run form at 80x24: one line per field, hints beside them, nothing cut."""
    assert snap_compare(eval_app, terminal_size=NARROW, run_before=_eval_shown)


def test_eval_result(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F3: saved evals (newest first), the highlighted one's score with CI, episodes and 22 bars."""
    assert snap_compare(eval_app, terminal_size=SIZE, run_before=lambda p: _eval_shown(p, "f3"))


def test_eval_result_80x24(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F3 at 80x24: the saved list and the result summary fit; the rest scrolls."""
    assert snap_compare(eval_app, terminal_size=NARROW, run_before=lambda p: _eval_shown(p, "f3"))


def test_eval_result_bars_80x24(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """F3 at 80x24 scrolled to the end: the 22 achievement bars, one line each."""

    async def run_before(pilot: Pilot[None]) -> None:
        await _eval_shown(pilot, "f3")
        pilot.app.query_one("#eval-results-body").scroll_end(animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(eval_app, terminal_size=NARROW, run_before=run_before)


def test_eval_comparison(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """a, ↓, b, c: fine-tuned (A) vs base (B) on 10 common seeds: verdict, score difference with CI,
    paired test, and the 22 achievements side by side with their deltas."""
    assert snap_compare(eval_app, terminal_size=SIZE, run_before=lambda p: _eval_shown(p, "f3", "a", "down", "b", "c"))


def test_eval_comparison_80x24(eval_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The comparison at 80x24: the verdict and differences on top, bars below (scrolls)."""
    assert snap_compare(
        eval_app, terminal_size=NARROW, run_before=lambda p: _eval_shown(p, "f3", "a", "down", "b", "c")
    )


# ---------------------------------------------------------------------------------------- Jobs pane


def _jobs_app(in_tmp: Path, jobs: list[FakeJob]) -> SftStudioApp:
    """The Jobs pane on the deterministic fake client: fixed jobs, URL, key source and clock."""
    options = fake_pane_options(FakeClient(jobs), in_tmp / "runs.db")
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": options})


def _jobs_shown(*keys: str) -> Callable[[Pilot[None]], object]:
    async def run(pilot: Pilot[None]) -> None:
        from tui.panes.jobs.pane import JobsPane

        pane = await show_pane(pilot, "4", JobsPane)
        for _ in range(250):
            await pilot.pause(0.02)
            if pane.polls >= 2:
                break
        for key in keys:
            await pilot.press(key)
            for _ in range(50):
                await pilot.pause(0.02)
                if pane.selected in pane.views or not pane.rows:
                    break
        await pilot.pause(0.1)

    return run


def test_jobs_pane_empty(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """No jobs yet: the backend and its key source (no key) in the header, what to do next, n/b/r."""
    assert snap_compare(_jobs_app(in_tmp, []), terminal_size=SIZE, run_before=_jobs_shown())


def test_jobs_pane_empty_80x24(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """No jobs at 80x24: the header wraps, the hint stays readable."""
    assert snap_compare(_jobs_app(in_tmp, []), terminal_size=NARROW, run_before=_jobs_shown())


def test_jobs_pane_running(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Three jobs; the running one shown: timeline at training, step 24/40, lr, loss chart (train line,
    two validation points), the event log with its warning."""
    jobs = [running_job(), failed_job(), succeeded_job()]
    assert snap_compare(_jobs_app(in_tmp, jobs), terminal_size=SIZE, run_before=_jobs_shown())


def test_jobs_pane_running_80x24(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24, Enter on the running job: the detail replaces the table; chart above the event log."""
    jobs = [running_job(), failed_job(), succeeded_job()]
    assert snap_compare(_jobs_app(in_tmp, jobs), terminal_size=NARROW, run_before=_jobs_shown("enter"))


def test_jobs_pane_failed(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The failed job under the cursor: timeline ending in ✗ failed, its error in red, the loss so far."""
    jobs = [running_job(), failed_job(), succeeded_job()]
    assert snap_compare(_jobs_app(in_tmp, jobs), terminal_size=SIZE, run_before=_jobs_shown("down"))


def test_jobs_pane_failed_80x24(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24, the failed job opened: its error whole, no c (nothing to cancel)."""
    assert snap_compare(_jobs_app(in_tmp, [failed_job()]), terminal_size=NARROW, run_before=_jobs_shown("enter"))


# ---------------------------------------------------------------------------------------- Runs pane


@pytest.fixture
def runs_app(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> SftStudioApp:
    """The Runs pane on a ledger filled with fixed figures (``tests/tui/runs_ledger.py``) in the
    workspace, so the header and the lineage show paths relative to it."""
    from tests.tui.runs_ledger import fill_ledger

    ledger = fill_ledger(in_tmp, monkeypatch)
    options = {"ledger_path": ledger, "export_dir": in_tmp / "runs"}
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"runs": options})


def _runs_shown(*keys: str) -> Callable[[Pilot[None]], object]:
    async def run(pilot: Pilot[None]) -> None:
        from tui.panes.runs.pane import RunsPane

        await loaded(pilot)
        pane = await show_pane(pilot, "6", RunsPane)
        await settled(pilot)
        for field in pilot.app.query(Input):
            field.cursor_blink = False
        assert pane.loads >= 1
        for key in keys:
            await pilot.press(key)
            await settled(pilot)
        for body in pilot.app.query("#runs-compare, #runs-lineage"):
            body.scroll_home(animate=False, immediate=True)
        await settled(pilot)

    return run


#: Mark the two FFT runs (filtered data vs all sessions: one axis differs) and the LoRA one, compare.
#: (Only at 80x24, where the loss chart is below the fold: at 120x40 plotext's braille curves did not
#: repaint byte-identically from one run to the next; the Pilot test checks the curves instead.)


def test_runs_pane(runs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Five runs (three fine-tuned, the base, the random policy), sorted by score (best first): every
    column, the score with its CI, the filter summary, losses and tokens/s."""
    assert snap_compare(runs_app, terminal_size=SIZE, run_before=_runs_shown("right", "right", "s"))


def test_runs_pane_80x24(runs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """80x24: the key columns (run, score with CI, unique, train kind) first; the rest scrolls."""
    assert snap_compare(runs_app, terminal_size=NARROW, run_before=_runs_shown("right", "right", "s"))


def test_runs_lineage(runs_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """l on the best run: eval → model → job → config/payload → dataset (sha256, matches) → filter → trace DB."""
    assert snap_compare(runs_app, terminal_size=SIZE, run_before=_runs_shown("l"))


# ---------------------------------------------------------------------------------- Runs: sweeps


@pytest.fixture
def sweep_app(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> SftStudioApp:
    """A 2 × 2 sweep (lora_rank × learning_rate) on the fixed DB, its state file written by the test
    (done with a result, failed, training, never started); estimates from the DB, time unmeasured."""
    from tests.services.jobs.support import fake_model, write_config
    from tests.tui.test_runs_sweeps import recorded_sweep

    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(in_tmp))
    build_db(in_tmp / REL, sessions=12, decisions=4)
    (in_tmp / "configs").mkdir()
    write_config(in_tmp / "configs", model=str(fake_model(in_tmp)), name="base.toml")
    recorded_sweep(in_tmp, db=str(REL))
    options = {"ledger_path": in_tmp / "runs.db", "export_dir": in_tmp / "runs"}
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"runs": options})


async def _sweep_grid_shown(pilot: Pilot[None]) -> None:
    from tui.panes.runs.pane import RunsPane
    from tui.panes.runs.sweep_grid import SweepGrid

    await loaded(pilot)
    pane = await show_pane(pilot, "6", RunsPane)
    await settled(pilot)
    await pilot.press("w")
    deadline = time.monotonic() + 60
    while not pane.query(SweepGrid) and time.monotonic() < deadline:
        await pilot.pause(0.05)
    view = pane.query_one(SweepGrid)
    while view.opens < 1 and time.monotonic() < deadline:
        await pilot.pause(0.05)
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await settled(pilot)


def test_runs_sweep_grid(sweep_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    """w: the known sweep opened as a grid, lora_rank rows × learning_rate columns; each cell its state,
    its estimate (examples · steps · time) and, when done, its score with the CI and mean unique."""
    assert snap_compare(sweep_app, terminal_size=SIZE, run_before=_sweep_grid_shown)


def test_runs_sweep_grid_80x24(sweep_app: SftStudioApp, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(sweep_app, terminal_size=NARROW, run_before=_sweep_grid_shown)

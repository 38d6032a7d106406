"""Pilot tests of the Filters pane: live preview, per-field validation, stale results, export, presets.

The app runs headless at 120x40 on a small generated DB; index, preview and export run in the
pane's thread workers, so tests poll for the state they expect (``until``) instead of sleeping.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Static

import services.datasets.export as export_module
from services.datasets.export import ExportError
from services.datasets.export_targets import parse_sizes
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.datasets.preview import Preview, preview
from services.datasets.session_index import SessionIndex
from services.traces.achievement_keys import KeyStyle
from services.traces.schema import Flavour
from services.traces.writer import TraceWriter
from tests.support.pilot import SIZE, key_active, show_pane, until
from tests.support.pilot import make_app as pilot_app
from tests.support.tracegen import build_db, make_episode
from tui.app.app import SftStudioApp
from tui.cli import main as cli_main
from tui.panes.filters.export_dialog import ExportDialog, ExportRequest, LoadPresetDialog, SavePresetDialog
from tui.panes.filters.form import parse_filters, spec_values
from tui.panes.filters.pane import FiltersPane


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "traces/v3/synth_ai.db", sessions=20, decisions=4)


def make_app(db: Path | None, **filters: Any) -> SftStudioApp:
    filters.setdefault("debounce_s", 0.05)
    return pilot_app(db, pane_options={"filters": filters})


async def open_filters(pilot: Pilot[None]) -> FiltersPane:
    pane = await show_pane(pilot, "2", FiltersPane)
    await until(pilot, lambda: pane.index is not None and pane.preview is not None)
    return pane


def text_of(pilot: Pilot[None], selector: str) -> str:
    widget = pilot.app.query_one(selector, Static)
    return str(widget.content)


async def type_into(pilot: Pilot[None], key: str, text: str, *, keys: bool = False) -> None:
    """Put ``text`` into a filter field: as key presses with ``keys``, else as one edit (a paste)."""
    field = pilot.app.query_one(f"#filter-{key}", Input)
    field.focus()
    field.value = ""
    if keys:
        await pilot.press(*text)
    else:
        field.value = text
    await pilot.pause()


def expected(pane: FiltersPane, spec: FilterSpec) -> Preview:
    assert pane.index is not None
    return preview(pane.index, spec)


# ---------------------------------------------------------------------------------------- parsing


def test_parse_filters_reasons_per_field() -> None:
    spec, errors = parse_filters({"min_unique": "2", "event_rewards": "unique_achievement_delta:1, :3"})
    assert errors == {} and spec is not None
    assert spec.min_unique == 2 and [f.as_flag() for f in spec.event_rewards] == ["unique_achievement_delta:1"]
    assert parse_filters(spec_values(spec))[0] == spec
    _, errors = parse_filters({"min_unique": "x", "event_rewards": "x:abc", "require_achievements": "colect_wood"})
    assert set(errors) == {"min_unique", "event_rewards"}  # a misspelled name is a warning (shared validator)
    _, errors = parse_filters({"min_unique": "3", "max_unique": "1"})
    assert "max_unique" in errors
    assert parse_sizes(" 500,100,100 ") == [100, 500]
    with pytest.raises(ValueError):
        parse_sizes("10,x")


#: Issue 10 #14: input the pane and the CLI judged differently; now one validator, one wording.
SLIPS = [
    ("models", ["--model", "nope"], "nope", "not a model of this DB: nope (known: "),
    (
        "require_achievements",
        ["--require-achievement", "colect_wood"],
        "colect_wood",
        "not a Crafter achievement: 'colect_wood' (did you mean collect_wood?); no session can pass",
    ),
    ("event_rewards", ["--event-reward", "x:1"], "x:1", "no event reward of type 'x' in this DB"),
]


@pytest.mark.parametrize(("field", "flags", "text", "words"), SLIPS, ids=[s[0] for s in SLIPS])
async def test_pane_and_cli_warn_alike(
    field: str, flags: list[str], text: str, words: str, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warning, not an error, in both (synth-ai's exporter accepts these and `export` must write
    what it writes): the pane still previews, the CLI still counts, and both say the same words."""
    assert cli_main(["count", "--db", str(db), *flags]) == 0
    cli_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Warning: ")]
    assert len(cli_lines) == 1 and words in cli_lines[0]
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, field, text)
        await until(pilot, lambda: pane.preview_spec is not None and bool(getattr(pane.preview_spec, field)))
        hint = app.query_one(f"#filter-hint-{field}", Static)
        assert hint.has_class("-warning") and not hint.has_class("-error")
        shown = str(hint.content)
        assert shown.startswith("warning: ") and shown.removeprefix("warning: ") in cli_lines[0]
        assert cli_lines[0].endswith(shown.removeprefix("warning: "))
    if field == "event_rewards":
        assert "x:1 removes every session" in cli_lines[0]


# ---------------------------------------------------------------------------------------- preview


async def test_funnel_counts_removals_and_breakdowns_match_the_header(db: Path) -> None:
    """Issue 10 #15: removals are positive counts; with a limit, the breakdowns describe the header's set."""
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "min_unique", "1")
        await type_into(pilot, "limit", "3")
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=1, limit=3))
        p = pane.preview
        assert p is not None and p.sessions_written < p.eligible_sessions
        funnel = text_of(pilot, "#pv-funnel")
        assert "limit 3 examples" in funnel and not re.search(r"\s-\d", funnel)
        assert f"Examples 3 from {p.sessions_written} sessions" in text_of(pilot, "#pv-summary")
        assert app.query_one("#pv-achievements").border_subtitle == f"of {p.sessions_written} written sessions"
        models = text_of(pilot, "#pv-models")
        assert sum(int(line.split()[-2]) for line in models.splitlines()[1:]) == p.sessions_written


async def test_typing_min_unique_updates_the_preview(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        base = expected(pane, FilterSpec())
        assert pane.preview == base.model_copy(update={"elapsed_ms": pane.preview.elapsed_ms})
        await until(pilot, lambda: app.focused is app.query_one("#filter-models", Input))  # the first field
        await pilot.press("tab", "tab", "2")  # keyboard only: models → providers → min unique
        assert app.focused is app.query_one("#filter-min_unique", Input)
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=2))
        want = expected(pane, FilterSpec(min_unique=2))
        got = pane.preview
        assert (got.eligible_sessions, got.examples, got.estimated_tokens) == (
            want.eligible_sessions,
            want.examples,
            want.estimated_tokens,
        )
        assert want.eligible_sessions < base.eligible_sessions  # the filter did something
        summary = text_of(pilot, "#pv-summary")
        assert f"Eligible sessions {want.eligible_sessions:,}" in summary and f"Examples {want.examples:,}" in summary
        assert "characters" in summary and "/ 4" in summary  # how tokens are estimated
        funnel = text_of(pilot, "#pv-funnel")
        assert "unique achievements" in funnel
        assert any(step.key == "unique" and step.removed > 0 for step in want.funnel)
        if want.task_app_keys:
            assert "task app's achievement keys" in text_of(pilot, "#pv-notes")


async def test_invalid_event_reward_marks_field_and_keeps_last_preview(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "min_unique", "1")
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=1))
        shown = pane.preview
        await type_into(pilot, "event_rewards", "x:abc")  # one edit: no valid prefix ("x:") shown in between
        await pilot.pause(0.2)
        hint = app.query_one("#filter-hint-event_rewards", Static)
        assert hint.has_class("-error") and "Invalid event reward specification 'x:abc'" in str(hint.content)
        assert pane.spec is None and pane.preview is shown and pane.preview_spec == FilterSpec(min_unique=1)
        assert "last valid" in str(app.query_one("#filters-preview").border_subtitle)
        # min > max is marked on max
        await type_into(pilot, "event_rewards", "")
        await type_into(pilot, "max_unique", "0")
        await pilot.pause(0.1)
        hint = app.query_one("#filter-hint-max_unique", Static)
        assert hint.has_class("-error") and "below min unique" in str(hint.content)
        assert pane.preview_spec == FilterSpec(min_unique=1)
        # fixing it clears the mark and recomputes
        await type_into(pilot, "max_unique", "5")
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=1, max_unique=5))
        assert not app.query_one("#filter-hint-max_unique", Static).has_class("-error")


async def test_unknown_names_are_warned_with_the_closest(db: Path) -> None:
    """Warnings (the shared validator): the fields say why, and the preview still follows them."""
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "require_achievements", "colect_wood")
        await type_into(pilot, "models", "no-such-model")
        await until(pilot, lambda: pane.preview_spec is not None and pane.preview_spec.models == ["no-such-model"])
        hint = app.query_one("#filter-hint-require_achievements", Static)
        assert hint.has_class("-warning") and "did you mean collect_wood" in str(hint.content)
        hint = app.query_one("#filter-hint-models", Static)
        assert hint.has_class("-warning") and "no-such-model" in str(hint.content) and "known:" in str(hint.content)
        assert pane.spec is not None and pane.preview is not None and pane.preview.eligible_sessions == 0


async def test_quick_typing_debounces_and_stale_results_are_dropped(db: Path) -> None:
    calls: list[FilterSpec] = []
    slow_started = threading.Event()

    def slow_preview(index: SessionIndex, spec: FilterSpec) -> Preview:
        calls.append(spec)
        if spec.min_unique == 1:
            slow_started.set()
            time.sleep(0.6)  # still computing when the newer value arrives
        return preview(index, spec)

    app = make_app(db, preview_fn=slow_preview, debounce_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        field = app.query_one("#filter-min_unique", Input)
        # 1) keystrokes inside the debounce window: only the last value is computed
        calls.clear()
        for value in ("5", "4", "3"):  # three edits well inside one debounce window
            field.value = value
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=3))
        await app.workers.wait_for_complete()
        assert calls == [FilterSpec(min_unique=3)]
        # 2) a computation already running is superseded: its late result is never shown
        calls.clear()
        field.value = "1"
        await until(pilot, slow_started.is_set)
        field.value = "2"
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=2))
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
        assert calls == [FilterSpec(min_unique=1), FilterSpec(min_unique=2)]
        assert pane.preview_spec == FilterSpec(min_unique=2)
        assert pane.preview == expected(pane, FilterSpec(min_unique=2)).model_copy(
            update={"elapsed_ms": pane.preview.elapsed_ms}
        )


# ----------------------------------------------------------------------------------------- export


async def start_export(pilot: Pilot[None], output: Path, sizes: str = "") -> None:
    await pilot.press("escape")  # leave the form: e is a key again
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ExportDialog)
    pilot.app.screen.query_one("#export-output", Input).value = str(output)
    pilot.app.screen.query_one("#export-sizes", Input).value = sizes
    await pilot.press("enter")
    await pilot.pause()


async def test_export_writes_file_and_manifest_and_shows_summary(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "ft/out.jsonl"
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "min_unique", "1")
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=1))
        want = pane.preview
        await start_export(pilot, out, "5")
        await until(pilot, lambda: pane.last_export is not None)
        result = pane.last_export
        assert out.exists() and (tmp_path / "ft/out.manifest.json").exists()
        assert (tmp_path / "ft/out.n5.jsonl").exists()
        lines = out.read_text().splitlines()
        assert len(lines) == want.examples == result.examples
        manifest = json.loads((tmp_path / "ft/out.manifest.json").read_text())
        assert manifest["filter"]["min_unique"] == 1 and manifest["counts"]["examples"] == want.examples
        summary = text_of(pilot, "#filters-export-summary")
        assert f"{want.examples:,} examples" in summary and result.sha256[:12] in summary
        assert "Validation OK" in summary and "out.n5.jsonl" in summary
        assert app.query_one("#filters-export").border_title == "Export finished"


async def test_export_asks_before_overwriting(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("keep me\n")
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await start_export(pilot, out)
        assert isinstance(app.screen, ExportDialog)  # not dismissed: asks first
        confirm = app.screen.query_one("#export-confirm", Static)
        assert confirm.display and "Press Enter again to overwrite" in str(confirm.content)
        assert out.read_text() == "keep me\n"
        await pilot.press("escape")  # cancel: nothing written
        await pilot.pause()
        assert not isinstance(app.screen, ExportDialog) and out.read_text() == "keep me\n"
        await start_export(pilot, out)
        await pilot.press("enter")  # confirm
        await until(pilot, lambda: pane.last_export is not None)
        assert out.read_text() != "keep me\n" and len(out.read_text().splitlines()) == pane.preview.examples


async def test_export_error_is_shown_not_raised(db: Path, tmp_path: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "min_unique", "30")  # nobody reaches 30
        await until(pilot, lambda: pane.preview_spec == FilterSpec(min_unique=30))
        await start_export(pilot, tmp_path / "none.jsonl")
        await until(pilot, lambda: not pane.exporting and app.query_one("#filters-export-summary").display)
        assert app.query_one("#filters-export").border_title == "Export failed"
        assert "No sessions matched" in text_of(pilot, "#filters-export-summary")
        assert not (tmp_path / "none.jsonl").exists()


class _DialogHost(App[None]):
    """Just the export dialog, to read what it answers."""

    def __init__(self, dialog: ExportDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.answers: list[ExportRequest | None] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, callback=self.answers.append)


async def _dialog_sizes(output: Path, text: str, examples: int | None = None) -> tuple[int, ...] | str:
    """What the export dialog makes of ``text`` in its sizes field: the sizes, or the reason shown."""
    app = _DialogHost(ExportDialog(output, sizes=text, examples=examples))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        if app.answers:
            answer = app.answers[0]
            assert answer is not None
            return answer.sizes
        return str(app.dialog.query_one("#export-hint-sizes", Static).content)


@pytest.mark.parametrize(("text", "sizes"), [(" 500,100,100 ", (100, 500)), ("5,,2, 2", (2, 5)), ("", ())])
async def test_export_dialog_and_cli_read_sizes_alike(
    text: str, sizes: tuple[int, ...], ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same text in the dialog's sizes field and in ``sft-studio export --sizes`` gives the same sizes."""
    seen: list[list[int]] = []

    def fake_export(*_: object, sizes: list[int], **__: object) -> None:
        seen.append(sizes)
        raise ExportError("stop here: the sizes are all this test wants")

    monkeypatch.setattr(export_module, "export_sft", fake_export)
    assert cli_main(["export", "--db", str(ref_db), "--output", str(tmp_path / "c.jsonl"), "--sizes", text]) == 1
    assert tuple(seen[0]) == sizes == await _dialog_sizes(tmp_path / "d.jsonl", text)


async def test_export_dialog_and_cli_refuse_the_same_sizes(
    ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for text, reason in (("10,x", "whole numbers separated by commas, got 'x'"), ("3,0", "1 or more, got 0")):
        assert cli_main(["export", "--db", str(ref_db), "--output", str(tmp_path / "c.jsonl"), "--sizes", text]) == 2
        assert reason in capsys.readouterr().err
        assert reason in await _dialog_sizes(tmp_path / "d.jsonl", text)


async def test_export_dialog_refuses_sizes_larger_than_the_filter_gives(tmp_path: Path) -> None:
    """Issue 10 #17: the dialog knows the count, so a too-large size is refused at the field."""
    reason = await _dialog_sizes(tmp_path / "d.jsonl", "5,999999", examples=120)
    assert reason == (
        "subset size 999,999 larger than the 120 examples this export holds: choose sizes up to 120 "
        "(the main file holds them all)"
    )
    assert await _dialog_sizes(tmp_path / "d.jsonl", "5,120", examples=120) == (5, 120)


# ---------------------------------------------------------------------------------------- presets


async def test_preset_save_and_load_round_trip(db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "presets"
    app = make_app(db, presets_dir=folder)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await type_into(pilot, "min_unique", "1")
        await type_into(pilot, "require_achievements", "collect_wood")
        await type_into(pilot, "event_rewards", "unique_achievement_delta:1")
        want = FilterSpec(
            min_unique=1,
            require_achievements=["collect_wood"],
            event_rewards=[EventRewardFilter(reward_type="unique_achievement_delta", min_total=1)],
        )
        await until(pilot, lambda: pane.spec == want)
        await pilot.press("escape", "s")
        await pilot.pause()
        assert isinstance(app.screen, SavePresetDialog)
        await pilot.press("w", "1")
        app.screen.query_one("#preset-description", Input).value = "wood runs"
        await pilot.press("enter")
        await pilot.pause()
        assert (folder / "w1.toml").exists() and not isinstance(app.screen, SavePresetDialog)
        form = pane.form
        form.set_values({})
        await until(pilot, lambda: pane.preview_spec == FilterSpec())
        await pilot.press("escape", "l")
        await pilot.pause()
        assert isinstance(app.screen, LoadPresetDialog)
        assert app.screen.query_one(OptionList).option_count == 1
        await pilot.press("enter")
        await until(pilot, lambda: pane.preview_spec == want)
        assert form.values()["require_achievements"] == "collect_wood"


# ------------------------------------------------------------------------------------------ no DB


async def test_no_db_says_so_and_keys_are_off() -> None:
    app = make_app(None)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "2", FiltersPane)
        assert pane.query_one("ContentSwitcher").current == "filters-nodb"  # type: ignore[attr-defined]
        assert "No trace DB is open" in text_of(pilot, "#filters-nodb > Static")
        assert not key_active(app, "filters.export")


async def test_palette_filters_commands(db: Path) -> None:
    app = make_app(db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Filters: export", "Filters: save preset", "Filters: load preset"} <= set(titles)
        export = next(c for c in app.get_system_commands(app.screen) if c.title == "Filters: export")
        app.call_later(export.callback)  # as the palette runs it: from Traces it goes to Filters
        await until(pilot, lambda: bool(app.query(FiltersPane)))
        pane = app.query_one(FiltersPane)  # built by the command itself, before its first paint
        await until(pilot, lambda: pane.preview is not None)
        assert app.active_pane == "filters"
        app.call_later(export.callback)
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)


async def test_unreadable_db_shows_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database\n" * 100)
    app = make_app(bad)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "2", FiltersPane)
        await until(pilot, lambda: pane.query_one("ContentSwitcher").current == "filters-error")  # type: ignore[attr-defined]
        assert text_of(pilot, "#filters-error-message") and pane.index is None and not pane.indexing


async def test_export_on_a_damaged_db_says_it_is_damaged(db: Path, tmp_path: Path) -> None:
    """Issue 11 #13: ``e`` on a DB that cannot be indexed said "still being indexed"."""
    damaged = tmp_path / "damaged.db"
    data = bytearray(db.read_bytes())
    data[4096 * 2 :] = b"\xff" * (len(data) - 4096 * 2)  # the header survives, the pages do not
    damaged.write_bytes(bytes(data))
    app = make_app(damaged)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "2", FiltersPane)
        await until(pilot, lambda: pane.index_error is not None and not pane.indexing)
        message = pane.index_error
        await pilot.press("e")
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        said = [n for n in app._notifications if n.severity == "error"][-1]
        assert message is not None and said.message.startswith(message) and "press r to retry" in said.message
        assert not any("still being indexed" in n.message for n in app._notifications)


async def _append(path: Path, n: int, seed: int) -> None:
    with TraceWriter(path) as writer:
        writer.write([make_episode(random.Random(seed + i), 100 + seed + i, decisions=2, style=KeyStyle.REFERENCE)
                      for i in range(n)])  # fmt: skip


async def test_preview_follows_the_db_and_r_recounts(db: Path) -> None:
    """Issue 10 #8: the shown pane re-indexes when the DB's fingerprint changes, and ``r`` does now."""
    app = make_app(db, watch_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        assert pane.preview is not None
        n = pane.preview.sessions_in_db
        await _append(db, 2, 1)
        await until(pilot, lambda: pane.preview is not None and pane.preview.sessions_in_db == n + 2, timeout=30)
    app = make_app(db, watch_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        await _append(db, 1, 7)
        await pilot.pause(0.3)
        assert pane.preview is not None and pane.preview.sessions_in_db == n + 2  # no watching: unchanged
        pane.query_one("#filters-preview").focus()
        await until(pilot, lambda: key_active(app, "filters.refresh"))  # focus moves on the next refresh
        await pilot.press("r")
        await until(pilot, lambda: pane.preview is not None and pane.preview.sessions_in_db == n + 3, timeout=30)


async def test_export_dialog_quotes_the_counts_of_the_db_as_it_is(db: Path, tmp_path: Path) -> None:
    """Issue 10 #8: the dialog re-counts a DB that changed before it opens, and again on confirm."""
    app = make_app(db, watch_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        old = pane.preview
        assert old is not None
        await _append(db, 2, 11)
        pane.query_one("#filters-preview").focus()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportDialog), timeout=30)
        assert pane.preview is not None and pane.preview.sessions_in_db == old.sessions_in_db + 2
        quoted = str(app.screen.query_one("#export-what", Static).content)
        assert f"before: {old.examples:,} examples" in quoted and f"{pane.preview.examples:,} examples" in quoted
        await _append(db, 1, 21)  # while the dialog is open
        app.screen.query_one("#export-output", Input).value = str(tmp_path / "o.jsonl")
        await pilot.press("enter")
        await until(pilot, lambda: pane.last_export is not None, timeout=30)
        assert pane.preview.sessions_in_db == old.sessions_in_db + 3
        assert pane.last_export.examples == pane.preview.examples
        assert len((tmp_path / "o.jsonl").read_text().splitlines()) == pane.preview.examples


async def test_showing_the_pane_again_reindexes_rows_a_wal_writer_appended(tmp_path: Path) -> None:
    """A live collector on a WAL-mode DB grows only ``-wal``: the pane uses the Traces pane's
    fingerprint (main file and ``-wal``), so coming back to it re-indexes and counts the new session."""
    path = build_db(tmp_path / "wal.db", sessions=6, decisions=2, flavour=Flavour.V0_2_8, quirks=False)
    keeper = sqlite3.connect(path)  # keeps the WAL from being checkpointed, as a running collector does
    try:
        keeper.execute("SELECT COUNT(*) FROM session_traces").fetchone()
        app = make_app(path)
        async with app.run_test(size=SIZE) as pilot:
            pane = await open_filters(pilot)
            assert pane.index is not None and pane.index.sessions_total == 6
            before = path.stat()
            with TraceWriter(path) as writer:
                writer.write([make_episode(random.Random(3), 50, decisions=2, style=KeyStyle.TASK_APP)])
            assert path.stat().st_mtime_ns == before.st_mtime_ns  # only -wal changed
            await pilot.press("escape", "1")  # the shown pane focused its first field: Escape leaves it
            await pilot.press("2")
            await until(pilot, lambda: pane.index is not None and pane.index.sessions_total == 7)
    finally:
        keeper.close()


@pytest.mark.parametrize(("size", "stacked"), [((80, 24), True), ((119, 40), True), ((120, 40), False)])
async def test_narrow_terminals_stack_the_form_above_a_full_width_preview(
    size: tuple[int, int], stacked: bool, db: Path
) -> None:
    """Issue 10 #10: below 120 columns the preview got ~26 columns beside the form; now it is stacked."""
    app = make_app(db)
    async with app.run_test(size=size) as pilot:
        pane = await open_filters(pilot)
        form, preview_box = pane.query_one("#filters-form"), pane.query_one("#filters-preview")
        await until(pilot, lambda: form.region.height > 0 and preview_box.region.height > 0)
        assert pane.has_class("-narrow") == stacked
        if stacked:
            assert form.region.bottom <= preview_box.region.y and preview_box.region.width >= size[0] - 4
            assert not app.query_one("#filter-hint-limit").display  # valid fields: no hint row
        else:
            assert form.region.right <= preview_box.region.x


async def test_export_result_is_dismissed_with_escape(db: Path, tmp_path: Path) -> None:
    """Issue 10 #10: the "Export finished" panel could never be dismissed and left 4 form rows at 80x24."""
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_filters(pilot)
        await start_export(pilot, tmp_path / "o.jsonl", "")
        await until(pilot, lambda: pane.last_export is not None)
        strip = pane.query_one("#filters-export")
        assert strip.display and strip.border_subtitle == "Esc closes"
        assert strip.region.height <= 7 and pane.query_one("#filters-form").region.height >= 4
        app.query_one("#filter-limit", Input).focus()
        await pilot.press("escape")
        await until(pilot, lambda: not strip.display)
        assert app.focused is pane.query_one("#filters-preview")  # out of the form too: e is a key again


async def test_watching_pauses_while_the_export_dialog_quotes_the_preview(db: Path, tmp_path: Path) -> None:
    """The counts under an open dialog do not move; Enter re-checks the DB and says what changed."""
    app = make_app(db, watch_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_filters(pilot)
        quoted = pane.preview
        pane.query_one("#filters-preview").focus()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ExportDialog))
        await _append(db, 2, 31)
        await pilot.pause(0.5)
        assert pane.preview is quoted and not pane.indexing
        app.screen.query_one("#export-output", Input).value = str(tmp_path / "w.jsonl")
        await pilot.press("enter")
        await until(pilot, lambda: pane.last_export is not None, timeout=30)
        assert quoted is not None and pane.preview is not None
        assert pane.preview.sessions_in_db == quoted.sessions_in_db + 2
        assert pane.last_export.examples == pane.preview.examples

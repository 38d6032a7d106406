"""Pilot tests of the Configs pane: form ↔ raw ↔ payload sync, findings at fields, save, conflicts, undo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, Static, Switch, TabbedContent, TextArea

from tests.support.paths import ROOT
from tests.support.pilot import show_pane, until
from tui.app.app import SftStudioApp
from tui.panes.configs.dialogs import ConflictDialog, SaveDialog, UnsavedDialog
from tui.panes.configs.form import ConfigForm, widget_id
from tui.panes.configs.pane import ConfigsPane
from tui.panes.configs.sweep_view import SweepView

LORA = "crafter_lora_qwen0p6b.toml"
FFT = "crafter_fft_qwen0p6b.toml"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "configs").mkdir()
    for name in (LORA, FFT):
        shutil.copy(ROOT / "configs" / name, tmp_path / "configs" / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _app() -> SftStudioApp:
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[])


async def _open(pilot, name: str) -> ConfigsPane:  # type: ignore[no-untyped-def]
    pane = await show_pane(pilot, "3", ConfigsPane)
    assert pane.open(Path("configs") / name)
    await pilot.pause()
    return pane


async def _sweep_of(pilot, name: str) -> SweepView:  # type: ignore[no-untyped-def]
    await _open(pilot, name)
    await pilot.press("f6")
    await pilot.pause()
    return pilot.app.query_one("#cfg-sweep", SweepView)


async def _type_into(pilot, path: str, text: str) -> None:  # type: ignore[no-untyped-def]
    field = pilot.app.query_one(f"#{widget_id(path)}", Input)
    field.focus()
    await pilot.pause()
    field.value = ""
    await pilot.press(*list(text))
    await pilot.pause()


async def test_form_edit_updates_raw_view_and_payload(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        await _type_into(pilot, "hyperparameters.learning_rate", "2e-5")
        raw = app.query_one("#cfg-raw", TextArea).text
        assert "learning_rate = 2e-5\n" in raw
        # Only that line changed; the file's comments are all still there.
        original = (workdir / "configs" / LORA).read_text()
        changed = [(a, b) for a, b in zip(original.splitlines(), raw.splitlines(), strict=True) if a != b]
        assert changed == [("learning_rate = 5e-6", "learning_rate = 2e-5")]
        payload = json.loads(app.query_one("#cfg-payload", TextArea).text)
        assert payload["hyperparameters"]["learning_rate"] == 2e-05
        assert pane.doc is not None and pane.doc.dirty
        assert "● unsaved" in str(app.query_one("#cfg-title").render())


async def test_view_keys_keep_working_after_the_focused_view_is_hidden(workdir: Path) -> None:
    """F3 from a form field hides that field; the focus follows into the raw view, so F5 and ctrl+s still work."""
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, LORA)
        await _type_into(pilot, "hyperparameters.learning_rate", "2e-5")
        await pilot.press("f3")
        await pilot.pause()
        assert app.focused is app.query_one("#cfg-raw")
        await pilot.press("f5")
        await pilot.pause()
        assert app.focused is app.query_one("#cfg-diff-box")
        await pilot.press("f2")
        await pilot.pause()
        assert app.focused is not None and app.query_one(ConfigForm) in app.focused.ancestors
        await pilot.press("f4")
        await pilot.pause()
        assert app.focused is app.query_one("#cfg-payload")
        await pilot.press("ctrl+z")  # the read-only payload gives ctrl+z to the pane: the edit is undone
        await pilot.pause()
        assert json.loads(app.query_one("#cfg-payload", TextArea).text)["hyperparameters"]["learning_rate"] == 5e-06
        await pilot.press("ctrl+y")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveDialog)


async def test_escape_leaves_a_field_so_number_keys_switch_panes(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, LORA)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        await pilot.press("escape", "1")
        await pilot.pause()
        assert app.active_pane == "traces"
        await pilot.press("3", "f3")  # the raw editor: Escape moves on (TextArea), then 1 switches
        await pilot.pause()
        assert app.focused is app.query_one("#cfg-raw")
        await pilot.press("escape", "1")
        await pilot.pause()
        assert app.active_pane == "traces"
        assert "n_epochs = 2\n" in app.query_one("#cfg-raw", TextArea).text


async def test_raw_edit_refills_the_form_and_shows_errors_at_the_field(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        raw = app.query_one("#cfg-raw", TextArea)
        raw.load_text(raw.text.replace("warmup_ratio = 0.03", "warmup_ratio = 2"))
        pane.flush_raw()
        await pilot.pause()
        assert app.query_one(f"#{widget_id('hyperparameters.warmup_ratio')}", Input).value == "2"
        help_line = str(app.query_one(f"#{widget_id('hyperparameters.warmup_ratio')}-help").render())
        assert "must be between 0 and 1 inclusive" in help_line
        assert pane.report is not None and not pane.report.cli_accepts
        problems = app.query_one("#cfg-problems", OptionList)
        assert "warmup_ratio" in str(problems.get_option_at_index(0).prompt)


async def test_invalid_toml_is_shown_with_line_and_never_saved(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        raw = app.query_one("#cfg-raw", TextArea)
        raw.load_text(raw.text.replace("n_epochs = 1", "n_epochs = "))
        pane.flush_raw()
        await pilot.pause()
        assert pane.report is not None
        toml_error = pane.report.errors[0]
        assert toml_error.line is not None and "Invalid TOML at line" in toml_error.message
        before = (workdir / "configs" / LORA).read_bytes()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, SaveDialog)
        assert (workdir / "configs" / LORA).read_bytes() == before


async def test_opening_invalid_toml_shows_the_raw_view_and_leaves_the_focus_on_the_list(workdir: Path) -> None:
    (workdir / "configs" / "a_broken.toml").write_text('[job]\nmodel = "x\n')
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await show_pane(pilot, "3", ConfigsPane)
        files = app.query_one("#cfg-files", OptionList)
        assert app.focused is files
        assert pane.open(Path("configs") / "a_broken.toml")
        await pilot.pause()
        assert app.query_one("#cfg-tabs", TabbedContent).active == "cfg-raw-tab"
        assert app.focused is files  # still picking files with the arrows, not typing into the editor


async def test_save_shows_diff_writes_atomically_and_keeps_a_backup(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "3")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveDialog)
        assert "+n_epochs = 3" in app.screen.diff
        await pilot.press("enter")
        await pilot.pause()
        target = workdir / "configs" / FFT
        assert "n_epochs = 3\n" in target.read_text()
        assert (workdir / "configs" / (FFT + ".bak")).read_text() == (ROOT / "configs" / FFT).read_text()
        assert pane.doc is not None and not pane.doc.dirty


async def test_change_on_disk_is_detected_before_saving(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        target = workdir / "configs" / FFT
        target.write_text(target.read_text() + "# edited elsewhere\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConflictDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert target.read_text().endswith("# edited elsewhere\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert "n_epochs = 2\n" in target.read_text()
        assert not target.read_text().endswith("# edited elsewhere\n")


async def test_undo_brings_back_the_previous_value(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.sequence_length", "2048")
        assert pane.doc is not None and "sequence_length = 2048" in pane.doc.text
        app.query_one("#cfg-files").focus()
        while pane.doc.can_undo:
            await pilot.press("ctrl+z")
            await pilot.pause()
        assert pane.doc.text == (ROOT / "configs" / FFT).read_text()
        assert app.query_one(f"#{widget_id('hyperparameters.sequence_length')}", Input).value == "4096"


async def test_problem_list_jumps_to_the_field(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        problems = app.query_one("#cfg-problems", OptionList)
        index = next(i for i, f in enumerate(pane._shown_findings) if f.path == "hyperparameters.weight_decay")
        for view in ("f4", "f2"):  # from another view (the form is shown first), and from the form
            await pilot.press(view)
            await pilot.pause()
            problems.focus()
            problems.highlighted = index
            await pilot.press("enter")
            await pilot.pause()
            assert app.focused is app.query_one(f"#{widget_id('hyperparameters.weight_decay')}")


async def test_sweep_preview_and_write(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        sweep = await _sweep_of(pilot, LORA)
        assert sweep.plan is not None and [c.value for c in sweep.plan.cells] == ["4", "8", "16", "64"]
        sweep.action_write()
        await pilot.pause()
        out = workdir / "configs" / "sweeps" / "crafter_lora_qwen0p6b-lora_rank"
        assert sorted(p.name for p in out.iterdir())[:2] == [
            "crafter_lora_qwen0p6b-lora_rank-16.toml",
            "crafter_lora_qwen0p6b-lora_rank-4.toml",
        ]
        assert (out / "sweep.json").exists()
        files = app.query_one("#cfg-files", OptionList)
        assert any("lora_rank-64" in str(files.get_option_at_index(i).prompt) for i in range(files.option_count))


async def test_sweep_hold_global_batch_by_keyboard(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        sweep = await _sweep_of(pilot, LORA)
        app.query_one("#sweep-axis", Select).value = "per_device_batch"
        app.query_one("#sweep-values", Input).value = "1,2,4"
        await pilot.pause()
        assert sweep.plan is not None and [c.global_batch for c in sweep.plan.cells] == [32, 64, 128]
        app.query_one("#sweep-hold", Switch).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert str(app.query_one("#sweep-hold-state", Static).content).startswith("on:")
        assert [c.gradient_accumulation_steps for c in sweep.plan.cells] == [64, 32, 16]
        table = app.query_one("#sweep-table", DataTable)
        assert [str(v) for v in table.get_row_at(0)] == [
            "1",
            "crafter_lora_qwen0p6b-per_device_batch-1.toml",
            "64",
            "64",
            "–",
            "new",
        ]


async def test_form_rejects_text_in_a_number_field_without_touching_the_file(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.per_device_batch", "two")
        assert pane.doc is not None and "per_device_batch = 1" in pane.doc.text
        form = app.query_one(ConfigForm)
        assert form.local_errors["hyperparameters.per_device_batch"]


async def test_file_deleted_while_open_can_be_recreated(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        target = workdir / "configs" / FFT
        target.unlink()
        pane.check_disk()
        await pilot.pause()
        assert "deleted on disk" in str(app.query_one("#cfg-title").render())
        assert any("deleted on disk" in n.title for n in app._notifications)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConflictDialog) and app.screen.state == "deleted"
        await pilot.press("o")
        await pilot.pause()
        assert "n_epochs = 2\n" in target.read_text()


async def test_unedited_file_changed_on_disk_is_reloaded(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        target = workdir / "configs" / FFT
        target.write_text(target.read_text().replace("n_epochs = 1", "n_epochs = 7"))
        pane.check_disk()
        await pilot.pause()
        assert pane.doc is not None and "n_epochs = 7" in pane.doc.text and not pane.doc.dirty
        assert app.query_one(f"#{widget_id('hyperparameters.n_epochs')}", Input).value == "7"
        assert "n_epochs = 7" in app.query_one("#cfg-raw", TextArea).text


async def test_read_only_file_offers_save_as(workdir: Path) -> None:
    from tui.panes.configs.dialogs import PathDialog

    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "4")
        target = workdir / "configs" / FFT
        before = target.read_bytes()
        target.chmod(0o444)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # confirm the diff
        await pilot.pause()
        assert isinstance(app.screen, PathDialog)
        assert target.read_bytes() == before
        field = app.screen.query_one("#path-input", Input)
        field.value = "configs/fft-copy.toml"
        await pilot.press("enter")
        await pilot.pause()
        assert "n_epochs = 4\n" in (workdir / "configs" / "fft-copy.toml").read_text()
        assert target.read_bytes() == before


# ------------------------------------------------------------------------ issue 10: edits never lost


def _exits(app: SftStudioApp) -> list[int]:
    calls: list[int] = []
    app.exit = lambda *args, **kwargs: calls.append(1)  # type: ignore[method-assign]
    return calls


async def test_quit_with_unsaved_edits_asks_and_cancel_keeps_them(workdir: Path) -> None:
    app = _app()
    exits = _exits(app)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        await pilot.press("escape", "q")
        await until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, UnsavedDialog))
        assert exits == [] and pane.doc is not None and pane.doc.dirty
        await pilot.press("ctrl+q")  # the app's other quit key asks too
        await until(pilot, lambda: isinstance(app.screen, UnsavedDialog))


async def test_quit_then_save_writes_and_quits(workdir: Path) -> None:
    app = _app()
    exits = _exits(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        await pilot.press("escape", "q")
        await until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("s")
        await until(pilot, lambda: exits == [1])
        assert "n_epochs = 2\n" in (workdir / "configs" / FFT).read_text()


async def test_quit_then_discard_quits_and_leaves_the_file(workdir: Path) -> None:
    before = (workdir / "configs" / FFT).read_bytes()
    app = _app()
    exits = _exits(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        await pilot.press("escape", "q")
        await until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press("d")
        await until(pilot, lambda: exits == [1])
    assert (workdir / "configs" / FFT).read_bytes() == before


async def test_quit_without_edits_does_not_ask(workdir: Path) -> None:
    app = _app()
    exits = _exits(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, FFT)
        await pilot.press("q")
        await until(pilot, lambda: exits == [1])


async def _pick_file(pilot, app: SftStudioApp, name: str) -> None:  # type: ignore[no-untyped-def]
    files = app.query_one("#cfg-files", OptionList)
    files.focus()
    pane = app.query_one(ConfigsPane)
    files.highlighted = next(i for i, p in enumerate(pane.paths) if p.name == name)
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


@pytest.mark.parametrize("answer", ["escape", "d", "s"])
async def test_switching_files_with_unsaved_edits_asks(workdir: Path, answer: str) -> None:
    before = (workdir / "configs" / FFT).read_text()
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        await _pick_file(pilot, app, LORA)
        await until(pilot, lambda: isinstance(app.screen, UnsavedDialog))
        await pilot.press(answer)
        await until(pilot, lambda: not isinstance(app.screen, UnsavedDialog))
        await pilot.pause()
        assert pane.doc is not None
        on_disk = (workdir / "configs" / FFT).read_text()
        if answer == "escape":  # cancel: still on the edited file, edits kept
            assert pane.doc.path.name == FFT and pane.doc.dirty and on_disk == before
        elif answer == "d":
            assert pane.doc.path.name == LORA and on_disk == before
            assert not any(d.dirty for d in pane.docs.values())
        else:
            assert pane.doc.path.name == LORA and "n_epochs = 2\n" in on_disk


async def test_view_keys_work_from_the_raw_editor(workdir: Path) -> None:
    """F6 in the raw TOML used to select a line (TextArea's own F6); typing then replaced it."""
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, LORA)
        await pilot.press("f3")
        await until(pilot, lambda: app.focused is app.query_one("#cfg-raw"))
        text = app.query_one("#cfg-raw", TextArea).text
        tabs = app.query_one("#cfg-tabs", TabbedContent)
        for key, tab in (("f6", "cfg-sweep-tab"), ("f3", "cfg-raw-tab"), ("f4", "cfg-payload-tab")):
            await pilot.press(key)
            await until(pilot, lambda tab=tab: tabs.active == tab)  # type: ignore[misc]
        await pilot.press("f3", "f5")
        await until(pilot, lambda: tabs.active == "cfg-diff-tab")
        await pilot.press("f3", "f2")
        await until(pilot, lambda: tabs.active == "cfg-form-tab")
        assert app.query_one("#cfg-raw", TextArea).text == text


async def test_a_cleared_field_drops_its_old_error_and_save_applies_it(workdir: Path) -> None:
    """Choice: saving applies the focused field first (removal while typing would move the key)."""
    target = workdir / "configs" / LORA
    target.write_text(target.read_text().replace("warmup_ratio = 0.03", "warmup_ratio = 2"))
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, LORA)
        path = "hyperparameters.warmup_ratio"
        help_line = app.query_one(f"#{widget_id(path)}-help", Static)
        assert "must be between 0 and 1" in str(help_line.render())
        field = app.query_one(f"#{widget_id(path)}", Input)
        field.focus()
        await pilot.pause()
        await pilot.press("end", "backspace")
        await until(pilot, lambda: field.value == "")
        assert "must be between" not in str(help_line.render())
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SaveDialog))
        await pilot.press("enter")
        await until(pilot, lambda: "warmup_ratio" not in target.read_text())


async def test_the_form_is_read_only_while_the_raw_toml_does_not_parse(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        raw = app.query_one("#cfg-raw", TextArea)
        raw.load_text(raw.text.replace("n_epochs = 1", "n_epochs = "))
        pane.flush_raw()
        await pilot.pause()
        form = app.query_one(ConfigForm)
        field = app.query_one(f"#{widget_id('hyperparameters.learning_rate')}", Input)
        assert form.locked is not None and field.disabled
        lock = str(app.query_one("#cfg-form-lock", Static).render())
        assert "Read-only" in lock and "Invalid TOML at line" in lock and lock in " ".join(lock.split())
        raw.load_text(raw.text.replace("n_epochs = \n", "n_epochs = 1\n"))
        pane.flush_raw()
        await pilot.pause()
        assert form.locked is None and not field.disabled


async def test_first_focus_on_opening_configs_is_the_file_list(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await show_pane(pilot, "3", ConfigsPane)
        await until(pilot, lambda: app.focused is app.query_one("#cfg-files"))
        await pilot.pause(0.2)
        assert app.focused is app.query_one("#cfg-files")


async def test_sweep_keys_work_after_escape_in_a_sweep_field(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        sweep = await _sweep_of(pilot, LORA)
        values = app.query_one("#sweep-values", Input)
        values.focus()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is not None and sweep in app.focused.ancestors
        await pilot.press("w")
        await until(pilot, lambda: "Wrote" in str(app.query_one("#sweep-status", Static).render()))
        await pilot.press("escape")  # a second Escape leaves the view for the file list
        await until(pilot, lambda: app.focused is app.query_one("#cfg-files"))


async def test_invalid_toml_toast_is_two_sentences(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        raw = app.query_one("#cfg-raw", TextArea)
        raw.load_text(raw.text.replace("n_epochs = 1", "n_epochs = "))
        pane.flush_raw()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any("Nothing was saved" in n.message for n in app._notifications))
        message = next(n.message for n in app._notifications if "Nothing was saved" in n.message)
        assert message.endswith("Invalid value. Nothing was saved.")


async def test_booleans_are_spelt_as_toml_spells_them(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open(pilot, LORA)
        states = [str(s.render()) for s in app.query(".switch-state").results(Static)]
        assert any(s == "false" for s in states) and any(s == "true" for s in states)
        assert not any("True" in s or "False" in s for s in states)


async def test_r_refreshes_the_file_list(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, LORA)
        app.query_one("#cfg-files", OptionList).focus()
        (workdir / "configs" / "new_one.toml").write_text((workdir / "configs" / LORA).read_text())
        await pilot.press("r")
        await until(pilot, lambda: any(p.name == "new_one.toml" for p in pane.paths))
        assert app.query_one("#cfg-files", OptionList).option_count == 3  # the open file listed once


async def test_a_file_opened_by_a_relative_path_is_listed_once(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await show_pane(pilot, "3", ConfigsPane)
        assert pane.open(Path("configs") / LORA) and pane.open(workdir / "configs" / LORA)
        pane.rescan()
        assert [p.name for p in pane.paths].count(LORA) == 1
        assert [p.name for p in pane.docs].count(LORA) == 1


async def test_recreating_a_deleted_file_names_no_backup(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = await _open(pilot, FFT)
        await _type_into(pilot, "hyperparameters.n_epochs", "2")
        (workdir / "configs" / FFT).unlink()
        pane.check_disk()
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConflictDialog))
        await pilot.press("o")
        await until(pilot, lambda: any(n.title == "Saved" for n in app._notifications))
        saved = next(n.message for n in app._notifications if n.title == "Saved")
        assert ".bak" not in saved and not (workdir / "configs" / f"{FFT}.bak").exists()


async def test_80x24_stacks_the_layout_and_keeps_the_header_on_one_line(workdir: Path) -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _open(pilot, LORA)
        await until(pilot, lambda: pane.has_class("-narrow"))
        await pilot.press("f2")
        await until(pilot, lambda: app.focused is not None and app.focused.id != "cfg-files")
        await pilot.pause()
        side = app.query_one("#cfg-side")
        assert side.region.height == 3 and side.region.width >= 78  # one row, above the editor
        title = app.query_one("#cfg-title")
        assert title.region.height == 1 and "crafter_lora_qwen0p6b.toml" in str(title.render())
        tabs = app.query_one("#cfg-tabs").query("Tab")
        assert all(t.region.right <= 80 for t in tabs) and len(tabs) == 5  # no view tab cut
        problems = app.query_one("#cfg-problems")
        assert problems.region.height == 3
        form = app.query_one(ConfigForm)
        shown = [w for w in form.query("Input, Select, Switch") if form.region.contains_region(w.region)]
        assert len(shown) >= 3

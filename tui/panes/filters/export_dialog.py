"""The export dialog (output path, subset sizes, overwrite confirmation) and the preset dialogs.

Each is a small keyboard modal: Enter submits, Escape cancels, reasons show under their field.
An existing file is never overwritten without a second, explicit Enter on a visible warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from services.common.workspace import default_export
from services.datasets.export_targets import SizesError, check_sizes_fit, export_targets, parse_sizes
from tui.widgets.dialog import dialog_css, keys_line

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ExportRequest:
    output: Path
    sizes: tuple[int, ...] = ()
    force: bool = False


class ExportDialog(ModalScreen[ExportRequest | None]):
    """Output path and subset sizes; a second Enter confirms overwriting existing files."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = dialog_css("ExportDialog")

    def __init__(
        self, output: Path | None = None, sizes: str = "", summary: str = "", examples: int | None = None
    ) -> None:
        """``examples``: what the filter gives now (the preview's count); larger sizes are refused here,
        and the exporter checks again against what it writes."""
        super().__init__()
        self.output = default_export() if output is None else output  # the workspace's ft_data/
        self.sizes = sizes
        self.summary = summary
        self.examples = examples
        self.confirm_for: list[Path] | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="export-dialog") as dialog:
            dialog.border_title = "Export SFT JSONL"
            yield Static(self.summary, id="export-what", classes="hint", markup=False)
            with Horizontal(classes="field"):
                yield Label("Output", classes="field-label")
                with Vertical(classes="field-body"):
                    yield Input(str(self.output), id="export-output", compact=True, select_on_focus=False)
                    yield Static("a .jsonl file; its manifest goes beside it", id="export-hint-output", classes="hint")
            with Horizontal(classes="field"):
                yield Label("Sizes", classes="field-label")
                with Vertical(classes="field-body"):
                    yield Input(
                        self.sizes, id="export-sizes", compact=True, select_on_focus=False, placeholder="e.g. 100,500"
                    )
                    yield Static(
                        "optional: also write the first N examples as subsets; blank = none",
                        id="export-hint-sizes",
                        classes="hint",
                    )
            yield Static(id="export-confirm", classes="warning", markup=False)
            yield Static(keys_line(("Enter", "export"), ("Tab", "next field"), ("Escape", "cancel")), classes="keys")

    def on_mount(self) -> None:
        self.query_one("#export-confirm").display = False
        self.query_one("#export-output", Input).focus()

    def _hint(self, key: str, text: str, error: bool) -> None:
        hint = self.query_one(f"#export-hint-{key}", Static)
        hint.update(text)
        hint.set_class(error, "-error")

    @on(Input.Changed)
    def _changed(self) -> None:
        if self.confirm_for is not None:
            self.confirm_for = None
            self.query_one("#export-confirm").display = False

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        raw = self.query_one("#export-output", Input).value.strip()
        ok = True
        if not raw:
            self._hint("output", f"give a file path, e.g. {default_export()}", True)
            ok = False
        elif Path(raw).is_dir():
            self._hint("output", f"{raw} is a folder: give a file path", True)
            ok = False
        else:
            self._hint("output", "a .jsonl file; its manifest goes beside it", False)
        sizes: list[int] = []
        try:
            sizes = parse_sizes(self.query_one("#export-sizes", Input).value)
            if self.examples is not None:
                check_sizes_fit(sizes, self.examples)
        except SizesError as exc:
            self._hint("sizes", str(exc), True)
            ok = False
        else:
            self._hint("sizes", "optional: also write the first N examples as subsets; blank = none", False)
        if not ok:
            return
        output = Path(raw)
        existing = [p for p in export_targets(output, sizes) if p.exists()]
        if existing and self.confirm_for != existing:
            self.confirm_for = existing
            names = ", ".join(str(p) for p in existing[:3]) + (" …" if len(existing) > 3 else "")
            confirm = self.query_one("#export-confirm", Static)
            confirm.update(f"Already exists: {names}. Press Enter again to overwrite, Escape to cancel.")
            confirm.display = True
            return
        self.dismiss(ExportRequest(output, tuple(sizes), force=bool(existing)))

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class PresetRequest:
    name: str
    description: str
    path: Path


class SavePresetDialog(ModalScreen[PresetRequest | None]):
    """Name and description; saved as ``<folder>/<name>.toml`` (a second Enter overwrites)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = dialog_css("SavePresetDialog")

    def __init__(self, folder: Path, summary: str = "") -> None:
        super().__init__()
        self.folder = folder
        self.summary = summary
        self.confirm_for: Path | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="preset-save-dialog") as dialog:
            dialog.border_title = "Save filter preset"
            yield Static(self.summary, classes="hint", markup=False)
            with Horizontal(classes="field"):
                yield Label("Name", classes="field-label")
                with Vertical(classes="field-body"):
                    yield Input(id="preset-name", compact=True, placeholder="e.g. strong_teacher")
                    yield Static(f"saved as {self.folder}/<name>.toml", id="preset-hint-name", classes="hint")
            with Horizontal(classes="field"):
                yield Label("Description", classes="field-label")
                with Vertical(classes="field-body"):
                    yield Input(id="preset-description", compact=True, placeholder="optional")
                    yield Static("what this filter is for", classes="hint")
            yield Static(id="preset-confirm", classes="warning", markup=False)
            yield Static(keys_line(("Enter", "save"), ("Tab", "next field"), ("Escape", "cancel")), classes="keys")

    def on_mount(self) -> None:
        self.query_one("#preset-confirm").display = False
        self.query_one("#preset-name", Input).focus()

    @on(Input.Changed)
    def _changed(self) -> None:
        self.confirm_for = None
        self.query_one("#preset-confirm").display = False

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        name = self.query_one("#preset-name", Input).value.strip()
        hint = self.query_one("#preset-hint-name", Static)
        if not PRESET_NAME.match(name):
            hint.update("letters, digits, '_', '-' and '.', starting with a letter or digit")
            hint.set_class(True, "-error")
            return
        path = self.folder / f"{name}.toml"
        if path.exists() and self.confirm_for != path:
            self.confirm_for = path
            confirm = self.query_one("#preset-confirm", Static)
            confirm.update(f"{path} exists. Press Enter again to overwrite it, Escape to cancel.")
            confirm.display = True
            return
        description = self.query_one("#preset-description", Input).value.strip()
        self.dismiss(PresetRequest(name, description, path))

    def action_cancel(self) -> None:
        self.dismiss(None)


class LoadPresetDialog(ModalScreen[Path | None]):
    """A list of presets (name, description); Enter loads the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = (
        dialog_css("LoadPresetDialog")
        + """
    LoadPresetDialog OptionList { height: auto; max-height: 20; margin-bottom: 1; }
    """
    )

    def __init__(self, folder: Path, presets: Sequence[tuple[Path, str, str]]) -> None:
        """``presets``: (path, name, description) each."""
        super().__init__()
        self.folder = folder
        self.presets = list(presets)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="preset-load-dialog") as dialog:
            dialog.border_title = "Load filter preset"
            if self.presets:
                yield OptionList(
                    *(
                        Option(
                            Content.assemble(
                                (name, "bold"), (f"  {description}" if description else "", "$text-muted")
                            ),
                            id=str(i),
                        )
                        for i, (_, name, description) in enumerate(self.presets)
                    ),
                    id="preset-list",
                )
            else:
                yield Static(
                    f"No presets in {self.folder} yet: press s on the Filters pane to save one.", classes="hint"
                )
            yield Static(keys_line(("↑ ↓", "choose"), ("Enter", "load"), ("Escape", "cancel")), classes="keys")

    def on_mount(self) -> None:
        if self.presets:
            options = self.query_one(OptionList)
            options.highlighted = 0
            options.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.presets[int(event.option.id or 0)][0])

    def action_cancel(self) -> None:
        self.dismiss(None)

"""Modals of the Configs pane: confirm a save over its diff, resolve a disk conflict, pick a path.

Every one is keyboard-first (the keys are written in the dialog) and returns its answer through
``dismiss``; nothing here touches a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.widgets.dialog import dialog_css, keys_line


def diff_renderable(diff: str) -> Syntax:
    return Syntax(diff, "diff", theme="ansi_dark", background_color="default", word_wrap=True)


class SaveDialog(ModalScreen[bool]):
    """The diff against the file on disk; Enter or y writes it, Escape or n does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("enter,y", "answer(True)", "Save"),
    ]
    DEFAULT_CSS = dialog_css("SaveDialog") + "SaveDialog > VerticalScroll { width: 110; }"

    def __init__(self, path: Path, diff: str, note: str = "") -> None:
        super().__init__()
        self.path = path
        self.diff = diff
        self.note = note

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="save-dialog") as box:
            box.border_title = f"Save {self.path}?"
            if self.note:
                yield Static(self.note, classes="warning", markup=False)
            yield Static(diff_renderable(self.diff) if self.diff else "No changes.", id="save-diff")
            yield Static(keys_line(("Enter/y", "save (atomic, keeps a .bak)"), ("Esc/n", "cancel")), classes="keys")

    def action_answer(self, save: bool) -> None:
        self.dismiss(save)


class ConflictDialog(ModalScreen[str | None]):
    """The file changed (or vanished) on disk since it was loaded: reload, overwrite or save as."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(None)", "Cancel"),
        Binding("r", "answer('reload')", "Reload"),
        Binding("o", "answer('overwrite')", "Overwrite"),
        Binding("a", "answer('save_as')", "Save as"),
    ]
    DEFAULT_CSS = dialog_css("ConflictDialog")

    def __init__(self, path: Path, state: str) -> None:
        super().__init__()
        self.path = path
        self.state = state

    def compose(self) -> ComposeResult:
        deleted = self.state == "deleted"
        with VerticalScroll(id="conflict-dialog") as box:
            box.border_title = "File deleted on disk" if deleted else "File changed on disk"
            what = "was deleted" if deleted else "was changed by another program"
            yield Static(
                f"{self.path} {what} since sft-studio loaded it. Your edits are still here.",
                classes="warning",
                markup=False,
            )
            pairs = [("o", "recreate it with your edits" if deleted else "overwrite it with your edits")]
            if not deleted:
                pairs.insert(0, ("r", "reload from disk (your edits stay undoable)"))
            pairs += [("a", "save as a new file"), ("Esc", "cancel")]
            yield Static(keys_line(*pairs), classes="keys")

    def action_answer(self, answer: str | None) -> None:
        if answer == "reload" and self.state == "deleted":
            return
        self.dismiss(answer)


class PathDialog(ModalScreen[Path | None]):
    """One path field (open a config, save as); Enter submits, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = dialog_css("PathDialog")

    def __init__(self, title: str, value: str, hint: str) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="path-dialog") as box:
            box.border_title = self.title_text
            yield Input(self.value, id="path-input", compact=True, select_on_focus=False)
            yield Static(self.hint, id="path-hint", classes="hint", markup=False)
            yield Static(keys_line(("Enter", "ok"), ("Esc", "cancel")), classes="keys")

    def on_mount(self) -> None:
        field = self.query_one("#path-input", Input)
        field.focus()
        field.cursor_position = len(field.value)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#path-hint", Static).update("Type a path.")
            return
        self.dismiss(Path(text).expanduser())

    def action_cancel(self) -> None:
        self.dismiss(None)


class UnsavedDialog(ModalScreen[str | None]):
    """Unsaved edits are about to be left (quit, switch files): save, discard or cancel.

    Answers ``"save"``, ``"discard"`` or None (cancel: stay where you were, edits kept).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s,y", "answer('save')", "Save"),
        Binding("d", "answer('discard')", "Discard"),
        Binding("escape,c,n", "answer(None)", "Cancel"),
    ]
    DEFAULT_CSS = dialog_css("UnsavedDialog", width=70)

    def __init__(self, paths: list[Path], leaving: str) -> None:
        super().__init__()
        self.paths = paths
        self.leaving = leaving

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="unsaved-dialog") as box:
            box.border_title = "Unsaved edits"
            names = ", ".join(str(p) for p in self.paths[:5]) + (" …" if len(self.paths) > 5 else "")
            yield Static(f"{names} {'has' if len(self.paths) == 1 else 'have'} unsaved edits.", classes="warning")
            yield Static(f"Save before you {self.leaving}?", classes="hint", markup=False)
            yield Static(
                keys_line(("s", "save (atomic, keeps a .bak)"), ("d", "discard the edits"), ("Esc", "cancel")),
                classes="keys",
            )

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)

"""Modals of the Jobs pane: the submit form, the payload confirmation, and a yes/no confirmation.

Keyboard first: every field is reached by Tab, the keys are written in each dialog, Escape always
cancels. The form only collects the choice; the pane checks it (in a worker) and shows the exact
payload in :class:`ConfirmSubmitDialog` before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from services.common.workspace import display_path
from services.datasets.listing import DatasetEntry
from tui.widgets.dialog import dialog_css, keys_line


@dataclass(frozen=True)
class SubmitRequest:
    """What the user chose in the form."""

    config: Path
    dataset: Path
    examples: int | None
    backend: str


class SubmitDialog(ModalScreen[SubmitRequest | None]):
    """Config, dataset (with its manifest summary), --examples, backend; ctrl+s / Enter reviews."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "review", "Review", priority=True),
    ]
    DEFAULT_CSS = (
        dialog_css("SubmitDialog", width=96)
        + """
    SubmitDialog .field { height: auto; margin-bottom: 0; }
    SubmitDialog Select { width: 1fr; }
    SubmitDialog #submit-error { color: $text-error; text-style: bold; height: auto; }
    """
    )

    def __init__(
        self,
        configs: Sequence[Path],
        datasets: Sequence[DatasetEntry],
        backends: Sequence[str],
        *,
        initial: SubmitRequest | None = None,
        error: str = "",
    ) -> None:
        super().__init__()
        self.configs = list(configs)
        self.datasets = list(datasets)
        self.backends = list(backends)
        self.initial = initial
        self.error = error

    def compose(self) -> ComposeResult:
        init = self.initial
        with VerticalScroll(id="submit-dialog") as box:
            box.border_title = "New training job"
            with Horizontal(classes="field"):
                yield Label("Config", classes="field-label")
                yield Select(
                    [(display_path(p), str(p)) for p in self.configs],
                    prompt="no configs in configs/" if not self.configs else "choose a config",
                    value=str(init.config) if init and init.config in self.configs else _first(self.configs),
                    id="submit-config",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Label("Dataset", classes="field-label")
                yield Select(
                    [(display_path(d.path), str(d.path)) for d in self.datasets],
                    prompt="no exports in ft_data/" if not self.datasets else "choose a dataset",
                    value=str(init.dataset)
                    if init and init.dataset in [d.path for d in self.datasets]
                    else _first([d.path for d in self.datasets]),
                    id="submit-dataset",
                    compact=True,
                )
            yield Static("", id="submit-dataset-summary", classes="hint", markup=False)
            with Horizontal(classes="field"):
                yield Label("--examples", classes="field-label")
                yield Input(
                    str(init.examples) if init and init.examples else "",
                    placeholder="all (or N: the first N examples)",
                    id="submit-examples",
                    compact=True,
                )
            with Horizontal(classes="field"):
                yield Label("Backend", classes="field-label")
                yield Select(
                    [(b, b) for b in self.backends],
                    allow_blank=False,
                    value=init.backend if init and init.backend in self.backends else self.backends[0],
                    id="submit-backend",
                    compact=True,
                )
            yield Static(self.error, id="submit-error", markup=False)
            yield Static(
                keys_line(("Tab", "next field"), ("ctrl+s", "check and review the payload"), ("Esc", "cancel")),
                classes="keys",
            )

    def on_mount(self) -> None:
        self._show_summary()
        self.query_one("#submit-config", Select).focus()

    @on(Select.Changed, "#submit-dataset")
    def _dataset_changed(self) -> None:
        self._show_summary()

    def _show_summary(self) -> None:
        value = self.query_one("#submit-dataset", Select).value
        entry = next((d for d in self.datasets if str(d.path) == value), None)
        text = entry.summary() if entry is not None else "Export a dataset from the Filters pane (2) first."
        self.query_one("#submit-dataset-summary", Static).update(text)

    @on(Input.Submitted, "#submit-examples")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_review()

    def action_review(self) -> None:
        config = self.query_one("#submit-config", Select).value
        dataset = self.query_one("#submit-dataset", Select).value
        examples_text = self.query_one("#submit-examples", Input).value.strip()
        backend = self.query_one("#submit-backend", Select).value
        error = ""
        examples: int | None = None
        if not isinstance(config, str):
            error = "Choose a config (write one in the Configs pane, 3)."
        elif not isinstance(dataset, str):
            error = "Choose a dataset (export one from the Filters pane, 2)."
        elif examples_text:
            try:
                examples = int(examples_text)
            except ValueError:
                error = f"--examples takes a whole number, got {examples_text!r}."
            else:
                if examples < 1:
                    error = "--examples must be 1 or more."
        if error or not isinstance(config, str) or not isinstance(dataset, str):
            self.query_one("#submit-error", Static).update(error)
            return
        self.dismiss(SubmitRequest(Path(config), Path(dataset), examples, str(backend)))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _first(paths: Sequence[Path]) -> Any:
    return str(paths[0]) if paths else Select.NULL


class ConfirmSubmitDialog(ModalScreen[bool]):
    """The plan (checks passed, what is uploaded, where) and the exact JSON body; y sends, n goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Back"),
        Binding("y,ctrl+s", "answer(True)", "Submit"),
    ]
    DEFAULT_CSS = (
        dialog_css("ConfirmSubmitDialog", width=110) + "ConfirmSubmitDialog #confirm-payload { height: auto; }"
    )

    def __init__(self, lines: Sequence[str], payload: dict[str, Any], backend_text: str) -> None:
        super().__init__()
        self.lines = list(lines)
        self.payload = payload
        self.backend_text = backend_text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-submit") as box:
            box.border_title = "Submit this job?"
            box.border_subtitle = "y submit · n/Esc back"
            yield Static(f"To {self.backend_text}", classes="warning", markup=False)
            yield Static("\n".join(self.lines), classes="hint", markup=False)
            yield Static("The job body as it will be sent (the file ids are filled in after the upload):", markup=False)
            body = json.dumps(self.payload, indent=2)
            yield Static(
                Syntax(body, "json", theme="ansi_dark", background_color="default", word_wrap=True),
                id="confirm-payload",
            )
            yield Static(keys_line(("y", "upload and submit"), ("n/Esc", "back to the form")), classes="keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_answer(self, send: bool) -> None:
        self.dismiss(send)


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question (cancel a job): y/Enter yes, n/Esc no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("enter,y", "answer(True)", "Yes"),
    ]
    DEFAULT_CSS = dialog_css("ConfirmDialog", width=70)

    def __init__(self, title: str, text: str, yes: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.yes = yes

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-dialog") as box:
            box.border_title = self.title_text
            yield Static(self.text, classes="hint", markup=False)
            yield Static(keys_line(("y/Enter", self.yes), ("n/Esc", "keep it")), classes="keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

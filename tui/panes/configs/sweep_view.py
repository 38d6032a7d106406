"""The sweep generator: axis, values, hold-the-global-batch, and a preview of every file it will write.

Planning reads the saved base file (a sweep of unsaved edits would not be reproducible), so the
view says when the open config has unsaved changes. Nothing is written until ``w`` (or the
button); existing files need a second press.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Select, Static, Switch

from services.common.workspace import display_path
from services.configs.sweeps import AXIS_HELP, Axis, SweepError, SweepPlan, plan_sweep, write_sweep

HOLD_TEXT = {
    False: "off: accumulation steps stay as in the base",
    True: "on: accumulation steps recomputed to keep the base's per-device × accum. × GPUs",
}


class SweepView(Vertical):
    """Form on top, the planned cells below; ``plan`` is None until the inputs make a valid sweep."""

    DEFAULT_CSS = """
    SweepView { height: 1fr; padding: 0 1; }
    SweepView .row { height: auto; }
    SweepView .key { width: 22; }
    SweepView Input, SweepView Select { width: 1fr; }
    SweepView Switch { width: auto; height: 1; border: none; padding: 0; }
    SweepView #sweep-hold-state { width: 1fr; color: $text-muted; padding-left: 1; }
    SweepView #sweep-axis-help { color: $text-muted; padding-left: 22; height: auto; }
    SweepView #sweep-status { height: auto; margin: 1 0 0 0; }
    SweepView #sweep-status.-error { color: $text-error; text-style: bold; }
    SweepView #sweep-table { height: 1fr; }
    SweepView #sweep-write { margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "write", "Write sweep", show=True),
        Binding("escape", "leave_field", "Leave the field", show=False),
    ]

    class Written(Message):
        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.base: Path | None = None
        self.base_dirty = False
        self.plan: SweepPlan | None = None
        self.confirm_overwrite = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label("Axis", classes="key")
            yield Select(
                [(a.value, a.value) for a in Axis],
                value=Axis.LORA_RANK.value,
                id="sweep-axis",
                compact=True,
                allow_blank=False,
            )
        yield Static(AXIS_HELP[Axis.LORA_RANK], id="sweep-axis-help", markup=False)
        with Horizontal(classes="row"):
            yield Label("Values", classes="key")
            yield Input("4,8,16,64", id="sweep-values", compact=True, select_on_focus=False)
        with Horizontal(classes="row"):
            yield Label("Hold global batch", classes="key")
            yield Switch(id="sweep-hold", animate=False)
            yield Static(HOLD_TEXT[False], id="sweep-hold-state", markup=False)
        with Horizontal(classes="row"):
            yield Label("Output folder", classes="key")
            yield Input(
                id="sweep-out", compact=True, placeholder="configs/sweeps/<base>-<axis>/", select_on_focus=False
            )
        yield Static("", id="sweep-status", markup=False)
        yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield Button("Write sweep (w)", id="sweep-write", variant="primary", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # The file name carries the axis value, so it comes second and whole; status (long when a
        # cell is refused) comes last. "batch" is the global batch: per-device × accum. × GPUs.
        table.add_columns("value", "file", "batch", "accum.", "examples", "status")

    def set_base(self, path: Path | None, *, dirty: bool) -> None:
        self.base = path
        self.base_dirty = dirty
        self.replan()

    @on(Select.Changed)
    @on(Input.Changed)
    @on(Switch.Changed)
    def _changed(self, event: Select.Changed | Input.Changed | Switch.Changed) -> None:
        event.stop()
        if isinstance(event, Select.Changed) and event.value is not Select.NULL:
            self.query_one("#sweep-axis-help", Static).update(AXIS_HELP[Axis(str(event.value))])
        if isinstance(event, Switch.Changed):
            self.query_one("#sweep-hold-state", Static).update(HOLD_TEXT[event.value])
        self.replan()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#sweep-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def replan(self) -> None:
        self.confirm_overwrite = False
        table = self.query_one(DataTable)
        table.clear()
        self.plan = None
        if self.base is None:
            self._status("Open a config to sweep from it.")
            return
        axis = str(self.query_one("#sweep-axis", Select).value)
        values = self.query_one("#sweep-values", Input).value
        out_text = self.query_one("#sweep-out", Input).value.strip()
        try:
            plan = plan_sweep(
                self.base,
                axis,
                values,
                out_dir=Path(out_text) if out_text else None,
                hold_global_batch=self.query_one("#sweep-hold", Switch).value,
            )
        except SweepError as exc:
            self._status(str(exc), error=True)
            return
        self.plan = plan
        for cell in plan.cells:
            if cell.problems:
                status = "✗ " + "; ".join(cell.problems)
            elif cell.errors:
                status = "✗ invalid: " + cell.errors[0].splitlines()[0]
            else:
                status = "exists (overwrite)" if cell.exists else "new"
            table.add_row(
                cell.value,
                cell.path.name,
                str(cell.global_batch or "–"),
                str(cell.gradient_accumulation_steps or "–"),
                str(cell.examples or "–"),
                status,
            )
        note = " Base has unsaved edits: the sweep uses the saved file." if self.base_dirty else ""
        batch = f", global batch held at {plan.base_global_batch}" if plan.hold_global_batch else ""
        self._status(
            f"{len(plan.cells)} configs + sweep.json into {display_path(plan.out_dir)}{batch}.{note}",
            error=not plan.writable,
        )

    def action_leave_field(self) -> None:
        """Escape in a sweep field goes to the cells table, still inside the view, so ``w`` works
        there; from anywhere else in the view it goes on to the pane (the file list)."""
        focused = self.screen.focused
        if isinstance(focused, Input | Select | Switch):
            self.query_one(DataTable).focus()
            return
        raise SkipAction()

    @on(Button.Pressed, "#sweep-write")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_write()

    def action_write(self) -> None:
        plan = self.plan
        if plan is None:
            self._status("Nothing to write: fix the sweep first.", error=True)
            return
        if not plan.writable:
            self._status(
                "Some cells cannot be written or would be refused (see the table): nothing written.", error=True
            )
            return
        existing = [cell for cell in plan.cells if cell.exists]
        if existing and not self.confirm_overwrite:
            self.confirm_overwrite = True
            self._status(f"{len(existing)} file(s) exist: press w again to overwrite them.", error=True)
            return
        try:
            written = write_sweep(plan, overwrite=bool(existing))
        except SweepError as exc:
            self._status(f"Nothing written: {exc}", error=True)
            return
        self.post_message(self.Written(written))
        self.replan()
        self._status(f"Wrote {len(written) - 1} configs and sweep.json to {display_path(plan.out_dir)}.")

"""The Runs pane's sweep view: a sweep as a grid of its cells, and a sweep started and watched here.

The known sweeps (``services.sweeps.state.known_sweeps``) are listed above a path field; the chosen
plan is shown as a grid whose rows and columns are its axes' values when it has one or two axes
(otherwise one row per cell). Each cell says its state, the plan's estimate (examples, steps, time
from the throughput the ledger measured) and, once done or found in the runs ledger, its Crafter
score with the 95 % CI and mean unique achievements.

Everything that reads files runs in thread workers (``tui.app.workers``): opening a plan reads its
trace DB for the estimates, a run is ``services.sweeps.runner.run_sweep`` itself. A run reports
through ``on_event`` on its own thread; each event reads the state file the runner has just saved
and hands it over through a one-slot mailbox (:class:`Mailbox`): at most one update is in flight,
the newest wins, so a burst of events never queues redraws. The stop key sets the runner's stop
event: the run ends after the current step, and a later start resumes it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.app import workers
from tui.widgets.dialog import dialog_css, keys_line

if TYPE_CHECKING:
    from services.sweeps.plan import Cell, SweepPlan
    from services.sweeps.runner import RunSummary
    from services.sweeps.state import CellState, SweepStateFile

#: The state words of the grid (the state file's, shortened to fit a cell).
STATE_WORDS = {
    "pending": "pending",
    "exporting": "export",
    "training": "train",
    "evaluating": "eval",
    "done": "done",
    "failed": "failed",
    "stopped": "stopped",
    "skipped": "skipped",
}
STATE_STYLES = {
    "pending": "dim",
    "done": "bold green",
    "skipped": "bold green",
    "failed": "bold red",
    "stopped": "bold yellow",
}
RUNNING_STYLE = "bold $text-accent"
STOPPING = "Stopping after the current step"
#: A grid cell's widest line: two columns and the row labels fit 80 columns.
CELL_WIDTH = 30


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "time ?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def shown(path: Path) -> str:
    """Relative to the current folder when inside it (shorter, and the same on every machine)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


# ---------------------------------------------------------------------------------- the grid's model


@dataclass
class Layout:
    """Where each cell goes: ``slots[row][column]`` is an index into the plan's cells (None: empty)."""

    corner: str
    rows: list[str]
    columns: list[str]
    slots: list[list[int | None]]


def layout(plan: SweepPlan) -> Layout:
    """One axis: a row per value; two axes: rows by the first, columns by the second; none or more
    than two: a row per cell (its values as the label)."""
    axes = list(plan.axes)
    index = {tuple(cell.values.values()): i for i, cell in enumerate(plan.cells)}
    if len(axes) == 1:
        values = plan.axes[axes[0]]
        return Layout(axes[0], values, ["cell"], [[index.get((v,))] for v in values])
    if len(axes) == 2:
        rows, cols = plan.axes[axes[0]], plan.axes[axes[1]]
        slots: list[list[int | None]] = [[index.get((r, c)) for c in cols] for r in rows]
        return Layout(axes[0], rows, [f"{axes[1]}={c}" for c in cols], slots)
    return Layout("cell", [cell.label() for cell in plan.cells], ["cell"], [[i] for i in range(len(plan.cells))])


def cell_text(cell: Cell, state: CellState, *, running: bool = False) -> Text:
    """Three lines: the state, the estimate, the result (or why it failed / what it waits for)."""
    word = STATE_WORDS.get(state.state, state.state)
    busy = state.state in ("exporting", "training", "evaluating")
    text = Text()
    text.append(word, style=RUNNING_STYLE if busy and running else STATE_STYLES.get(state.state, "bold yellow"))
    if state.state == "skipped" and state.ledger_run:
        text.append(" (in ledger)", style="dim")
    elif state.job_id and state.state != "done":
        text.append(f" {state.job_id}", style="dim")
    est = cell.estimate
    if est is not None:
        steps = f"{est.steps:,} st" if est.steps is not None else "st ?"
        text.append(f"\n{est.examples:,} ex · {steps} · {duration(est.seconds)}")
    elif state.examples is not None:
        text.append(f"\n{state.examples:,} ex")
    else:
        text.append("\nno estimate", style="dim")
    text.append("\n")
    if state.crafter_score is not None:
        ci = state.crafter_score_ci
        text.append(f"{state.crafter_score:.1f}%", style="bold")
        if ci:
            text.append(f" [{ci[0]:.1f}, {ci[1]:.1f}]")
        if state.mean_unique is not None:
            text.append(f" u {state.mean_unique:.2f}")
    elif state.error or state.problems:
        text.append(clip(state.error or state.problems[0]), style="red")  # in full in the note line
    return text


def clip(line: str, width: int = CELL_WIDTH) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def cell_detail(cell: Cell, state: CellState) -> str:
    """The note line for the cell under the cursor: what the grid cell has no room for."""
    parts = [cell.label(), STATE_WORDS.get(state.state, state.state)]
    if state.ledger_run:
        parts.append(f"in the runs ledger: {state.ledger_run}")
    elif state.model:
        parts.append(f"model {state.model}")
    elif state.job_id:
        parts.append(f"job {state.job_id}")
    if state.leakage:
        parts.append(f"seed leakage: {state.leakage}")
    if state.error or state.problems:
        parts.append(state.error or "; ".join(state.problems))
    return " · ".join(parts)


def summary_line(plan: SweepPlan, cells: list[CellState]) -> str:
    counts: dict[str, int] = {}
    for c in cells:
        counts[STATE_WORDS.get(c.state, c.state)] = counts.get(STATE_WORDS.get(c.state, c.state), 0) + 1
    parts = [f"{n} {word}" for word, n in counts.items()]
    return f"Sweep {plan.name} ({shown(plan.path)}): {len(cells)} cells · " + ", ".join(parts)


# ---------------------------------------------------------------------------------- worker jobs


@dataclass
class OpenedSweep:
    """A plan read for showing: its cells with their states, and the estimates when the DB allowed."""

    path: Path
    plan: SweepPlan
    cells: list[CellState]
    estimates: str | None  # why there are none (the trace DB cannot be read), else None


def load_for_run(path: Path, *, estimate: bool = True) -> SweepPlan:
    """The plan as a run from here sees it: checked for its ``[sweep] backend``, else the local one
    (where a run from the app goes when the plan names none)."""
    from services.sweeps.plan import load_plan

    head = load_plan(path, estimate=False)
    backend = head.backend or "local"
    if not estimate and head.backend:
        return head
    return load_plan(path, estimate=estimate, backend=backend)


def open_sweep(path: Path) -> OpenedSweep:
    from services.sweeps.plan import PlanError
    from services.sweeps.state import cell_states, load_state

    note = None
    try:
        plan = load_for_run(path)
    except PlanError as exc:
        plan = load_for_run(path, estimate=False)  # the plan itself is fine (or this raises): no estimates
        note = str(exc)
    return OpenedSweep(path, plan, cell_states(plan, load_state(plan.state_path, plan.path)), note)


def known() -> list[Path]:
    from services.sweeps.state import known_sweeps

    return known_sweeps()


def _sweep_errors(exc: BaseException) -> tuple[str, str] | None:
    from services.jobs.errors import BackendError
    from services.sweeps.plan import PlanError
    from services.sweeps.state import StateError

    if isinstance(exc, PlanError | StateError):
        return str(exc), "Nothing was run."
    if isinstance(exc, BackendError):
        return exc.message, exc.hint or ""
    return None


class Mailbox:
    """One slot between the run's thread and the UI: ``put`` keeps the newest update and posts a
    wake-up only when none is pending; ``take`` empties the slot. A burst of events costs one redraw."""

    def __init__(self, wake: Any) -> None:
        self._lock = threading.Lock()
        self._wake = wake
        self._item: tuple[SweepStateFile, str] | None = None

    def put(self, item: tuple[SweepStateFile, str]) -> None:
        with self._lock:
            pending = self._item is not None
            self._item = item
        if not pending:
            self._wake()

    def take(self) -> tuple[SweepStateFile, str] | None:
        with self._lock:
            item, self._item = self._item, None
        return item


# ---------------------------------------------------------------------------------- the confirmation


class ConfirmSweep(ModalScreen[bool]):
    """The cells with their estimates, the totals and the backend: y/Enter starts, n/Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("enter,y", "answer(True)", "Start"),
    ]
    DEFAULT_CSS = dialog_css("ConfirmSweep", width=100)

    def __init__(self, plan: SweepPlan, backend: str, resume: int) -> None:
        super().__init__()
        self.plan = plan
        self.backend = backend
        self.resume = resume

    def compose(self) -> ComposeResult:
        plan = self.plan
        table = Table(box=None, pad_edge=False, expand=False, header_style="bold")
        for name in ("cell", "examples", "steps", "est. time"):
            table.add_column(name, justify="left" if name == "cell" else "right", overflow="ellipsis", no_wrap=True)
        for cell in plan.cells:
            est = cell.estimate
            table.add_row(
                cell.label(),
                f"{est.examples:,}" if est else "-",
                f"{est.steps:,}" if est and est.steps is not None else "-",
                duration(est.seconds) if est else "-",
            )
        ests = [c.estimate for c in plan.cells if c.estimate]
        seconds = [e.seconds for e in ests if e.seconds is not None]
        source = ests[0].throughput if ests else "unknown (no estimate)"
        total = f"{duration(sum(seconds))} ({source})" if ests and len(seconds) == len(ests) else source
        seeds = plan.eval.seeds
        with VerticalScroll(id="confirm-sweep") as box:
            box.border_title = f"Run sweep {plan.name}? ({len(plan.cells)} cells)"
            box.border_subtitle = "y/Enter start · n/Esc cancel"
            yield Static(table, id="confirm-sweep-cells")
            yield Static(
                f"Training time, all cells: {total}. Eval: {plan.eval.policy} on {len(seeds)} seeds "
                f"{seeds[0]}-{seeds[-1]} × {plan.eval.max_turns} turns per cell."
                + (f" {self.resume} cell(s) done or in the ledger are skipped." if self.resume else ""),
                classes="hint para",
                markup=False,
            )
            yield Static(f"On the {self.backend}.", classes="hint", markup=False)
            yield Static(keys_line(("y/Enter", "start"), ("n/Esc", "cancel")), classes="keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class QuitWhileRunning(ModalScreen[bool]):
    """q while a sweep runs: y/Enter quits (the run stops after its current step), n/Escape stays."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "Stay"),
        Binding("enter,y", "answer(True)", "Quit"),
    ]
    DEFAULT_CSS = dialog_css("QuitWhileRunning", width=76)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.sweep = name

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="quit-sweep") as box:
            box.border_title = f"Sweep {self.sweep} is running"
            yield Static(
                "Quitting stops it after its current step: the app closes now and the process ends when that "
                "step does (a job being watched goes on on the backend; an eval runs to its end). Finished "
                "cells are kept; n in the Runs pane's sweeps, or `sft-studio sweep run`, resumes the rest.",
                classes="hint",
                markup=False,
            )
            yield Static(keys_line(("y/Enter", "quit"), ("n/Esc", "stay")), classes="keys")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


# ---------------------------------------------------------------------------------- the view


@dataclass
class StartPlan:
    plan: SweepPlan
    backend: Any  # services.jobs.backends.BackendChoice
    resume: int


class SweepGrid(Vertical):
    """Known sweeps and a path field on top; the chosen plan's grid below; a note line at the bottom."""

    DEFAULT_CSS = """
    SweepGrid { height: 1fr; }
    SweepGrid #sweep-path { margin: 0 1; }
    SweepGrid #sweep-path:focus { background-tint: $accent 20%; }
    SweepGrid #sweep-list { height: auto; max-height: 4; margin: 0 1; border: none; padding: 0; }
    SweepGrid #sweep-list:focus { background-tint: $accent 10%; }
    SweepGrid #sweep-title { height: auto; padding: 0 1; color: $text-muted; }
    SweepGrid #sweep-grid { height: 1fr; border: round $primary 60%; border-title-color: $text-primary; }
    SweepGrid #sweep-grid:focus { border: round $accent; }
    SweepGrid #sweep-note { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    SweepGrid #sweep-note.-error { color: $text-error; text-style: bold; }
    """

    class Opened(workers.Done[OpenedSweep, Path]):
        """A plan was read (with its cells' states)."""

    class OpenFailed(workers.Failed[Path]):
        """A plan could not be read."""

    class Listed(workers.Done["list[Path]", None]):
        """The known sweeps."""

    class ListFailed(workers.Failed[None]):
        """The known sweeps could not be listed."""

    class Prepared(workers.Done[StartPlan, Path]):
        """A plan read for starting: estimates and the backend, for the confirmation."""

    class PrepareFailed(workers.Failed[Path]):
        """A plan cannot be started (refused, no backend)."""

    class Ran(workers.Done["RunSummary", Path]):
        """A run ended (every cell tried, or stopped)."""

    class RunFailed(workers.Failed[Path]):
        """A run could not start or broke off."""

    class Progress(Message):
        """The run reported: the newest state waits in the mailbox."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sweeps: list[Path] = []
        self.opened: OpenedSweep | None = None
        self.cells: list[CellState] = []
        self.running: Path | None = None  # the plan a run of ours is working on
        self.summary: RunSummary | None = None  # the last run's
        self.stop_flag = threading.Event()
        self.opens = 0  # finished opens (tests wait on it)
        self.updates = 0  # progress reports drawn
        self._quiet = False
        self._quit_confirmed = False
        self._mailbox = Mailbox(lambda: self.post_message(self.Progress()))
        self._list = workers.TaggedWorker[Any, None](self, "sweep-list", self.Listed, self.ListFailed)
        self._open = workers.TaggedWorker[Any, Path](
            self, "sweep-open", self.Opened, self.OpenFailed, known=_sweep_errors
        )
        self._prepare = workers.TaggedWorker[Any, Path](
            self, "sweep-prepare", self.Prepared, self.PrepareFailed, known=_sweep_errors
        )
        self._run = workers.TaggedWorker[Any, Path](self, "sweep-run", self.Ran, self.RunFailed, known=_sweep_errors)

    def compose(self) -> ComposeResult:
        hint = "plan file (Enter opens it), or pick a known sweep below"
        yield Input(placeholder=hint, id="sweep-path", compact=True)
        yield OptionList(id="sweep-list", compact=True)
        yield Static(id="sweep-title", markup=False)
        yield DataTable(id="sweep-grid", cursor_type="cell", zebra_stripes=True)
        yield Static(id="sweep-note", markup=False)

    def on_mount(self) -> None:
        self.query_one("#sweep-grid").border_title = "Sweep (n start · x stop · r re-read · Esc back)"
        self.query_one("#sweep-list").display = False
        self.query_one("#sweep-title", Static).update("No sweep open: pick one, or type the path of a plan.")

    def on_unmount(self) -> None:
        self.stop_flag.set()  # the app is closing: the run ends after its current step

    def may_close(self, proceed: Any) -> bool:
        """The app is quitting: True when no sweep runs (or the user said quit); else ask first."""
        if self.running is None or self._quit_confirmed:
            return True
        if isinstance(self.app.screen, QuitWhileRunning):
            return False  # already asking

        def answered(yes: bool | None) -> None:
            if yes:
                self._quit_confirmed = True
                self.stop_flag.set()
                proceed()

        self.app.push_screen(QuitWhileRunning(self.opened.plan.name if self.opened else "?"), answered)
        return False

    # ------------------------------------------------------------------------------------ actions

    def show(self) -> None:
        """Shown: list the known sweeps (the newest opens when none is open yet) and take the focus."""
        self._list.start(lambda run: known(), None, doing="listing the sweeps")
        grid = self.query_one("#sweep-grid", DataTable)
        (grid if self.opened is not None else self.query_one("#sweep-path", Input)).focus()

    def reload(self) -> None:
        self.show()
        if self.opened is not None:
            self.open(self.opened.path)

    def open(self, path: Path, *, quiet: bool = False) -> None:
        """Read ``path`` (a worker); ``quiet`` keeps the note (a run's summary) as it is."""
        self._quiet = quiet
        if not quiet:
            self._note(f"Reading {shown(path)} (its trace DB for the estimates)…")
        self._open.start(lambda run: open_sweep(path), path, doing=f"reading the plan {path}")

    def can_start(self) -> bool:
        return self.opened is not None and self.running is None

    def can_stop(self) -> bool:
        return self.running is not None and not self.stop_flag.is_set()

    def start(self) -> None:
        """Read the plan again with its estimates and the backend's check, then ask (a modal)."""
        if self.opened is None or self.running is not None:
            return
        path = self.opened.path
        self._note(f"Checking {shown(path)} before it runs…")
        self._prepare.start(lambda run: prepare(path), path, doing=f"checking the plan {path}")

    def stop(self) -> None:
        if self.running is None:
            return
        self.stop_flag.set()
        self._note(f"{STOPPING} (a job being watched goes on on the backend)…")
        self.app.refresh_bindings()

    # ------------------------------------------------------------------------------------ events

    @on(Input.Submitted, "#sweep-path")
    def _path_entered(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text:
            path = Path(text).expanduser()
            self.open(path if path.is_absolute() else Path.cwd() / path)

    @on(OptionList.OptionSelected, "#sweep-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.open(self.sweeps[event.option_index])

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        if not self._list.is_current(message):
            return
        self.sweeps = message.result
        options = self.query_one("#sweep-list", OptionList)
        options.clear_options()
        options.add_options([Option(shown(p)) for p in self.sweeps])
        options.display = bool(self.sweeps)
        if self.opened is None and self.sweeps and self.running is None:
            self.open(self.sweeps[0])
        elif not self.sweeps and self.opened is None:
            self._note("No sweep has run in this workspace yet: type the path of a plan (sweep TOML) and Enter.")

    @on(ListFailed)
    def _list_failed(self, message: ListFailed) -> None:
        if self._list.is_current(message):
            self._note(message.text, error=True)

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        if not self._open.is_current(message):
            return
        self.opens += 1
        same = self.opened is not None and self.opened.path == message.result.path
        self.opened = message.result
        self.cells = message.result.cells
        self.render_grid(rebuild=not same)
        note = f"Estimates unavailable: {message.result.estimates}" if message.result.estimates else ""
        if self.running is None and not (self._quiet and not note):
            self._note(note or "n starts it (skips cells done or already in the runs ledger) · Esc back")
        focused = self.screen.focused
        if focused is None or focused.id in ("sweep-path", "sweep-list"):
            self.query_one("#sweep-grid", DataTable).focus()
        self.app.refresh_bindings()

    @on(OpenFailed)
    def _open_failed(self, message: OpenFailed) -> None:
        if self._open.is_current(message):
            self.opens += 1
            self._note(message.text, error=True)

    @on(Prepared)
    def _prepared(self, message: Prepared) -> None:
        if not self._prepare.is_current(message):
            return
        ready = message.result

        def answered(yes: bool | None) -> None:
            if yes:
                self._begin(ready)
            else:
                self._note("Not started.")

        self.app.push_screen(ConfirmSweep(ready.plan, ready.backend.label(), ready.resume), answered)

    @on(PrepareFailed)
    def _prepare_failed(self, message: PrepareFailed) -> None:
        if self._prepare.is_current(message):
            self._note(message.text, error=True)

    def _begin(self, ready: StartPlan) -> None:
        from services.sweeps.runner import run_sweep
        from services.sweeps.state import load_state

        plan, choice = ready.plan, ready.backend
        self.stop_flag = threading.Event()
        stop = self.stop_flag
        mailbox = self._mailbox
        self.running = plan.path
        self.summary = None
        if self.opened is not None:
            self.opened.plan = plan  # the freshly estimated plan: its cells carry the estimates shown

        def on_event(name: str, step: str, text: str) -> None:
            try:
                state = load_state(plan.state_path, plan.path)  # what the runner has just saved
            except Exception:  # a state file being replaced: the next event shows it
                return
            mailbox.put((state, f"[{name}] {text}"))

        self._note(f"Running sweep {plan.name} on the {choice.label()}…")
        self._run.start(
            lambda run: run_sweep(plan, choice, on_event=on_event, stop=stop), plan.path, doing="running the sweep"
        )
        self.app.refresh_bindings()

    @on(Progress)
    def _progress(self) -> None:
        from services.sweeps.state import cell_states

        item = self._mailbox.take()
        if item is None or self.opened is None or self.opened.plan.path != self.running:
            return
        state, line = item
        self.updates += 1
        self.cells = cell_states(self.opened.plan, state)
        self.render_grid()
        self._note(f"{STOPPING} · {line}" if self.stop_flag.is_set() else line)

    @on(Ran)
    def _ran(self, message: Ran) -> None:
        if not self._run.is_current(message):
            return
        self.running = None
        s = self.summary = message.result
        text = f"Sweep finished: {len(s.done)} done, {len(s.skipped)} skipped, {len(s.failed)} failed"
        if s.stopped:
            text = f"Sweep stopped ({s.stopped}): {len(s.done)} done, {len(s.failed)} failed"
        self._note(text + " · n starts it again", error=bool(s.failed))
        self._after_run(message.context)

    @on(RunFailed)
    def _run_failed(self, message: RunFailed) -> None:
        if not self._run.is_current(message):
            return
        self.running = None
        self._note(message.text, error=True)
        self._after_run(message.context)

    def _after_run(self, path: Path) -> None:
        self._mailbox.take()
        self.app.refresh_bindings()
        self._list.start(lambda run: known(), None, doing="listing the sweeps")
        if self.opened is not None and self.opened.path == path:
            self.open(path, quiet=True)  # the final states, from the file

    @on(DataTable.CellHighlighted, "#sweep-grid")
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        if self.opened is None or self.running is not None:
            return  # a run's progress owns the note
        shape = layout(self.opened.plan)
        row, column = event.coordinate.row, event.coordinate.column - 1
        if 0 <= row < len(shape.slots) and 0 <= column < len(shape.slots[row]):
            i = shape.slots[row][column]
            if i is not None and i < len(self.cells):
                self._note(cell_detail(self.opened.plan.cells[i], self.cells[i]))

    # ------------------------------------------------------------------------------------ drawing

    def render_grid(self, *, rebuild: bool = False) -> None:
        """Rebuilt when another plan opens; updated cell by cell as a run reports (a grid is small)."""
        if self.opened is None:
            return
        plan = self.opened.plan
        grid = self.query_one("#sweep-grid", DataTable)
        shape = layout(plan)
        running = self.running == plan.path
        texts = [cell_text(cell, state, running=running) for cell, state in zip(plan.cells, self.cells, strict=True)]
        if rebuild or len(grid.columns) != len(shape.columns) + 1 or grid.row_count != len(shape.rows):
            grid.clear(columns=True)
            grid.add_column(Text(shape.corner, style="bold"), key="axis")
            for n, label in enumerate(shape.columns):
                grid.add_column(Text(label, style="bold"), key=f"c{n}")
            for r, label in enumerate(shape.rows):
                row = [texts[i] if i is not None else Text("") for i in shape.slots[r]]
                grid.add_row(Text(label, style="bold"), *row, key=f"r{r}", height=3)
            grid.move_cursor(row=0, column=1, animate=False)
        else:
            for r in range(len(shape.rows)):
                for n, i in enumerate(shape.slots[r]):
                    if i is not None:
                        grid.update_cell(f"r{r}", f"c{n}", texts[i], update_width=True)
        self.query_one("#sweep-title", Static).update(summary_line(plan, self.cells))

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#sweep-note", Static)
        note.update(text)
        note.set_class(error, "-error")


def prepare(path: Path) -> StartPlan:
    """The plan with its estimates, checked for the backend it will run on (the plan's, else the local
    one), and how many cells a run would skip; PlanError when a cell is impossible."""
    from services.jobs.backends import resolve_backend
    from services.sweeps.plan import PlanError, refusal
    from services.sweeps.state import FINISHED, load_state

    plan = load_for_run(path)
    backend = plan.backend or "local"
    problem = refusal(plan)
    if problem:
        raise PlanError(problem)
    choice = resolve_backend(backend, cwd=Path.cwd())
    if plan.eval.policy == "model" and choice.kind != "local":
        raise PlanError(
            '[eval] policy "model" evaluates the fine-tuned model on the local backend: set backend = "local" '
            'in [sweep], or choose policy = "teacher" or "random"'
        )
    state = load_state(plan.state_path, plan.path)
    resume = sum(1 for c in plan.cells if (rec := state.cells.get(c.settings_hash)) and rec.state in FINISHED)
    return StartPlan(plan, choice, resume)

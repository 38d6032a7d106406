"""The Jobs pane: training jobs on the chosen backend, a form to submit one, and a job's live detail.

Top: which backend is in use (its URL and where its key came from; never the key) and the poll
state. Then the table of jobs: the backend's list merged with the jobs recorded locally (submitted
from sft-studio), so after a restart they are listed again and their polling resumes. Below it (at
80x24: instead of it, Enter / Escape switch) the detail of the job under the cursor.

Polling is Dolphie's pattern: a chain of one-shot timers, each tick one thread worker, the next
tick scheduled only when the last one ended, and the chain paused while the pane is hidden or a
modal is open (``activate`` and a closing dialog resume it). Every blocking call (HTTP, SQLite,
starting the local backend, submitting) runs in a worker; failures are sentences, never tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Static

from services.common.secrets import mask_url
from services.common.workspace import configs_dir, ft_data_dir
from services.configs.files import list_configs
from services.datasets.listing import DatasetEntry, list_datasets
from services.jobs.api_models import JobInfo, is_terminal
from services.jobs.backends import BackendChoice
from services.jobs.errors import BackendError
from services.jobs.submit import SubmissionPlan, SubmittedJob
from tui.app.workers import Done, Failed, TaggedWorker
from tui.panes.jobs.detail import JobDetail
from tui.panes.jobs.dialogs import ConfirmDialog, ConfirmSubmitDialog, SubmitDialog, SubmitRequest
from tui.panes.jobs.link import (
    Connection,
    JobRow,
    JobsLink,
    JobView,
    LocalNotRunning,
    OpenFn,
    PollResult,
    ResolveFn,
    describe,
)
from tui.panes.jobs.spec import SPEC
from tui.panes.jobs.timefmt import duration, elapsed, short_time
from tui.widgets.dialog import keys_line
from tui.widgets.tables import Row, cursor_key, right, sync_rows

#: The backends the pane offers (``b`` cycles, the form's choice); a test adds a loopback URL.
BACKENDS = ("local", "synth")
#: Terminals narrower or shorter than this show the table or the detail, not both.
NARROW_BELOW = (100, 30)
LOOPBACK_POLL_S = 1.0
REMOTE_POLL_S = 5.0
MAX_BACKOFF_S = 60.0
#: How long the cursor rests before the footer's keys follow the job under it.
BINDINGS_SETTLE_S = 0.15
#: Progress and elapsed time come early: at 80 columns they are what fits beside the job and status.
COLUMNS = ("Job", "Status", "Progress", "Elapsed", "Base model", "Kind", "Dataset", "Created", "Final model")
_STATUS_STYLE = {
    "succeeded": "bold green",
    "completed": "bold green",
    "failed": "bold red",
    "error": "bold red",
    "errored": "bold red",
    "cancelled": "yellow",
    "canceled": "yellow",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Offline:
    """The local backend is not running: our records of it, shown until r (or a submit) starts it."""

    choice: BackendChoice
    rows: list[JobRow]


class ConnectDone(Done["tuple[str, Connection | Offline]", "str | None"]):
    pass


FormChoices = tuple[list[Path], list[DatasetEntry], list[str]]


class FormDone(Done[FormChoices, "tuple[SubmitRequest | None, str]"]):
    pass


class FormFailed(Failed["tuple[SubmitRequest | None, str]"]):
    pass


class ConnectFailed(Failed["str | None"]):
    pass


class PollDone(Done[PollResult, Connection]):
    pass


class PollFailed(Failed[Connection]):
    pass


class PlanDone(Done[tuple[SubmissionPlan, Connection], SubmitRequest]):
    pass


class PlanFailed(Failed[SubmitRequest]):
    pass


class SubmitDone(Done[tuple[SubmittedJob, Connection], SubmitRequest]):
    pass


class SubmitFailed(Failed[SubmitRequest]):
    pass


class SubmitStep(Message):
    """A step of a submission in progress (upload, ready, create, start, warn), for the user."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__()
        self.name = name
        self.text = text


class CancelDone(Done[JobInfo, str]):
    pass


class CancelFailed(Failed[str]):
    pass


def plan_lines(plan: SubmissionPlan) -> list[str]:
    """The plan's dry-run lines without its backend line (the dialog names the backend without the
    masked key) and without the payload (the dialog shows it highlighted)."""
    lines = [line for line in plan.describe() if not line.startswith("Backend: ")]
    cut = next((i for i, line in enumerate(lines) if line.startswith("Payload")), len(lines))
    return [("Steps: " + line[len("Would: ") :]) if line.startswith("Would: ") else line for line in lines[:cut]]


def backend_text(name: str, choice: BackendChoice) -> str:
    """``local http://127.0.0.1:8765/api (key: local backend key (…))``: never the key itself."""
    return f"{name} {mask_url(choice.base_url)} (key: {choice.key_source or 'none'})"


def _known(exc: BaseException) -> tuple[str, str] | None:
    return describe(exc) if isinstance(exc, BackendError) else None


@dataclass(frozen=True)
class BackendState:
    """What the header says about the backend."""

    name: str
    choice: BackendChoice | None = None
    phase: str = "idle"  # connecting | ok | error | auth
    note: str = ""


class JobsPane(Vertical):
    """Header, the jobs table and the shown job's detail; n submits, c cancels, b switches backend."""

    BINDINGS: ClassVar[list[BindingType]] = list(SPEC.focus_keys)

    class EvaluateModel(Message):
        """Posted to the app: evaluate ``model_id`` (the Eval pane takes it when it is built)."""

        def __init__(self, model_id: str, job_id: str) -> None:
            super().__init__()
            self.model_id = model_id
            self.job_id = job_id

    DEFAULT_CSS = """
    JobsPane { height: 1fr; }
    JobsPane #jobs-header { height: auto; padding: 0 1; background: $boost; }
    JobsPane #jobs-table { height: 9; border: round $primary 60%; border-title-color: $text-primary; }
    JobsPane #jobs-table:focus { border: round $accent; }
    JobsPane #jobs-empty { display: none; }
    JobsPane.-empty #jobs-empty { display: block; }
    JobsPane.-empty #jobs-table { display: none; }
    JobsPane.-empty #jobs-detail { display: none; }
    JobsPane #jobs-detail:focus-within { background: $boost 30%; }
    JobsPane.-narrow #jobs-table { height: 1fr; }
    JobsPane.-narrow #jobs-detail { display: none; }
    JobsPane.-narrow.-detail #jobs-table { display: none; }
    JobsPane.-narrow.-detail #jobs-detail { display: block; }
    JobsPane.-narrow #jd-body { layout: vertical; }
    JobsPane.-narrow #jd-chart { height: 1fr; width: 1fr; }
    JobsPane.-narrow #jd-events { height: 7; width: 1fr; }
    """

    def __init__(
        self,
        *,
        backend: str | None = None,
        backends: Sequence[str] = BACKENDS,
        store_path: Path | None = None,
        resolve: ResolveFn | None = None,
        open_fn: OpenFn | None = None,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = None,
        poll_interval: float | None = None,
        clock: Callable[[], datetime] = utc_now,
        config_dir: Path | None = None,
        data_dir: Path | None = None,
        autostart: bool = True,
        id: str | None = None,
    ) -> None:
        """``backend`` None: the backend of the newest recorded job, else the first of ``backends``.
        ``resolve`` / ``open_fn`` replace the services' (tests inject a fake client); ``poll_interval``
        None polls every second on loopback, every 5 s otherwise; ``clock`` gives "now" for elapsed
        times (snapshots pin it); ``autostart`` False waits for ``activate`` (or r) to connect."""
        super().__init__(id=id)
        self.link = JobsLink(
            store_path=store_path, resolve=resolve, open_fn=open_fn, environ=environ, env_file=env_file
        )
        self.backends = list(backends)
        self.backend_name = backend
        self.poll_interval = poll_interval
        self.clock = clock
        self.config_dir = config_dir
        self.data_dir = data_dir
        self.autostart = autostart
        self.conn: Connection | None = None
        self.state = BackendState(backend or "")
        self.rows: list[JobRow] = []
        self.views: dict[str, JobView] = {}
        self.selected: str | None = None
        self.polls = 0
        self.paused = True
        self._timer: Timer | None = None
        self._busy = False
        self._failures = 0
        self._want_selected: str | None = None
        self._allowed: tuple[bool | None, ...] = ()
        self._header: Content | None = None
        self._bindings_timer: Timer | None = None
        self._connect = TaggedWorker[tuple[str, Connection | Offline], str | None](
            self, "jobs-connect", ConnectDone, ConnectFailed, known=_known
        )
        self._start_local = False  # r / submit: start the local backend when it is not running
        self._poll = TaggedWorker[PollResult, Connection](self, "jobs-poll", PollDone, PollFailed, known=_known)
        self._plan = TaggedWorker[tuple[SubmissionPlan, Connection], SubmitRequest](
            self, "jobs-plan", PlanDone, PlanFailed, known=_known
        )
        self._submit = TaggedWorker[tuple[SubmittedJob, Connection], SubmitRequest](
            self, "jobs-submit", SubmitDone, SubmitFailed, known=_known
        )
        self._form = TaggedWorker[FormChoices, tuple[SubmitRequest | None, str]](
            self, "jobs-form", FormDone, FormFailed
        )
        self._cancel = TaggedWorker[JobInfo, str](self, "jobs-cancel", CancelDone, CancelFailed, known=_known)

    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-header", markup=False)
        table: DataTable[Text] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Jobs"
        yield table
        empty = Static("", id="jobs-empty", markup=False, classes="message-panel")
        empty.border_title = "Jobs"
        yield empty
        yield JobDetail(id="jobs-detail")

    def on_mount(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.set_class(True, "-empty")
        self._show_header()
        self._show_empty()

    def on_resize(self) -> None:
        width, height = self.app.size
        narrow = width < NARROW_BELOW[0] or height < NARROW_BELOW[1]
        if narrow != self.has_class("-narrow"):
            self.set_class(narrow, "-narrow")
            self._show_header()
        table = self.query_one("#jobs-table", DataTable)
        table.border_subtitle = "Enter: the job's detail" if narrow else ""

    def on_unmount(self) -> None:
        self._stop_timer()
        if self.conn is not None:
            self.conn.close()
        self.link.close()

    # -------------------------------------------------------------------------------- showing

    @property
    def shown(self) -> bool:
        """The pane is on screen and no modal covers it (the only time it polls)."""
        active = getattr(self.app, "active_pane", "jobs")
        return active == "jobs" and len(self.app.screen_stack) == 1 and self.is_attached

    def activate(self) -> None:
        """Shown: focus the table, and start (or resume) polling."""
        table = self.query_one("#jobs-table", DataTable)
        focused = self.screen.focused
        if focused is None or self not in focused.ancestors:
            table.focus()
        if self.autostart or self.conn is not None:
            self._resume()

    def _resume(self) -> None:
        if self.paused and not self._busy and self.state.phase != "offline":
            self._tick()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _schedule(self, delay: float) -> None:
        self._stop_timer()
        self._timer = self.set_timer(delay, self._tick)

    def _interval(self) -> float:
        if self.poll_interval is not None:
            return self.poll_interval
        client = self.conn.client if self.conn is not None else None
        return LOOPBACK_POLL_S if getattr(client, "is_loopback", False) else REMOTE_POLL_S

    def _tick(self) -> None:
        """One step of the chain: connect first, then poll; nothing while hidden (the chain pauses)."""
        self._timer = None
        if not self.shown:
            self.paused = True
            return
        self.paused = False
        self._busy = True
        if self.conn is None:
            name = self.backend_name  # None: the newest recorded job's (read in the worker)
            start = self._start_local
            self._start_local = False
            note = "starting the local backend…" if name == "local" and start else "connecting…"
            self.state = BackendState(name or "", phase="connecting", note=note)
            self._show_header()
            self._connect.start(
                lambda run: self._open_backend(name, start), name, doing=f"connecting to {name or 'the backend'}"
            )
            return
        conn = self.conn
        watched = [self.selected] if self.selected else []
        self._poll.start(lambda run: self.link.poll(conn, watched), conn, doing="polling the jobs")

    def _open_backend(self, name: str | None, start: bool) -> tuple[str, Connection | Offline]:
        """(worker) The backend's name (None: the newest recorded job's) and its connection, or our
        records of a local backend that is not running."""
        name = name or self._initial_backend()
        try:
            return name, self.link.connect(name, start=start)
        except LocalNotRunning as exc:
            return name, Offline(exc.choice, self.link.offline_rows(exc.choice.store_label))

    def _initial_backend(self) -> str:
        """(worker) The backend of the newest recorded job when it is one of ours, else the first."""
        try:
            last = self.link.last_backend()
        except Exception:  # an unreadable store must not stop the pane; the poll says why
            last = None
        if last in self.backends:
            return last
        return self.backends[0]

    # ------------------------------------------------------------------------------- answers

    @on(ConnectDone)
    def _connected(self, message: ConnectDone) -> None:
        self._busy = False
        name, result = message.result
        if not self._connect.is_current(message):
            if isinstance(result, Connection):
                result.close()
            return
        self.backend_name = name
        if isinstance(result, Offline):
            self.rows = result.rows
            self.state = BackendState(
                name,
                result.choice,
                phase="offline",
                note="the local backend is not running: r starts it (so does submitting a job)",
            )
            self.paused = True  # nothing to poll until r
            self._redraw()
            return
        self.conn = result
        self.state = BackendState(name, result.choice, phase="connecting", note="listing jobs…")
        self._failures = 0
        self._show_header()
        self._tick()

    @on(ConnectFailed)
    def _connect_failed(self, message: ConnectFailed) -> None:
        self._busy = False
        if not self._connect.is_current(message):
            return
        self.state = BackendState(message.context or "", phase="error", note=message.text)
        self._show_header()
        self._show_empty()
        self._backoff()

    @on(PollDone)
    def _polled(self, message: PollDone) -> None:
        self._busy = False
        if message.context is not self.conn:
            self._resume_soon()
            return
        result = message.result
        self.polls += 1
        if result.auth_failed:
            self.state = BackendState(self.state.name, self.conn.choice, phase="auth", note=result.list_error)
            self._show_header()
            self._show_empty()
            return  # 401/403: no more polling until r (a wrong key does not fix itself)
        self.views.update(result.views)
        self.rows = result.rows if result.rows or not result.list_error else self.rows
        if result.list_error:
            self._failures += 1
            self.state = BackendState(self.state.name, self.conn.choice, phase="error", note=result.list_error)
        else:
            self._failures = 0
            self.state = BackendState(self.state.name, self.conn.choice, phase="ok")
        self._redraw()
        if result.list_error:
            self._backoff()
        else:
            self._schedule(self._interval())

    @on(PollFailed)
    def _poll_failed(self, message: PollFailed) -> None:
        self._busy = False
        if message.context is not self.conn:
            self._resume_soon()
            return
        self._failures += 1
        self.state = BackendState(self.state.name, self.conn.choice, phase="error", note=message.text)
        self._show_header()
        self._backoff()

    def _backoff(self) -> None:
        self._failures = max(self._failures, 1)
        self._schedule(min(MAX_BACKOFF_S, self._interval() * 2 ** min(self._failures, 6)))

    def _resume_soon(self) -> None:
        self._schedule(0.05)

    # ------------------------------------------------------------------------------- drawing

    def _show_header(self) -> None:
        """Backend, URL and key source (never the key), then the poll state; at 80 columns one line."""
        st = self.state
        choice = st.choice
        narrow = self.has_class("-narrow")
        parts: list[str | tuple[str, str]] = [] if narrow else [("Backend ", "$foreground-muted")]
        parts.append((st.name or "—", "bold"))
        if choice is not None and choice.base_url:
            url = mask_url(choice.base_url)
            parts += [" ", url.split("://", 1)[-1] if narrow else url]
        if choice is not None:
            parts += [("  key: ", "$foreground-muted"), choice.key_source or "none"]
        phase_style = {"ok": "$text-success", "error": "$text-warning", "auth": "bold $text-error"}.get(
            st.phase, "$foreground-muted"
        )
        if st.phase == "ok":
            ours = sum(1 for r in self.rows if r.ours)
            jobs = f"{len(self.rows)} job{'s' if len(self.rows) != 1 else ''}"
            if not narrow:
                parts += [("  · ", "$foreground-muted"), (f"polling {self._interval():g} s", phase_style)]
                jobs += f", {ours} from sft-studio"
            parts += [("  · ", "$foreground-muted"), jobs]
        elif st.note:
            parts += [("  · ", "$foreground-muted"), (st.note, phase_style)]
        header = Content.assemble(*parts)
        if header != self._header:  # an unchanged header costs no layout pass
            self._header = header
            self.query_one("#jobs-header", Static).update(header)

    def _show_empty(self) -> None:
        empty = not self.rows
        self.set_class(empty, "-empty")
        if not empty:
            return
        st = self.state
        keys = keys_line(("n", "submit a job"), ("b", "switch backend"), ("r", "poll now"))
        if st.phase == "auth":
            lead = Content.styled(f"The backend refused the key: {st.note}", "bold $text-error")
        elif st.phase == "error":
            lead = Content.styled(f"Cannot list the jobs: {st.note}", "$text-warning")
        elif st.phase == "offline":
            lead = Content.styled("The local backend is not running: r starts it.", "$foreground-muted")
        elif st.phase == "connecting":
            lead = Content.styled(st.note or "Connecting…", "$foreground-muted")
        else:
            lead = Content(f"No jobs on {st.name or 'this backend'} yet.")
        hint = Content.styled(
            "A job trains a config from configs/ on a dataset exported to ft_data/ (Filters pane, 2).",
            "$foreground-muted",
        )
        self.query_one("#jobs-empty", Static).update(Content("\n").join([lead, hint, keys]))

    def _redraw(self) -> None:
        self._show_header()
        now = self.clock()
        table = self.query_one("#jobs-table", DataTable)
        rows: list[Row] = [(r.job_id, self._cells(r, now)) for r in self.rows]
        sync_rows(table, rows)
        self._show_empty()
        wanted = self._want_selected
        if wanted is not None and wanted in [r.job_id for r in self.rows]:
            self._want_selected = None
            table.move_cursor(row=[r.job_id for r in self.rows].index(wanted), animate=False)
        self.selected = cursor_key(table)
        self._show_detail()

    def _cells(self, row: JobRow, now: datetime) -> list[Text]:
        status = Text(row.status or "?", style=_STATUS_STYLE.get(row.status, "bold"))
        if row.missing:
            status = Text(f"{row.status or '?'} (not on backend)", style="dim")
        p = row.progress
        progress = ""
        if p.fraction is not None and p.step is not None:
            progress = f"{p.step}/{p.total_steps} {p.fraction * 100:.0f}%"
            if p.eta_s is not None and not is_terminal(row.status):
                progress += f" ETA {duration(p.eta_s)}"
        # A finished job without its end time has no elapsed time to show (not "until now").
        known_end = bool(row.finished_at) or not is_terminal(row.status)
        took = elapsed(row.started_at or row.created_at, row.finished_at or None, now) if known_end else ""
        return [
            Text(row.job_id, style="bold" if row.ours else ""),
            status,
            Text(progress),
            right(took),
            Text(row.base_model),
            Text(row.train_kind),
            Text(row.dataset),
            Text(short_time(row.created_at, now)),
            Text(row.fine_tuned_model),
        ]

    def _show_detail(self) -> None:
        if self.selected is None:
            return
        view = self.views.get(self.selected)
        if view is None:
            row = next((r for r in self.rows if r.job_id == self.selected), None)
            if row is None:
                return
            view = JobView(row=row)
        self.query_one(JobDetail).show(view, self.clock(), self._detail_keys(view))
        if self._bindings_timer is not None:
            self._bindings_timer.stop()
        # The footer is rebuilt on every refresh of the bindings (tens of widgets): do it once the
        # cursor rests, so holding ↓ stays smooth; the keys themselves are checked when pressed.
        self._bindings_timer = self.set_timer(BINDINGS_SETTLE_S, self._refresh_keys)

    def _refresh_keys(self) -> None:
        self._bindings_timer = None
        allowed = tuple(self.check_action(a, ()) for a in ("cancel_job", "copy_model", "evaluate", "log_level"))
        if allowed != self._allowed:  # only when c / y / e / l change
            self._allowed = allowed
            self.app.refresh_bindings()

    def _detail_keys(self, view: JobView) -> Content:
        pairs = [("l", "log level")]
        if not is_terminal(view.row.status):
            pairs.append(("c", "cancel"))
        if view.row.fine_tuned_model:
            pairs.append(("y", "copy model id"))
            if self._eval_built():
                pairs.append(("e", "evaluate"))
        return keys_line(*pairs)

    def _eval_built(self) -> bool:
        spec_of = getattr(self.app, "spec", None)
        spec = spec_of("eval") if callable(spec_of) else None
        return spec is not None and spec.factory is not None

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key == self.selected:
            return
        self.selected = key
        self._show_detail()
        if key is not None and key not in self.views and self.conn is not None and not self._busy and not self.paused:
            self._schedule(0.05)  # the shown job's events and curves, now rather than at the next tick

    @on(DataTable.RowSelected, "#jobs-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        """Enter: at 80x24 the detail replaces the table (Escape comes back)."""
        if self.has_class("-narrow"):
            self.set_class(True, "-detail")
            self.query_one(JobDetail).events_log.focus()

    # ------------------------------------------------------------------------------- actions

    @property
    def selected_view(self) -> JobView | None:
        if self.selected is None:
            return None
        view = self.views.get(self.selected)
        if view is not None:
            return view
        row = next((r for r in self.rows if r.job_id == self.selected), None)
        return JobView(row=row) if row is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        view = self.selected_view
        if action == "cancel_job":
            return view is not None and not is_terminal(view.row.status) and self.conn is not None
        if action == "copy_model":
            return view is not None and bool(view.row.fine_tuned_model)
        if action == "evaluate":
            return view is not None and bool(view.row.fine_tuned_model) and self._eval_built()
        if action == "log_level":
            return view is not None
        if action == "back":
            return self.has_class("-detail")
        return True

    def action_refresh(self) -> None:
        """r: poll now (after an auth or connection error too); starts the local backend if needed."""
        if self._busy:
            return
        self._start_local = True
        self._stop_timer()
        self._failures = 0
        self._tick()

    def action_switch_backend(self) -> None:
        """b: the next backend of the list; its jobs replace the table."""
        current = self.backend_name or self.backends[0]
        index = self.backends.index(current) if current in self.backends else -1
        self._use_backend(self.backends[(index + 1) % len(self.backends)])

    def _use_backend(self, name: str) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self._connect.invalidate()
        self._poll.invalidate()
        self._busy = False
        self.backend_name = name
        self.rows = []
        self.views = {}
        self.selected = None
        self.query_one("#jobs-table", DataTable).clear()
        self.state = BackendState(name)
        self._stop_timer()
        self._tick()

    def action_log_level(self) -> None:
        name = self.query_one(JobDetail).events_log.cycle_filter()
        self.app.notify(f"Event log: {name}.", title="Events", timeout=2)

    def action_back(self) -> None:
        self.set_class(False, "-detail")
        self.query_one("#jobs-table", DataTable).focus()

    def action_copy_model(self) -> None:
        view = self.selected_view
        if view is None or not view.row.fine_tuned_model:
            return
        self.app.copy_to_clipboard(view.row.fine_tuned_model)
        self.app.notify(f"Copied {view.row.fine_tuned_model}", title="Model id copied", timeout=4)

    def action_evaluate(self) -> None:
        view = self.selected_view
        if view is None or not view.row.fine_tuned_model or not self._eval_built():
            return
        self.app.post_message(self.EvaluateModel(view.row.fine_tuned_model, view.row.job_id))
        show = getattr(self.app, "action_show_pane", None)
        if callable(show):
            show("eval")

    def action_cancel_job(self) -> None:
        view = self.selected_view
        if view is None or self.conn is None or is_terminal(view.row.status):
            return
        job_id = view.row.job_id

        def answered(yes: bool | None) -> None:
            if yes and self.conn is not None:
                conn = self.conn
                self._cancel.start(lambda run: self.link.cancel(conn, job_id), job_id, doing=f"cancelling {job_id}")
            self._resume()

        self.app.push_screen(
            ConfirmDialog(
                "Cancel this job?",
                f"{job_id} ({view.row.status}) on {self.state.name}: the backend stops training it; what it "
                "trained so far is not kept as a model.",
                "cancel the job",
            ),
            callback=answered,
        )

    @on(CancelDone)
    def _cancelled(self, message: CancelDone) -> None:
        self.app.notify(f"{message.context}: {message.result.status or 'cancel requested'}.", title="Cancel sent")
        self._stop_timer()
        self._resume_soon()

    @on(FormFailed)
    def _form_failed(self, message: FormFailed) -> None:
        self.app.notify(message.text, title="Cannot open the form", severity="error", timeout=8)

    @on(CancelFailed)
    def _cancel_failed(self, message: CancelFailed) -> None:
        self.app.notify(message.text, title=f"Could not cancel {message.context}", severity="error", timeout=8)

    # -------------------------------------------------------------------------------- submit

    def action_new_job(self, initial: SubmitRequest | None = None, error: str = "") -> None:
        """n: the submit form (config, dataset, --examples, backend); its lists are read in a worker."""
        self._form.start(lambda run: self._form_choices(), (initial, error), doing="listing configs and datasets")

    def _form_choices(self) -> FormChoices:
        """(worker) The configs (the Configs pane's list), the exports with their manifests, the backends."""
        configs = [f.path for f in list_configs(self.config_dir or configs_dir())]
        datasets = list_datasets(self.data_dir or ft_data_dir())
        current = self.backend_name or self._initial_backend()
        return configs, datasets, [current, *[b for b in self.backends if b != current]]

    @on(FormDone)
    def _form_ready(self, message: FormDone) -> None:
        if not self._form.is_current(message) or len(self.app.screen_stack) > 1:
            return
        configs, datasets, backends = message.result
        initial, error = message.context

        def answered(request: SubmitRequest | None) -> None:
            if request is None:
                self._resume()
                return
            self.state = BackendState(self.state.name, self.state.choice, self.state.phase, "checking the job…")
            conn = self.conn if self.conn is not None and self.backend_name == request.backend else None
            self._plan.start(lambda run: self._plan_job(request, conn), request, doing="checking the job")

        self.app.push_screen(SubmitDialog(configs, datasets, backends, initial=initial, error=error), callback=answered)

    def _plan_job(self, request: SubmitRequest, conn: Connection | None) -> tuple[SubmissionPlan, Connection]:
        """Check the job against its backend: the pane's connection when it is that backend, else a new
        one (the local backend is asked which models it can train, so it is started first)."""
        conn = conn or self.link.connect(request.backend)
        return self.link.plan(request.config, request.dataset, request.examples, conn), conn

    @on(PlanFailed)
    def _plan_failed(self, message: PlanFailed) -> None:
        if not self._plan.is_current(message):
            return
        self.action_new_job(message.context, f"Not sent: {message.text}")

    @on(PlanDone)
    def _planned(self, message: PlanDone) -> None:
        if not self._plan.is_current(message):
            return
        (plan, conn), request = message.result, message.context

        def answered(send: bool | None) -> None:
            if not send:
                plan.cleanup()
                if conn is not self.conn:
                    conn.close()
                self.action_new_job(request)
                return
            self.app.notify(f"Submitting to {request.backend}…", title="Submit", timeout=3)

            def step(name: str, text: str) -> None:  # from the worker thread: post_message is thread-safe
                self.post_message(SubmitStep(name, text))

            self._submit.start(
                lambda run: (self.link.submit(plan, conn, on_step=step), conn), request, doing="submitting the job"
            )
            self._resume()

        self.app.push_screen(
            ConfirmSubmitDialog(plan_lines(plan), plan.payload(), backend_text(request.backend, conn.choice)),
            callback=answered,
        )

    @on(SubmitDone)
    def _submitted(self, message: SubmitDone) -> None:
        job, conn = message.result
        job_id = getattr(job, "job_id", "") or str(job)
        self.app.notify(f"Job {job_id} submitted to {message.context.backend}.", title="Submitted", timeout=6)
        if conn is not self.conn:
            if self.conn is not None:
                self.conn.close()
            self._connect.invalidate()
            self._poll.invalidate()
            self._busy = False
            self.conn = conn
            self.backend_name = message.context.backend
            self.rows, self.views = [], {}
            self.query_one("#jobs-table", DataTable).clear()
        self.selected = job_id
        self._want_selected = job_id
        self._stop_timer()
        if not self._busy:
            self._tick()

    @on(SubmitStep)
    def _submit_step(self, message: SubmitStep) -> None:
        if message.name == "warn":
            self.app.notify(message.text, title="Submitting", severity="warning", timeout=6)
        else:
            self.app.notify(message.text, title="Submitting", timeout=3)

    @on(SubmitFailed)
    def _submit_failed(self, message: SubmitFailed) -> None:
        self.app.notify(message.text, title="Submit failed", severity="error", timeout=12)

    # ---------------------------------------------------------------------------------- tests

    def describe_rows(self) -> list[str]:
        """``job_id status`` per row, as the table shows them (tests and the bench read this)."""
        return [f"{r.job_id} {r.status}" for r in self.rows]

"""What the Jobs pane does with a backend, off the event loop: connect, poll, cancel, plan, submit.

Every method here blocks (HTTP, SQLite, starting the local backend) and runs in a thread worker of
the pane; nothing here imports Textual. The pane gets plain view objects back (:class:`JobRow` for
the table, :class:`JobView` for the detail), so the widgets never see the services' types and a
test can drive the pane with a fake client (any object with ``LearningClient``'s methods).

Polling follows the issue's rules through ``services.jobs.poller.JobWatch``: one request chain per
job, the next tick only after the last ended (the pane chains one-shot timers), de-duplicated events
and metric points, a terminal job re-read for its ``fine_tuned_model`` and then no longer polled.
Jobs recorded in the local ``JobStore`` (submitted from sft-studio, here or by ``sft-studio train``)
are merged with the backend's list, so they show after a restart and their watches resume.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.data_dir import data_dir
from services.common.workspace import display_path
from services.jobs.api_models import JobEvent, JobInfo, is_terminal
from services.jobs.backends import BackendChoice, open_client, resolve_backend
from services.jobs.errors import BackendAuthError, BackendError
from services.jobs.poller import JobSnapshot, JobWatch
from services.jobs.store import DB_NAME, JobRecord, JobStore
from services.jobs.submit import SubmissionPlan, SubmittedJob, plan_submission, submit
from tui.widgets.event_log import LogEvent

#: Events kept per job for the detail view (the log shows at most this many; memory stays flat).
EVENTS_KEPT = 2000
#: Jobs listed from the backend per poll (the newest; local records are always included).
LIST_LIMIT = 50


ResolveFn = Callable[[str], BackendChoice]
OpenFn = Callable[[BackendChoice], Any]


@dataclass(frozen=True)
class Progress:
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, max(0.0, self.step / self.total_steps))


@dataclass(frozen=True)
class JobRow:
    """One row of the table: what the backend says, completed by our record of the job."""

    job_id: str
    status: str
    base_model: str = ""
    train_kind: str = ""
    dataset: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    progress: Progress = field(default_factory=Progress)
    fine_tuned_model: str = ""
    error: str = ""
    ours: bool = False  # submitted from sft-studio (in the local store)
    missing: bool = False  # recorded locally but the backend does not know it (any more)


@dataclass
class JobView:
    """Everything the detail shows of one job (the newest poll's picture)."""

    row: JobRow
    train_loss: list[tuple[float, float]] = field(default_factory=list)
    val_loss: list[tuple[float, float]] = field(default_factory=list)
    learning_rate: float | None = None
    tokens_per_s: float | None = None
    events: list[LogEvent] = field(default_factory=list)
    poll_error: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    config_path: str = ""
    #: The furthest phase the events show (queued, running, training, evaluating): where a failed
    #: or cancelled job stopped, for the timeline.
    phase: str = ""


@dataclass
class PollResult:
    """One tick: the table's rows (newest first), the detail of each watched job, and what failed."""

    rows: list[JobRow]
    views: dict[str, JobView]
    list_error: str = ""
    auth_failed: bool = False


#: Event types that show a job reached a phase (synth_backend_api.md §8; the local backend's too).
PHASE_EVENTS = (
    ("evaluating", ("sft.validation.summary", "sft.evaluating")),
    ("training", ("sft.training.started", "sft.progress", "sft.loss")),
    ("running", ("sft.running", "sft.training.args", "sft.stage")),
)


def furthest_phase(types: set[str]) -> str:
    for phase, kinds in PHASE_EVENTS:
        if types.intersection(kinds):
            return phase
    return "queued" if types else ""


def _event(e: JobEvent) -> LogEvent:
    time = (e.created_at or "")[11:19] if e.created_at and len(e.created_at) >= 19 else ""
    return LogEvent(seq=e.seq, level=e.level or "info", type=e.type, message=e.detail or e.message, time=time)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def describe(exc: BaseException) -> tuple[str, str]:
    """(message, hint) of a backend error, phrased for the user (the key is masked by the client)."""
    if isinstance(exc, BackendError):
        return exc.message, exc.hint or ""
    return f"{type(exc).__name__}: {exc}", "This is probably a bug in sft-studio: please report it."


class LocalNotRunning(Exception):
    """The local backend is not running and the caller did not want it started."""

    def __init__(self, choice: BackendChoice) -> None:
        super().__init__("the local backend is not running")
        self.choice = choice


class Connection:
    """One backend in use: its resolved choice (URL, key source) and the client, plus the watches.

    The watches (one per job whose detail or progress is wanted) live here, used only by the
    pane's poll worker (one at a time), so a job's event and metric cursors survive between ticks.
    """

    def __init__(self, choice: BackendChoice, client: Any) -> None:
        self.choice = choice
        self.client = client
        self.watches: dict[str, JobWatch] = {}
        self.events: dict[str, deque[LogEvent]] = {}
        self.views: dict[str, JobView] = {}

    @property
    def store_label(self) -> str:
        return self.choice.store_label

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken client must not hide why it broke
            self.client.close()


class JobsLink:
    """The pane's services: resolve and open backends, poll, cancel, plan and submit jobs."""

    def __init__(
        self,
        *,
        store_path: Path | None = None,
        resolve: ResolveFn | None = None,
        open_fn: OpenFn | None = None,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = None,
    ) -> None:
        self.store_path = store_path
        self._store: JobStore | None = None
        self._environ = environ
        self._env_file = env_file
        self._resolve = resolve or self._default_resolve
        self._open = open_fn or open_client

    def _default_resolve(self, backend: str) -> BackendChoice:
        return resolve_backend(backend, env_file=self._env_file, environ=self._environ)

    @property
    def store(self) -> JobStore:
        """The job store, created on first use (a submit); reading goes through :meth:`records`."""
        if self._store is None:
            self._store = JobStore(self.store_path)
        return self._store

    def records(self, backend: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
        """Our records (newest first); none while no store file exists: looking creates no file."""
        if self._store is None and not (self.store_path or data_dir() / DB_NAME).exists():
            return []
        return self.store.list(backend, limit=limit)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # ---------------------------------------------------------------------------------- backend

    def resolve(self, backend: str) -> BackendChoice:
        return self._resolve(backend)

    def connect(self, backend: str, *, start: bool = True) -> Connection:
        """Resolve ``backend`` and open a client. The local backend is started when it is not running,
        unless ``start`` is False: then :class:`LocalNotRunning` (merely showing the pane starts no
        server; r or a submit does)."""
        choice = self._resolve(backend)
        if not start and choice.kind == "local" and self._open is open_client:
            from services.training.server.lifecycle import running_server

            if running_server(choice.data_dir or data_dir()) is None:
                raise LocalNotRunning(choice)
        return Connection(choice, self._open(choice))

    def offline_rows(self, store_label: str) -> list[JobRow]:
        """Our records of a backend we are not connected to, as last polled (newest first)."""
        return [self._row(None, record, None) for record in self.records(store_label)]

    def last_backend(self) -> str | None:
        """The backend of the newest recorded job ("local", or a URL), to show first after a restart."""
        records = self.records(limit=1)
        return records[0].backend if records else None

    # -------------------------------------------------------------------------------------- poll

    def poll(self, conn: Connection, watched: Sequence[str]) -> PollResult:
        """List the backend's jobs, merge our records, and poll the watches of ``watched`` jobs (the
        shown one) and of every unfinished job of ours; a 401/403 ends the tick at once."""
        records = {r.job_id: r for r in self.records(conn.store_label)}
        list_error = ""
        listed: list[JobInfo] = []
        try:
            listed = conn.client.list_jobs(limit=LIST_LIMIT)
        except BackendAuthError as exc:
            message, hint = describe(exc)
            return PollResult([], {}, f"{message} {hint}".strip(), auth_failed=True)
        except BackendError as exc:
            message, hint = describe(exc)
            list_error = f"{message} {hint}".strip()
        jobs = {j.job_id: j for j in listed}
        to_watch = [*watched]
        for job_id, record in records.items():
            known = jobs.get(job_id)
            status = known.status if known is not None else (record.last_status or "")
            if not is_terminal(status) and job_id not in to_watch:
                to_watch.append(job_id)
        views: dict[str, JobView] = {}
        for job_id in to_watch:
            try:
                view = self._poll_one(conn, job_id, records.get(job_id))
            except BackendAuthError as exc:
                message, hint = describe(exc)
                return PollResult([], views, f"{message} {hint}".strip(), auth_failed=True)
            views[job_id] = view
            if not view.poll_error:
                jobs[job_id] = jobs.get(job_id) or JobInfo(job_id=job_id, status=view.row.status)
        rows = [self._row(job, records.get(job_id), conn.views.get(job_id)) for job_id, job in jobs.items()]
        for job_id, record in records.items():
            if job_id not in jobs:
                rows.append(self._row(None, record, conn.views.get(job_id)))
        rows.sort(key=lambda r: (r.created_at or "", r.job_id), reverse=True)
        return PollResult(rows, views, list_error)

    def _poll_one(self, conn: Connection, job_id: str, record: JobRecord | None) -> JobView:
        old = conn.views.get(job_id)
        if old is not None and is_terminal(old.row.status) and not old.poll_error and old.row.fine_tuned_model:
            return old  # finished and complete: nothing changes any more
        watch = conn.watches.get(job_id)
        if watch is None:
            watch = conn.watches[job_id] = JobWatch(conn.client, job_id)
        try:
            snap = watch.poll_once()
        except BackendAuthError:
            raise
        except BackendError as exc:
            message, hint = describe(exc)
            base = old or JobView(row=self._row(None, record, None))
            base.poll_error = f"{message} {hint}".strip()
            conn.views[job_id] = base
            return base
        view = self._view(conn, job_id, snap, record)
        conn.views[job_id] = view
        if record is not None:
            self._remember(conn, record, view.row)
        return view

    def _view(self, conn: Connection, job_id: str, snap: JobSnapshot, record: JobRecord | None) -> JobView:
        kept = conn.events.setdefault(job_id, deque(maxlen=EVENTS_KEPT))
        kept.extend(_event(e) for e in snap.new_events)
        curves = snap.curves
        lr = curves.get("train.learning_rate") or []
        row = self._row(
            snap.job,
            record,
            None,
            progress=Progress(step=snap.step, total_steps=snap.total_steps, epoch=snap.epoch, eta_s=snap.eta_s),
            error=snap.error or "",
            model=snap.fine_tuned_model or "",
        )
        return JobView(
            row=row,
            train_loss=[(float(s), float(v)) for s, v in curves.get("train.loss") or []],
            val_loss=[(float(s), float(v)) for s, v in curves.get("val.loss") or []],
            learning_rate=float(lr[-1][1]) if lr else None,
            tokens_per_s=snap.tokens_per_s,
            events=list(kept),
            payload=dict(record.payload) if record is not None else {},
            config_path=record.config_path or "" if record is not None else "",
            phase=furthest_phase({e.type for e in snap.events}),
        )

    def _remember(self, conn: Connection, record: JobRecord, row: JobRow) -> None:
        """Write what polling learned into our record when it changed (``sft-studio jobs list`` shows it)."""
        if (
            record.last_status == row.status
            and (record.fine_tuned_model or "") == row.fine_tuned_model
            and (record.error or "") == row.error
        ):
            return
        self.store.update_status(
            record.job_id,
            status=row.status or None,
            fine_tuned_model=row.fine_tuned_model or None,
            finished_at=row.finished_at or None,
            error=row.error or None,
            backend=conn.store_label,
        )

    @staticmethod
    def _row(
        job: JobInfo | None,
        record: JobRecord | None,
        view: JobView | None,
        *,
        progress: Progress | None = None,
        error: str = "",
        model: str = "",
    ) -> JobRow:
        if progress is None and view is not None:
            progress = view.row.progress
        if job is None and view is not None and not view.poll_error:
            return view.row
        payload = record.payload if record is not None else {}
        hp_value = payload.get("hyperparameters")
        hp: dict[str, Any] = hp_value if isinstance(hp_value, dict) else {}
        kind = (job.train_kind if job is not None else None) or _text(hp.get("train_kind"))
        dataset = display_path(Path(record.dataset_path)) if record is not None and record.dataset_path else ""
        status = job.status if job is not None else (record.last_status if record is not None else "") or ""
        return JobRow(
            job_id=job.job_id if job is not None else (record.job_id if record is not None else ""),
            status=status,
            base_model=(job.base_model if job is not None else None)
            or (record.base_model if record is not None else None)
            or _text(payload.get("model")),
            train_kind=kind or "",
            dataset=dataset,
            created_at=(job.created_at if job is not None else None)
            or (record.submitted_at if record is not None else ""),
            started_at=(job.started_at or "") if job is not None else "",
            finished_at=(job.finished_at if job is not None else None)
            or (record.finished_at if record is not None else None)
            or "",
            progress=progress or Progress(),
            fine_tuned_model=model
            or (job.fine_tuned_model if job is not None else None)
            or (record.fine_tuned_model if record is not None else None)
            or "",
            error=error
            or (job.error if job is not None else None)
            or (record.error if record is not None else None)
            or "",
            ours=record is not None,
            missing=job is None,
        )

    # ---------------------------------------------------------------------------------- actions

    def cancel(self, conn: Connection, job_id: str) -> JobInfo:
        job: JobInfo = conn.client.cancel_job(job_id)
        return job

    def plan(self, config: Path, dataset: Path, examples: int | None, conn: Connection) -> SubmissionPlan:
        """The exact submission (payload and steps) for ``conn``'s backend (the local one is asked
        which models it trains); raises ``SubmissionRefused`` when the config or the dataset fail the
        checks, so nothing is sent."""
        return plan_submission(config, dataset, examples=examples, choice=conn.choice, client=conn.client)

    def submit(
        self, plan: SubmissionPlan, conn: Connection, on_step: Callable[[str, str], None] | None = None
    ) -> SubmittedJob:
        """Upload, create (once), record locally, start; the subset file of --examples is removed after."""
        try:
            return submit(plan, conn.client, self.store, on_step=on_step)
        finally:
            plan.cleanup()

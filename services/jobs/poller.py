"""Watching one job: status, events, metric curves, progress, until it ends (§7–§11 of
synth_backend_api.md, without the reference CLI's defects 4, 6, 7, 8, 9 and 12).

:class:`JobWatch` holds what was learnt so far and does one *tick* per :meth:`JobWatch.poll_once`:
the job (status), the events past the ``since_seq`` cursor (paged until caught up), and the metric
points past each cursor: every train-side name after the last ``train.*`` step in one request, and
``val.loss`` after its own last step (evaluation points lag the training ones) every
:data:`VAL_EVERY_TICKS` ticks or when an evaluation shows in the events or status. The status comes
from the light ``GET …/status`` after the first tick (the full job on the first and the last). Requests run one at
a time: one request in flight per job. Events and points are de-duplicated (seq; name + step) and
ordered whatever order they arrive in. Terminal is the union of the statuses of §7 and the events of
§8; once terminal, the job is fetched again for ``fine_tuned_model`` (defect 7).

Memory stays flat: the event log keeps the latest :data:`MAX_EVENTS` (older ones were already
shown), and each curve thins its older half when it passes :data:`MAX_CURVE_POINTS`.

:func:`watch` is the loop: a tick every ``poll_interval`` seconds *after the previous one ends*
(5 s, 1 s on loopback), exponential backoff on errors with the reason passed to ``on_error``, an
immediate stop on 401/403 (and on a job that does not exist), a real wall-clock ``poll_timeout``
(defect 4), and ``stop`` (a ``threading.Event``) to end it from another thread or Ctrl-C.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from services.jobs.api_models import CANCELLED_STATUSES, JobEvent, JobInfo, MetricPoint, is_success, norm_status
from services.jobs.client import LearningClient
from services.jobs.errors import BackendAuthError, BackendError, BackendNotFound

#: The curves a snapshot carries (§9).
CURVES = ("train.loss", "val.loss", "train.learning_rate")
THROUGHPUT_METRICS = ("train.tokens_per_second", "train.tokens_per_s", "tokens_per_second")
VAL_METRIC = "val.loss"
MAX_EVENTS = 1000
MAX_CURVE_POINTS = 2000
EVENT_PAGE = 200
MAX_EVENT_PAGES_PER_TICK = 25
DEFAULT_INTERVAL_S = 5.0
LOOPBACK_INTERVAL_S = 1.0
MAX_BACKOFF_S = 60.0
#: ``val.loss`` is asked every this many ticks (and on the first, on an evaluation event or status,
#: and at the end): evaluations are rare, and a fourth request every tick costs more than it shows.
VAL_EVERY_TICKS = 5
EVAL_HINTS = frozenset({"sft.validation.summary", "sft.eval", "sft.evaluation", "sft.validation"})


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """What is known about a job after a tick (immutable; safe to hand to a UI thread)."""

    job: JobInfo
    events: list[JobEvent]  # the retained log (latest MAX_EVENTS), ascending seq, no duplicates
    new_events: list[JobEvent]  # those first seen in this tick
    curves: dict[str, list[tuple[int, float]]]
    step: int | None = None
    total_steps: int | None = None
    epoch: float | None = None
    eta_s: float | None = None
    tokens_per_s: float | None = None
    terminal: bool = False
    succeeded: bool = False
    cancelled: bool = False
    error: str | None = None
    fine_tuned_model: str | None = None
    events_seen: int = 0  # all events ever received (the log may hold fewer)
    requests: int = 0  # HTTP requests this tick made

    @property
    def status(self) -> str:
        return self.job.status

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return max(0.0, min(1.0, self.step / self.total_steps))


class _Curve:
    """(step, value) points of one metric, ascending by step, one value per step (the latest).

    The points are kept as tuples, so a snapshot's copy is a pointer copy (no new tuples per tick)."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.pts: list[tuple[int, float]] = []
        self._copy: list[tuple[int, float]] | None = None  # the last copy handed out, until a change

    def add(self, step: int, value: float) -> None:
        self._copy = None
        if not self.steps or step > self.steps[-1]:
            self.steps.append(step)
            self.pts.append((step, value))
        else:
            i = bisect.bisect_left(self.steps, step)
            if i < len(self.steps) and self.steps[i] == step:
                self.pts[i] = (step, value)
            else:
                self.steps.insert(i, step)
                self.pts.insert(i, (step, value))
        if len(self.steps) > MAX_CURVE_POINTS:
            half = len(self.steps) // 2  # thin the older half: the shape stays, memory does not grow
            self.steps = self.steps[:half:2] + self.steps[half:]
            self.pts = self.pts[:half:2] + self.pts[half:]

    def points(self) -> list[tuple[int, float]]:
        """A copy of the points (shared by the snapshots of ticks that added none; never mutated)."""
        if self._copy is None:
            self._copy = list(self.pts)
        return self._copy


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class JobWatch:
    """The accumulated state of one job; :meth:`poll_once` is one tick."""

    def __init__(self, client: LearningClient, job_id: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.job_id = job_id
        self._clock = clock
        self.since_seq = 0
        self._events: deque[JobEvent] = deque(maxlen=MAX_EVENTS)
        self._event_seqs: set[int] = set()
        self.events_seen = 0
        self._curves: dict[str, _Curve] = {}
        self._train_cursor: int | None = None
        self._val_cursor: int | None = None
        self._stepless: set[tuple[str, int | str]] = set()
        self.step: int | None = None
        self.total_steps: int | None = None
        self.epoch: float | None = None
        self.tokens_per_s: float | None = None
        self._rate_origin: tuple[float, int] | None = None
        self._rate_latest: tuple[float, int] | None = None
        self._terminal_event: JobEvent | None = None
        self._failure_detail: str | None = None
        self._event_model: str | None = None
        self.job: JobInfo | None = None
        self.last: JobSnapshot | None = None
        self.ticks = 0
        self._status_route: bool | None = None  # does the backend serve GET …/status? (None: not tried)
        self._val_due = True
        self._ledger_done = False

    # ------------------------------------------------------------------------------- the tick

    def poll_once(self) -> JobSnapshot:
        """One tick; raises :class:`BackendError` (nothing learnt in a failed tick is lost: the
        cursors only move past what was stored)."""
        before = self.client.requests_sent
        job = self._fetch_job()
        new_events = self._fetch_events()
        if norm_status(job.status) == "evaluating":
            self._val_due = True
        self._fetch_metrics(final=False)
        terminal = job.terminal or self._terminal_event is not None
        if terminal:
            # The terminal signal may come before the final job record (defect 7): read it again,
            # and any events and validation points written meanwhile (the completion event carries
            # the model id too).
            job = self.client.get_job(self.job_id)
            new_events += self._fetch_events()
            self._fetch_metrics(final=True)
        self.job = job
        self.ticks += 1
        snapshot = self._snapshot(job, new_events, self.client.requests_sent - before)
        self.last = snapshot
        if snapshot.terminal and not self._ledger_done:
            self._ledger_done = True
            from services.ledger.hooks import on_job_end

            on_job_end(self.job_id, snapshot)  # issue 15's runs ledger: model + final figures (best effort)
        return snapshot

    def _fetch_job(self) -> JobInfo:
        """The full job on the first tick; then its status through the light ``GET …/status`` when
        the backend serves it (merged into the job), else the full job again."""
        if self.job is None or not self._status_route:
            job = self.client.get_job(self.job_id)
            if self._status_route is None:
                self._status_route = True  # tried on the next tick; a 404 there turns it off
            return job
        try:
            status = self.client.job_status(self.job_id)
        except BackendNotFound:
            job = self.client.get_job(self.job_id)  # raises BackendNotFound when the job is gone
            self._status_route = False
            return job
        update: dict[str, object] = {"status": status.status or self.job.status}
        if status.progress:
            update["progress"] = status.progress
        if status.updated_at:
            update["updated_at"] = status.updated_at
        return self.job.model_copy(update=update)

    def _fetch_events(self) -> list[JobEvent]:
        fresh: list[JobEvent] = []
        for _ in range(MAX_EVENT_PAGES_PER_TICK):
            page = self.client.events(self.job_id, since_seq=self.since_seq, limit=EVENT_PAGE)
            added = self._add_events(page)
            fresh.extend(added)
            if len(page) < EVENT_PAGE or not added:
                break
        return fresh

    def _add_events(self, page: list[JobEvent]) -> list[JobEvent]:
        added: list[JobEvent] = []
        floor = self._events[0].seq if len(self._events) == self._events.maxlen else 0
        for event in sorted(page, key=lambda e: e.seq):
            if event.seq in self._event_seqs or event.seq < floor or (added and added[-1].seq == event.seq):
                continue  # a duplicate, or older than the retained log (already seen then dropped)
            added.append(event)
            self.events_seen += 1
            self._take(event)
        if not added:
            return added
        if self._events and added[0].seq < self._events[-1].seq:  # out of order: merge
            merged = sorted([*self._events, *added], key=lambda e: e.seq)
            self._events.clear()
            self._events.extend(merged[-MAX_EVENTS:])
            self._event_seqs = {e.seq for e in self._events}
        else:
            self._events.extend(added)
            self._event_seqs.update(e.seq for e in added)
            if len(self._event_seqs) > 2 * MAX_EVENTS:  # forget the seqs the log has dropped
                self._event_seqs = {e.seq for e in self._events}
        self.since_seq = max(self.since_seq, added[-1].seq, max(e.seq for e in added))
        return added

    def _take(self, event: JobEvent) -> None:
        data = event.data
        kind = event.type.lower()
        if kind == "sft.progress" or "step" in data or "current_step" in data:
            step = _int(data.get("step", data.get("current_step")))
            total = _int(data.get("total_steps", data.get("max_steps")))
            if step is not None:
                self._progress(step)
            if total is not None and total > 0:
                self.total_steps = total
            epoch = _num(data.get("epoch"))
            if epoch is not None:
                self.epoch = epoch
            loss = _num(data.get("loss"))
            if loss is not None and step is not None and kind == "sft.progress":
                self._curve("train.loss").add(step, loss)
        if kind in EVAL_HINTS:
            self._val_due = True
        if kind == "sft.training.started":
            total = _int(data.get("total_steps"))
            if total:
                self.total_steps = total
        throughput = data.get("throughput")
        source = throughput if isinstance(throughput, dict) else data
        for key in ("tokens_per_second", "tokens_per_s"):
            value = _num(source.get(key))
            if value is not None:
                self.tokens_per_s = value
        model = data.get("fine_tuned_model")
        if isinstance(model, str) and model:
            self._event_model = model
        if event.is_terminal:
            self._terminal_event = event
            if event.is_failure:
                self._failure_detail = event.detail
        elif event.level == "error" and self._failure_detail is None:
            self._failure_detail = event.detail

    def _progress(self, step: int) -> None:
        now = self._clock()
        if self.step is None or step >= self.step:
            self.step = step
        if self._rate_origin is None:
            self._rate_origin = (now, step)
        elif step > self._rate_origin[1]:
            self._rate_latest = (now, step)

    def _curve(self, name: str) -> _Curve:
        curve = self._curves.get(name)
        if curve is None:
            curve = self._curves[name] = _Curve()
        return curve

    def _fetch_metrics(self, *, final: bool) -> None:
        """Train-side points every tick; ``val.loss`` when due (``final``: the last tick)."""
        # No cursor yet: the first tick lets the client fall back to a step-less query (backends
        # whose points carry no step); later ticks ask "past step -1" (one request, not two).
        first = self.last is None
        train_after = self._train_cursor if self._train_cursor is not None or first else -1
        self._add_points(self.client.metrics(self.job_id, after_step=train_after), val=False)
        if final or first or self._val_due or self.ticks % VAL_EVERY_TICKS == 0:
            val_after = self._val_cursor if self._val_cursor is not None or first else -1
            self._add_points(self.client.metrics(self.job_id, name=VAL_METRIC, after_step=val_after), val=True)
            self._val_due = False

    def _add_points(self, points: list[MetricPoint], *, val: bool) -> None:
        for point in points:
            if point.step is None:
                if point.key in self._stepless:
                    continue
                if len(self._stepless) < MAX_CURVE_POINTS:
                    self._stepless.add(point.key)
            if point.name in THROUGHPUT_METRICS:
                self.tokens_per_s = point.value
            if point.step is not None:
                if point.name in CURVES:
                    self._curve(point.name).add(point.step, point.value)
                if point.name == VAL_METRIC:
                    self._val_cursor = max(self._val_cursor or -1, point.step)
                elif not val:
                    self._train_cursor = max(self._train_cursor or -1, point.step)
                if point.name == "train.loss" and (self.step is None or point.step > self.step):
                    self._progress(point.step)
            if point.epoch is not None and point.name == "train.loss":
                self.epoch = point.epoch

    # ------------------------------------------------------------------------------ the result

    def eta_s(self) -> float | None:
        if self.total_steps is None or self.step is None or self._rate_origin is None or self._rate_latest is None:
            return None
        (t0, s0), (t1, s1) = self._rate_origin, self._rate_latest
        if t1 <= t0 or s1 <= s0:
            return None
        rate = (s1 - s0) / (t1 - t0)
        return max(0.0, (self.total_steps - self.step) / rate)

    def _snapshot(self, job: JobInfo, new_events: list[JobEvent], requests: int) -> JobSnapshot:
        status_terminal = job.terminal
        event = self._terminal_event
        terminal = status_terminal or event is not None
        if status_terminal:
            succeeded = is_success(job.status)
            cancelled = norm_status(job.status) in CANCELLED_STATUSES
        else:
            succeeded = event is not None and not event.is_failure
            cancelled = event is not None and "cancel" in event.type
        fine_tuned = job.fine_tuned_model or self._event_model
        error: str | None = None
        if terminal and not succeeded:
            error = job.error or self._failure_detail or f"the job ended {job.status or 'without success'}"
        if terminal and succeeded and self.total_steps and self.step is not None:
            self.step = max(self.step, self.total_steps)
        progress = job.progress
        step = self.step if self.step is not None else _int(progress.get("step"))
        total = self.total_steps if self.total_steps is not None else _int(progress.get("total_steps"))
        return JobSnapshot(
            job=job,
            events=list(self._events),
            new_events=new_events,
            curves={name: curve.points() for name, curve in self._curves.items()},
            step=step,
            total_steps=total,
            epoch=self.epoch if self.epoch is not None else _num(progress.get("epoch")),
            eta_s=None if terminal else self.eta_s(),
            tokens_per_s=self.tokens_per_s,
            terminal=terminal,
            succeeded=succeeded,
            cancelled=cancelled,
            error=error,
            fine_tuned_model=fine_tuned if succeeded else job.fine_tuned_model,
            events_seen=self.events_seen,
            requests=requests,
        )


# ------------------------------------------------------------------------------------ the loop


@dataclass(frozen=True, slots=True)
class WatchResult:
    """How a watch ended: ``terminal`` (the job ended), ``stopped`` (``stop`` was set: the job goes
    on), ``timeout`` (``poll_timeout`` passed: the job goes on)."""

    outcome: Literal["terminal", "stopped", "timeout"]
    snapshot: JobSnapshot | None
    errors: list[str] = field(default_factory=list)


def default_interval(client: LearningClient) -> float:
    return LOOPBACK_INTERVAL_S if client.is_loopback else DEFAULT_INTERVAL_S


def watch(
    client: LearningClient,
    job_id: str,
    *,
    poll_interval: float | None = None,
    poll_timeout: float | None = None,
    on_snapshot: Callable[[JobSnapshot], None] | None = None,
    on_error: Callable[[BackendError, float], None] | None = None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    job_watch: JobWatch | None = None,
) -> WatchResult:
    """Poll until the job ends, ``stop`` is set or ``poll_timeout`` seconds (wall clock) pass.

    A failed tick calls ``on_error(error, next_delay_s)`` and backs off (interval × 2ⁿ, at most
    60 s). :class:`BackendAuthError` (401/403) and :class:`BackendNotFound` propagate at once:
    polling again cannot help."""
    interval = poll_interval if poll_interval is not None and poll_interval > 0 else default_interval(client)
    stopper = stop or threading.Event()
    state = job_watch or JobWatch(client, job_id, clock=clock)
    deadline = clock() + poll_timeout if poll_timeout is not None and poll_timeout > 0 else None
    failures = 0
    errors: list[str] = []
    while True:
        if stopper.is_set():
            return WatchResult("stopped", state.last, errors)
        try:
            snapshot = state.poll_once()
        except (BackendAuthError, BackendNotFound):
            raise
        except BackendError as exc:
            failures += 1
            delay = min(interval * (2**failures), MAX_BACKOFF_S)
            if len(errors) < 100:
                errors.append(exc.message)
            if on_error is not None:
                on_error(exc, delay)
        else:
            failures = 0
            delay = interval
            if on_snapshot is not None:
                on_snapshot(snapshot)
            if snapshot.terminal:
                return WatchResult("terminal", snapshot, errors)
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                return WatchResult("timeout", state.last, errors)
            delay = min(delay, left)
        if stopper.wait(delay):
            return WatchResult("stopped", state.last, errors)

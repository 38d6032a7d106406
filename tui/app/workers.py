"""Background work of the panes, done one way: thread workers whose results carry a generation.

Every pane reads a DB, builds an index, previews or exports off the event loop, and each answer must
be dropped when a newer request superseded it. ``TaggedWorker`` does that once: ``start`` bumps the
generation and runs the job in an exclusive thread worker; the job's result or error comes back to
the owner as a typed ``Done`` / ``Failed`` message tagged with that generation, and ``is_current``
tells the owner's handler whether it answers the newest request. Errors become what the user reads
(``describe_error``), never a traceback; progress callbacks from a job are thinned out by ``throttled``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, ParamSpec, TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker, get_current_worker

from services.traces.db_errors import TraceDBError

R = TypeVar("R")
C = TypeVar("C")
P = ParamSpec("P")

#: The user-facing (message, hint) of an error a job may raise by design, or None for any other.
KnownErrors = Callable[[BaseException], "tuple[str, str] | None"]

BUG_HINT = "This is probably a bug in sft-studio: please report it."


@dataclass(frozen=True)
class Run:
    """What a running job may ask: its generation (to tag its progress messages), and whether it was
    cancelled (its answer would be stale: it may stop early)."""

    generation: int
    worker: Worker[Any]

    @property
    def cancelled(self) -> bool:
        return self.worker.is_cancelled


class Done(Message, Generic[R, C]):
    """A job finished: its ``result``, and the ``context`` it was started with."""

    def __init__(self, generation: int, result: R, context: C) -> None:
        super().__init__()
        self.generation = generation
        self.result = result
        self.context = context


class Failed(Message, Generic[C]):
    """A job raised: a user-facing ``message`` and ``hint`` (never a traceback), and its ``context``."""

    def __init__(self, generation: int, message: str, hint: str, context: C) -> None:
        super().__init__()
        self.generation = generation
        self.message = message
        self.hint = hint
        self.context = context

    @property
    def text(self) -> str:
        """Message and hint as one line."""
        return f"{self.message} {self.hint}".strip()


def describe_error(
    exc: BaseException, doing: str, *, known: KnownErrors | None = None, bug_hint: str = BUG_HINT
) -> tuple[str, str]:
    """What the user reads about ``exc`` raised while ``doing`` something, as (message, hint).

    Errors the job raises by design (``known``) and trace-DB errors are phrased for the user already;
    anything else is a bug or an odd file: say what happened, with ``bug_hint``.
    """
    described = known(exc) if known is not None else None
    if described is not None:
        return described
    if isinstance(exc, TraceDBError):
        return exc.message, exc.hint
    return f"Unexpected error while {doing}: {type(exc).__name__}: {exc}", bug_hint


def throttled(
    send: Callable[P, object], min_interval_s: float, final: Callable[P, bool] | None = None
) -> Callable[P, None]:
    """``send`` at most once per ``min_interval_s`` seconds, and always when ``final(...)`` says it is the last.

    For progress callbacks of a job: the UI needs ~10 updates a second, not one per row.
    """
    last = float("-inf")

    def call(*args: P.args, **kwargs: P.kwargs) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= min_interval_s or (final is not None and final(*args, **kwargs)):
            last = now
            send(*args, **kwargs)

    return call


def sleep_unless_cancelled(run: Run, seconds: float, step_s: float = 0.02) -> bool:
    """Sleep ``seconds`` in small steps (a debounce); False as soon as the job is cancelled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if run.cancelled:
            return False
        time.sleep(min(step_s, max(0.0, deadline - time.monotonic())))
    return not run.cancelled


class TaggedWorker(Generic[R, C]):
    """One kind of background job of ``owner``: at most one runs (a newer start cancels the older),
    and its answer comes back as ``done(generation, result, context)`` or ``failed(...)``."""

    def __init__(
        self,
        owner: DOMNode,
        name: str,
        done: Callable[[int, R, C], Done[R, C]],
        failed: Callable[[int, str, str, C], Failed[C]],
        *,
        known: KnownErrors | None = None,
        bug_hint: str = BUG_HINT,
        exclusive: bool = True,
    ) -> None:
        self._owner = owner
        self.name = name
        self._done = done
        self._failed = failed
        self._known = known
        self._bug_hint = bug_hint
        self._exclusive = exclusive
        self.generation = 0

    def start(self, job: Callable[[Run], R], context: C, *, doing: str) -> int:
        """Run ``job(run)`` in a thread; returns the generation its answer will carry.

        ``doing`` ("reading x.db") completes "Unexpected error while …" if the job fails unexpectedly.
        """
        self.generation += 1
        self._owner.run_worker(
            partial(self._run, job, self.generation, context, doing),
            name=self.name,
            group=self.name,
            exclusive=self._exclusive,
            thread=True,
            exit_on_error=False,
        )
        return self.generation

    def invalidate(self) -> None:
        """Whatever runs now is stale: cancel it, and drop its answer if it still arrives."""
        self.generation += 1
        self._owner.workers.cancel_group(self._owner, self.name)

    def is_current(self, message: Done[R, C] | Failed[C]) -> bool:
        """Does ``message`` answer the newest start? (An older answer is stale: drop it.)"""
        return message.generation == self.generation

    def _run(self, job: Callable[[Run], R], generation: int, context: C, doing: str) -> None:
        run = Run(generation, get_current_worker())
        try:
            result = job(run)
        except Exception as exc:  # never a traceback on screen
            if not run.cancelled:
                message, hint = describe_error(exc, doing, known=self._known, bug_hint=self._bug_hint)
                self._owner.post_message(self._failed(generation, message, hint, context))
            return
        if not run.cancelled:
            self._owner.post_message(self._done(generation, result, context))

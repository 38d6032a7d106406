"""Recording Crafter episodes from a pane: one collection (or the first-start demo build) at a time.

The collector blocks for minutes, so it runs in a thread worker of an invisible ``CollectRunner``
widget that the pane mounts. The runner owns the stop flag (``stop()``: finished episodes stay),
thins the collector's progress out to ~10 messages a second per part, says when episodes landed
(so a pane can re-read its DB), and reports the end as ``Finished`` or ``Failed``. Its messages
bubble to the pane that mounted it. The Traces pane uses it; the Eval pane will.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.widget import Widget

from tui.app import workers

if TYPE_CHECKING:  # the collector pulls in crafter and numpy: imported when a collection starts
    from services.rollouts.collector import CollectProgress, CollectSpec

#: Progress messages from a job, at most one per this many seconds (per part of the demo).
PROGRESS_MIN_S = 0.1
#: ``job(on_progress(label, progress), should_stop) -> result``: what the runner runs (the collector, the demo build).
Job = Callable[[Callable[[str, "CollectProgress"], None], Callable[[], bool]], Any]


def _collect_errors(exc: BaseException) -> tuple[str, str] | None:
    from services.rollouts.collector import CollectError  # loaded already: the job imported it

    return (str(exc), "") if isinstance(exc, CollectError) else None


class CollectRunner(Widget):
    """Runs one job at a time; ``job`` names it ("collect", "demo") while it runs, else None."""

    DEFAULT_CSS = "CollectRunner { display: none; }"

    class Progressed(Message):
        """A job's progress (``label`` names a demo part); a newer one replaces an unhandled one."""

        def __init__(self, progress: CollectProgress, label: str = "") -> None:
            super().__init__()
            self.progress = progress
            self.label = label

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CollectRunner.Progressed) and message.label == self.label

    class Landed(Message):
        """More episodes are in the DB: ``episodes`` recorded so far by this job."""

        def __init__(self, episodes: int) -> None:
            super().__init__()
            self.episodes = episodes

    class StateChanged(Message):
        """A job started or ended (the app shows or hides the stop key)."""

    class Finished(workers.Done[Any, str]):
        """The job returned (a collection possibly stopped early, keeping finished episodes); ``context``
        is the job's name."""

    class Failed(workers.Failed[str]):
        """The job could not run: a CollectError or TraceDBError message, never a traceback."""

    def __init__(self, *, progress_min_s: float = PROGRESS_MIN_S, id: str | None = None) -> None:
        super().__init__(id=id)
        self.progress_min_s = progress_min_s
        self.job: str | None = None
        self._stop = threading.Event()
        self._landed: dict[str, int] = {}
        self._work: workers.TaggedWorker[Any, str] = workers.TaggedWorker(
            self, "collect", self.Finished, self.Failed, known=_collect_errors, bug_hint=""
        )

    @property
    def running(self) -> bool:
        return self.job is not None

    @property
    def landed(self) -> int:
        """Episodes the running (or last) job recorded so far."""
        return sum(self._landed.values())

    def start(self, spec: CollectSpec) -> bool:
        """Record episodes as ``spec`` says; False if a job runs already."""

        def job(on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Any:
            from services.rollouts.collector import collect

            return collect(spec, lambda progress: on_progress("", progress), should_stop)

        return self.run(job, "collect", doing="collecting")

    def run(self, job: Job, name: str, *, doing: str) -> bool:
        """Run ``job`` (named ``name``; ``doing`` completes "Unexpected error while …"); False if one runs."""
        if self.running:
            return False
        self.job = name
        self._stop.clear()
        self._landed = {}
        post, stop = self._poster(), self._stop
        self._work.start(lambda run: job(post, lambda: stop.is_set() or run.cancelled), name, doing=doing)
        self.post_message(self.StateChanged())
        return True

    def stop(self) -> bool:
        """Ask the running job to stop at its next decision; finished episodes stay. False if none runs."""
        if not self.running:
            return False
        self._stop.set()
        return True

    def _poster(self) -> Callable[[str, CollectProgress], None]:
        """The job's progress callback (called in its thread): copies as messages, throttled per part."""
        posters: dict[str, Callable[[CollectProgress], None]] = {}

        retries: dict[str, int] = {}

        def must_send(label: str, p: CollectProgress) -> bool:
            """The last progress, and every new retry notice (thinning must not drop one)."""
            if p.server_retries != retries.get(label, 0):
                retries[label] = p.server_retries
                return True
            return p.episodes_done >= p.episodes_total

        def post(label: str, progress: CollectProgress) -> None:
            if label not in posters:
                posters[label] = workers.throttled(
                    lambda p: self.post_message(self.Progressed(p.model_copy(deep=True), label)),
                    self.progress_min_s,
                    final=lambda p: must_send(label, p),
                )
            posters[label](progress)

        return post

    def _on_collect_runner_progressed(self, event: Progressed) -> None:
        """Before the message bubbles on: note newly landed episodes."""
        if self.running and event.progress.episodes_done > self._landed.get(event.label, 0):
            self._landed[event.label] = event.progress.episodes_done
            self.post_message(self.Landed(self.landed))

    def _on_collect_runner_finished(self, event: Finished) -> None:
        self._end()

    def _on_collect_runner_failed(self, event: Failed) -> None:
        self._end()

    def _end(self) -> None:
        """Before the end message bubbles on: the runner is free again."""
        self.job = None
        self.post_message(self.StateChanged())

    def on_unmount(self) -> None:
        self._stop.set()  # a running collector stops at its next decision

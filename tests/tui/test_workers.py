"""The shared worker helpers: stale answers dropped, errors phrased for the user, progress thinned out,
and the collection runner (start, progress, landed episodes, stop, failures) on its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.message import Message

from services.rollouts.collector import CollectError, CollectProgress
from services.traces.db import DBLockedError
from tests.support.pilot import until
from tui.app import workers
from tui.app.collect_runner import CollectRunner


def test_describe_error() -> None:
    locked = DBLockedError("x.db is locked.", "Retry in a moment.")
    assert workers.describe_error(locked, "reading x.db") == ("x.db is locked.", "Retry in a moment.")
    message, hint = workers.describe_error(ValueError("boom"), "reading x.db")
    assert message == "Unexpected error while reading x.db: ValueError: boom" and hint == workers.BUG_HINT
    known = lambda exc: ("known", "") if isinstance(exc, KeyError) else None  # noqa: E731
    assert workers.describe_error(KeyError("k"), "x", known=known) == ("known", "")
    assert workers.describe_error(locked, "x", known=known)[0] == "x.db is locked."
    assert workers.describe_error(OSError("disk"), "x", known=known, bug_hint="")[1] == ""


def test_throttled_sends_the_first_and_the_final_call() -> None:
    sent: list[int] = []
    post = workers.throttled(sent.append, 60.0, final=lambda n: n >= 10)
    for n in range(11):
        post(n)
    assert sent == [0, 10]
    every = workers.throttled(sent.append, 0.0)
    every(1)
    every(2)
    assert sent[-2:] == [1, 2]


class Owner(Vertical):
    class Answered(workers.Done[str, str]):
        pass

    class Broke(workers.Failed[str]):
        pass

    def __init__(self) -> None:
        super().__init__()
        self.work: workers.TaggedWorker[str, str] = workers.TaggedWorker(self, "test", self.Answered, self.Broke)
        self.seen: list[tuple[str, int, bool, str]] = []

    def on_owner_answered(self, event: Answered) -> None:
        self.seen.append(("done", event.generation, self.work.is_current(event), event.result))

    def on_owner_broke(self, event: Broke) -> None:
        self.seen.append(("failed", event.generation, self.work.is_current(event), event.message))


class OwnerApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Owner()


async def test_tagged_worker_drops_superseded_answers_and_reports_errors() -> None:
    app = OwnerApp()
    async with app.run_test() as pilot:
        owner = app.query_one(Owner)
        gate = threading.Event()

        def slow(run: workers.Run) -> str:
            gate.wait(10)
            return "old"

        def fail(run: workers.Run) -> str:
            raise RuntimeError("nope")

        first = owner.work.start(slow, "a", doing="testing")
        second = owner.work.start(lambda run: f"new {run.generation}", "b", doing="testing")
        assert (first, second) == (1, 2)
        gate.set()
        await until(pilot, lambda: all(w.is_finished for w in app.workers))
        await pilot.pause()
        assert owner.seen == [("done", 2, True, "new 2")]  # the superseded job's answer never arrives
        owner.work.start(fail, "c", doing="testing things")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert owner.seen[-1] == ("failed", 3, True, "Unexpected error while testing things: RuntimeError: nope")
        gate.clear()
        owner.work.start(slow, "d", doing="testing")
        owner.work.invalidate()  # e.g. the DB changed: whatever runs is stale
        gate.set()
        await until(pilot, lambda: all(w.is_finished for w in app.workers))
        await pilot.pause()
        assert len(owner.seen) == 2


class Host(Vertical):
    """Mounts a runner and keeps what bubbles up from it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield CollectRunner(progress_min_s=0.0)

    def on_collect_runner_progressed(self, event: Message) -> None:
        self.seen.append(event)

    def on_collect_runner_landed(self, event: Message) -> None:
        self.seen.append(event)

    def on_collect_runner_finished(self, event: Message) -> None:
        self.seen.append(event)

    def on_collect_runner_failed(self, event: Message) -> None:
        self.seen.append(event)

    def on_collect_runner_state_changed(self, event: Message) -> None:
        self.seen.append(event)


class HostApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Host()


def _progress(done: int) -> CollectProgress:
    return CollectProgress(episodes_total=5, episodes_done=done, decisions=done * 10, elapsed_s=1.0)


async def test_collect_runner_reports_progress_landed_episodes_and_stops() -> None:
    app = HostApp()
    async with app.run_test() as pilot:
        host = app.query_one(Host)
        runner = app.query_one(CollectRunner)

        def job(on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Any:
            on_progress("", _progress(1))
            on_progress("", _progress(2))
            while not should_stop():
                threading.Event().wait(0.01)
            return "kept 2"

        assert runner.run(job, "fake", doing="testing") and runner.running and runner.job == "fake"
        assert not runner.run(job, "again", doing="testing")  # one at a time
        await until(pilot, lambda: runner.landed == 2)
        assert runner.stop()
        await until(pilot, lambda: not runner.running)
        await pilot.pause()
        kinds = [type(m).__name__ for m in host.seen]
        assert kinds[0] == "StateChanged" and kinds.count("StateChanged") == 2 and "Progressed" in kinds
        (finished,) = [m for m in host.seen if isinstance(m, CollectRunner.Finished)]
        assert finished.result == "kept 2" and finished.context == "fake"
        assert [m.episodes for m in host.seen if isinstance(m, CollectRunner.Landed)][-1] == 2
        assert not runner.stop()


async def test_collect_runner_failures_are_messages() -> None:
    app = HostApp()
    async with app.run_test() as pilot:
        host = app.query_one(Host)
        runner = app.query_one(CollectRunner)

        def refused(on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Any:
            raise CollectError("Cannot reach http://127.0.0.1:9.")

        def buggy(on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Any:
            raise RuntimeError("boom")

        for job, expected in ((refused, "Cannot reach http://127.0.0.1:9."), (buggy, "RuntimeError: boom")):
            host.seen.clear()
            runner.run(job, "collect", doing="collecting")
            await until(pilot, lambda: not runner.running)
            await pilot.pause()
            (failed,) = [m for m in host.seen if isinstance(m, CollectRunner.Failed)]
            assert failed.message.endswith(expected) and failed.hint == "" and failed.context == "collect"
        assert failed.message == "Unexpected error while collecting: RuntimeError: boom"

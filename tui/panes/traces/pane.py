"""The Traces pane: statistics of the open trace DB, recomputed off the event loop and on change.

All DB work (opening included: ``TraceDB(path)`` probes the file and can raise) runs in one
exclusive thread worker; results come back as messages tagged with a generation number, so a slow,
superseded read can never overwrite a newer one. A timer compares cheap ``os.stat`` fingerprints and
re-reads only when a writer changed the file, and tables are updated without moving the cursor.

The pane also records into its DB: a collection (or, on first start, the demo build) runs the
blocking collector in a second thread worker (group "collect"); its progress comes back as messages
at most ~10 a second, and every episode that lands asks for a re-read, at most one a second and
never while a read is in flight, so the figures grow live even with auto-refresh off.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Label, LoadingIndicator, Static
from textual.worker import get_current_worker

from services.traces.db import TraceDB, TraceDBError
from services.traces.fingerprint import Signature, db_signature
from services.traces.stats import TraceStats, compute_stats
from tui.panes.traces import view
from tui.panes.traces.collect_form import CollectRequest
from tui.panes.traces.collect_progress import CollectProgressed, CollectStrip, DemoBuildState, summary_text
from tui.panes.traces.states import EmptyState, ErrorState
from tui.widgets.bars import BarChart
from tui.widgets.tables import sync_rows

if TYPE_CHECKING:  # the collector pulls in crafter and numpy: imported when a collection starts
    from services.rollouts.collector import CollectProgress, CollectResult, CollectSpec

StatsFn = Callable[[TraceDB], TraceStats]
#: ``build_demo(db, on_progress(label, progress), should_stop) -> db``, as in ``services.rollouts.demo``.
DemoFn = Callable[[Path, Callable[[str, "CollectProgress"], None], Callable[[], bool]], Path]
DEFAULT_WATCH_S = 2.0
WORKER_GROUP = "traces-stats"
COLLECT_GROUP = "collect"
#: Progress messages from a collection, at most one per this many seconds (per demo part).
PROGRESS_MIN_S = 0.1
#: Re-reads asked for by a collection, at most one per this many seconds.
REFRESH_MIN_S = 1.0


def ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr, before a collection needs it.

    The collector builds upcoming worlds in helper processes; the first process start launches the
    resource tracker, which hands ``sys.stderr.fileno()`` to its child. Inside a running Textual app
    stderr is captured and that fileno is -1, so the start fails ("bad value(s) in fds_to_keep").
    Starting the tracker here, with stderr briefly pointing at os.devnull (nothing it might print can
    reach the screen), avoids that. Runs once per process; a failure only costs the collector speed.
    """
    from multiprocessing import resource_tracker

    saved = sys.stderr
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr = devnull
            resource_tracker.ensure_running()
    except Exception:
        pass
    finally:
        sys.stderr = saved


class TracesPane(Vertical):
    """Header, model usage, rewards, achievement bars and the unique-count histogram of one DB."""

    class StatsLoaded(Message):
        """A read finished; ``generation`` says which request it answers."""

        def __init__(self, generation: int, stats: TraceStats, signature: Signature | None) -> None:
            super().__init__()
            self.generation = generation
            self.stats = stats
            self.signature = signature

    class LoadFailed(Message):
        """A read failed with a user-facing message (never a traceback)."""

        def __init__(self, generation: int, message: str, hint: str, signature: Signature | None) -> None:
            super().__init__()
            self.generation = generation
            self.message = message
            self.hint = hint
            self.signature = signature

    class ActivityChanged(Message):
        """What the pane is doing, for the app's status line."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class DbOpened(Message):
        """The pane now shows ``path`` (the demo DB, once built)."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    class CollectStateChanged(Message):
        """A collection started or ended (the app shows or hides its stop key)."""

    class CollectFinished(Message):
        """The collector returned (possibly stopped early, keeping finished episodes)."""

        def __init__(self, result: CollectResult) -> None:
            super().__init__()
            self.result = result

    class CollectFailed(Message):
        """The collection could not run: a CollectError or TraceDBError message (never a traceback)."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class DemoBuilt(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    class DemoFailed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(
        self,
        db_path: Path | None,
        *,
        watch_interval: float | None = DEFAULT_WATCH_S,
        candidates: Sequence[Path] = (),
        stats_fn: StatsFn = compute_stats,
        busy_timeout_s: float = 5.0,
        build_demo: bool = False,
        demo_fn: DemoFn | None = None,
        demo_path: Path | None = None,
        refresh_min_s: float = REFRESH_MIN_S,
        id: str | None = None,
    ) -> None:
        """``build_demo`` (only with ``db_path`` None) builds the demo DB first, with ``demo_fn``
        (default ``services.rollouts.demo.build_demo``) into ``demo_path`` (default ``demo_db_path()``)."""
        super().__init__(id=id)
        self.db_path = db_path
        self.candidates = list(candidates)
        self.stats_fn = stats_fn
        self.busy_timeout_s = busy_timeout_s
        self.interval = watch_interval or DEFAULT_WATCH_S
        self.watching = watch_interval is not None
        self.stats: TraceStats | None = None
        self.reading = False
        self._generation = 0
        self._signature: Signature | None = None
        self._timer: Timer | None = None
        # collections
        self.building_demo = build_demo and db_path is None
        self.demo_fn = demo_fn
        self.demo_path = demo_path
        self.refresh_min_s = refresh_min_s
        self.collecting = False
        self.last_summary: tuple[str, str] | None = None  # (text, severity) of the last collection
        self._stop = threading.Event()
        self._landed = 0
        self._refresh_wanted = False
        self._refresh_timer: Timer | None = None
        self._last_read_at = float("-inf")

    # ---------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        initial = "traces-empty" if self.db_path is None else "traces-loading"
        if self.building_demo:
            initial = "traces-demo"
        with ContentSwitcher(initial=initial):
            yield EmptyState(self.candidates, id="traces-empty")
            yield ErrorState(id="traces-error")
            if self.building_demo:
                yield self._demo_state()
            with Vertical(id="traces-loading"):
                yield LoadingIndicator()
                yield Label(id="traces-loading-label", markup=False)
            with VerticalScroll(id="traces-stats"):
                yield Static(id="traces-header", classes="section")
                yield DataTable(id="traces-models", classes="section", cursor_type="row", zebra_stripes=True)
                with Horizontal(id="traces-lower"):
                    with Vertical(id="traces-left"):
                        yield Static(id="traces-outcome", classes="section")
                        yield DataTable(id="traces-reward-types", classes="section", cursor_type="none")
                        yield Static(id="traces-reward-note", classes="section note")
                        yield BarChart(id="traces-histogram", classes="section", scale="max")
                    yield BarChart(id="traces-achievements", classes="section", scale="total")
        yield CollectStrip(id="collect-strip")

    def on_mount(self) -> None:
        titles = {
            "#traces-header": "Trace DB",
            "#traces-models": "Model usage (by LM calls)",
            "#traces-outcome": "Episode outcome rewards",
            "#traces-reward-types": "Event rewards by type",
            "#traces-reward-note": "Event rewards by type",
            "#traces-histogram": "Sessions by unique achievements",
            "#traces-achievements": "Achievements",
        }
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        models = self.query_one("#traces-models", DataTable)
        for key, label in view.MODEL_COLUMNS:
            models.add_column(view.column_label(key, label), key=key)
        rewards = self.query_one("#traces-reward-types", DataTable)
        for key, label in view.REWARD_COLUMNS:
            rewards.add_column(view.column_label(key, label), key=key)
        self.query_one("#traces-reward-note").display = False
        if self.building_demo:
            self._activity("building…")
            ensure_resource_tracker()
            self._build_demo(self.resolved_demo_path())
            return
        if self.db_path is None:
            return
        self.query_one("#traces-loading-label", Label).update(f"Reading {self.db_path} …")
        self.refresh_stats()
        if self.watching:
            self._start_timer()

    # --------------------------------------------------------------------------------------- actions

    def refresh_stats(self) -> None:
        """Re-read the DB in the background; figures already shown stay up meanwhile."""
        if self.db_path is None:
            return
        self._generation += 1
        self.reading = True
        self._last_read_at = time.monotonic()
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == "traces-stats" and self.stats is not None:
            self.query_one("#traces-header").border_subtitle = "refreshing…"
            self._activity("refreshing…")
        else:
            switcher.current = "traces-loading"
            self._activity("loading…")
        self._read_stats(self.db_path, self._generation)

    def toggle_auto_refresh(self) -> bool:
        """Turn watching the DB file on or off; returns the new state."""
        self.watching = not self.watching
        if self.watching:
            self._start_timer()
        elif self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.reading:
            self._activity(self._idle_text())
        return self.watching

    # ---------------------------------------------------------------------------------------- worker

    @work(thread=True, exclusive=True, group=WORKER_GROUP, exit_on_error=False, name="traces-stats")
    def _read_stats(self, path: Path, generation: int) -> None:
        signature = db_signature(path)  # taken first: a write during the read triggers another read
        try:
            with TraceDB(path, busy_timeout_s=self.busy_timeout_s) as db:
                stats = self.stats_fn(db)
        except TraceDBError as exc:
            self.post_message(self.LoadFailed(generation, exc.message, exc.hint, signature))
        except Exception as exc:  # a bug or an odd file: say what happened, never show a traceback
            self.post_message(
                self.LoadFailed(
                    generation,
                    f"Unexpected error while reading {path}: {type(exc).__name__}: {exc}",
                    "This is probably a bug in sft-studio: please report it, with what `sft-studio stats` prints.",
                    signature,
                )
            )
        else:
            self.post_message(self.StatsLoaded(generation, stats, signature))

    def on_traces_pane_stats_loaded(self, event: StatsLoaded) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        self.reading = False
        self._signature = event.signature
        self.stats = event.stats
        self._show_stats(event.stats)
        self.query_one("#traces-header").border_subtitle = ""
        self.query_one(ContentSwitcher).current = "traces-stats"
        self._activity(self._idle_text())
        self._maybe_refresh()

    def on_traces_pane_load_failed(self, event: LoadFailed) -> None:
        event.stop()
        if event.generation != self._generation:
            return
        self.reading = False
        self._signature = event.signature
        self.query_one("#traces-header").border_subtitle = ""
        self.query_one(ErrorState).show(event.message, event.hint)
        self.query_one(ContentSwitcher).current = "traces-error"
        self._activity("error: press r to retry")
        self._maybe_refresh()

    # ----------------------------------------------------------------------------------- collecting

    def start_collect(self, request: CollectRequest) -> bool:
        """Record episodes into the open DB in the background; False if one runs or no DB is open."""
        if self.collecting or self.building_demo or self.db_path is None:
            return False
        from services.rollouts.collector import CollectSpec

        spec = CollectSpec(db=self.db_path, **request.spec_kwargs())
        ensure_resource_tracker()
        self.collecting = True
        self._stop.clear()
        self._landed = 0
        title = f"Collecting {request.policy}" + (f" · {request.model}" if request.model else "") + " rollouts"
        self.query_one(CollectStrip).start(title, None)
        self.post_message(self.CollectStateChanged())
        self._collect(spec)
        return True

    def stop_collect(self) -> bool:
        """Ask the running collection to stop; finished episodes stay. False if none runs."""
        if not self.collecting:
            return False
        self._stop.set()
        self.query_one(CollectStrip).set_stopping(True)
        return True

    def request_refresh(self) -> None:
        """Re-read soon because something wrote: at most one read per ``refresh_min_s``, never two at once."""
        self._refresh_wanted = True
        self._maybe_refresh()

    def _maybe_refresh(self) -> None:
        if not self._refresh_wanted or self.db_path is None or self.reading:
            return  # a read in flight calls this again when it ends
        wait = self._last_read_at + self.refresh_min_s - time.monotonic()
        if wait > 0:
            if self._refresh_timer is None:
                self._refresh_timer = self.set_timer(wait, self._refresh_due, name="traces-collect-refresh")
            return
        self._refresh_wanted = False
        if db_signature(self.db_path) != self._signature:  # the file watcher may have read it already
            self.refresh_stats()

    def _refresh_due(self) -> None:
        self._refresh_timer = None
        self._maybe_refresh()

    def _progress_poster(self, label: str = "") -> Callable[[CollectProgress], None]:
        """A progress callback for the collector's thread: copies, throttled, as messages."""
        last = [float("-inf")]

        def post(progress: CollectProgress) -> None:
            now = time.monotonic()
            finished = progress.episodes_done >= progress.episodes_total
            if now - last[0] >= PROGRESS_MIN_S or finished:
                last[0] = now
                self.post_message(CollectProgressed(progress.model_copy(deep=True), label))

        return post

    def _should_stop(self) -> Callable[[], bool]:
        worker = get_current_worker()
        return lambda: self._stop.is_set() or worker.is_cancelled

    @work(thread=True, exclusive=True, group=COLLECT_GROUP, exit_on_error=False, name="collect")
    def _collect(self, spec: CollectSpec) -> None:
        from services.rollouts.collector import CollectError, collect

        try:
            result = collect(spec, self._progress_poster(), self._should_stop())
        except (CollectError, TraceDBError) as exc:
            self.post_message(self.CollectFailed(str(exc)))
        except Exception as exc:  # a bug: say what happened, never show a traceback
            self.post_message(self.CollectFailed(f"Unexpected error while collecting: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.CollectFinished(result))

    def on_collect_progressed(self, event: CollectProgressed) -> None:
        event.stop()
        if event.label:
            if self.building_demo:
                self.query_one(DemoBuildState).show(event.label, event.progress)
            return
        if not self.collecting:
            return
        self.query_one(CollectStrip).show(event.progress)
        if event.progress.episodes_done > self._landed:
            self._landed = event.progress.episodes_done
            self.request_refresh()

    def on_traces_pane_collect_finished(self, event: CollectFinished) -> None:
        event.stop()
        result = event.result
        self._end_collect()
        if result.session_ids:
            self.request_refresh()
        text = summary_text(result)
        severity: SeverityLevel = "warning" if result.stopped else "information"
        self.last_summary = (text, severity)
        title = "Collection stopped" if result.stopped else "Collection finished"
        self.notify(text, title=title, severity=severity, timeout=10)

    def on_traces_pane_collect_failed(self, event: CollectFailed) -> None:
        event.stop()
        self._end_collect()
        self.request_refresh()  # an episode may have landed before the failure
        self.last_summary = (event.message, "error")
        self.notify(event.message, title="Collection failed", severity="error", timeout=15)

    def _end_collect(self) -> None:
        self.collecting = False
        self._stop.clear()
        self.query_one(CollectStrip).finish()
        self.post_message(self.CollectStateChanged())

    def on_unmount(self) -> None:
        self._stop.set()  # a running collector stops at its next decision

    # ----------------------------------------------------------------------------------------- demo

    def resolved_demo_path(self) -> Path:
        """Where the demo is (being) built: ``demo_path``, else ``services.rollouts.demo.demo_db_path()``."""
        if self.demo_path is None:
            from services.rollouts.demo import demo_db_path

            self.demo_path = demo_db_path()
        return self.demo_path

    def _demo_state(self) -> DemoBuildState:
        from services.rollouts.demo import demo_parts

        parts = [(p.label, len(p.spec.plan()), p.spec.max_turns) for p in demo_parts(self.resolved_demo_path())]
        return DemoBuildState(self.resolved_demo_path(), parts, id="traces-demo")

    @work(thread=True, exclusive=True, group=COLLECT_GROUP, exit_on_error=False, name="demo")
    def _build_demo(self, path: Path) -> None:
        from services.rollouts.collector import CollectError

        demo_fn: DemoFn
        if self.demo_fn is None:
            from services.rollouts.demo import build_demo

            demo_fn = build_demo
        else:
            demo_fn = self.demo_fn
        posters: dict[str, Callable[[CollectProgress], None]] = {}

        def on_progress(label: str, progress: CollectProgress) -> None:
            posters.setdefault(label, self._progress_poster(label))(progress)

        should_stop = self._should_stop()
        try:
            built = demo_fn(path, on_progress, should_stop)
        except (CollectError, TraceDBError) as exc:
            self.post_message(self.DemoFailed(str(exc)))
        except Exception as exc:  # a bug: say what happened, never show a traceback
            self.post_message(self.DemoFailed(f"Unexpected error while building the demo: {type(exc).__name__}: {exc}"))
        else:
            if not should_stop():
                self.post_message(self.DemoBuilt(built))

    def on_traces_pane_demo_built(self, event: DemoBuilt) -> None:
        event.stop()
        self.building_demo = False
        self.db_path = event.path
        self.post_message(self.DbOpened(event.path))
        self.query_one("#traces-loading-label", Label).update(f"Reading {self.db_path} …")
        self.refresh_stats()
        if self.watching:
            self._start_timer()

    def on_traces_pane_demo_failed(self, event: DemoFailed) -> None:
        event.stop()
        self.building_demo = False
        self.query_one(ErrorState).show(
            event.message,
            "Nothing was opened. Run `sft-studio demo` in a shell to retry the build, or open a DB you have "
            "with `sft-studio --db PATH`.",
            title="Cannot build the demo trace DB",
            retry=False,
        )
        self.query_one(ContentSwitcher).current = "traces-error"
        self._activity("demo build failed")

    # ----------------------------------------------------------------------------------------- watch

    def _start_timer(self) -> None:
        if self._timer is None and self.db_path is not None:
            self._timer = self.set_interval(self.interval, self._check_changed, name="traces-watch")

    def _check_changed(self) -> None:
        """Re-read when the file's size or mtime moved; skipped while a read is in flight."""
        if self.reading or self.db_path is None:
            return
        if db_signature(self.db_path) != self._signature:
            self.refresh_stats()

    # --------------------------------------------------------------------------------------- display

    def _show_stats(self, stats: TraceStats) -> None:
        self.query_one("#traces-header", Static).update(view.header_renderable(stats))
        sync_rows(self.query_one("#traces-models", DataTable), view.model_rows(stats))
        self.query_one("#traces-outcome", Static).update(view.outcome_renderable(stats))
        rewards = self.query_one("#traces-reward-types", DataTable)
        note = view.reward_types_note(stats)
        rewards.display = note is None
        reward_note = self.query_one("#traces-reward-note", Static)
        reward_note.display = note is not None
        reward_note.update(Content.styled(note or "", "$foreground-muted italic"))
        sync_rows(rewards, view.reward_type_rows(stats))
        sessions = stats.header.sessions
        achievements = self.query_one("#traces-achievements", BarChart)
        achievements.border_title = f"Achievements: sessions that unlocked each (of {sessions:,})"
        achievements.set_rows(view.achievement_rows(stats), sessions, "(no achievement data in this DB)")
        with_data = view.sessions_with_data(stats)
        histogram = self.query_one("#traces-histogram", BarChart)
        histogram.border_subtitle = f"{with_data:,} of {sessions:,} sessions have achievement data"
        histogram.set_rows(view.histogram_rows(stats), with_data, "(no sessions with achievement data)")

    def _idle_text(self) -> str:
        return f"auto-refresh every {self.interval:g} s" if self.watching else "auto-refresh off"

    def _activity(self, text: str) -> None:
        self.post_message(self.ActivityChanged(text))

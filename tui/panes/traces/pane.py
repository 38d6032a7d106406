"""The Traces pane: statistics of the open trace DB, recomputed off the event loop and on change.

All DB work (opening included: ``TraceDB(path)`` probes the file and can raise; an unchanged DB is
answered from ``services.traces.stats_cache`` without opening it) runs in one
``TaggedWorker``; results come back as messages tagged with a generation number, so a slow,
superseded read can never overwrite a newer one. A timer compares cheap ``os.stat`` fingerprints and
re-reads only when a writer changed the file, and tables are updated without moving the cursor.

The pane also records into its DB: a collection (or, on first start, the demo build) runs in its
``CollectRunner``; progress comes back at most ~10 times a second, and every episode that lands asks
for a re-read, at most one a second and never while a read is in flight, so the figures grow live
even with auto-refresh off. Its keys (r, a, c, x) are declared in ``spec.py`` and act here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Label, LoadingIndicator, Static

from services.common.echo import cap_echo
from services.traces.fingerprint import Signature, db_signature
from services.traces.stats_models import TraceStats
from tui.app import workers
from tui.app.collect_runner import CollectRunner
from tui.panes.traces import view
from tui.panes.traces.collect_form import CollectForm, CollectRequest
from tui.panes.traces.collect_progress import CollectStrip, DemoBuildState, summary_text
from tui.panes.traces.states import EmptyState, ErrorState
from tui.widgets.bars import BarChart
from tui.widgets.tables import sync_rows

if TYPE_CHECKING:  # the collector pulls in crafter and numpy: imported when a collection starts
    from services.rollouts.collector import CollectProgress, CollectResult

    # SQLAlchemy (behind TraceDB) is imported by the read, off the event loop, and only when the stats
    # cache cannot answer: the first paint does not wait for it (issue 10 item 23).
    from services.traces.db import TraceDB

StatsFn = Callable[["TraceDB"], TraceStats]
#: ``build_demo(db, on_progress(label, progress), should_stop) -> db``, as in ``services.rollouts.demo``.
DemoFn = Callable[[Path, Callable[[str, "CollectProgress"], None], Callable[[], bool]], Path]
DEFAULT_WATCH_S = 2.0
#: Re-reads asked for by a collection, at most one per this many seconds.
REFRESH_MIN_S = 1.0
#: Below this many columns the sections stack and the model table uses short labels (80x24 terminals).
NARROW_BELOW = 120
#: Said by "x" while a collection runs.
STOPPING = "Stopping: finished episodes stay in the DB; episodes in flight are dropped."


class TracesPane(Vertical):
    """Header, model usage, rewards, achievement bars and the unique-count histogram of one DB."""

    class StatsLoaded(workers.Done[TraceStats, "Signature | None"]):
        """A read finished: the statistics, and the DB's fingerprint taken before the read."""

    class LoadFailed(workers.Failed["Signature | None"]):
        """A read failed with a user-facing message (never a traceback)."""

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

    def __init__(
        self,
        db_path: Path | None,
        *,
        watch_interval: float | None = DEFAULT_WATCH_S,
        candidates: Sequence[Path] = (),
        stats_fn: StatsFn | None = None,
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
        self._reads: workers.TaggedWorker[TraceStats, Signature | None] = workers.TaggedWorker(
            self,
            "traces-stats",
            self.StatsLoaded,
            self.LoadFailed,
            bug_hint="This is probably a bug in sft-studio: please report it, with what `sft-studio stats` prints.",
        )
        self._signature: Signature | None = None
        self._timer: Timer | None = None
        # collections
        self.building_demo = build_demo and db_path is None
        self.demo_fn = demo_fn
        self.demo_path = demo_path
        self.refresh_min_s = refresh_min_s
        self.last_collect: CollectRequest | None = None  # the last submitted form: the next one starts from it
        self.last_summary: tuple[str, str] | None = None  # (text, severity) of the last collection
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
        yield CollectRunner(id="collect-runner")

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
        self._fit_width(self.app.size.width)
        rewards = self.query_one("#traces-reward-types", DataTable)
        for key, label in view.REWARD_COLUMNS:
            rewards.add_column(view.column_label(key, label), key=key)
        self.query_one("#traces-reward-note").display = False
        if self.building_demo:
            self._activity("building…")
            self._build_demo(self.resolved_demo_path())
            return
        if self.db_path is None:
            return
        self.query_one("#traces-loading-label", Label).update(f"Reading {self.db_path} …")
        self.refresh_stats()
        if self.watching:
            self._start_timer()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_width(event.size.width)

    def _fit_width(self, width: int) -> None:
        """Below ``NARROW_BELOW`` columns stack the sections (full-width tables and bars) and give the
        model table short labels, so nothing is cut at 80 columns; the columns are rebuilt only when
        the layout changes."""
        narrow = width < NARROW_BELOW
        models = self.query_one("#traces-models", DataTable)
        if models.columns and narrow == self.has_class("-narrow"):
            return
        self.set_class(narrow, "-narrow")
        models.clear(columns=True)
        for key, label in view.MODEL_COLUMNS_NARROW if narrow else view.MODEL_COLUMNS:
            models.add_column(view.column_label(key, label), key=key)
        models.border_subtitle = view.MODEL_COLUMNS_NARROW_NOTE if narrow else ""
        if self.stats is not None:
            sync_rows(models, view.model_rows(self.stats))

    # ------------------------------------------------------------------------------------------- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """x (stop) shows, on every pane, only while a collection runs."""
        return self.collecting if action == "stop_collect" else True

    def action_refresh(self) -> None:
        self.refresh_stats()

    def action_toggle_auto_refresh(self) -> None:
        on = self.toggle_auto_refresh()
        self.notify("Auto-refresh on: re-reads when the DB file changes." if on else "Auto-refresh off.")

    def action_collect(self) -> None:
        """Open the collect form (starting from the last one); while a collection runs, say so instead."""
        if self.collecting:
            self.notify(
                "A collection is already running: press x to stop it, or wait for it to finish.",
                title="One collection at a time",
                severity="warning",
            )
            return
        if self.db_path is None or isinstance(self.app.screen, CollectForm):  # e.g. the palette over the form
            return
        values = None if self.last_collect is None else self.last_collect.as_values()
        self.app.push_screen(CollectForm(self.db_path, values), callback=self._form_submitted)

    def _form_submitted(self, request: CollectRequest | None) -> None:
        if request is not None:
            self.last_collect = request
            self.start_collect(request)

    def action_stop_collect(self) -> None:
        if self.stop_collect():
            self.notify(STOPPING)

    # --------------------------------------------------------------------------------------- reading

    def refresh_stats(self) -> None:
        """Re-read the DB in the background; figures already shown stay up meanwhile."""
        if self.db_path is None:
            return
        self.reading = True
        self._last_read_at = time.monotonic()
        switcher = self.query_one(ContentSwitcher)
        if switcher.current == "traces-stats" and self.stats is not None:
            self.query_one("#traces-header").border_subtitle = "refreshing…"
            self._activity("refreshing…")
        else:
            switcher.current = "traces-loading"
            self._activity("loading…")
        path, busy_timeout_s, stats_fn = self.db_path, self.busy_timeout_s, self.stats_fn

        def read(run: workers.Run) -> TraceStats:
            if stats_fn is not None:  # a test's computation: always run it
                from services.traces.db import TraceDB

                with TraceDB(path, busy_timeout_s=busy_timeout_s) as db:
                    return stats_fn(db)
            from services.traces.stats_cache import cached_stats

            # An unchanged DB is answered from the stats cache, as `sft-studio stats` answers it.
            return cached_stats(path, busy_timeout_s=busy_timeout_s)[0]

        # the fingerprint is taken first: a write during the read triggers another read
        self._reads.start(read, db_signature(path), doing=f"reading {path}")

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

    def on_traces_pane_stats_loaded(self, event: StatsLoaded) -> None:
        event.stop()
        if not self._reads.is_current(event):
            return
        self.reading = False
        self._signature = event.context
        self.stats = event.result
        self._show_stats(event.result)
        self.query_one("#traces-header").border_subtitle = ""
        self.query_one(ContentSwitcher).current = "traces-stats"
        self._activity(self._idle_text())
        self._maybe_refresh()

    def on_traces_pane_load_failed(self, event: LoadFailed) -> None:
        event.stop()
        if not self._reads.is_current(event):
            return
        self.reading = False
        self._signature = event.context
        self.query_one("#traces-header").border_subtitle = ""
        self.query_one(ErrorState).show(event.message, event.hint)
        self.query_one(ContentSwitcher).current = "traces-error"
        self._activity("error: press r to retry")
        self._maybe_refresh()

    # ----------------------------------------------------------------------------------- collecting

    @property
    def runner(self) -> CollectRunner:
        return self.query_one(CollectRunner)

    @property
    def collecting(self) -> bool:
        """A collection (not the demo build) is running."""
        return self.runner.job == "collect"

    def start_collect(self, request: CollectRequest) -> bool:
        """Record episodes into the open DB in the background; False if one runs or no DB is open."""
        if self.runner.running or self.db_path is None:
            return False
        from services.rollouts.collector import CollectSpec

        self.runner.start(CollectSpec(db=self.db_path, **request.spec_kwargs()))
        title = (
            f"Collecting {request.policy}"
            + (f" · {cap_echo(request.model, 40)}" if request.model else "")
            + " rollouts"
        )
        self.query_one(CollectStrip).start(title, None)
        return True

    def stop_collect(self) -> bool:
        """Ask the running collection to stop; finished episodes stay. False if none runs."""
        if not self.collecting:
            return False
        self.runner.stop()
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

    def on_collect_runner_progressed(self, event: CollectRunner.Progressed) -> None:
        event.stop()
        if event.label:
            if self.building_demo:
                self.query_one(DemoBuildState).show(event.label, event.progress)
            return
        strip = self.query_one(CollectStrip)
        if strip.running:  # not ``collecting``: the runner may have ended before its last progress got here
            strip.show(event.progress)

    def on_collect_runner_landed(self, event: CollectRunner.Landed) -> None:
        event.stop()
        if not self.building_demo:
            self.request_refresh()

    def on_collect_runner_finished(self, event: CollectRunner.Finished) -> None:
        event.stop()
        if event.context == "demo":
            self._demo_built(event.result)
            return
        result: CollectResult = event.result
        self.query_one(CollectStrip).finish()
        if result.session_ids:
            self.request_refresh()
        text = summary_text(result)
        severity: SeverityLevel = "warning" if result.stopped else "information"
        self.last_summary = (text, severity)
        title = "Collection stopped" if result.stopped else "Collection finished"
        self.notify(text, title=title, severity=severity, timeout=10)

    def on_collect_runner_failed(self, event: CollectRunner.Failed) -> None:
        event.stop()
        message = f"{event.message}\n{event.hint}" if event.hint else event.message
        if event.context == "demo":
            self._demo_failed(message)
            return
        self.query_one(CollectStrip).finish()
        self.request_refresh()  # an episode may have landed before the failure
        self.last_summary = (message, "error")
        self.notify(message, title="Collection failed", severity="error", timeout=15)

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

    def _build_demo(self, path: Path) -> None:
        demo_fn = self.demo_fn

        def build(on_progress: Callable[[str, CollectProgress], None], should_stop: Callable[[], bool]) -> Path:
            if demo_fn is None:
                from services.rollouts.demo import build_demo

                return build_demo(path, on_progress, should_stop)
            return demo_fn(path, on_progress, should_stop)

        self.runner.run(build, "demo", doing="building the demo")

    def _demo_built(self, path: Path) -> None:
        self.building_demo = False
        self.db_path = path
        self.post_message(self.DbOpened(path))
        self.query_one("#traces-loading-label", Label).update(f"Reading {self.db_path} …")
        self.refresh_stats()
        if self.watching:
            self._start_timer()

    def _demo_failed(self, message: str) -> None:
        self.building_demo = False
        self.query_one(ErrorState).show(
            message,
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

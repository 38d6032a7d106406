"""The Traces pane: statistics of the open trace DB, recomputed off the event loop and on change.

All DB work (opening included: ``TraceDB(path)`` probes the file and can raise) runs in one
exclusive thread worker; results come back as messages tagged with a generation number, so a slow,
superseded read can never overwrite a newer one. A timer compares cheap ``os.stat`` fingerprints and
re-reads only when a writer changed the file, and tables are updated without moving the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Label, LoadingIndicator, Static

from services.stats import TraceStats, compute_stats
from services.trace_db import TraceDB, TraceDBError
from tui.panes import traces_view as view
from tui.panes.db_signature import Signature, db_signature
from tui.panes.traces_states import EmptyState, ErrorState
from tui.widgets.bars import BarChart
from tui.widgets.tables import sync_rows

StatsFn = Callable[[TraceDB], TraceStats]
DEFAULT_WATCH_S = 2.0
WORKER_GROUP = "traces-stats"


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

    def __init__(
        self,
        db_path: Path | None,
        *,
        watch_interval: float | None = DEFAULT_WATCH_S,
        candidates: Sequence[Path] = (),
        stats_fn: StatsFn = compute_stats,
        busy_timeout_s: float = 5.0,
        id: str | None = None,
    ) -> None:
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

    # ---------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="traces-empty" if self.db_path is None else "traces-loading"):
            yield EmptyState(self.candidates, id="traces-empty")
            yield ErrorState(id="traces-error")
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

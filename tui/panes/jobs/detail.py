"""One job's detail: status timeline, progress with ETA, learning rate and tokens/s, the final model,
the error of a failed job, the live loss chart and the event log (with its level filter).

It only draws the :class:`~tui.panes.jobs.link.JobView` the pane gives it; the clock is the pane's
(injected, so snapshots hold no wall-clock time).
"""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Static

from tui.panes.jobs.link import JobView
from tui.panes.jobs.timefmt import duration, elapsed
from tui.widgets.bars import bar_cells
from tui.widgets.event_log import EventLog
from tui.widgets.loss_chart import LossChart
from tui.widgets.timeline import StatusTimeline

BAR_WIDTH = 20


def progress_content(view: JobView, now: datetime) -> Content:
    row = view.row
    p = row.progress
    parts: list[str | tuple[str, str]] = []
    fraction = p.fraction
    if fraction is not None and p.step is not None and p.total_steps:
        bar = bar_cells(fraction, BAR_WIDTH)
        parts += [
            ("step ", "$foreground-muted"),
            (f"{p.step}/{p.total_steps} ", "bold"),
            (bar, "$accent"),
            ("░" * (BAR_WIDTH - len(bar)), "$foreground-muted"),
            (f" {fraction * 100:.0f}%", "bold"),
        ]
    else:
        parts.append(("no progress reported yet", "$foreground-muted italic"))
    if p.epoch is not None:
        parts += [("  epoch ", "$foreground-muted"), f"{p.epoch:.2f}"]
    if p.eta_s is not None and row.status and not row.finished_at:
        parts += [("  ETA ", "$foreground-muted"), (duration(p.eta_s), "bold")]
    took = elapsed(row.started_at or row.created_at, row.finished_at, now)
    if took:
        parts += [("  elapsed ", "$foreground-muted"), took]
    return Content.assemble(*parts)


def stats_content(view: JobView) -> Content:
    parts: list[str | tuple[str, str]] = [("lr ", "$foreground-muted")]
    parts.append(f"{view.learning_rate:.2e}" if view.learning_rate is not None else "—")
    parts.append(("  tokens/s ", "$foreground-muted"))
    parts.append(f"{view.tokens_per_s:,.0f}" if view.tokens_per_s is not None else "—")
    if view.row.fine_tuned_model:
        parts += [("  model ", "$foreground-muted"), (view.row.fine_tuned_model, "bold $text-success")]
    return Content.assemble(*parts)


class JobDetail(Vertical):
    """The shown job, top to bottom: title, timeline, progress, figures, error, chart beside the log."""

    DEFAULT_CSS = """
    JobDetail { height: 1fr; padding: 0 1; }
    JobDetail #jd-title, JobDetail #jd-progress, JobDetail #jd-stats, JobDetail StatusTimeline {
        height: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    JobDetail #jd-error { height: auto; max-height: 4; color: $text-error; display: none; }
    JobDetail #jd-error.-shown { display: block; }
    JobDetail #jd-poll { height: auto; color: $text-warning; display: none; }
    JobDetail #jd-poll.-shown { display: block; }
    JobDetail #jd-body { height: 1fr; }
    JobDetail #jd-chart { width: 1fr; }
    JobDetail #jd-events { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="jd-title", markup=False)
        yield StatusTimeline(id="jd-timeline")
        yield Static("", id="jd-progress", markup=False)
        yield Static("", id="jd-stats", markup=False)
        yield Static("", id="jd-error", markup=False)
        yield Static("", id="jd-poll", markup=False)
        with Horizontal(id="jd-body"):
            yield LossChart(id="jd-chart")
            yield EventLog(id="jd-events")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_id: str | None = None
        self._texts: dict[str, Content] = {}

    @property
    def events_log(self) -> EventLog:
        return self.query_one("#jd-events", EventLog)

    def _set(self, selector: str, content: Content, *, shown: bool | None = None) -> None:
        """Update a line only when it changed; the one-row lines without a layout pass (a layout of
        the whole screen per keystroke is what made moving the cursor slow)."""
        widget = self.query_one(selector, Static)
        if self._texts.get(selector) == content and (shown is None or widget.has_class("-shown") == shown):
            return
        self._texts[selector] = content
        if shown is None:
            widget.update(content, layout=False)
            return
        widget.set_class(shown, "-shown")
        widget.update(content)

    def show(self, view: JobView, now: datetime, keys_hint: Content | None = None) -> None:
        row = view.row
        timeline = self.query_one(StatusTimeline)
        if row.job_id != self.job_id:
            self.job_id = row.job_id
            timeline.reset()
            self.events_log.reset(view.events)
        else:
            self.events_log.add_events(view.events)
        title: list[str | tuple[str, str]] = [(row.job_id, "bold")]
        for part in (row.base_model, row.train_kind, row.dataset):
            if part:
                title += [("  ·  ", "$foreground-muted"), part]
        self._set("#jd-title", Content.assemble(*title))
        timeline.show(row.status, view.phase)
        self._set("#jd-progress", progress_content(view, now))
        stats = stats_content(view)
        if keys_hint is not None:
            stats = Content.assemble(stats, "  ", keys_hint)
        self._set("#jd-stats", stats)
        error_text = Content.assemble(("Error: ", "bold"), row.error) if row.error else Content("")
        self._set("#jd-error", error_text, shown=bool(row.error))
        poll_text = Content(f"Last poll failed: {view.poll_error}" if view.poll_error else "")
        self._set("#jd-poll", poll_text, shown=bool(view.poll_error))
        empty = "Waiting for the first loss…" if row.status and not row.finished_at else "No loss was reported."
        self.query_one(LossChart).set_curves(view.train_loss, view.val_loss, empty_text=empty)

"""A job's event log with a level filter: every event, or only warnings and errors, or only errors.

Events arrive in batches from the poller (already de-duplicated and in ``seq`` order); the log keeps
the last ``keep`` of them, so a job that emits ten thousand events costs the same memory as one that
emits a thousand. It is a virtual list: only the rows on screen are rendered, so showing another
job's log or changing the filter costs the same with 20 events or 2,000 (a ``RichLog`` re-renders
every line written, tens of milliseconds per job switch). A row reads ``#seq  time  level  type
message``; the time is the backend's own (``created_at``), never this machine's clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: The filters in the order ``l`` cycles through them: (name, the least severe level shown).
FILTERS: tuple[tuple[str, int], ...] = (("all", 0), ("warnings+", 2), ("errors", 3))
_RANK = {"debug": 0, "trace": 0, "info": 1, "notice": 1, "warning": 2, "warn": 2, "error": 3, "critical": 3, "fatal": 3}
_SHORT = {0: "dbg", 1: "info", 2: "warn", 3: "err"}
_STYLE = {0: "dim", 1: "", 2: "bold yellow", 3: "bold red"}


def level_rank(level: str) -> int:
    """0 debug, 1 info (and anything unknown), 2 warning, 3 error."""
    return _RANK.get(level.strip().lower(), 1)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """What the log shows of one event (the pane converts the poller's events to these)."""

    seq: int
    level: str
    type: str
    message: str
    time: str = ""


class EventLog(ScrollView, can_focus=True):
    """The last ``keep`` events, filtered by level (``cycle_filter``); follows the end while it is there."""

    DEFAULT_CSS = """
    EventLog {
        height: 1fr; min-height: 3; overflow-x: hidden; overflow-y: auto;
        border: round $primary 60%; border-title-color: $text-primary;
    }
    EventLog:focus { border: round $accent; }
    """

    def __init__(self, *, keep: int = 2000, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.events: deque[LogEvent] = deque(maxlen=keep)
        self.filter_index = 0
        self.last_seq: int | None = None
        self._shown: list[LogEvent] = []
        self._strips: dict[tuple[int, int], Strip] = {}
        self._show_title()

    @property
    def filter_name(self) -> str:
        return FILTERS[self.filter_index][0]

    def add_events(self, events: Iterable[LogEvent]) -> None:
        """Append the events newer than the last one shown (older or repeated ``seq``s are skipped)."""
        at_end = self.is_vertical_scroll_end
        added = False
        for event in events:
            if self.last_seq is not None and event.seq <= self.last_seq:
                continue
            self.last_seq = event.seq
            self.events.append(event)
            added = True
        if added:
            self._refilter(follow=at_end)

    def reset(self, events: Iterable[LogEvent] = ()) -> None:
        """Forget everything (another job is shown) and show ``events``, from their end."""
        self.events.clear()
        self.last_seq = None
        self.add_events(events)
        self._refilter(follow=True)

    def cycle_filter(self) -> str:
        """Next filter (all → warnings+ → errors → all); returns its name."""
        self.filter_index = (self.filter_index + 1) % len(FILTERS)
        self._refilter(follow=True)
        return self.filter_name

    def shown(self) -> list[LogEvent]:
        """The kept events that pass the filter (what the log shows)."""
        return list(self._shown)

    def _refilter(self, *, follow: bool) -> None:
        floor = FILTERS[self.filter_index][1]
        self._shown = [e for e in self.events if level_rank(e.level) >= floor]
        self._strips.clear()
        self.virtual_size = Size(self.size.width, len(self._shown))
        self._show_title()
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _show_title(self) -> None:
        hidden = len(self.events) - len(self._shown)
        note = f" ({hidden} hidden)" if hidden else ""
        self.border_title = f"Events · {self.filter_name}{note}"

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if index >= len(self._shown):
            return Strip.blank(width, self.rich_style)
        key = (self._shown[index].seq, width)
        strip = self._strips.get(key)
        if strip is None:
            text = self._line(self._shown[index])
            text.truncate(width, overflow="ellipsis", pad=True)
            text.stylize_before(self.rich_style)
            strip = Strip(text.render(self.app.console), width)
            if len(self._strips) > 500:
                self._strips.clear()
            self._strips[key] = strip
        return strip.apply_offsets(0, index)

    @staticmethod
    def _line(event: LogEvent) -> Text:
        rank = level_rank(event.level)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"#{event.seq:<4} ", style="dim")
        if event.time:
            text.append(f"{event.time} ", style="dim")
        text.append(f"{_SHORT[rank]:<4} ", style=_STYLE[rank] or "")
        text.append(event.type, style="bold" if rank >= 2 else "")
        if event.message:
            text.append(f"  {event.message}", style=_STYLE[rank])
        return text

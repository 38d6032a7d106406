"""A job's status timeline: the phases of synth_backend_api.md §7 in order, each done, current or to come.

``queued → running → training → evaluating → succeeded`` (or the failure that ended it). A phase the
job skipped (the local backend goes from ``running`` straight to ``training``; one hosted capture went
``running → validating_files → succeeded``) is shown done once a later one is reached, and a status
outside the list (``validating_files``, ``initializing_trainer``) is shown as the current one,
inserted where it belongs. The widget only draws; the pane tells it the status.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

PHASES = ("queued", "running", "training", "evaluating")
#: Statuses outside ``PHASES``, mapped to the phase they belong after.
BETWEEN = {"validating_files": "running", "initializing_trainer": "running", "pending": "queued", "created": "queued"}
SUCCESS = frozenset({"succeeded", "completed"})
FAILURE = frozenset({"failed", "error", "errored"})
CANCELLED = frozenset({"cancelled", "canceled"})


def timeline_content(status: str, last_active: str | None = None) -> Content:
    """The phases up to ``status``; for a terminal status, ``last_active`` (the last phase seen
    before it) says where a failure or a cancel happened."""
    status = status.strip().lower()
    terminal = status in SUCCESS | FAILURE | CANCELLED
    where = (last_active or "").strip().lower() if terminal else status
    if terminal and status in SUCCESS:
        where = PHASES[-1]
    order = list(PHASES)
    if where in BETWEEN and where not in order:
        order.insert(order.index(BETWEEN[where]) + 1, where)
    reached = order.index(where) if where in order else -1
    parts: list[str | tuple[str, str]] = []
    for index, phase in enumerate(order):
        if index:
            parts.append((" → ", "$foreground-muted"))
        if index < reached or (terminal and index == reached and status in SUCCESS):
            parts.append((f"✓ {phase}", "$text-success"))
        elif index == reached and not terminal:
            parts.append((f"● {phase}", "bold $text-accent"))
        elif index == reached:  # where a failed or cancelled job stopped
            parts.append((f"✗ {phase}", "$text-error"))
        else:
            parts.append((f"· {phase}", "$foreground-muted"))
    if terminal:
        parts.append((" → ", "$foreground-muted"))
        if status in SUCCESS:
            parts.append((f"✓ {status}", "bold $text-success"))
        elif status in CANCELLED:
            parts.append((f"■ {status}", "bold $text-warning"))
        else:
            parts.append((f"✗ {status}", "bold $text-error"))
    elif not status:
        return Content.styled("status not known yet", "$foreground-muted italic")
    elif status not in order:
        parts.append((" → ", "$foreground-muted"))
        parts.append((f"● {status}", "bold $text-accent"))
    return Content.assemble(*parts)


class StatusTimeline(Static):
    """One line of the job's phases (cut with an ellipsis if a terminal is very narrow)."""

    DEFAULT_CSS = """
    StatusTimeline { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.status = ""
        self.last_active: str | None = None
        self._shown: Content | None = None

    def show(self, status: str, phase: str = "") -> None:
        """The job's status now; ``phase``: the furthest phase its events show. The last active one
        (seen as a status, else from the events) says where a failed or cancelled job stopped."""
        status = status.strip().lower()
        if status and status not in SUCCESS | FAILURE | CANCELLED:
            self.last_active = status
        elif phase and self.last_active is None:
            self.last_active = phase
        content = timeline_content(status, self.last_active)
        if status == self.status and content == self._shown:
            return
        self.status = status
        self._shown = content
        self.update(content, layout=False)  # one row: no layout pass needed

    def reset(self) -> None:
        self._shown = None
        self.status = ""
        self.last_active = None
        self.update(timeline_content(""))

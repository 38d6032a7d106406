"""The one-line bar above the footer: which trace DB is open, and what the Traces pane is doing."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label


class StatusLine(Horizontal):
    """Left: the open DB path as given (or "no trace DB open"); right: refresh activity."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground-muted;
    }
    StatusLine #status-db { width: 1fr; }
    StatusLine #status-activity { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Label("no trace DB open", id="status-db", markup=False)
        yield Label("", id="status-activity", markup=False)

    def show_db(self, path: str | None, *, building: bool = False) -> None:
        """The open DB, or (``building``) the demo DB being built at ``path``."""
        label = self.query_one("#status-db", Label)
        if path is None:
            label.update(Content.styled("no trace DB open", "$warning"))
        elif building:
            label.update(Content.assemble(("Building the demo DB ", "$foreground-muted"), (path, "$foreground")))
        else:
            label.update(Content.assemble(("Trace DB ", "$foreground-muted"), (path, "$foreground")))

    def show_activity(self, text: str) -> None:
        self.query_one("#status-activity", Label).update(Content(text))

"""The one-line bar above the footer: which trace DB is open, why that one, the workspace, and what the
Traces pane is doing.

The DB's file name comes first and is never cut, at any width (issue 10 item 10: at 80 columns the open
DB could not be seen anywhere); then the rule that chose it ("--db", "found upward", "demo DB"); the
folder it is in gives way first (cut with an ellipsis), then the workspace.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Label


def short_path(path: Path, limit: int = 28) -> str:
    """``path`` with the home folder as ``~``; longer than ``limit``, only its last name (``…/name``)."""
    text = str(path)
    home = str(Path.home())
    if home != "/" and (text == home or text.startswith(home + "/")):
        text = "~" + text[len(home) :]
    return text if len(text) <= limit else f"…/{path.name}"


class StatusLine(Horizontal):
    """Left: the open DB's file name, its rule and folder (or "no trace DB open"); then the workspace;
    right: refresh activity."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground-muted;
    }
    StatusLine #status-db { width: auto; text-wrap: nowrap; }
    StatusLine #status-where { width: 1fr; min-width: 0; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusLine #status-workspace { width: auto; max-width: 34; text-wrap: nowrap; text-overflow: ellipsis; }
    StatusLine #status-activity { width: auto; padding-left: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Label("no trace DB open", id="status-db", markup=False)
        yield Label("", id="status-where", markup=False)
        yield Label("", id="status-workspace", markup=False)
        yield Label("", id="status-activity", markup=False)

    def show_db(self, path: str | None, rule: str | None = None, *, building: bool = False) -> None:
        """The open DB and the rule that chose it, or (``building``) the demo DB being built at ``path``."""
        label = self.query_one("#status-db", Label)
        where = self.query_one("#status-where", Label)
        if path is None:
            label.update(Content.styled("no trace DB open", "$warning"))
            where.update("")
            return
        name = Path(path).name
        lead = "Building the demo DB " if building else "DB "
        parts: list[tuple[str, str]] = [(lead, "$foreground-muted"), (name, "bold $foreground")]
        if rule and not building:
            parts.append((f" ({rule})", "$foreground-muted"))
        label.update(Content.assemble(*parts))
        where.update(Content.styled(f" in {Path(path).parent}", "$foreground-muted"))

    def show_workspace(self, root: Path) -> None:
        """The workspace root (configs/, ft_data/, presets and sweeps live under it)."""
        self.query_one("#status-workspace", Label).update(Content.styled(f" │ ws {short_path(root)}", "$foreground"))

    def show_activity(self, text: str) -> None:
        self.query_one("#status-activity", Label).update(Content(text))

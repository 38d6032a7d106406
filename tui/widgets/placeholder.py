"""The body of a pane that is not built yet: what it will do, that it is not built yet, and what works now.

No sample numbers or mock widgets here: an empty promise is clearer than fake content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.widgets.prose import bullets

if TYPE_CHECKING:
    from tui.app.pane_spec import PaneSpec


def working_now(panes: Sequence[tuple[str, str]]) -> Content:
    """The line naming the panes that work, from (key, title) pairs: "Working now: Traces (press 1), …"."""
    parts: list[str | tuple[str, str]] = [("Working now: ", "$foreground-muted")]
    for n, (key, title) in enumerate(panes):
        if n:
            parts.append((" and " if n == len(panes) - 1 else ", ", "$foreground-muted"))
        parts += [(f"{title} (press ", "$foreground-muted"), (key, "bold $text-accent"), (")", "$foreground-muted")]
    parts.append((".", "$foreground-muted"))
    return Content.assemble(*parts)


class PlaceholderPane(VerticalScroll):
    """A planned pane: its purpose, "not built yet", its plans, and the panes that work (with their keys)."""

    def __init__(self, spec: PaneSpec, working: Sequence[tuple[str, str]]) -> None:
        """``working``: (key, title) of each built pane."""
        super().__init__(id=f"{spec.id}-body")
        self.spec = spec
        self.working = list(working)

    def compose(self) -> ComposeResult:
        with Vertical(classes="message-panel planned-panel") as panel:
            panel.border_title = f"{self.spec.title}: not built yet"
            yield Static(Content.styled(self.spec.summary, "bold"))
            yield Static(
                Content.assemble(("Not built yet", "bold $text-warning"), ": this pane arrives in a later release."),
                classes="para",
            )
            yield Static(Content.styled("What it will do:", "bold"), classes="para")
            yield bullets(self.spec.plans)
            yield Static(working_now(self.working), classes="para")

"""The Traces pane when it has no figures: no DB found (where we looked, how to get one), or an error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static

from tui.widgets.prose import TwoColumn, bullets


class EmptyState(Vertical):
    """No trace DB was found: the places searched and the real ways to get one (nothing fake)."""

    def __init__(self, candidates: Sequence[Path], *, id: str | None = None) -> None:
        super().__init__(id=id, classes="message-panel")
        self.candidates = list(candidates)
        self.border_title = "No trace DB"

    def compose(self) -> ComposeResult:
        yield Static(Content.styled("No trace DB found.", "bold $text-warning"))
        yield Static("sft-studio looked for a synth-ai trace DB (no --db given) at:", classes="para", markup=False)
        yield TwoColumn(((" ", str(c)) for c in self.candidates), left_width=2, classes="paths")
        yield Static(Content.styled("How to get one:", "bold"), classes="para")
        yield bullets(
            [
                Content.assemble(
                    "Open a DB you already have: ",
                    ("sft-studio --db PATH", "bold $text-accent"),
                    ("  (an SQLite file, or a sqld directory holding dbs/default/data)", "$foreground-muted"),
                ),
                Content.assemble(
                    "Record Crafter rollouts with synth-ai's tracing_v3: it writes ",
                    ("traces/v3/synth_ai.db", "bold"),
                    ", which sft-studio finds when started in that folder or below it.",
                ),
                Content.assemble(
                    "Build the demo DB (about 200 Crafter episodes played by sft-studio's teacher and a random "
                    "policy): ",
                    ("sft-studio demo", "bold $text-accent"),
                    "; ",
                    ("sft-studio", "bold $text-accent"),
                    " then opens it.",
                ),
                Content.assemble(
                    "Record your own rollouts (teacher, random or an OpenAI-compatible model): ",
                    ("sft-studio collect", "bold $text-accent"),
                    " writes ",
                    ("./traces/v3/synth_ai.db", "bold"),
                    ", found as above; with a DB open, ",
                    ("c", "bold $text-accent"),
                    " records more from the app.",
                ),
            ]
        )


class ErrorState(Vertical):
    """A TraceDBError (or an unexpected one) as message and hint, red-bordered, with how to retry."""

    TITLE = "Cannot read the trace DB"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="message-panel error-panel")
        self.border_title = self.TITLE

    def compose(self) -> ComposeResult:
        yield Static(id="error-message", markup=False)
        yield Static(id="error-hint", classes="para", markup=False)
        yield Static(
            Content.assemble(
                ("Press ", "$foreground-muted"), ("r", "bold $text-accent"), (" to retry.", "$foreground-muted")
            ),
            id="error-retry",
            classes="para",
        )

    def show(self, message: str, hint: str, *, title: str | None = None, retry: bool = True) -> None:
        """``retry`` False hides "Press r to retry" (nothing to re-read, e.g. a failed demo build)."""
        self.border_title = title or self.TITLE
        self.query_one("#error-message", Static).update(Content.styled(message, "bold"))
        hint_widget = self.query_one("#error-hint", Static)
        hint_widget.update(Content(hint))
        hint_widget.display = bool(hint)
        self.query_one("#error-retry").display = retry

    @property
    def message_text(self) -> str:
        """The shown message and hint as plain text (for tests and screen readers)."""
        parts = [str(self.query_one("#error-message", Static).content)]
        hint = self.query_one("#error-hint", Static)
        if hint.display:
            parts.append(str(hint.content))
        return "\n".join(parts)

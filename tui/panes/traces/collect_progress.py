"""Progress of collections in the Traces pane: the strip under the figures, and the first-start demo build.

Only widgets and text here; the collection itself runs in ``tui.app.collect_runner``. Nothing shows
elapsed time (it would make every screenshot different): rates and counts say enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Label, ProgressBar, Static

from services.common.echo import cap_echo
from services.rollouts.demo import BUILD_TIME
from tui.widgets.prose import TwoColumn

if TYPE_CHECKING:  # the collector pulls in crafter and numpy: imported when a collection starts
    from services.rollouts.collector import CollectProgress, CollectResult


def progress_text(p: CollectProgress) -> str:
    """``episodes m/n · N dec/s · mean unique x.x · k bad tool calls · skipped s``."""
    parts = [
        f"episodes {p.episodes_done:,}/{p.episodes_total:,}",
        f"{p.decisions_per_s:,.0f} dec/s",
        f"mean unique {p.mean_unique:.1f}",
    ]
    if p.tool_call_failures:
        parts.append(f"{p.tool_call_failures:,} bad tool calls")
    if p.episodes_skipped:
        parts.append(f"skipped {p.episodes_skipped:,} already recorded")
    if p.episodes_unreached:
        parts.append(f"{p.episodes_unreached:,} not recorded (no model answer)")
    if p.notice:  # a retry in progress: said as it happens, until the server answers again
        parts.append(f"retry {p.server_retries:,}: {cap_echo(p.notice, 200)}")
    return " · ".join(parts)


def summary_text(result: CollectResult) -> str:
    """The line shown when a collection ends: what was recorded, and why it stopped early if it did."""
    p = result.progress
    if not p.episodes_done and p.episodes_skipped and not result.stopped:
        return (
            f"Nothing new: all {p.episodes_skipped:,} episodes are already recorded (same policy, model and "
            "seeds); choose other seeds to record more."
        )
    text = (
        f"Recorded {p.episodes_done:,} episode{'s' if p.episodes_done != 1 else ''} "
        f"({p.decisions:,} decisions, {p.decisions_per_s:,.0f} dec/s, mean unique {p.mean_unique:.1f})"
    )
    if p.tool_call_failures:
        text += f"; {p.tool_call_failures:,} bad tool calls"
    if p.episodes_unreached:
        text += f"; {p.episodes_unreached:,} not recorded: none of their decisions got an answer from the model"
    if p.server_retries:
        text += f"; {p.server_retries:,} inference calls retried"
    text += f"; skipped {p.episodes_skipped:,} already recorded"
    if result.stopped:
        text += f". Stopped early: {result.stopped}; finished episodes are kept"
    return text + "."


class CollectStrip(Vertical):
    """Two lines under the figures while a collection runs: what and a bar (and how to stop), then figures."""

    DEFAULT_CSS = """
    CollectStrip {
        dock: bottom;
        height: 2;
        padding: 0 1;
        background: $boost;
        display: none;
    }
    CollectStrip.-running {
        display: block;
    }
    CollectStrip > Horizontal {
        height: 1;
    }
    CollectStrip #collect-title {
        width: auto;
        text-style: bold;
        color: $text-accent;
        margin-right: 2;
    }
    CollectStrip ProgressBar {
        width: 1fr;
        margin-right: 2;
    }
    CollectStrip ProgressBar Bar {
        width: 1fr;
    }
    CollectStrip #collect-stop {
        width: auto;
        color: $text-muted;
    }
    CollectStrip #collect-figures {
        width: 1fr;
    }
    """

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(id="collect-title", markup=False)
            yield ProgressBar(show_eta=False, id="collect-bar")
            yield Label(id="collect-stop")
        yield Label(id="collect-figures", markup=False)

    def start(self, title: str, total: int | None) -> None:
        self.query_one("#collect-title", Label).update(title)
        self.query_one(ProgressBar).update(total=total, progress=0)
        self.query_one("#collect-figures", Label).update("starting…")
        self.set_stopping(False)
        self.add_class("-running")

    def show(self, p: CollectProgress) -> None:
        self.query_one(ProgressBar).update(total=max(p.episodes_total, 1), progress=p.episodes_done)
        self.query_one("#collect-figures", Label).update(progress_text(p))

    def set_stopping(self, stopping: bool) -> None:
        stop = self.query_one("#collect-stop", Label)
        if stopping:
            stop.update(Content.styled("stopping: finishing the current decisions…", "$text-warning"))
        else:
            stop.update(Content.assemble(("x", "bold $text-accent"), " stops (finished episodes stay)"))

    def finish(self) -> None:
        self.remove_class("-running")

    @property
    def running(self) -> bool:
        return self.has_class("-running")

    @property
    def figures(self) -> str:
        return str(self.query_one("#collect-figures", Label).content)


class DemoPartRow(Horizontal):
    """One part of the demo (teacher or random): label, bar, figures."""

    DEFAULT_CSS = """
    DemoPartRow {
        height: 1;
        margin-top: 1;
    }
    DemoPartRow .part-label {
        width: 10;
        text-style: bold;
    }
    DemoPartRow ProgressBar {
        width: auto;
        margin-right: 2;
    }
    DemoPartRow ProgressBar Bar {
        width: 40;
    }
    DemoPartRow .part-figures {
        width: 1fr;
        color: $text-muted;
    }
    """

    def __init__(self, label: str, total: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.part = label
        self.total = total

    def compose(self) -> ComposeResult:
        yield Label(self.part, classes="part-label", markup=False)
        yield ProgressBar(total=max(self.total, 1), show_eta=False)
        yield Label("waiting", classes="part-figures", markup=False)

    def show(self, p: CollectProgress) -> None:
        total = p.episodes_total + p.episodes_skipped
        self.query_one(ProgressBar).update(total=max(total, 1), progress=p.episodes_done + p.episodes_skipped)
        self.query_one(".part-figures", Label).update(progress_text(p))

    @property
    def progress(self) -> float:
        return self.query_one(ProgressBar).progress


class DemoBuildState(Vertical):
    """First start, no DB found: what is being built, where, and a bar per part."""

    def __init__(self, path: Path, parts: Sequence[tuple[str, int, int]], *, id: str | None = None) -> None:
        """``parts`` are (label, episodes, seeds' max turns) as the demo will record them."""
        super().__init__(id=id, classes="message-panel")
        self.path = path
        self.parts = list(parts)
        self.border_title = "Demo trace DB"

    def compose(self) -> ComposeResult:
        total = sum(n for _, n, _ in self.parts)
        turns = max((t for _, _, t in self.parts), default=0)
        counts = {label: n for label, n, _ in self.parts}
        yield Static(Content.styled("Building the demo trace DB (first start)…", "bold $text-accent"))
        yield Static(
            Content.assemble(
                "No trace DB was found, so sft-studio is making one to start from: ",
                (f"{total:,} Crafter episodes", "bold"),
                f" (up to {turns} turns each) played by sft-studio's scripted ",
                ("teacher", "bold"),
                f" ({counts.get('teacher', 0):,} seeds) and a ",
                ("random", "bold"),
                f" policy ({counts.get('random', 0):,} seeds), recorded as synth-ai traces into:",
            ),
            classes="para",
        )
        yield TwoColumn([(" ", Content.styled(str(self.path), "bold $text-primary"))], left_width=2)
        for label, n, _ in self.parts:
            yield DemoPartRow(label, n, id=f"demo-part-{label}")
        yield Static(
            Content.assemble(
                (f"This happens once ({BUILD_TIME}); the app then opens the demo DB. ", "$foreground-muted"),
                ("Quitting keeps the finished episodes: the next start completes the build. ", "$foreground-muted"),
                ("sft-studio demo", "bold $text-accent"),
                (" builds it from a shell; ", "$foreground-muted"),
                ("sft-studio --no-demo", "bold $text-accent"),
                (" starts without it.", "$foreground-muted"),
            ),
            classes="para",
        )

    def show(self, label: str, p: CollectProgress) -> None:
        rows = self.query(f"#demo-part-{label}").results(DemoPartRow)
        for row in rows:
            row.show(p)

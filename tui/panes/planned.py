"""Panes that are planned but not built: each says what it will do, and that it is not built yet.

No sample numbers or mock widgets here: an empty promise is clearer than fake content.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.widgets.prose import bullets


@dataclass(frozen=True)
class PlannedPane:
    """Title and plan of a pane still to be built."""

    pane_id: str
    title: str
    summary: str
    plans: tuple[str, ...]


PLANNED: tuple[PlannedPane, ...] = (
    PlannedPane(
        "filters",
        "Filters",
        "Choose which recorded sessions become training data, and export them.",
        (
            "Tune filters live (model, outcome reward, achievements, unique-achievement count, turns) "
            "with a preview of how many sessions and SFT examples match as you type.",
            "Export the matching decisions as SFT JSONL into ft_data/.",
        ),
    ),
    PlannedPane(
        "configs",
        "Configs",
        "Write and check fine-tuning configs for Qwen/Qwen3-0.6B.",
        (
            "Edit LoRA, QLoRA and full fine-tune (FFT) configs as TOML, validated before saving.",
            "Plan sweeps: vary settings such as learning rate, rank or epochs across several runs.",
        ),
    ),
    PlannedPane(
        "jobs",
        "Jobs",
        "Train on a Synth learning-API backend and watch the jobs.",
        (
            "Submit fine-tuning jobs with an exported dataset and a config.",
            "Monitor each job: status, events, training loss and throughput.",
        ),
    ),
    PlannedPane(
        "eval",
        "Eval",
        "Measure whether fine-tuning helped.",
        (
            "Run the base model and fine-tuned models as Crafter agents over a fixed set of seeds.",
            "Compare their achievements and rewards on the same seeds.",
        ),
    ),
    PlannedPane(
        "runs",
        "Runs",
        "Keep track of everything that was tried.",
        (
            "A ledger of every run: its data filter, config, job and evaluation results.",
            "Compare runs side by side.",
        ),
    ),
)


class PlannedPaneView(VerticalScroll):
    """The placeholder body of one planned pane: its purpose, "not built yet", and its plans."""

    def __init__(self, pane: PlannedPane) -> None:
        super().__init__(id=f"{pane.pane_id}-body")
        self.pane = pane

    def compose(self) -> ComposeResult:
        with Vertical(classes="message-panel planned-panel") as panel:
            panel.border_title = f"{self.pane.title}: not built yet"
            yield Static(Content.styled(self.pane.summary, "bold"))
            yield Static(
                Content.assemble(("Not built yet", "bold $text-warning"), ": this pane arrives in a later release."),
                classes="para",
            )
            yield Static(Content.styled("What it will do:", "bold"), classes="para")
            yield bullets(self.pane.plans)
            yield Static(
                Content.assemble(
                    ("Working now: the Traces pane (press ", "$foreground-muted"),
                    ("1", "bold $text-accent"),
                    (") shows statistics of your trace DB.", "$foreground-muted"),
                ),
                classes="para",
            )

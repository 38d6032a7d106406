"""The F1 help: every key and what each pane does, in a scrollable modal that fits small terminals."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.panes.planned import PLANNED
from tui.widgets.prose import TwoColumn

KEYS: tuple[tuple[str, str], ...] = (
    ("1 … 6", "Go to Traces, Filters, Configs, Jobs, Eval, Runs (or click a tab)"),
    ("F1", "This help (Escape closes it)"),
    ("r", "Traces: re-read the trace DB now (also retries after an error)"),
    ("a", "Traces: turn auto-refresh on or off (re-reads when the DB file changes)"),
    ("c", "Traces: record Crafter rollouts into the open DB (opens a form)"),
    ("x", "Stop the running collection (finished episodes stay in the DB)"),
    ("e", "Filters: export SFT JSONL with a manifest (asks before overwriting)"),
    ("s / l", "Filters: save the filter as a preset / load one (configs/filters/)"),
    ("Escape", "Leave a text field (Filters form, Configs form or raw TOML), so 1 … 6 and e, s, l are keys again"),
    ("ctrl+s", "Configs: save (shows the diff; atomic, keeps a .bak; detects changes on disk)"),
    ("ctrl+z / ctrl+y", "Configs: undo / redo unsaved edits (the raw editor has its own ctrl+z)"),
    ("ctrl+o / ctrl+r", "Configs: open a config by path / reload the file from disk"),
    ("F2 … F6", "Configs: Form, Raw TOML, Payload, Diff, Sweep (w writes the sweep)"),
    ("ctrl+p", "Command palette: actions by name ('Traces: refresh', 'Go to: Filters', …)"),
    ("tab / shift+tab", "Move focus between tabs, tables and scrolling areas"),
    ("↑ ↓ pgup pgdn", "Move in a table, or scroll the focused pane"),
    ("q / ctrl+q", "Quit"),
)

TRACES_HELP = (
    "Statistics of the open trace DB: file facts, model usage, outcome and event rewards, how often "
    "each of the 22 Crafter achievements was unlocked, and how many unique achievements sessions reached. "
    "Figures refresh by themselves when a collector appends, e.g. c: teacher, random or "
    "OpenAI-compatible rollouts. With no DB found, first start builds and opens a demo DB."
)


FILTERS_HELP = (
    "Choose which sessions become SFT data, with the reference exporter's flags: models, providers, "
    "min/max unique achievements, excluded and required achievements, outcome reward range, event rewards "
    "(TYPE[:MIN]) and a limit. The preview (sessions, examples, estimated tokens, the funnel of what each "
    "filter removed, breakdowns) follows as you type; an invalid field says why and the last valid preview "
    "stays. e exports with a manifest and validation; s and l save and load presets."
)

CONFIGS_HELP = (
    "Edit LoRA/QLoRA/FFT SFT configs (configs/*.toml) as a form (typed fields, help per key) or as raw "
    "TOML; both stay in sync. Every change is checked exactly as synth-ai 0.2.23's train CLI checks it, plus "
    "what it silently drops (weight_decay, LoRA rank, ...) and what the backend refuses (no gpu_type). "
    "Payload shows the exact JSON body of the job; Diff shows unsaved edits; Sweep writes one config per "
    "value of an axis (LoRA rank, learning rate, method, sequence length, batch, GPUs, dataset size)."
)


def pane_rows() -> list[tuple[str, Content]]:
    rows = [("1 Traces", Content(TRACES_HELP))]
    for n, pane in enumerate(PLANNED, start=2):
        if pane.pane_id == "filters":
            rows.append((f"{n} {pane.title}", Content(FILTERS_HELP)))
            continue
        if pane.pane_id == "configs":
            rows.append((f"{n} {pane.title}", Content(CONFIGS_HELP)))
            continue
        rows.append((f"{n} {pane.title}", Content.assemble(("Not built yet. ", "$text-warning"), " ".join(pane.plans))))
    return rows


class HelpScreen(ModalScreen[None]):
    """Keys and panes; Escape (or F1) closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close help"),
        Binding("f1", "dismiss", "Close help", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 96;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $accent;
        border-title-color: $accent;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .para {
        margin-top: 1;
    }
    HelpScreen #help-panes .left {
        text-style: bold;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "sft-studio help"
            body.border_subtitle = "Escape closes"
            yield Static(Content.styled("Keys", "bold $text-accent"))
            yield TwoColumn(KEYS, left_width=max(len(k) for k, _ in KEYS) + 3, id="help-keys")
            yield Static(Content.styled("Panes", "bold $text-accent"), classes="para")
            yield TwoColumn(pane_rows(), left_width=12, id="help-panes")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

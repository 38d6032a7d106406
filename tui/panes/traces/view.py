"""What the Traces pane shows of a TraceStats, as renderables and table rows (no widgets, no I/O)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from services.traces.achievement_keys import KeyStyle
from services.traces.stats_models import TraceStats
from services.traces.stats_report import human_size
from tui.widgets.bars import BarRow
from tui.widgets.tables import Row, right

MODEL_COLUMNS = (
    ("model", "Model"),
    ("provider", "Provider"),
    ("calls", "Calls"),
    ("tokens", "Tokens total"),
    ("tokens_in", "Tokens in"),
    ("tokens_out", "Tokens out"),
    ("latency", "Avg latency ms"),
    ("sessions", "Sessions"),
)
#: The same columns under labels that let the table fit 80 columns (the section's subtitle explains them).
MODEL_COLUMNS_NARROW = (
    ("model", "Model"),
    ("provider", "Provider"),
    ("calls", "Calls"),
    ("tokens", "Tokens"),
    ("tokens_in", "In"),
    ("tokens_out", "Out"),
    ("latency", "ms/call"),
    ("sessions", "Sessions"),
)
MODEL_COLUMNS_NARROW_NOTE = "tokens total, in, out · ms/call = avg latency"
REWARD_COLUMNS = (("type", "Reward type"), ("events", "Events"), ("total", "Total"), ("avg", "Avg"))
TEXT_COLUMNS = frozenset({"model", "provider", "type"})


def column_label(key: str, label: str) -> Text:
    """Numeric columns get right-aligned headers, to sit over their figures."""
    return Text(label, justify="left" if key in TEXT_COLUMNS else "right")


def _shown_path(path: str, resolved: str) -> str:
    """The path as the user gave it, plus the file inside when it is a sqld directory."""
    try:
        inner = Path(resolved).relative_to(Path(path).resolve())
    except ValueError:
        return f"{path}  ({resolved})"
    return path if inner == Path(".") else f"{path}  (sqld: {inner})"


def header_renderable(stats: TraceStats) -> RenderableType:
    """Path, file facts, counts, time range, key style, skipped rows, notes and unavailable sections.

    The compute time (``elapsed_s``) is left out on purpose: it changes on every read.
    """
    h = stats.header
    m = h.malformed
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()

    def facts(*parts: tuple[str, str]) -> Text:
        text = Text()
        for i, (value, label) in enumerate(parts):
            if i:
                text.append("  ·  ", style="dim")
            text.append(value, style="bold")
            if label:
                text.append(f" {label}")
        return text

    grid.add_row("Path", Text(_shown_path(h.path, h.resolved_path)))
    sep = ("  ·  ", "dim")
    grid.add_row(
        "File",
        Text.assemble(
            (human_size(h.size_bytes), "bold"),
            sep,
            (f"synth-ai {h.flavour}", "bold"),
            " flavour",
            sep,
            "journal mode ",
            (h.journal_mode, "bold"),
            sep,
            "opened ",
            (h.read_mode, "bold"),
        ),
    )
    grid.add_row(
        "Contents",
        facts((f"{h.sessions:,}", "sessions"), (f"{h.events:,}", "events"), (f"{h.lm_calls:,}", "LM calls")),
    )
    grid.add_row("Time range", Text(f"{h.first_session_at or '-'}  →  {h.last_session_at or '-'}"))
    skipped = Text(f"{m.total:,}", style="bold")
    skipped.append(" malformed rows")
    if m.total:
        detail = [
            (m.event_reward_annotation, "annotation"),
            (m.event_metadata, "event metadata"),
            (m.outcome_reward_metadata, "outcome metadata"),
            (m.outcome_total_reward, "outcome reward not a number"),
            (m.turn_not_integer, "bad turn"),
        ]
        skipped.append(" (" + ", ".join(f"{label} {n}" for n, label in detail if n) + ")", style="dim")
    grid.add_row("Achievements", key_style_text(h.key_style))
    grid.add_row("Skipped", skipped)
    for note in stats.notes:
        grid.add_row("Note", Text(note, style="italic"))
    for why in stats.unavailable.values():
        grid.add_row(Text("Unavailable", style="bold yellow"), Text(why, style="yellow"))
    return grid


def key_style_text(style: KeyStyle) -> Text:
    """Which achievement keys the DB's rows use, in words."""
    if style is KeyStyle.NONE:
        return Text("no achievement annotations found", style="dim")
    if style is KeyStyle.MIXED:
        return Text.assemble(("mixed", "bold"), " keys (reference and task-app rows)")
    return Text.assemble((style.value, "bold"), " keys")


def model_rows(stats: TraceStats) -> list[Row]:
    rows: list[Row] = []
    for m in stats.model_usage:
        key = json.dumps([m.model_name, m.provider])
        rows.append(
            (
                key,
                (
                    Text(m.model_name),
                    Text(m.provider or "-", style="" if m.provider else "dim"),
                    right(f"{m.calls:,}"),
                    right(f"{m.total_tokens:,}"),
                    right(f"{m.input_tokens:,}"),
                    right(f"{m.output_tokens:,}"),
                    right(f"{m.avg_latency_ms:,.1f}"),
                    right(f"{m.sessions:,}"),
                ),
            )
        )
    return rows


def reward_type_rows(stats: TraceStats) -> list[Row]:
    rows: list[Row] = []
    for r in stats.reward_types or []:
        name = r.reward_type if r.reward_type is not None else "(none)"
        rows.append(
            (
                json.dumps(r.reward_type),
                (Text(name), right(f"{r.events:,}"), right(f"{r.total_value:,.3f}"), right(f"{r.avg_value:,.3f}")),
            )
        )
    return rows


def outcome_renderable(stats: TraceStats) -> RenderableType:
    """Episodes, total, avg, min and max of the outcome rewards, labels above figures."""
    o = stats.outcome
    if o is None:
        return Text(stats.unavailable.get("outcome", "No outcome_rewards table."), style="yellow")
    if not o.episodes:
        return Text("No outcome rewards recorded.", style="dim italic")
    table = Table(box=None, padding=(0, 3, 0, 0), show_edge=False, header_style="dim")
    figures = {
        "Episodes": f"{o.episodes:,}",
        "Total": f"{o.total_reward:,.2f}",
        "Avg": f"{o.avg_reward:,.2f}",
        "Min": f"{o.min_reward:,.2f}",
        "Max": f"{o.max_reward:,.2f}",
    }
    for label in figures:
        table.add_column(label, justify="right")
    table.add_row(*(Text(v, style="bold") for v in figures.values()))
    return table


def reward_types_note(stats: TraceStats) -> str | None:
    """Why the reward-type table is empty, or None when it has rows."""
    if stats.reward_types is None:
        return stats.unavailable.get("reward_types", "No event_rewards table.")
    return None if stats.reward_types else "No event rewards recorded."


def achievement_rows(stats: TraceStats) -> list[BarRow]:
    """All 22 Crafter achievements in Crafter's order (zeros too), then any other names found.

    Empty when no session has achievement data: 22 zero bars would read as "nothing unlocked".
    """
    if not sessions_with_data(stats):
        return []
    return [BarRow(name, count) for name, count in stats.achievements.all_crafter()]


def histogram_rows(stats: TraceStats) -> list[BarRow]:
    """Sessions per unique-achievement count, gaps between the smallest and largest count filled."""
    sizes = stats.achievements.size_counts
    if not sizes:
        return []
    lo, hi = min(sizes), max(sizes)
    return [BarRow(f"{n:>2} unique", sizes.get(n, 0)) for n in range(lo, hi + 1)]


def sessions_with_data(stats: TraceStats) -> int:
    return sum(stats.achievements.size_counts.values())

"""The comparison's last section: for each run against the first, the achievements whose success
rate went up or down, with the training examples and sessions that came from sessions reaching each
(``services.ledger.achievement_data``, computed in the comparison's worker). A function of the
records, no widget: the pane puts it in a ``Static``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from services.ledger.achievement_data import AchievementData, data_lines, table
from tui.panes.runs.view import short_id, shown_paths

TITLE = "Achievements gained or lost, and the training data that reached them"


def section(pairs: Sequence[AchievementData], shown: Callable[[str], str] = str) -> RenderableType:
    """One block per pair: a heading, where the counts come from (or why there are none), the rows."""
    parts: list[RenderableType] = []
    for n, pair in enumerate(pairs):
        if n:
            parts.append(Text(""))
        base = short_id(pair.base_id, 24) + (" (base model)" if pair.base_kind == "base model" else "")
        seeds = f", {pair.seeds} common seeds" if pair.seeds else ""
        parts.append(Text.assemble((short_id(pair.run_id, 24), "bold"), " vs ", (base, "bold"), seeds))
        for counted, line in data_lines(pair):
            sentence = shown_paths(line, shown)
            parts.append(Text(sentence, style="dim") if counted else Text(f"Not counted: {sentence}", style="yellow"))
        if not pair.rows:
            parts.append(Text(pair.note or "No achievement changed.", style="italic"))
            continue
        headers, rows = table(pair)
        grid = Table(box=None, pad_edge=False, show_header=True, header_style="bold", expand=False)
        for i, header in enumerate(headers):
            grid.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
        for row, link in zip(rows, pair.rows, strict=True):
            style = "green" if link.delta > 0 else "red"
            grid.add_row(Text(row[0], style=style), *row[1:3], Text(row[3], style=f"bold {style}"), *row[4:])
        parts.append(grid)
    if not parts:
        parts.append(Text("Nothing to compare.", style="italic"))
    return Group(*parts)

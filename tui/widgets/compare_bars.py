"""Two bar charts side by side, one row per item, with the difference: ``label  A ███ 40%  B █▌ 20%  +20``.

For comparing two evals achievement by achievement: each side is drawn against 100 %, so equal bars
mean equal success rates, and the delta column says by how many percentage points A leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from tui.widgets.bars import bar_cells

_MIN_BAR = 4


@dataclass(frozen=True)
class PairRow:
    """One item: its label and the two fractions (0..1) compared."""

    label: str
    a: float
    b: float


def delta_text(a: float, b: float) -> str:
    """``+20``, ``-5``, ``0``: percentage points A minus B, whole numbers (rates over tens of episodes)."""
    points = round(100.0 * (a - b))
    return f"{points:+d}" if points else "0"


class CompareBars(Widget):
    """Rows of ``label  ███ 40%  █▌ 20%  +20``; A's bars in the accent colour, B's in the secondary."""

    DEFAULT_CSS = """
    CompareBars {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[PairRow] = []
        self.names = ("A", "B")

    def set_rows(self, rows: Sequence[PairRow], names: tuple[str, str] = ("A", "B")) -> None:
        self.rows = list(rows)
        self.names = names
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 1 + max(1, len(self.rows))

    def render(self) -> Content:
        if not self.rows:
            return Content.styled("(nothing to compare)", "$foreground-muted italic")
        width = self.content_size.width or 80
        label_w = max(len(r.label) for r in self.rows)
        pct_w, delta_w = 5, 4  # "100%", "+100"
        bar_w = max(_MIN_BAR, (width - label_w - 2 * (pct_w + 2) - delta_w - 2) // 2)
        a_name, b_name = (n[: bar_w + pct_w + 1] for n in self.names)
        lines = [
            Content.assemble(
                " " * (label_w + 1),
                (a_name.ljust(bar_w + pct_w + 2), "bold $text-accent"),
                (b_name.ljust(bar_w + pct_w + 2), "bold $text-secondary"),
                ("Δ pts".rjust(delta_w), "bold"),
            )
        ]
        for row in self.rows:
            points = round(100.0 * (row.a - row.b))
            delta_style = (
                "bold $text-success" if points > 0 else "bold $text-error" if points < 0 else "$foreground-muted"
            )
            muted = row.a == 0 and row.b == 0
            cells: list[Content | str | tuple[str, str]] = [
                (row.label.ljust(label_w), "$foreground-muted" if muted else "")
            ]
            for value, colour in ((row.a, "$accent"), (row.b, "$secondary")):
                bar = bar_cells(value, bar_w)
                cells += [
                    " ",
                    (bar, colour),
                    " " * (bar_w - len(bar)),
                    (f"{100.0 * value:.0f}%".rjust(pct_w), "$foreground-muted" if value == 0 else "bold"),
                    " ",
                ]
            cells.append((delta_text(row.a, row.b).rjust(delta_w), delta_style))
            lines.append(Content.assemble(*cells))
        return Content("\n").join(lines)

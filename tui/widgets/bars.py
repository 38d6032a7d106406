"""Horizontal bar charts drawn with block characters: readable in any terminal, no plot library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

#: Partial blocks for 1..7 eighths of a cell; a full cell is "█".
_EIGHTHS = " ▏▎▍▌▋▊▉"
_MIN_BAR = 8


@dataclass(frozen=True)
class BarRow:
    """One bar: its label and value (the percentage is worked out by the chart)."""

    label: str
    value: int


def bar_cells(fraction: float, width: int) -> str:
    """``fraction`` (0..1) of ``width`` cells, in eighths of a cell; never empty for a non-zero value."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


class BarChart(Widget):
    """Rows of ``label  ████▌  count  pct%`` that fill the widget's width.

    ``scale="total"`` draws a full bar at 100 % of ``total`` (so bars compare across DBs);
    ``scale="max"`` stretches the largest value to the full width (for histograms).
    """

    DEFAULT_CSS = """
    BarChart {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(
        self,
        *,
        scale: Literal["total", "max"] = "total",
        unit: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.scale = scale
        self.unit = unit
        self.rows: list[BarRow] = []
        self.total = 0
        self.empty_text = "(nothing recorded)"

    def set_rows(self, rows: Sequence[BarRow], total: int, empty_text: str = "(nothing recorded)") -> None:
        """Replace the bars; ``total`` is the 100 % of the percentage column."""
        self.rows = list(rows)
        self.total = total
        self.empty_text = empty_text
        self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.rows))

    def render(self) -> Content:
        if not self.rows:
            return Content.styled(self.empty_text, "$foreground-muted italic")
        width = self.content_size.width or 80
        label_w = max(len(r.label) for r in self.rows)
        count_w = max(len(f"{r.value:,}") for r in self.rows)
        pct_w = 6  # "100.0%"
        unit = f" {self.unit}" if self.unit else ""
        bar_w = max(_MIN_BAR, width - label_w - count_w - pct_w - len(unit) - 4)
        peak = max((r.value for r in self.rows), default=0)
        denominator = self.total if self.scale == "total" else peak
        lines: list[Content] = []
        for row in self.rows:
            fraction = row.value / denominator if denominator else 0.0
            pct = 100.0 * row.value / self.total if self.total else 0.0
            bar = bar_cells(fraction, bar_w)
            muted = row.value == 0
            label_style = "$foreground-muted" if muted else ""
            number_style = "$foreground-muted" if muted else "bold"
            lines.append(
                Content.assemble(
                    (row.label.ljust(label_w), label_style),
                    " ",
                    (bar, "$accent"),
                    " " * (bar_w - len(bar) + 1),
                    (f"{row.value:,}".rjust(count_w), number_style),
                    (unit, "$foreground-muted"),
                    " ",
                    (f"{pct:5.1f}%".rjust(pct_w), "$foreground-muted"),
                )
            )
        return Content("\n").join(lines)

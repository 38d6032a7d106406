"""A live loss chart: training and validation loss against the step, drawn by plotext.

textual-plotext's ``PlotextPlot`` gives each widget its own plotext figure (no shared global state
between charts or threads) and sizes the figure to the widget; this class only feeds it the two
curves. New points replace the data and refresh this widget alone (never the app), so a poll that
brings ten points costs one repaint of the chart. Until a curve has a point, the chart says so in
words instead of drawing empty axes.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

#: (step, value) points of one curve, in step order.
Curve = Sequence[tuple[float, float]]

TRAIN_COLOUR = "cyan"
VAL_COLOUR = "orange"


class LossChart(PlotextPlot):
    """Train loss as a line, validation loss as points (it is measured rarely), step on the x axis.

    No title: the legend names both curves, and at 80x24 every row goes to the plot."""

    DEFAULT_CSS = """
    LossChart { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []
        self.empty_text = "No loss reported yet."

    def set_curves(self, train: Curve, val: Curve = (), *, empty_text: str | None = None) -> None:
        """Show these points (replacing the previous ones); unchanged data costs no repaint."""
        train_points = [(float(s), float(v)) for s, v in train]
        val_points = [(float(s), float(v)) for s, v in val]
        if empty_text is not None:
            self.empty_text = empty_text
        if train_points == self.train and val_points == self.val and empty_text is None:
            return
        self.train, self.val = train_points, val_points
        self._replot()
        self.refresh()

    def _replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xlabel("step")
        if self.train:
            xs, ys = zip(*self.train, strict=True)
            plt.plot(list(xs), list(ys), label="train", marker="braille", color=TRAIN_COLOUR)
        if self.val:
            xs, ys = zip(*self.val, strict=True)
            plt.scatter(list(xs), list(ys), label="validation", marker="●", color=VAL_COLOUR)

    def render(self) -> RenderResult:
        if not self.train and not self.val:
            return Text(self.empty_text, style="italic")
        return super().render()

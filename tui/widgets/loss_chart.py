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
#: Points drawn per curve at most: a braille plot 120 columns wide has 240 dots across, and
#: plotext's build time grows with the points (a long job has thousands).
MAX_DRAWN = 300
VAL_COLOUR = "orange"


def thin(points: Sequence[tuple[float, float]], most: int) -> list[tuple[float, float]]:
    """At most about ``most`` of ``points``, evenly spaced, always with the last (the newest loss)."""
    if len(points) <= most:
        return list(points)
    stride = -(-len(points) // most)
    kept = list(points[::stride])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


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
        self._version = 0
        self._cache: tuple[object, RenderResult] | None = None

    def set_curves(self, train: Curve, val: Curve = (), *, empty_text: str | None = None) -> None:
        """Show these points (replacing the previous ones); unchanged data costs no repaint."""
        train_points = [(float(s), float(v)) for s, v in train]
        val_points = [(float(s), float(v)) for s, v in val]
        if empty_text is not None:
            self.empty_text = empty_text
        if train_points == self.train and val_points == self.val and empty_text is None:
            return
        self.train, self.val = train_points, val_points
        self._version += 1
        self._replot()
        self.refresh()

    def _replot(self) -> None:
        plt = self.plt
        plt.clear_data()  # not clear_figure: rebuilding the figure costs more than the plot
        plt.xlabel("step")
        if self.train:
            xs, ys = zip(*thin(self.train, MAX_DRAWN), strict=True)
            plt.plot(list(xs), list(ys), label="train", marker="braille", color=TRAIN_COLOUR)
        if self.val:
            xs, ys = zip(*self.val, strict=True)
            plt.scatter(list(xs), list(ys), label="validation", marker="●", color=VAL_COLOUR)

    def render(self) -> RenderResult:
        """The plot, built by plotext only when the data, the size or the theme changed (a build
        takes several milliseconds; Textual asks for a render on every refresh of the widget)."""
        if not self.train and not self.val:
            return Text(self.empty_text, style="italic")
        key = (self._version, self.size, self.app.theme, self.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, super().render())
        return self._cache[1]

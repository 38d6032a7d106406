"""Overlaid training-loss curves of the compared runs (2 to 4), one colour each, drawn by plotext.

The Jobs pane's ``LossChart`` draws one job's train and validation curves; a comparison needs one
line per run, so this is its sibling on the same ``PlotextPlot`` (thinned with the same ``thin``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tui.widgets.loss_chart import MAX_DRAWN, thin

COLOURS = ("cyan", "orange", "magenta", "green")


class LossCurves(PlotextPlot):
    DEFAULT_CSS = """
    LossCurves { height: 12; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.curves: list[tuple[str, list[tuple[float, float]]]] = []
        self._version = 0
        self._cache: tuple[object, RenderResult] | None = None

    def set_curves(self, curves: Sequence[tuple[str, Sequence[Sequence[float]]]]) -> None:
        """``(label, [[step, loss], ...])`` per run; a run without points is left out of the plot."""
        self.curves = [(label, [(float(p[0]), float(p[1])) for p in points]) for label, points in curves if points]
        self._version += 1
        plt = self.plt
        plt.clear_data()
        plt.xlabel("step")
        for (label, points), colour in zip(self.curves, COLOURS, strict=False):
            xs, ys = zip(*thin(points, MAX_DRAWN), strict=True)
            plt.plot(list(xs), list(ys), label=label, marker="braille", color=colour)
        self.refresh()

    def render(self) -> RenderResult:
        if not self.curves:
            return Text(
                "No loss curve in the ledger for these runs (jobs record theirs when they end).", style="italic"
            )
        key = (self._version, self.size, self.app.theme, self.theme)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, super().render())
        return self._cache[1]

"""Two-column text rows (bullets, key lists) whose wrapped lines stay indented under their column."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content, ContentType
from textual.widgets import Static


class TwoColumn(Vertical):
    """One row per (left, right) pair; the left column is ``left_width`` cells wide."""

    DEFAULT_CSS = """
    TwoColumn { height: auto; }
    TwoColumn > Horizontal { height: auto; }
    TwoColumn .left { width: auto; }
    TwoColumn .right { width: 1fr; }
    """

    def __init__(
        self,
        rows: Iterable[tuple[ContentType, ContentType]],
        *,
        left_width: int,
        left_style: str = "bold",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.rows = list(rows)
        self.left_width = left_width
        self.left_style = left_style

    def compose(self) -> ComposeResult:
        for left, right in self.rows:
            with Horizontal():
                cell = Content(left) if isinstance(left, str) else left
                cell = cell.stylize_before(self.left_style) if self.left_style else cell
                label = Static(cell, classes="left", markup=False)
                label.styles.width = self.left_width
                yield label
                yield Static(right, classes="right", markup=False)


def bullets(items: Iterable[ContentType], *, marker: str = "•", classes: str | None = None) -> TwoColumn:
    """A bullet list; wrapped lines align with the text, not the bullet."""
    return TwoColumn(
        ((Content.styled(f"  {marker}", "$accent"), item) for item in items),
        left_width=len(marker) + 3,
        left_style="",
        classes=classes,
    )

"""A read-only table that draws only the rows in view: Textual's Line API over the caller's list of
rows, with a cell cursor, a fixed header, zebra stripes and an optional column of marks.

Why not a DataTable: it keeps a row object and a measured, styled cell for every row, so filling
it with 1,000 runs (15,000 cells) took ~300–600 ms on a busy machine, paid again on every filter
that brought the rows back. Here ``set_rows`` keeps a reference to the caller's sequence (any
object with ``key`` and ``cells``), column widths are given by the caller (measured once per
load, off the event loop), and a frame renders the ~40 lines on screen: opening, sorting and
filtering cost the same for 10 rows or 10,000.

Keys are DataTable's: arrows move the cell cursor, page up/down by a screen, home/end to the
first/last column, ctrl+home/ctrl+end to the first/last row; a click moves the cursor too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class TableRowLike(Protocol):
    """What the table needs of a row: its key (unique) and its cell texts, one per column."""

    @property
    def key(self) -> str: ...

    @property
    def cells(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class VColumn:
    """A column: its header, its width in cells (without the padding), and whether it holds numbers
    (right-aligned)."""

    label: str
    width: int
    numeric: bool = False


class VirtualTable(ScrollView, can_focus=True):
    """Rows set with ``set_rows`` (kept by reference, never copied), columns with ``set_columns``.

    With ``marks=True`` the first column shows each marked row's number (``set_marks``), in reverse
    video; it counts as column 0 for the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("left", "cursor_left", "Cursor left", show=False),
        Binding("right", "cursor_right", "Cursor right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first_column", "First column", show=False),
        Binding("end", "last_column", "Last column", show=False),
        Binding("ctrl+home", "first_row", "Top", show=False),
        Binding("ctrl+end", "last_row", "Bottom", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--even-row",
    }

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .virtual-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .virtual-table--header { background-tint: $foreground 5%; }
        }
        &:dark > .virtual-table--even-row { background: $surface-darken-1 40%; }
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .virtual-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .virtual-table--even-row { background: $surface-lighten-1 50%; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    def __init__(
        self, *, marks: bool = False, zebra_stripes: bool = True, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.show_marks = marks
        self.zebra_stripes = zebra_stripes
        self.padding = 1
        self.columns: tuple[VColumn, ...] = ()
        self.rows: Sequence[TableRowLike] = ()
        self.marks: Mapping[str, int] = {}
        self.cursor_row = 0
        self.cursor_column = 0
        self._x: list[int] = [0]  # each column's left edge in the virtual line, then the total width

    # ------------------------------------------------------------------------------------- content

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def column_count(self) -> int:
        return len(self.columns) + (1 if self.show_marks else 0)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, or None when there is no row."""
        if not self.rows:
            return None
        return self.rows[min(self.cursor_row, len(self.rows) - 1)].key

    @property
    def keys(self) -> list[str]:
        """The rows' keys in the order shown (for tests and callers that need them all)."""
        return [row.key for row in self.rows]

    def set_columns(self, columns: Sequence[VColumn]) -> None:
        self.columns = tuple(columns)
        edges = [0]
        widths = ([1] if self.show_marks else []) + [c.width for c in self.columns]
        for width in widths:
            edges.append(edges[-1] + width + 2 * self.padding)
        self._x = edges
        self.cursor_column = min(self.cursor_column, max(self.column_count - 1, 0))
        self._resized()

    def set_rows(self, rows: Sequence[TableRowLike], *, follow: bool = True) -> None:
        """Show ``rows`` (kept, not copied: the caller does not change the sequence afterwards).
        ``follow``: the cursor stays on the row with the same key when it is still shown (else at
        the same position, clamped); without it, at the same position (a sort: the view does not jump)."""
        old_key, old_row = self.cursor_key, self.cursor_row
        self.rows = rows
        row = old_row
        if follow and old_key is not None:
            for i, r in enumerate(rows):
                if r.key == old_key:
                    row = i
                    break
        self.cursor_row = min(max(row, 0), max(len(rows) - 1, 0))
        self._resized()
        self.refresh()
        self._scroll_to_cursor()
        self.call_after_refresh(self._scroll_to_cursor)

    def set_marks(self, marks: Mapping[str, int]) -> None:
        """Row key → its mark number (1, 2, …); rows not in it are unmarked."""
        if dict(marks) != dict(self.marks):
            self.marks = dict(marks)
            self.refresh()

    def move_cursor(self, *, row: int | None = None, column: int | None = None) -> None:
        if row is not None:
            self.cursor_row = min(max(row, 0), max(self.row_count - 1, 0))
        if column is not None:
            self.cursor_column = min(max(column, 0), max(self.column_count - 1, 0))
        self.refresh()
        self._scroll_to_cursor()

    def _resized(self) -> None:
        self.virtual_size = Size(self._x[-1], len(self.rows) + 1)

    # ------------------------------------------------------------------------------------- drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("virtual-table--header")
            labels = ([" "] if self.show_marks else []) + [c.label for c in self.columns]
            segments = [
                Segment(self._fit(label, i, numeric=False), header + _meta(-1, i)) for i, label in enumerate(labels)
            ]
            return self._crop(segments, scroll_x, width, header)
        index = scroll_y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[index]
        style = base
        if self.zebra_stripes and index % 2 == 0:
            style = base + self.get_component_rich_style("virtual-table--even-row")
        cursor = self.get_component_rich_style("virtual-table--cursor") if index == self.cursor_row else None
        segments = []
        column = 0
        if self.show_marks:
            mark = self.marks.get(row.key, 0)
            text = self._fit(str(mark) if mark else " ", 0, numeric=False)
            cell_style = style + Style(bold=True, reverse=True) if mark else style
            if cursor is not None and column == self.cursor_column:
                cell_style = cursor
            segments.append(Segment(text, cell_style + _meta(index, column)))
            column = 1
        for i, value in enumerate(row.cells):
            numeric = self.columns[i].numeric if i < len(self.columns) else False
            cell_style = cursor if cursor is not None and column == self.cursor_column else style
            segments.append(Segment(self._fit(value, column, numeric=numeric), cell_style + _meta(index, column)))
            column += 1
        return self._crop(segments, scroll_x, width, style)

    def _fit(self, text: str, column: int, *, numeric: bool) -> str:
        """``text`` padded (or cut) to the column's width, with the cell padding either side."""
        if column + 1 >= len(self._x):
            return ""
        width = self._x[column + 1] - self._x[column] - 2 * self.padding
        size = len(text) if text.isascii() else cell_len(text)
        if size > width:
            text, size = set_cell_size(text, width), width
        fill = " " * (width - size)
        pad = " " * self.padding
        return pad + (fill + text if numeric else text + fill) + pad

    def _crop(self, segments: list[Segment], scroll_x: int, width: int, fill: Style) -> Strip:
        total = self._x[-1]
        if total < scroll_x + width:
            segments.append(Segment(" " * (scroll_x + width - total), fill))
        return Strip(segments).crop(scroll_x, scroll_x + width)

    # --------------------------------------------------------------------------------------- cursor

    def _page(self) -> int:
        """Rows in view (the header excluded)."""
        return max(self.scrollable_content_region.height - 1, 1)

    def _scroll_to_cursor(self) -> None:
        """Scroll the least distance that brings the cursor's cell into view (below the header)."""
        region = self.scrollable_content_region
        if not self.rows or not region.width or not region.height:
            return  # not laid out yet: set_rows tries again after the next refresh
        x, y = self.scroll_offset
        page = self._page()
        if self.cursor_row < y:
            y = self.cursor_row
        elif self.cursor_row >= y + page:
            y = self.cursor_row - page + 1
        left, right = self._x[self.cursor_column], self._x[min(self.cursor_column + 1, len(self._x) - 1)]
        view = region.width
        if left < x:
            x = left
        elif right > x + view:
            x = min(left, right - view)
        if (x, y) != tuple(self.scroll_offset):
            self.scroll_to(x, y, animate=False, force=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_left(self) -> None:
        self.move_cursor(column=self.cursor_column - 1)

    def action_cursor_right(self) -> None:
        self.move_cursor(column=self.cursor_column + 1)

    def action_page_up(self) -> None:
        page = self._page()
        self.scroll_to(y=max(self.scroll_offset.y - page, 0), animate=False, force=True)
        self.move_cursor(row=self.cursor_row - page)

    def action_page_down(self) -> None:
        page = self._page()
        self.scroll_to(y=self.scroll_offset.y + page, animate=False, force=True)
        self.move_cursor(row=self.cursor_row + page)

    def action_first_column(self) -> None:
        self.move_cursor(column=0)

    def action_last_column(self) -> None:
        self.move_cursor(column=self.column_count - 1)

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def on_click(self, event: events.Click) -> None:
        """A click on a cell moves the cursor there (the header does nothing)."""
        meta = event.style.meta
        if meta.get("row", -1) >= 0 and "column" in meta:
            self.move_cursor(row=meta["row"], column=meta["column"])


def _meta(row: int, column: int) -> Style:
    """The cell's place, read back by a click (and one text run per cell in an SVG screenshot)."""
    return Style.from_meta({"row": row, "column": column})

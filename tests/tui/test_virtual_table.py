"""``VirtualTable``: draws only the rows in view (10,000 rows cost a screenful of reads), keeps the
cursor's cell in view as the keys move it, follows the cursor's row across a new set of rows, shows
marks, and a click moves the cursor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from textual.app import App, ComposeResult

from tui.widgets.virtual_table import VColumn, VirtualTable


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[str, ...]


class Counted(Sequence[Row]):
    """Rows made on demand, counting which were read (the table must read only those it shows)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read: set[int] = set()

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> Row: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Row]: ...
    def __getitem__(self, i: int | slice) -> Row | Sequence[Row]:
        if isinstance(i, slice):
            raise TypeError("no slices")
        if not 0 <= i < self.n:
            raise IndexError(i)
        self.read.add(i)
        return _row(i)

    def __iter__(self) -> Iterator[Row]:
        raise AssertionError("the table iterated over every row")


def _row(i: int) -> Row:
    return Row(f"r{i}", (f"run {i}", f"{i * 1.5:.1f}", "x" * (i % 7)))


COLUMNS = [VColumn("run", 9), VColumn("score", 12, numeric=True), VColumn("note", 6)]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield VirtualTable(id="t", marks=True)

    def on_mount(self) -> None:
        self.query_one(VirtualTable).set_columns(COLUMNS)


def _lines(table: VirtualTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


async def test_only_the_rows_in_view_are_read() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(VirtualTable)
        rows = Counted(10_000)
        table.set_rows(rows, follow=False)
        await pilot.pause()
        assert table.virtual_size.height == 10_001  # the header, then every row
        assert 0 < len(rows.read) <= 20 and max(rows.read) < 20
        table.focus()
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == 9_999 and table.cursor_key == "r9999"
        assert len(rows.read) <= 45  # the last screenful too, nothing between
        assert "run 9999" in _lines(table)[-1]


async def test_keys_move_the_cursor_and_keep_it_in_view() -> None:
    app = TableApp()
    async with app.run_test(size=(30, 12)) as pilot:  # narrower than the table: it scrolls sideways
        table = app.query_one(VirtualTable)
        rows = [_row(i) for i in range(100)]
        table.set_rows(rows)
        table.focus()
        await pilot.pause()
        header = _lines(table)[0]
        assert header.split()[:2] == ["run", "score"] and "note" not in header and table.cursor_column == 0
        page = table.scrollable_content_region.height - 1
        for _ in range(page + 3):
            await pilot.press("down")
        await pilot.pause()
        assert table.cursor_row == page + 3 and table.scroll_offset.y == 4
        assert _lines(table)[-1].split()[:2] == ["run", str(page + 3)]
        await pilot.press("pagedown")
        assert table.cursor_row == 2 * page + 3
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_offset.y == 0
        await pilot.press("end")  # the last column, scrolled into view
        await pilot.pause()
        assert table.cursor_column == 3 and table.scroll_offset.x > 0
        assert _lines(table)[0].split()[-1] == "note"
        await pilot.press("home", "right", "right")
        assert table.cursor_column == 2


async def test_new_rows_keep_the_cursor_on_its_row_unless_told() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(VirtualTable)
        rows = [_row(i) for i in range(50)]
        table.set_rows(rows)
        table.move_cursor(row=30)
        table.set_rows(rows[20:])  # a filter: r30 is now the 11th row
        assert table.cursor_row == 10 and table.cursor_key == "r30"
        table.set_rows(list(reversed(rows)), follow=False)  # a sort: the cursor keeps its place
        assert table.cursor_row == 10 and table.cursor_key == "r39"
        table.set_rows(rows[:3])  # gone: clamped
        assert table.cursor_row == 2
        table.set_rows([])
        assert table.cursor_key is None and table.row_count == 0
        await pilot.pause()


async def test_marks_and_click() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows([_row(i) for i in range(10)])
        table.set_marks({"r1": 2, "r3": 1})
        await pilot.pause()
        lines = _lines(table)
        assert lines[2].split()[:3] == ["2", "run", "1"] and lines[4].split()[:3] == ["1", "run", "3"]
        assert lines[1].split()[:2] == ["run", "0"]
        mark = next(iter(table.render_line(2)))
        assert mark.text.strip() == "2" and mark.style is not None and mark.style.reverse
        # Click the score cell of row 5 (screen line 6: the header is line 0; score spans x 14-27).
        await pilot.click(VirtualTable, offset=(20, 6))
        assert (table.cursor_row, table.cursor_column) == (5, 2) and table.cursor_key == "r5"

"""Refreshing a DataTable without making it jump: same keys update in place, else the cursor follows its row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

#: (row key, cells) of one table row.
Row = tuple[str, Sequence[Text]]


def right(value: str) -> Text:
    """A right-aligned cell (numbers)."""
    return Text(value, justify="right")


def cursor_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, or None for an empty table."""
    if not table.row_count:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except (RowDoesNotExist, KeyError):
        return None
    return key.value


def sync_rows(table: DataTable[Any], rows: Sequence[Row]) -> None:
    """Show ``rows`` (key, cells) keeping the cursor on the same row key and the scroll offset.

    When the keys are unchanged (the usual auto-refresh case) cells are updated in place, so
    nothing moves at all; otherwise the table is rebuilt and cursor and scroll are put back.
    """
    keys = [key for key, _ in rows]
    current = [row.key.value for row in table.ordered_rows]
    columns = list(table.columns)
    if keys == current:
        for key, cells in rows:
            for column, value in zip(columns, cells, strict=False):
                table.update_cell(key, column, value, update_width=True)
        return
    old_key = cursor_key(table)
    old_row = table.cursor_row
    scroll_x, scroll_y = table.scroll_x, table.scroll_y
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if not keys:
        return
    row = keys.index(old_key) if old_key in keys else min(max(old_row, 0), len(keys) - 1)
    table.move_cursor(row=row, animate=False, scroll=False)
    table.call_after_refresh(table.scroll_to, scroll_x, scroll_y, animate=False, immediate=True)

"""Waiting helpers for Pilot tests: poll a condition instead of guessing how many pauses it takes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from textual.pilot import Pilot
from textual.widget import Widget

W = TypeVar("W", bound=Widget)


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.02)


async def show_pane(pilot: Pilot[Any], key: str, pane_type: type[W]) -> W:
    """Press a pane's number key and wait until the pane is built (panes are built on first use)."""
    await pilot.press(key)
    await until(pilot, lambda: bool(pilot.app.query(pane_type)))
    await pilot.pause()
    return pilot.app.query_one(pane_type)

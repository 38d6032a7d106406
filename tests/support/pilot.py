"""Shared Pilot helpers: the app under test, the terminal size, and waiting by condition, not by guesswork."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget

from tui.app.app import SftStudioApp

W = TypeVar("W", bound=Widget)

#: The terminal size Pilot tests run at.
SIZE = (120, 40)


def make_app(db: Path | None, **kwargs: Any) -> SftStudioApp:
    """The app on ``db`` with no file watcher and an empty "where we looked" list unless given."""
    kwargs.setdefault("watch_interval", None)
    kwargs.setdefault("candidates", [])
    return SftStudioApp(db_path=db, db_explicit=db is not None, **kwargs)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for every worker and for the messages they posted to be handled."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for ``condition``; the generous default only matters when it fails (CI and a loaded
    2-core box can take tens of seconds to build a pane)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await pilot.pause(0.02)


def key_active(app: App[Any], binding_id: str) -> bool:
    """The key of ``binding_id`` shows in the footer and works now (its ``check_action`` allows it)."""
    return any(active.binding.id == binding_id and active.enabled for active in app.active_bindings.values())


async def show_pane(pilot: Pilot[Any], key: str, pane_type: type[W]) -> W:
    """Press a pane's number key and wait until the pane is built (panes are built on first use).

    A shown pane focuses its first field, where a digit is typed, not a pane switch: a user presses
    Escape first to leave the field, and so does this."""
    from textual.widgets import Input, TextArea

    for attempt in range(3):  # a key lost to a focus change under load (seen once on CI) is pressed again
        if isinstance(pilot.app.focused, Input | TextArea):
            await pilot.press("escape")
        await pilot.press(key)
        try:
            await until(pilot, lambda: bool(pilot.app.query(pane_type)), timeout=30.0)
            break
        except AssertionError:
            if attempt == 2:
                raise
    await pilot.pause()
    await focus_landed(pilot)
    return pilot.app.query_one(pane_type)


async def focus_landed(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Wait (at most ``timeout``) until the shown pane's focus-on-show has put the focus inside it.

    The app retries that focus until the pane's first field exists; on a loaded machine it can land
    after a test's next key press, which would then be typed into the field instead of acting as a
    key (an ``e`` that should export)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not focus_in_place(pilot.app):
        await pilot.pause(0.02)
    await pilot.pause()


def focus_in_place(app: App[Any]) -> bool:
    """The focus is in the shown pane (or on a modal's widget), not still on the tab bar."""
    focused = app.focused
    if not isinstance(app, SftStudioApp) or focused is None:
        return False
    return len(app.screen_stack) > 1 or app._pane_of(focused) == app.active_pane

"""A stand-in that builds its pane the first time the pane is needed.

Composing a pane costs Textual one CSS pass per widget; the Configs form alone has several hundred
widgets. Building hidden panes on first use keeps the app's first paint to the pane on screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from textual.app import ComposeResult
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Static

PaneT = TypeVar("PaneT", bound=Widget)


class DeferredPane(Container, Generic[PaneT]):
    """Shows a one-line note until ``build()`` mounts the real pane from ``factory``."""

    DEFAULT_CSS = """
    DeferredPane { height: 1fr; }
    DeferredPane > .deferred-note { color: $text-muted; padding: 1 2; }
    """

    def __init__(self, title: str, factory: Callable[[], PaneT], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self._factory = factory
        self._pane: PaneT | None = None
        self._building: asyncio.Future[PaneT] | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Opening the {self.title} pane…", classes="deferred-note", markup=False)

    @property
    def pane(self) -> PaneT | None:
        """The real pane once it is mounted, else None."""
        return self._pane

    async def build(self) -> PaneT:
        """Mount the pane (once; callers that arrive while it mounts wait for the same pane)."""
        if self._pane is not None:
            return self._pane
        if self._building is not None:
            return await asyncio.shield(self._building)
        self._building = asyncio.get_running_loop().create_future()
        try:
            pane = self._factory()
            await self.query(".deferred-note").remove()
            await self.mount(pane)
        except BaseException as exc:
            self._building.set_exception(exc)
            self._building.exception()  # retrieved: no "never retrieved" warning when nobody waits
            self._building = None
            raise
        self._pane = pane
        self._building.set_result(pane)
        return pane

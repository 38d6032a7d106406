"""What the app knows about a pane, declared once in the pane's own folder (``tui/panes/<id>/spec.py``).

A spec is plain data plus a factory that imports the pane module only when called, so listing every
pane in the registry costs start-up nothing. The app builds the tab, the number key, the pane's keys
(with ``check_action``), its palette commands, its F1 help and, for a pane not built yet, the
placeholder from these fields alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from textual.binding import Binding
from textual.widget import Widget

#: ``factory(db_path, options)``: the pane on the app's open DB; ``options`` are its constructor
#: keywords (its widget id, and what the app was given for it, e.g. a test's folder).
PaneFactory = Callable[[Path | None, Mapping[str, Any]], Widget]


def lazy_pane(module: str, name: str, *, with_db: bool = True) -> PaneFactory:
    """A factory that imports ``module`` only when called and builds its class ``name`` (given the open
    DB first, unless ``with_db`` is False), so the registry costs start-up nothing."""

    def build(db_path: Path | None, options: Mapping[str, Any]) -> Widget:
        pane_class = getattr(importlib.import_module(module), name)
        pane: Widget = pane_class(db_path, **options) if with_db else pane_class(**options)
        return pane

    return build


@dataclass(frozen=True)
class Command:
    """A command palette entry ("Traces: refresh") that presses one of the pane's keys (by binding id)."""

    title: str
    help: str
    binding_id: str


@dataclass(frozen=True)
class KeyHelp:
    """A row of the F1 keys table: the keys of the bindings ``ids`` (as remapped), and what they do."""

    ids: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class PaneSpec:
    """One pane: its tab, keys, palette commands and help; ``factory`` None means not built yet."""

    id: str
    title: str
    #: One line: what the pane is for (the palette's "Go to" entry, the placeholder's headline).
    summary: str
    #: The pane's paragraph in the F1 help (a pane not built yet shows its ``plans`` instead).
    help: str = ""
    factory: PaneFactory | None = None
    #: What a pane not built yet will do (bullet points on its placeholder).
    plans: tuple[str, ...] = ()
    #: Built the first time it is shown (False: at start-up, as the Traces pane is).
    deferred: bool = True
    #: Keys that work while the pane is shown, wherever the focus is (bound by the app; the action
    #: runs on the pane, which must define ``action_<name>``).
    keys: tuple[Binding, ...] = ()
    #: Keys that work on every pane (e.g. x stops a collection); the pane's ``check_action`` says when.
    global_keys: tuple[Binding, ...] = ()
    #: The pane's own ``BINDINGS``: keys that work while the focus is inside it (listed for F1 help).
    focus_keys: tuple[Binding, ...] = ()
    #: ``keys`` show and work only while a trace DB is open.
    keys_need_db: bool = False
    commands: tuple[Command, ...] = ()
    key_help: tuple[KeyHelp, ...] = ()

    @property
    def built(self) -> bool:
        return self.factory is not None

    @property
    def bindings(self) -> tuple[Binding, ...]:
        return (*self.keys, *self.global_keys, *self.focus_keys)

    def binding(self, binding_id: str) -> Binding:
        return next(b for b in self.bindings if b.id == binding_id)

    def is_global(self, action: str) -> bool:
        return any(b.action == action for b in self.global_keys)


@runtime_checkable
class Activates(Protocol):
    """A pane that wants to know when it is shown (to take the focus, or start its work)."""

    def activate(self) -> None: ...


@runtime_checkable
class FollowsDb(Protocol):
    """A pane that works on the app's open trace DB and follows it when another one opens."""

    def set_db(self, path: Path | None) -> None: ...


@runtime_checkable
class MayClose(Protocol):
    """A pane that may hold unsaved work: before the app quits it asks ``may_close``. True: nothing
    to lose, quit now. False: the pane is asking the user (a modal); it calls ``proceed`` once the
    work is saved or discarded, and never when the user cancels."""

    def may_close(self, proceed: Callable[[], None]) -> bool: ...

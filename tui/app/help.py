"""The F1 help: every key and what each pane does, in a scrollable modal that fits small terminals.

The rows come from the pane registry (each pane's key help and paragraph), with keys as remapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.app.pane_spec import PaneSpec
from tui.widgets.dialog import dialog_css
from tui.widgets.prose import TwoColumn

#: Keys of the app and of Textual that belong to no pane.
GENERAL_KEYS: tuple[tuple[str, str], ...] = (
    ("Escape", "Leave a text field (a form, the raw TOML), so the number keys and the pane's keys work again"),
    ("ctrl+p", "Command palette: actions by name ('Traces: refresh', 'Go to: Filters', …)"),
    ("tab / shift+tab", "Move focus between tabs, tables and scrolling areas"),
    ("↑ ↓ pgup pgdn", "Move in a table, or scroll the focused pane"),
)
#: ``keys_of(binding_id)``: the keys bound to it now (after the keymap).
KeysOf = Callable[[str], Sequence[str]]


def key_label(key: str) -> str:
    """How the help writes a key: F1, Escape, ctrl+s, e, ?."""
    if key == "escape":
        return "Escape"
    if key[:1] == "f" and key[1:].isdigit():
        return key.upper()
    return format_key(key)


def keys_label(keys: Iterable[str]) -> str:
    """``s / l`` for two keys, ``F2 … F6`` for a run of more."""
    labels = list(dict.fromkeys(key_label(k) for k in keys))
    return f"{labels[0]} … {labels[-1]}" if len(labels) > 2 else " / ".join(labels)


def key_rows(panes: Sequence[PaneSpec], keys_of: KeysOf) -> list[tuple[str, str]]:
    """The keys table: going to panes, help, every pane's keys, the general keys, quit."""
    rows = [
        (
            keys_label(k for p in panes for k in keys_of(f"app.pane.{p.id}")),
            f"Go to {', '.join(p.title for p in panes)} (or click a tab)",
        ),
        (keys_label(keys_of("app.help")), "This help (Escape closes it)"),
    ]
    rows += [(keys_label(k for i in row.ids for k in keys_of(i)), row.text) for p in panes for row in p.key_help]
    rows += GENERAL_KEYS
    rows.append((keys_label([*keys_of("app.quit"), "ctrl+q"]), "Quit"))
    return rows


def pane_rows(panes: Sequence[PaneSpec], keys_of: KeysOf) -> list[tuple[str, Content]]:
    """One row per pane: its number key and title, then its help (or, not built yet, its plans)."""
    return [
        (
            f"{keys_label(keys_of(f'app.pane.{p.id}'))} {p.title}",
            Content(p.help) if p.built else Content.assemble(("Not built yet. ", "$text-warning"), " ".join(p.plans)),
        )
        for p in panes
    ]


class HelpScreen(ModalScreen[None]):
    """Keys and panes; Escape (or F1) closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close help"),
        Binding("f1", "dismiss", "Close help", show=False),
    ]

    DEFAULT_CSS = (
        dialog_css("HelpScreen", width=96)
        + """
    HelpScreen #help-panes .left {
        text-style: bold;
    }
    """
    )

    def __init__(self, keys: Sequence[tuple[str, str]], panes: Sequence[tuple[str, Content]]) -> None:
        """``keys`` and ``panes`` are the rows of the two tables (``key_rows``, ``pane_rows``)."""
        super().__init__()
        self.key_table = list(keys)
        self.pane_table = list(panes)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "sft-studio help"
            body.border_subtitle = "Escape closes"
            yield Static(Content.styled("Keys", "bold $text-accent"))
            yield TwoColumn(self.key_table, left_width=max(len(k) for k, _ in self.key_table) + 3, id="help-keys")
            yield Static(Content.styled("Panes", "bold $text-accent"), classes="para")
            yield TwoColumn(self.pane_table, left_width=12, id="help-panes")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

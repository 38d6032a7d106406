"""The key footer, rebuilt only when the keys it shows change, at most once per refresh.

Textual's ``Footer`` recomposes (one ``FooterKey`` widget per key, each styled) on every
``refresh_bindings``, and one user action often causes several: a tab switch, a focus change and a
pane's own refresh after its data arrives. Opening the Runs pane rebuilt the footer four times
(~50 ms of the open's event-loop time, bench/RESULTS.md), twice with the same keys. The footer shows
``screen.active_bindings`` as they are when it recomposes, so coalescing the requests, and skipping
one whose keys (and their enabled state, labels, tooltips) are those already shown, shows the same.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """``textual.widgets.Footer`` with its bindings-changed recomposes coalesced and deduplicated."""

    _recompose_pending = False
    _last_shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_pending:
            self._recompose_pending = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_pending = False
        shown = self._shown()
        if shown == self._last_shown:  # e.g. a focus change within a pane: the same keys, enabled alike
            return
        self._last_shown = shown
        await self.recompose()

    def _shown(self) -> tuple[object, ...]:
        """What ``compose`` draws from: the shown bindings, whether each is enabled, their tooltips."""
        app = self.app
        keys = tuple(
            (key, binding.action, app.get_key_display(binding), binding.description, binding.group, enabled, tooltip)
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING
        )
        return (self.show_command_palette, app.ENABLE_COMMAND_PALETTE, *keys)

"""The Runs pane in the registry: what it will do (not built yet, so the app shows a placeholder)."""

from __future__ import annotations

from tui.app.pane_spec import PaneSpec

SPEC = PaneSpec(
    id="runs",
    title="Runs",
    summary="Keep track of everything that was tried.",
    plans=(
        "A ledger of every run: its data filter, config, job and evaluation results.",
        "Compare runs side by side.",
    ),
)

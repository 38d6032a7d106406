"""The Eval pane in the registry: what it will do (not built yet, so the app shows a placeholder)."""

from __future__ import annotations

from tui.app.pane_spec import PaneSpec

SPEC = PaneSpec(
    id="eval",
    title="Eval",
    summary="Measure whether fine-tuning helped.",
    plans=(
        "Run the base model and fine-tuned models as Crafter agents over a fixed set of seeds.",
        "Compare their achievements and rewards on the same seeds.",
    ),
)

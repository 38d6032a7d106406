"""The Jobs pane in the registry: what it will do (not built yet, so the app shows a placeholder)."""

from __future__ import annotations

from tui.app.pane_spec import PaneSpec

SPEC = PaneSpec(
    id="jobs",
    title="Jobs",
    summary="Train on a Synth learning-API backend and watch the jobs.",
    plans=(
        "Submit fine-tuning jobs with an exported dataset and a config.",
        "Monitor each job: status, events, training loss and throughput.",
    ),
)

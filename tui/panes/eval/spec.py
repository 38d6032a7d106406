"""The Eval pane in the registry: its keys, palette commands and help (the pane is built on first use)."""

from __future__ import annotations

from textual.binding import Binding

from tui.app.pane_spec import Command, KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="eval",
    title="Eval",
    summary="Measure whether fine-tuning helped: play models as Crafter agents on fixed seeds and compare.",
    help=(
        "Play a model as a Crafter agent over fixed seeds and score it: a local backend model (base or "
        "fine-tuned, listed with its job and dataset; r starts the backend and lists them), any OpenAI-compatible "
        "URL + model name, or the teacher and random policies as reference rows. Seeds default to 10000-10049, "
        "disjoint from the demo's training seeds; when a local model's lineage is known the form warns before "
        "running if an eval seed was in its training data. Enter (or g) runs in the background with live progress "
        "per episode; x stops and keeps the finished episodes; Trace records the episodes into the open DB. "
        "Results (F3) lists saved evals: the Crafter score with its 95 % CI, mean unique achievements, tool-call "
        "failure rate, decisions/s, every episode and the 22 achievement bars. Mark two with a and b, then c "
        "compares them on their common seeds (F4): per-achievement deltas, score difference with CI, paired test "
        "and verdict. The same as `sft-studio eval` and `sft-studio eval compare A B`."
    ),
    factory=lazy_pane("tui.panes.eval.pane", "EvalPane"),
    keys=(
        Binding("g", "run_eval", "Run", tooltip="Run the eval the form describes", id="eval.run"),
        Binding("x", "stop_eval", "Stop", tooltip="Stop the eval; finished episodes are kept", id="eval.stop"),
        Binding("c", "compare", "Compare", tooltip="Compare the evals marked A and B", id="eval.compare"),
        Binding(
            "r", "refresh", "Refresh", tooltip="List saved evals and the local backend's models", id="eval.refresh"
        ),
    ),
    focus_keys=(
        Binding("f2", "view('eval-run')", "Run form", show=False, priority=True, id="eval.form"),
        Binding("f3", "view('eval-results')", "Results", show=False, priority=True, id="eval.results"),
        Binding("f4", "view('eval-compare')", "Comparison", show=False, priority=True, id="eval.comparison"),
        Binding("a", "mark('A')", "Mark A", id="eval.mark_a"),
        Binding("b", "mark('B')", "Mark B", id="eval.mark_b"),
        Binding("escape", "leave_field", "Leave the field", show=False, id="eval.leave"),
    ),
    commands=(
        Command("Eval: run", "Run the eval the form describes (in the background)", "eval.run"),
        Command("Eval: stop", "Stop the running eval; finished episodes are kept", "eval.stop"),
        Command("Eval: compare A and B", "Compare the two marked evals on their common seeds", "eval.compare"),
        Command("Eval: refresh", "List saved evals and the local backend's models again", "eval.refresh"),
    ),
    key_help=(
        KeyHelp(("eval.run",), "Eval: run the form's eval (Enter in a field too); progress shows per episode"),
        KeyHelp(("eval.stop",), "Eval: stop the running eval (finished episodes are kept and saved)"),
        KeyHelp(("eval.refresh",), "Eval: list saved evals, and start the local backend to list its models"),
        KeyHelp(("eval.form", "eval.results", "eval.comparison"), "Eval: the Run form, Results, Comparison views"),
        KeyHelp(("eval.mark_a", "eval.mark_b"), "Eval: mark the highlighted saved eval A / B (in Results)"),
        KeyHelp(("eval.compare",), "Eval: compare A with B on their common seeds (verdict, deltas, CI)"),
    ),
)

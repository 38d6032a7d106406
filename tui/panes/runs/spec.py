"""The Runs pane in the registry: its keys, palette commands and help (the pane is built on first use).

Its table keys (s sort, space mark, / filter) and sweep keys (n start, x stop) are the pane's own
bindings, so typing in a field types them; r, c, l, e and w work wherever the focus is while the pane
is shown.
"""

from __future__ import annotations

from textual.binding import Binding

from tui.app.pane_spec import Command, KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="runs",
    title="Runs",
    summary="Keep track of everything that was tried: every run from its filter to its Crafter score.",
    help=(
        "The runs ledger (the data dir's runs.db, or SFT_STUDIO_LEDGER): one row per model with its latest eval — "
        "base model, train kind, LoRA rank, learning rate, dataset examples and tokens, filter, final train and "
        "validation loss, tokens/s, Crafter score with its 95 % CI and mean unique achievements. Exports, jobs and "
        "evals fill it as they happen (or `sft-studio runs import`). s sorts by the column under the cursor (again: "
        "reversed); / filters (every word must match a cell); space marks up to 4 runs and c compares them: settings "
        "side by side with the differences marked and a warning when more than one axis differs, overlaid loss "
        "curves, score differences with CIs, per-achievement success deltas. l shows the run's lineage: evals, "
        "model, job, config, dataset file with its sha256 (NOT TRUSTED when it changed), filter, trace DB. e exports "
        "the table (or the comparison shown) as CSV and Markdown into the workspace's runs/ folder. w shows the "
        "sweeps: the known ones (or a plan's path typed in) as a grid by their axes, each cell with its state "
        "(pending, export, train, eval, done, failed, stopped, skipped), its estimate (examples, steps, time) and "
        "its Crafter score with CI and mean unique; n starts the sweep after showing its estimates (cells done, or "
        "already in the runs ledger, are skipped), x stops it after the current step. Escape goes back to the "
        "table. The same as `sft-studio runs list | show | compare | export` and `sft-studio sweep run | status`."
    ),
    factory=lazy_pane("tui.panes.runs.pane", "RunsPane"),
    keys=(
        Binding("r", "refresh", "Refresh", tooltip="Read the ledger again", id="runs.refresh"),
        Binding("c", "compare", "Compare", tooltip="Compare the marked runs (2 to 4)", id="runs.compare"),
        Binding("l", "lineage", "Lineage", tooltip="Where the run under the cursor came from", id="runs.lineage"),
        Binding("e", "export", "Export", tooltip="Write the table or comparison as CSV and Markdown", id="runs.export"),
        Binding(
            "w", "sweeps", "Sweeps", tooltip="Sweeps as grids: each cell's state, estimate and result", id="runs.sweeps"
        ),
    ),
    focus_keys=(
        Binding("s", "sort", "Sort", tooltip="Sort by the column under the cursor (again: reversed)", id="runs.sort"),
        Binding("space", "mark", "Mark", show=False, tooltip="Mark / unmark the run for comparing", id="runs.mark"),
        Binding(
            "slash", "filter", "Filter", show=False, tooltip="Type words every shown row must contain", id="runs.filter"
        ),
        Binding("n", "sweep_start", "Start sweep", tooltip="Run the open sweep (asks first)", id="runs.sweep_start"),
        Binding("x", "sweep_stop", "Stop sweep", tooltip="Stop the sweep after the current step", id="runs.sweep_stop"),
        Binding("escape", "back", "Back to the table", show=False, id="runs.back"),
    ),
    commands=(
        Command("Runs: refresh", "Read the runs ledger again", "runs.refresh"),
        Command("Runs: compare marked", "Compare the 2 to 4 marked runs side by side", "runs.compare"),
        Command("Runs: lineage", "The lineage of the run under the cursor, back to the trace DB", "runs.lineage"),
        Command("Runs: export", "Write the table (or the comparison shown) as CSV and Markdown", "runs.export"),
        Command("Runs: sweeps", "Sweeps as grids of their cells; start or stop one", "runs.sweeps"),
    ),
    key_help=(
        KeyHelp(("runs.sort", "runs.filter"), "Runs: sort by the cursor's column (again: reversed) / filter rows"),
        KeyHelp(("runs.mark", "runs.compare"), "Runs: mark up to 4 runs / compare them (settings, loss, scores)"),
        KeyHelp(("runs.lineage",), "Runs: lineage of the run (eval → model → job → config → dataset → trace DB)"),
        KeyHelp(("runs.export", "runs.refresh"), "Runs: export table or comparison as CSV + Markdown / re-read"),
        KeyHelp(
            ("runs.sweeps", "runs.sweep_start", "runs.sweep_stop"),
            "Runs: sweeps as grids (state, estimate, result) / start one (asks) / stop after the current step",
        ),
        KeyHelp(("runs.back",), "Runs: back to the table from a comparison, a lineage, the sweeps or the filter"),
    ),
)

"""The Configs pane in the registry: its keys and help (the pane is built on first use).

Its keys are the pane's own ``BINDINGS`` (they act on the focused form or editor), declared here so
the F1 help can list them, as remapped, without importing the pane.
"""

from __future__ import annotations

from textual.binding import Binding

from tui.app.pane_spec import KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="configs",
    title="Configs",
    summary="Write and check fine-tuning configs for Qwen/Qwen3-0.6B.",
    help=(
        "Edit LoRA/QLoRA/FFT SFT configs (configs/*.toml) as a form (typed fields, help per key) or as raw "
        "TOML; both stay in sync. Every change is checked exactly as synth-ai 0.2.23's train CLI checks it, plus "
        "what it silently drops (weight_decay, LoRA rank, ...) and what the backend refuses (no gpu_type). "
        "Payload shows the exact JSON body of the job; Diff shows unsaved edits; Sweep writes one config per "
        "value of an axis (LoRA rank, learning rate, method, sequence length, batch, GPUs, dataset size)."
    ),
    factory=lazy_pane("tui.panes.configs.pane", "ConfigsPane", with_db=False),
    keys=(
        Binding(
            "r",
            "refresh",
            "Refresh",
            tooltip="List the configs folder again; look for changes of the open file on disk",
            id="configs.refresh",
        ),
    ),
    focus_keys=(
        Binding("ctrl+s", "save", "Save", tooltip="Save (shows the diff first)", id="configs.save"),
        Binding("ctrl+z", "undo", "Undo", tooltip="Undo the last unsaved edit", id="configs.undo"),
        Binding("ctrl+y", "redo", "Redo", show=False, id="configs.redo"),
        Binding("ctrl+o", "open_path", "Open…", tooltip="Open a config by path", id="configs.open"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Re-read the file from disk", id="configs.reload"),
        Binding("escape", "leave_field", "Leave the field", show=False, id="configs.leave"),
        Binding("f2", "tab('cfg-form')", "Form", show=False, priority=True, id="configs.form"),
        Binding("f3", "tab('cfg-raw')", "Raw", show=False, priority=True, id="configs.raw"),
        Binding("f4", "tab('cfg-payload')", "Payload", show=False, priority=True, id="configs.payload"),
        Binding("f5", "tab('cfg-diff')", "Diff", show=False, priority=True, id="configs.diff"),
        Binding("f6", "tab('cfg-sweep')", "Sweep", show=False, priority=True, id="configs.sweep"),
    ),
    key_help=(
        KeyHelp(("configs.refresh",), "Configs: refresh (re-list the configs folder, re-check the open file on disk)"),
        KeyHelp(("configs.save",), "Configs: save (shows the diff; atomic, keeps a .bak; detects changes on disk)"),
        KeyHelp(
            ("configs.undo", "configs.redo"), "Configs: undo / redo unsaved edits (the raw editor has its own ctrl+z)"
        ),
        KeyHelp(("configs.open", "configs.reload"), "Configs: open a config by path / reload the file from disk"),
        KeyHelp(
            ("configs.form", "configs.raw", "configs.payload", "configs.diff", "configs.sweep"),
            "Configs: Form, Raw TOML, Payload, Diff, Sweep (w writes the sweep)",
        ),
    ),
)

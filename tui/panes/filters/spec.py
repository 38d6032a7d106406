"""The Filters pane in the registry: its keys, palette commands and help (the pane is built on first use)."""

from __future__ import annotations

from textual.binding import Binding

from tui.app.pane_spec import Command, KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="filters",
    title="Filters",
    summary="Choose which recorded sessions become training data, and export them.",
    help=(
        "Choose which sessions become SFT data, with the reference exporter's flags: models, providers, "
        "min/max unique achievements, excluded and required achievements, outcome reward range, event rewards "
        "(TYPE[:MIN]) and a limit. The preview (sessions, examples, estimated tokens, the funnel of what each "
        "filter removed, breakdowns) follows as you type; an invalid field says why and the last valid preview "
        "stays. The preview follows the DB as a collector appends; r recounts now. e exports with a manifest and "
        "validation (the dialog quotes the current counts); s and l save and load presets."
    ),
    factory=lazy_pane("tui.panes.filters.pane", "FiltersPane"),
    keys=(
        Binding("e", "export", "Export", tooltip="Export matching examples as SFT JSONL", id="filters.export"),
        Binding("s", "save_preset", "Save preset", tooltip="Save the filter as a preset", id="filters.save"),
        Binding("l", "load_preset", "Load preset", tooltip="Load a saved filter preset", id="filters.load"),
        Binding("r", "refresh", "Refresh", tooltip="Index the trace DB again and recount", id="filters.refresh"),
    ),
    focus_keys=(Binding("escape", "leave_form", "Leave the form", show=False, id="filters.leave"),),
    keys_need_db=True,
    commands=(
        Command("Filters: export", "Export the matching examples as SFT JSONL with a manifest", "filters.export"),
        Command("Filters: save preset", "Save the filter into configs/filters/<name>.toml", "filters.save"),
        Command("Filters: load preset", "Load a filter from configs/filters/", "filters.load"),
        Command("Filters: refresh", "Index the trace DB again and recount the preview", "filters.refresh"),
    ),
    key_help=(
        KeyHelp(("filters.export",), "Filters: export SFT JSONL with a manifest (asks before overwriting)"),
        KeyHelp(("filters.save", "filters.load"), "Filters: save the filter as a preset / load one (configs/filters/)"),
        KeyHelp(("filters.refresh",), "Filters: index the trace DB again now (it also does when the DB changes)"),
    ),
)

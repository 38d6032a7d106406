"""The Traces pane in the registry: its keys, palette commands and help (the pane is built at start-up)."""

from __future__ import annotations

from textual.binding import Binding

from services.rollouts.demo import BUILD_TIME
from tui.app.pane_spec import Command, KeyHelp, PaneSpec, lazy_pane

SPEC = PaneSpec(
    id="traces",
    title="Traces",
    summary="Statistics of the open trace DB, live while collectors append.",
    help=(
        "Statistics of the open trace DB: file facts, model usage, outcome and event rewards, how often "
        "each of the 22 Crafter achievements was unlocked, and how many unique achievements sessions reached. "
        "Figures refresh by themselves when a collector appends, e.g. c: teacher, random or "
        "OpenAI-compatible rollouts. With no DB found, first start builds and opens a demo DB "
        f"({BUILD_TIME})."
    ),
    factory=lazy_pane("tui.panes.traces.pane", "TracesPane"),
    deferred=False,
    keys=(
        Binding("r", "refresh", "Refresh", tooltip="Re-read the trace DB now", id="traces.refresh"),
        Binding("a", "toggle_auto_refresh", "Auto-refresh", tooltip="Watch the DB file for changes", id="traces.auto"),
        Binding("c", "collect", "Collect", tooltip="Record Crafter rollouts into the open DB", id="traces.collect"),
    ),
    global_keys=(
        Binding("x", "stop_collect", "Stop", tooltip="Stop the collection; finished episodes stay", id="traces.stop"),
    ),
    keys_need_db=True,
    commands=(
        Command("Traces: refresh", "Re-read the trace DB and recompute the statistics", "traces.refresh"),
        Command("Traces: toggle auto-refresh", "Re-read by itself when the DB file changes", "traces.auto"),
        Command(
            "Traces: collect rollouts",
            "Record Crafter episodes (teacher, random or an OpenAI-compatible model) into the open DB",
            "traces.collect",
        ),
        Command("Traces: stop the collection", "Stop recording; finished episodes stay", "traces.stop"),
    ),
    key_help=(
        KeyHelp(("traces.refresh",), "Traces: re-read the trace DB now (also retries after an error)"),
        KeyHelp(("traces.auto",), "Traces: turn auto-refresh on or off (re-reads when the DB file changes)"),
        KeyHelp(("traces.collect",), "Traces: record Crafter rollouts into the open DB (opens a form)"),
        KeyHelp(("traces.stop",), "Stop the running collection (finished episodes stay in the DB)"),
    ),
)

"""The sft-studio terminal app: six panes as tabs, a status line, F1 help and palette commands.

The app only wires things together; each pane owns its work (the Traces pane reads the DB and
runs collections in thread workers). Dependencies come in through the constructor so tests can
switch off the file watcher, pin what the empty state lists and stub the demo build.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from services.traces.db import discovery_candidates
from services.traces.stats import compute_stats
from tui.app.help import HelpScreen
from tui.panes.planned import PLANNED, PlannedPaneView
from tui.panes.traces.collect_form import CollectForm, CollectRequest
from tui.panes.traces.pane import DEFAULT_WATCH_S, DemoFn, StatsFn, TracesPane
from tui.widgets.deferred import DeferredPane
from tui.widgets.status_line import StatusLine

if TYPE_CHECKING:  # imported when first shown: start-up pays only for the Traces pane
    from tui.panes.configs.pane import ConfigsPane
    from tui.panes.filters.pane import FiltersPane

#: (pane id, title) in tab order; key N goes to the N-th pane.
PANES: tuple[tuple[str, str], ...] = (("traces", "Traces"), *((p.pane_id, p.title) for p in PLANNED))
TRACES_ACTIONS = frozenset({"refresh_traces", "toggle_auto_refresh", "collect"})
FILTERS_ACTIONS = frozenset({"filters_export", "filters_save_preset", "filters_load_preset"})


class SftStudioApp(App[None]):
    """Traces, Filters, Configs, Jobs, Eval and Runs, reachable by keys 1-6."""

    TITLE = "sft-studio"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", tooltip="Keys and what each pane does", id="app.help"),
        Binding("r", "refresh_traces", "Refresh", tooltip="Re-read the trace DB now", id="traces.refresh"),
        Binding("a", "toggle_auto_refresh", "Auto-refresh", tooltip="Watch the DB file for changes", id="traces.auto"),
        Binding("c", "collect", "Collect", tooltip="Record Crafter rollouts into the open DB", id="traces.collect"),
        Binding("x", "stop_collect", "Stop", tooltip="Stop the collection; finished episodes stay", id="traces.stop"),
        Binding("e", "filters_export", "Export", tooltip="Export matching examples as SFT JSONL", id="filters.export"),
        Binding("s", "filters_save_preset", "Save preset", tooltip="Save the filter as a preset", id="filters.save"),
        Binding("l", "filters_load_preset", "Load preset", tooltip="Load a saved filter preset", id="filters.load"),
        Binding("q", "quit", "Quit", id="app.quit"),
        *(
            Binding(str(n), f"show_pane('{pane_id}')", title, show=False, id=f"app.pane.{pane_id}")
            for n, (pane_id, title) in enumerate(PANES, start=1)
        ),
    ]

    def __init__(
        self,
        db_path: Path | None = None,
        db_explicit: bool = False,
        *,
        watch_interval: float | None = DEFAULT_WATCH_S,
        candidates: Sequence[Path] | None = None,
        stats_fn: StatsFn = compute_stats,
        build_demo: bool = False,
        demo_fn: DemoFn | None = None,
        demo_path: Path | None = None,
        filters_kwargs: dict[str, Any] | None = None,
        configs_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """``db_path`` None shows the empty state; ``watch_interval`` None turns auto-refresh off.

        ``db_explicit`` (the path came from --db) is kept for the CLI's contract. ``candidates``
        (where the empty state says we looked) defaults to ``discovery_candidates()``; ``stats_fn``
        lets tests slow down or break the stats computation. ``build_demo`` (with ``db_path`` None)
        builds the demo DB first and then opens it; ``demo_fn`` and ``demo_path`` replace
        ``services.rollouts.demo.build_demo`` and ``demo_db_path()`` (tests). ``filters_kwargs`` go to the
        Filters pane (tests: a slowed preview function, a short debounce, a presets folder);
        ``configs_kwargs`` to the Configs pane (tests: its folder).
        """
        super().__init__()
        self.db_path = db_path
        self.db_explicit = db_explicit
        self.watch_interval = watch_interval
        self.candidates = list(candidates) if candidates is not None else None
        self.stats_fn = stats_fn
        self.build_demo = build_demo and db_path is None
        self.demo_fn = demo_fn
        self.demo_path = demo_path
        self.last_collect: CollectRequest | None = None
        self.filters_kwargs = dict(filters_kwargs or {})
        self.configs_kwargs = dict(configs_kwargs or {})
        self.animation_level = "none"

    def compose(self) -> ComposeResult:
        candidates = self.candidates
        if candidates is None:  # only the empty state lists them
            candidates = discovery_candidates() if self.db_path is None and not self.build_demo else []
        with TabbedContent(initial="traces", id="panes"):
            with TabPane("1 Traces", id="traces"):
                yield TracesPane(
                    self.db_path,
                    watch_interval=self.watch_interval,
                    candidates=candidates,
                    stats_fn=self.stats_fn,
                    build_demo=self.build_demo,
                    demo_fn=self.demo_fn,
                    demo_path=self.demo_path,
                    id="traces-pane",
                )
            for n, pane in enumerate(PLANNED, start=2):
                with TabPane(f"{n} {pane.title}", id=pane.pane_id):
                    if pane.pane_id == "filters":
                        yield DeferredPane("Filters", self._make_filters, id="filters-slot")
                    elif pane.pane_id == "configs":
                        yield DeferredPane("Configs", self._make_configs, id="configs-slot")
                    else:
                        yield PlannedPaneView(pane)
        yield StatusLine(id="status-line")
        yield Footer()

    def _make_filters(self) -> FiltersPane:
        from tui.panes.filters.pane import FiltersPane

        return FiltersPane(self.db_path, id="filters-pane", **self.filters_kwargs)

    def _make_configs(self) -> ConfigsPane:
        from tui.panes.configs.pane import ConfigsPane

        return ConfigsPane(id="configs-pane", **self.configs_kwargs)

    def on_mount(self) -> None:
        if self.build_demo:
            self.query_one(StatusLine).show_db(str(self.traces.resolved_demo_path()), building=True)
        else:
            self.query_one(StatusLine).show_db(None if self.db_path is None else str(self.db_path))

    # ------------------------------------------------------------------------------------ actions

    @property
    def traces(self) -> TracesPane:
        return self.query_one(TracesPane)

    @property
    def _filters_slot(self) -> DeferredPane[FiltersPane]:
        return self.query_one("#filters-slot", DeferredPane)

    @property
    def _configs_slot(self) -> DeferredPane[ConfigsPane]:
        return self.query_one("#configs-slot", DeferredPane)

    async def filters(self) -> FiltersPane:
        """The Filters pane, built on first use."""
        return await self._filters_slot.build()

    async def configs(self) -> ConfigsPane:
        """The Configs pane, built on first use."""
        return await self._configs_slot.build()

    @property
    def active_pane(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_pane(self, pane_id: str) -> None:
        self.query_one(TabbedContent).active = pane_id

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_refresh_traces(self) -> None:
        self.traces.refresh_stats()

    def action_toggle_auto_refresh(self) -> None:
        on = self.traces.watching
        self.traces.toggle_auto_refresh()
        self.notify("Auto-refresh off." if on else "Auto-refresh on: re-reads when the DB file changes.")

    def action_collect(self) -> None:
        """Open the collect form; while a collection runs, say so instead."""
        if self.traces.collecting:
            self.notify(
                "A collection is already running: press x to stop it, or wait for it to finish.",
                title="One collection at a time",
                severity="warning",
            )
            return
        if self.db_path is None or isinstance(self.screen, CollectForm):
            return
        self.push_screen(CollectForm(self.db_path, self._form_values()), callback=self._start_collect)

    def _form_values(self) -> dict[str, str] | None:
        """The last submitted form, so a second collection starts from it."""
        return None if self.last_collect is None else self.last_collect.as_values()

    def _start_collect(self, request: CollectRequest | None) -> None:
        if request is None:
            return
        self.last_collect = request
        self.action_show_pane("traces")
        self.traces.start_collect(request)

    def action_stop_collect(self) -> None:
        if self.traces.stop_collect():
            self.notify("Stopping: finished episodes stay in the DB; episodes in flight are dropped.")

    async def action_filters_export(self) -> None:
        (await self.filters()).open_export()

    async def action_filters_save_preset(self) -> None:
        (await self.filters()).open_save_preset()

    async def action_filters_load_preset(self) -> None:
        (await self.filters()).open_load_preset()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Traces keys show (and work) only on the Traces pane; pane keys stay out of the help modal."""
        if action in TRACES_ACTIONS:
            if self.db_path is None or len(self.screen_stack) > 1:
                return False
            return self.active_pane == "traces"
        if action in FILTERS_ACTIONS:
            if self.db_path is None or len(self.screen_stack) > 1:
                return False
            return self.active_pane == "filters"
        if action == "stop_collect":
            return len(self.screen_stack) == 1 and self.traces.collecting
        return not (action == "show_pane" and len(self.screen_stack) > 1)

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        await self._activate_shown_pane()

    async def _activate_shown_pane(self) -> None:
        """Let the shown pane take the focus (and start its work); a pane shown for the first time
        is built after the "Opening…" note has painted, so the switch itself is instant."""
        pane_id = self.active_pane
        slots: dict[str, DeferredPane[Any]] = {"filters": self._filters_slot, "configs": self._configs_slot}
        slot = slots.get(pane_id)
        if slot is None:
            return
        if slot.pane is not None:
            slot.pane.activate()
        else:
            self.call_after_refresh(self._build_and_activate, slot, pane_id)

    async def _build_and_activate(self, slot: DeferredPane[Any], pane_id: str) -> None:
        pane = await slot.build()
        if self.active_pane == pane_id:
            pane.activate()

    def on_traces_pane_activity_changed(self, event: TracesPane.ActivityChanged) -> None:
        self.query_one(StatusLine).show_activity(event.text)

    async def on_traces_pane_db_opened(self, event: TracesPane.DbOpened) -> None:
        self.db_path = event.path
        self.query_one(StatusLine).show_db(str(event.path))
        filters = self._filters_slot.pane
        if filters is not None:  # a pane built later reads db_path itself
            filters.set_db(event.path)
        self.refresh_bindings()
        await self._activate_shown_pane()

    def on_traces_pane_collect_state_changed(self, event: TracesPane.CollectStateChanged) -> None:
        self.refresh_bindings()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.db_path is not None:
            yield SystemCommand("Traces: refresh", "Re-read the trace DB and recompute the statistics", self._refresh)
            yield SystemCommand(
                "Traces: toggle auto-refresh", "Re-read by itself when the DB file changes", self._toggle_watch
            )
            yield SystemCommand(
                "Traces: collect rollouts",
                "Record Crafter episodes (teacher, random or an OpenAI-compatible model) into the open DB (key c)",
                self._collect,
            )
        if self.traces.collecting:
            yield SystemCommand(
                "Traces: stop the collection",
                "Stop recording; finished episodes stay (key x)",
                self.action_stop_collect,
            )
        if self.db_path is not None:
            yield SystemCommand(
                "Filters: export",
                "Export the matching examples as SFT JSONL with a manifest (key e)",
                self._palette_export,
            )
            yield SystemCommand(
                "Filters: save preset", "Save the filter into configs/filters/<name>.toml (key s)", self._save_preset
            )
            yield SystemCommand(
                "Filters: load preset", "Load a filter from configs/filters/ (key l)", self._load_preset
            )
        for n, (pane_id, title) in enumerate(PANES, start=1):
            yield SystemCommand(f"Go to: {title}", f"Show the {title} pane (key {n})", self._goto(pane_id))
        yield SystemCommand(
            "Help: keys and panes", "What every key does and what each pane is for (F1)", self.action_help
        )

    def _goto(self, pane_id: str) -> Callable[[], None]:
        return lambda: self.action_show_pane(pane_id)

    def _refresh(self) -> None:
        self.action_show_pane("traces")
        self.action_refresh_traces()

    def _toggle_watch(self) -> None:
        self.action_toggle_auto_refresh()

    async def _palette_export(self) -> None:
        self.action_show_pane("filters")
        await self.action_filters_export()

    async def _save_preset(self) -> None:
        self.action_show_pane("filters")
        await self.action_filters_save_preset()

    async def _load_preset(self) -> None:
        self.action_show_pane("filters")
        await self.action_filters_load_preset()

    def _collect(self) -> None:
        self.action_show_pane("traces")
        self.action_collect()

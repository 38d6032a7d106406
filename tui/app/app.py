"""The sft-studio terminal app: the registry's panes as tabs, a status line, F1 help and palette commands.

The app only wires things together, all from the pane registry (``tui.app.registry``): per pane a
tab and a number key; its keys, bound here so they work wherever the focus is, and allowed by
``check_action`` only while the pane is shown, no modal is open and (where the pane says so) a trace
DB is open; its palette commands; its F1 help; and a placeholder for a pane not built yet. Each pane
owns its work. The app owns the open DB: the Traces pane opens it (or builds the demo) and the panes
that follow it are told. Dependencies come in through the constructor so tests can switch off the
file watcher, pin what the empty state lists, stub the demo build and give a pane its options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from services.common.workspace import current_workspace
from services.traces.discovery import RULE_DEMO, RULE_FLAG, discovery_candidates
from tui.app import registry
from tui.app.collect_runner import CollectRunner
from tui.app.help import HelpScreen, key_rows, keys_label, pane_rows
from tui.app.pane_spec import Activates, FollowsDb, MayClose, PaneSpec
from tui.panes.traces.pane import DEFAULT_WATCH_S, DemoFn, StatsFn, TracesPane
from tui.widgets.deferred import DeferredPane
from tui.widgets.footer import Footer
from tui.widgets.placeholder import PlaceholderPane
from tui.widgets.status_line import StatusLine

if TYPE_CHECKING:  # the panes below are built on first use; only their message types are named here
    from tui.panes.jobs.pane import JobsPane

#: The number keys, in tab order (a tenth pane would be reached by its tab or the palette).
NUMBER_KEYS = "123456789"
#: How long a shown pane that has nothing focusable yet (still loading) is retried for the focus.
FOCUS_RETRY_S = 0.25
FOCUS_RETRIES = 40


def app_bindings(panes: Sequence[PaneSpec]) -> list[BindingType]:
    """F1, every pane's keys (run on the pane by ``pane_key``), r on panes without their own, q, and a
    number key per pane."""
    return [
        Binding("f1", "help", "Help", tooltip="Keys and what each pane does", id="app.help"),
        *(
            dataclasses.replace(b, action=f"pane_key('{p.id}', '{b.action}')")
            for p in panes
            for b in (*p.keys, *p.global_keys)
        ),
        # After the panes' keys: runs only where the shown pane has no (enabled) r of its own.
        Binding("r", "nothing_to_refresh", "Refresh", show=False, id="app.refresh"),
        Binding("q", "quit", "Quit", id="app.quit"),
        *(
            Binding(key, f"show_pane('{p.id}')", p.title, show=False, id=f"app.pane.{p.id}")
            for key, p in zip(NUMBER_KEYS, panes, strict=False)
        ),
    ]


class SftStudioApp(App[None]):
    """The registry's panes (Traces, Filters, Configs, Jobs, Eval, Runs), reachable by keys 1-6."""

    TITLE = "sft-studio"
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses elsewhere find it too
    #: The panes in tab order. A subclass that sets its own gets their tabs, keys, palette and help.
    PANES: ClassVar[tuple[PaneSpec, ...]] = registry.PANES
    BINDINGS: ClassVar[list[BindingType]] = app_bindings(PANES)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "PANES" in cls.__dict__:
            cls.BINDINGS = app_bindings(cls.PANES)
        super().__init_subclass__(**kwargs)

    def __init__(
        self,
        db_path: Path | None = None,
        db_explicit: bool = False,
        *,
        db_rule: str | None = None,
        watch_interval: float | None = DEFAULT_WATCH_S,
        candidates: Sequence[Path] | None = None,
        stats_fn: StatsFn | None = None,
        build_demo: bool = False,
        demo_fn: DemoFn | None = None,
        demo_path: Path | None = None,
        pane_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """``db_path`` None shows the empty state; ``watch_interval`` None turns auto-refresh off.

        ``db_explicit`` (the path came from --db) is kept for the CLI's contract; ``db_rule`` (a
        ``services.traces.discovery`` rule) is shown beside the DB's name. ``candidates``
        (where the empty state says we looked) defaults to ``discovery_candidates()``; ``stats_fn``
        lets tests slow down or break the stats computation (it then always runs: the stats cache
        answers only for the default computation). ``build_demo`` (with ``db_path`` None)
        builds the demo DB first and then opens it; ``demo_fn`` and ``demo_path`` replace
        ``services.rollouts.demo.build_demo`` and ``demo_db_path()`` (tests). ``pane_options`` maps a
        pane id to keywords for its constructor (tests: the Filters pane's slowed preview function and
        short debounce, the Configs pane's folder).
        """
        super().__init__()
        self.db_path = db_path
        self.db_explicit = db_explicit
        self.db_rule = db_rule or (RULE_FLAG if db_explicit else None)
        self.build_demo = build_demo and db_path is None
        if candidates is None:  # only the empty state lists them
            candidates = discovery_candidates() if self.db_path is None and not self.build_demo else []
        self.pane_options: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (pane_options or {}).items()}
        self.pane_options.setdefault("traces", {}).update(
            watch_interval=watch_interval,
            candidates=list(candidates),
            stats_fn=stats_fn,
            build_demo=self.build_demo,
            demo_fn=demo_fn,
            demo_path=demo_path,
        )
        self.animation_level = "none"
        #: Per pane, the widget that last had the focus in it: showing the pane again focuses it.
        self._last_focus: dict[str, Widget] = {}
        self._focus_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(initial=self.PANES[0].id, id="panes"):
            for spec in self.PANES:
                key = keys_label(self.keys_of(f"app.pane.{spec.id}"))
                with TabPane(f"{key} {spec.title}".strip(), id=spec.id):
                    yield self._pane_body(spec)
        yield StatusLine(id="status-line")
        yield Footer()

    def _pane_body(self, spec: PaneSpec) -> Widget:
        if spec.factory is None:
            working = [(keys_label(self.keys_of(f"app.pane.{p.id}")), p.title) for p in self.PANES if p.built]
            return PlaceholderPane(spec, working)
        if spec.deferred:  # built when first shown: start-up pays only for the panes on screen
            return DeferredPane(spec.title, partial(self._make_pane, spec), id=f"{spec.id}-slot")
        return self._make_pane(spec)

    def _make_pane(self, spec: PaneSpec) -> Widget:
        assert spec.factory is not None
        return spec.factory(self.db_path, {"id": f"{spec.id}-pane", **self.pane_options.get(spec.id, {})})

    def on_mount(self) -> None:
        self.query_one(StatusLine).show_workspace(current_workspace().root)
        if self.build_demo:
            self.query_one(StatusLine).show_db(str(self.traces.resolved_demo_path()), building=True)
        else:
            self.query_one(StatusLine).show_db(None if self.db_path is None else str(self.db_path), self.db_rule)
        self.call_after_refresh(self.focus_shown_pane)

    # -------------------------------------------------------------------------------------- panes

    @property
    def traces(self) -> TracesPane:
        return self.query_one(TracesPane)

    @property
    def active_pane(self) -> str:
        return self.query_one(TabbedContent).active

    def spec(self, pane_id: str) -> PaneSpec | None:
        return next((p for p in self.PANES if p.id == pane_id), None)

    def built_pane(self, pane_id: str) -> Widget | None:
        """The pane's widget once it is built; None for a pane not built yet (or not shown yet)."""
        spec = self.spec(pane_id)
        if spec is None or spec.factory is None:
            return None
        if spec.deferred:
            slot: DeferredPane[Widget] = self.query_one(f"#{pane_id}-slot", DeferredPane)
            return slot.pane
        return self.query_one(f"#{pane_id}-pane")

    async def pane(self, pane_id: str) -> Widget:
        """The pane's widget, built now if it was not yet."""
        spec = self.spec(pane_id)
        if spec is not None and spec.deferred:
            slot: DeferredPane[Widget] = self.query_one(f"#{pane_id}-slot", DeferredPane)
            return await slot.build()
        return self.query_one(f"#{pane_id}-pane")

    def keys_of(self, binding_id: str) -> list[str]:
        """The keys bound to ``binding_id`` now: the keymap's, else the default."""
        remapped = self._keymap.get(binding_id)
        if remapped:
            return remapped.split(",")
        bindings = [b for b in self.BINDINGS if isinstance(b, Binding)]
        bindings += [b for p in self.PANES for b in p.bindings]
        return next((b.key.split(",") for b in bindings if b.id == binding_id), [])

    # ------------------------------------------------------------------------------------ actions

    def action_show_pane(self, pane_id: str) -> None:
        self.query_one(TabbedContent).active = pane_id

    async def action_quit(self) -> None:
        """q / ctrl+q: quit, unless a pane holds unsaved work; then the pane asks first (``MayClose``)
        and quitting resumes once that work is saved or discarded."""
        for spec in self.PANES:
            pane = self.built_pane(spec.id)
            if isinstance(pane, MayClose) and not pane.may_close(lambda: self.call_later(self.action_quit)):
                return
        self.exit()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(key_rows(self.PANES, self.keys_of), pane_rows(self.PANES, self.keys_of)))

    async def action_pane_key(self, pane_id: str, action: str) -> None:
        """A pane's key: run ``action`` on the pane (built first if it was not yet)."""
        await (await self.pane(pane_id)).run_action(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A pane's keys show (and work) only on that pane, or on every pane for its global keys,
        never behind a modal; number keys stay out of modals too."""
        if action == "pane_key":
            pane_id, pane_action = (str(p) for p in parameters)
            spec = self.spec(pane_id)
            if spec is None or len(self.screen_stack) != 1:
                return False
            if not spec.is_global(pane_action) and self.active_pane != pane_id:
                return False
            return self._key_allowed(spec, pane_action)
        if action == "nothing_to_refresh":
            return len(self.screen_stack) == 1
        return not (action == "show_pane" and len(self.screen_stack) > 1)

    def _key_allowed(self, spec: PaneSpec, action: str) -> bool:
        """Whatever pane is shown: a DB is open if the pane's keys need one, and the pane (if built) agrees."""
        if not spec.is_global(action) and spec.keys_need_db and self.db_path is None:
            return False
        pane = self.built_pane(spec.id)
        return pane is None or pane.check_action(action, ()) is not False

    def action_nothing_to_refresh(self) -> None:
        """r where the shown pane has no refresh of its own (not built yet, or nothing to re-read)."""
        spec = self.spec(self.active_pane)
        title = spec.title if spec is not None else "this"
        if spec is not None and not spec.built:
            why = f"the {title} pane is not built yet."
        elif spec is not None and spec.keys_need_db and self.db_path is None:
            why = "no trace DB is open."
        else:
            why = f"the {title} pane shows nothing that r re-reads."
        self.notify(f"Nothing to refresh: {why}", title="Refresh", timeout=4)

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()
        await self._activate_shown_pane()

    async def _activate_shown_pane(self) -> None:
        """Give the shown pane the focus and let it start its work; a pane shown for the first time
        is built after the "Opening…" note has painted, so the switch itself is instant."""
        pane_id = self.active_pane
        self._restore_focus(pane_id)
        spec = self.spec(pane_id)
        if spec is not None and spec.factory is not None:
            pane = self.built_pane(pane_id)
            if pane is None:
                self.call_after_refresh(self._build_and_activate, pane_id)
                return
            if isinstance(pane, Activates):
                pane.activate()
        self.focus_shown_pane()

    async def _build_and_activate(self, pane_id: str) -> None:
        pane = await self.pane(pane_id)
        if self.active_pane == pane_id and isinstance(pane, Activates):
            pane.activate()
        self.call_after_refresh(self.focus_shown_pane)

    # -------------------------------------------------------------------------------------- focus

    def _pane_of(self, widget: Widget) -> str | None:
        """The id of the pane (tab) that holds ``widget``, or None (tab bar, status line, a modal)."""
        for node in widget.ancestors_with_self:
            if isinstance(node, TabPane) and node.id is not None and self.spec(node.id) is not None:
                return node.id
        return None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Remember, per pane, what had the focus, so coming back to the pane puts it there again."""
        pane_id = self._pane_of(event.widget)
        if pane_id is not None:
            self._last_focus[pane_id] = event.widget

    def _restore_focus(self, pane_id: str) -> None:
        """Focus what had the focus when the pane was left, if it is still there and focusable."""
        widget = self._last_focus.get(pane_id)
        if widget is None or not widget.is_attached or len(self.screen_stack) != 1:
            return
        if widget.focusable and self._pane_of(widget) == pane_id:
            self.screen.set_focus(widget, scroll_visible=False)  # now, not after the queue: callers check it

    def focus_shown_pane(self) -> None:
        """Put the focus in the shown pane (unless it is there already): what had it when the pane was
        left, else the pane's first focusable widget. A pane with nothing focusable yet (loading) is
        tried again for a while, so the focus lands on its first field once it appears.

        Every pane gets this, placeholders included: after a switch, typing and arrows act on the pane.
        """
        if self._focus_timer is not None:
            self._focus_timer.stop()
            self._focus_timer = None
        self._focus_into(self.active_pane, FOCUS_RETRIES)

    def _focus_into(self, pane_id: str, retries: int) -> None:
        self._focus_timer = None
        if not self.is_running or not self.query(TabbedContent):  # a retry due while the app closes
            return
        if pane_id != self.active_pane or len(self.screen_stack) != 1:
            return
        focused = self.screen.focused
        if focused is not None and self._pane_of(focused) == pane_id:
            return
        self._restore_focus(pane_id)
        if self.screen.focused is not None and self._pane_of(self.screen.focused) == pane_id:
            return
        first = next((w for w in self.screen.focus_chain if self._pane_of(w) == pane_id), None)
        if first is not None:
            self.screen.set_focus(first)
        elif retries > 0:
            self._focus_timer = self.set_timer(FOCUS_RETRY_S, partial(self._focus_into, pane_id, retries - 1))

    async def on_jobs_pane_evaluate_model(self, event: JobsPane.EvaluateModel) -> None:
        """The Jobs pane's "evaluate this model": the Eval pane gets the model id, ready to run."""
        pane = await self.pane("eval")
        preset = getattr(pane, "preset_model", None)
        if callable(preset):
            preset(event.model_id)

    def on_traces_pane_activity_changed(self, event: TracesPane.ActivityChanged) -> None:
        try:
            line = self.query_one(StatusLine)
        except (NoMatches, ScreenStackError):
            return  # the app is shutting down: a stats read ended after its screen went
        line.show_activity(event.text)

    async def on_traces_pane_db_opened(self, event: TracesPane.DbOpened) -> None:
        if event.path != self.db_path:  # only the demo build opens another DB than the one given
            self.db_rule = RULE_DEMO
        self.db_path = event.path
        self.query_one(StatusLine).show_db(str(event.path), self.db_rule)
        for spec in self.PANES:  # a pane built later reads db_path itself
            pane = self.built_pane(spec.id)
            if isinstance(pane, FollowsDb):
                pane.set_db(event.path)
        self.refresh_bindings()
        await self._activate_shown_pane()

    def on_collect_runner_state_changed(self, event: CollectRunner.StateChanged) -> None:
        self.refresh_bindings()

    # ------------------------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in self.PANES:
            for command in spec.commands:
                action = spec.binding(command.binding_id).action
                if self._key_allowed(spec, action):
                    key = keys_label(self.keys_of(command.binding_id))
                    yield SystemCommand(
                        command.title, f"{command.help} (key {key})", partial(self._run_command, spec, action)
                    )
        for spec in self.PANES:
            key = keys_label(self.keys_of(f"app.pane.{spec.id}"))
            yield SystemCommand(
                f"Go to: {spec.title}", f"{spec.summary} (key {key})", partial(self.action_show_pane, spec.id)
            )
        yield SystemCommand(
            "Help: keys and panes",
            f"What every key does and what each pane is for ({keys_label(self.keys_of('app.help'))})",
            self.action_help,
        )

    async def _run_command(self, spec: PaneSpec, action: str) -> None:
        """A palette command: show the pane (unless the key works on every pane), then press its key."""
        if not spec.is_global(action):
            self.action_show_pane(spec.id)
        await self.action_pane_key(spec.id, action)

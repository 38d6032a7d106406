"""The Eval pane: play a model as a Crafter agent over fixed seeds, score it, and compare two evals.

Three views: the Run form (and, while an eval runs, its live progress), Results (saved evals, and the
one highlighted: aggregate, episodes, the 22 achievement bars) and Comparison (two marked evals side
by side). Everything that blocks runs in workers: listing the local backend's models (starting it
only when asked), the seed-leakage lineage check (debounced, on every change of model or seeds),
the eval itself (``services.evals.launcher.run_eval`` in a thread, progress thinned out to ~10
messages a second, every finished episode reported, a stop flag polled at every decision), reading
the results store and the comparison. Errors arrive as one plain sentence, never a traceback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Input, ProgressBar, Static, TabbedContent, TabPane

from services.common.echo import cap_echo
from tui.app import workers
from tui.panes.eval import view
from tui.panes.eval.form import EvalForm, EvalRequest, parse_eval_form
from tui.panes.eval.local_models import LocalModel, list_local_models
from tui.panes.eval.spec import SPEC
from tui.widgets.bars import BarChart
from tui.widgets.compare_bars import CompareBars
from tui.widgets.tables import cursor_key, sync_rows

if TYPE_CHECKING:  # the launcher pulls in crafter and numpy: imported when an eval starts
    from services.evals.compare import Comparison
    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalProgress
    from services.evals.results import EvalResult

#: ``models_fn(root, start=...)``: the local backend's models (None: none runs and ``start`` was False).
ModelsFn = Callable[..., "list[LocalModel] | None"]
#: ``leakage_fn(model, seeds, root)``: (overlap, training seeds, message) when some eval seeds were trained on.
LeakageFn = Callable[[str, list[int], "Path | None"], "tuple[int, int, str] | None"]
PROGRESS_MIN_S = 0.1
LEAKAGE_DEBOUNCE_S = 0.4
STOPPING = "Stopping: finished episodes are kept and saved; episodes in flight are dropped."


def default_leakage(model: str, seeds: list[int], root: Path | None) -> tuple[int, int, str] | None:
    from services.evals.lineage import check_leakage

    report = check_leakage(model, seeds, root=root)
    if report is None:
        return None
    return len(report.overlap), len(report.lineage.seeds), report.message


def _eval_errors(exc: BaseException) -> tuple[str, str] | None:
    from services.evals.settings import EvalError

    return (str(exc), "") if isinstance(exc, EvalError) else None


class EvalPane(Vertical):
    """Run form + live progress, Results, Comparison; keys g, x, c, r and F2-F4, a/b to mark."""

    BINDINGS: ClassVar[list[BindingType]] = list(SPEC.focus_keys)

    DEFAULT_CSS = """
    EvalPane { height: 1fr; }
    EvalPane #eval-views { height: 1fr; }
    EvalPane #eval-views > ContentSwitcher { height: 1fr; }
    EvalPane TabPane { padding: 0; height: 1fr; }
    EvalPane #eval-run-switch { height: 1fr; }
    EvalPane #eval-live { height: 1fr; padding: 0 1; }
    EvalPane #eval-live-title { text-style: bold; color: $text-accent; height: auto; }
    EvalPane #eval-live-bar { height: 1; }
    EvalPane #eval-live-text { height: auto; color: $text-muted; }
    EvalPane .box {
        border: round $primary 60%;
        border-title-color: $text-primary;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        height: auto;
    }
    EvalPane .box:focus, EvalPane .box:focus-within { border: round $accent; }
    EvalPane DataTable.box { max-height: 14; }
    EvalPane #eval-saved { max-height: 9; }
    EvalPane #eval-results-body, EvalPane #eval-compare-body { height: 1fr; padding: 0 1; }
    EvalPane .note { color: $text-muted; height: auto; padding: 0 1; }
    EvalPane .note.-error { color: $text-error; text-style: bold; }
    """

    class ModelsListed(workers.Done["list[LocalModel] | None", bool]):
        """The local backend's models (None: none runs, and listing was not to start one)."""

    class ModelsFailed(workers.Failed[bool]):
        """The backend could not start or list its models."""

    class LeakageChecked(workers.Done["tuple[int, int, str] | None", tuple[str, tuple[int, ...]]]):
        """The lineage check for (model, seeds): None when nothing leaks or the lineage is unknown."""

    class LeakageFailed(workers.Failed[tuple[str, tuple[int, ...]]]):
        """The lineage check broke: said as "lineage unknown", never blocking a run."""

    class SavedListed(workers.Done["list[dict[str, Any]]", None]):
        """The results store's manifests, newest first."""

    class SavedFailed(workers.Failed[None]):
        """The results store could not be read."""

    class ResultLoaded(workers.Done["EvalResult", str]):
        """A saved result, read for showing."""

    class ResultFailed(workers.Failed[str]):
        """A saved result could not be read."""

    class Compared(workers.Done["Comparison", tuple[str, str]]):
        """The comparison of the evals marked A and B."""

    class CompareFailed(workers.Failed[tuple[str, str]]):
        """The comparison could not be made (no common seeds, an unreadable result)."""

    class RunFinished(workers.Done["tuple[EvalResult | None, Path | None, str | None]", EvalRequest]):
        """The eval ended: its result and folder (None when no episode finished), and why it stopped early."""

    class RunFailed(workers.Failed[EvalRequest]):
        """The eval could not start (bad settings, unreachable server, unknown model) or broke."""

    class RunProgressed(Message):
        """Live progress; a newer one replaces one not handled yet."""

        def __init__(self, progress: EvalProgress) -> None:
            super().__init__()
            self.progress = progress

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, EvalPane.RunProgressed)

    class EpisodeLanded(Message):
        """One more episode finished (every one is reported: the live table lists them all)."""

        def __init__(self, episode: EpisodeResult) -> None:
            super().__init__()
            self.episode = episode

    def __init__(
        self,
        db_path: Path | None,
        *,
        data_root: Path | None = None,
        models_fn: ModelsFn = list_local_models,
        leakage_fn: LeakageFn = default_leakage,
        progress_min_s: float = PROGRESS_MIN_S,
        leakage_debounce_s: float = LEAKAGE_DEBOUNCE_S,
        initial: Mapping[str, str] | None = None,
        id: str | None = None,
    ) -> None:
        """``data_root`` is the data dir (results store, local backend; default the user's); tests give
        ``models_fn`` and ``leakage_fn`` fakes, a fixed ``initial`` form and a short debounce."""
        super().__init__(id=id)
        self.db_path = db_path
        self.data_root = data_root
        self.models_fn = models_fn
        self.leakage_fn = leakage_fn
        self.progress_min_s = progress_min_s
        self.leakage_debounce_s = leakage_debounce_s
        self.initial = dict(initial or {})
        self.running: EvalRequest | None = None
        #: Evals started by this pane (tests wait on it; a fast eval may end before anyone looks).
        self.runs_started = 0
        self.stopping = False
        self._stop = threading.Event()
        self.live_episodes: list[EpisodeResult] = []
        self.last_progress: EvalProgress | None = None
        self.saved: list[dict[str, Any]] = []
        self.marks: dict[str, str] = {}  # eval id -> "A" | "B"
        self.shown: EvalResult | None = None
        self.comparison: Comparison | None = None
        self.last_result: EvalResult | None = None
        self.models_state = "unlisted"  # unlisted | listing | listed | none | failed
        self._activated = False
        self._models = workers.TaggedWorker[Any, bool](
            self, "eval-models", self.ModelsListed, self.ModelsFailed, known=_eval_errors, bug_hint=""
        )
        self._leak = workers.TaggedWorker[Any, tuple[str, tuple[int, ...]]](
            self, "eval-leakage", self.LeakageChecked, self.LeakageFailed, bug_hint=""
        )
        self._saved = workers.TaggedWorker[Any, None](self, "eval-saved", self.SavedListed, self.SavedFailed)
        self._load = workers.TaggedWorker[Any, str](
            self, "eval-load", self.ResultLoaded, self.ResultFailed, known=_eval_errors, bug_hint=""
        )
        self._compare = workers.TaggedWorker[Any, tuple[str, str]](
            self, "eval-compare", self.Compared, self.CompareFailed, known=_eval_errors, bug_hint=""
        )
        self._runs = workers.TaggedWorker[Any, EvalRequest](
            self, "eval-run", self.RunFinished, self.RunFailed, known=_eval_errors
        )

    # ---------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with TabbedContent(id="eval-views", initial="eval-run"):
            with TabPane("Run  F2", id="eval-run"), ContentSwitcher(initial="eval-form", id="eval-run-switch"):
                yield EvalForm(self.initial, id="eval-form")
                with VerticalScroll(id="eval-live"):
                    yield Static(id="eval-live-title", markup=False)
                    yield ProgressBar(id="eval-live-bar", show_eta=False)
                    yield Static(id="eval-live-text", markup=False)
                    yield DataTable(id="eval-live-episodes", classes="box", cursor_type="row", zebra_stripes=True)
                    yield BarChart(id="eval-live-bars", classes="box", scale="total")
            with TabPane("Results  F3", id="eval-results"), VerticalScroll(id="eval-results-body"):
                yield DataTable(id="eval-saved", classes="box", cursor_type="row", zebra_stripes=True)
                yield Static(id="eval-saved-note", classes="note", markup=False)
                yield Static(id="eval-summary", classes="box")
                yield DataTable(id="eval-episodes", classes="box", cursor_type="row", zebra_stripes=True)
                yield BarChart(id="eval-bars", classes="box", scale="total")
            with TabPane("Comparison  F4", id="eval-compare"), VerticalScroll(id="eval-compare-body"):
                yield Static(id="eval-compare-note", classes="note", markup=False)
                yield Static(id="eval-compare-summary", classes="box")
                yield CompareBars(id="eval-compare-bars", classes="box")

    def on_mount(self) -> None:
        for selector, title in {
            "#eval-live-episodes": "Finished episodes",
            "#eval-live-bars": "Achievements so far (episodes that unlocked each)",
            "#eval-saved": "Saved evals (a / b mark two, c compares)",
            "#eval-summary": "Result",
            "#eval-episodes": "Episodes",
            "#eval-bars": "Achievements: episodes that unlocked each",
            "#eval-compare-summary": "Comparison",
            "#eval-compare-bars": "Success rate per achievement, A vs B",
        }.items():
            self.query_one(selector).border_title = title
        for table_id in ("#eval-live-episodes", "#eval-episodes"):
            table = self.query_one(table_id, DataTable)
            for key, label in view.EPISODE_COLUMNS:
                table.add_column(label, key=key)
        saved = self.query_one("#eval-saved", DataTable)
        for key, label in view.SAVED_COLUMNS:
            saved.add_column(label, key=key)
        for selector in (
            "#eval-summary",
            "#eval-episodes",
            "#eval-bars",
            "#eval-compare-summary",
            "#eval-compare-bars",
        ):
            self.query_one(selector).display = False
        self.query_one("#eval-compare-note", Static).update(
            "Nothing compared yet: in Results (F3) mark one eval with a and another with b, then press c."
        )
        self.form.set_trace_db(self.db_path)
        self._show_models_note()

    @property
    def form(self) -> EvalForm:
        return self.query_one(EvalForm)

    def activate(self) -> None:
        """The pane was shown: list saved evals, look for a running local backend (never start one
        here), and put the focus in the form the first time."""
        first = not self._activated
        self._activated = True
        self.refresh_saved()
        if self.models_state == "unlisted":
            self.list_models(start=False)
        focused = self.screen.focused
        if first or focused is None or self not in focused.ancestors:
            self._focus_view(self.query_one("#eval-views", TabbedContent).active)

    def set_db(self, path: Path | None) -> None:
        """Tracing records into the app's open DB: follow it."""
        self.db_path = path
        self.form.set_trace_db(path)

    # ------------------------------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_eval":
            return self.running is None
        if action == "stop_eval":
            return self.running is not None and not self.stopping
        if action == "compare":
            return sorted(self.marks.values()) == ["A", "B"]
        if action == "mark":
            return self.query_one("#eval-views", TabbedContent).active == "eval-results" and bool(self.saved)
        return True

    def action_run_eval(self) -> None:
        self.submit()

    def action_stop_eval(self) -> None:
        if self.stop_eval():
            self.notify(STOPPING)

    def action_refresh(self) -> None:
        self.refresh_saved()
        if self.form.source == "local" or self.models_state != "unlisted":
            self.list_models(start=True)

    def action_view(self, view_id: str) -> None:
        tabs = self.query_one("#eval-views", TabbedContent)
        tabs.active = view_id
        self._focus_view(view_id)

    def action_leave_field(self) -> None:
        """Escape in a field: focus the model source row, so number keys switch panes again."""
        if isinstance(self.screen.focused, Input):
            self.query_one("#eval-source").focus()

    def action_mark(self, mark: str) -> None:
        """Mark the highlighted saved eval A or B (a mark moves; marking the other side's eval swaps)."""
        key = cursor_key(self.query_one("#eval-saved", DataTable))
        if key is None:
            return
        self.marks = {k: v for k, v in self.marks.items() if v != mark and k != key}
        self.marks[key] = mark  # marking B's eval A unmarks it as B (one eval cannot be both)
        self._show_saved()
        self.app.refresh_bindings()

    def action_compare(self) -> None:
        by_mark = {v: k for k, v in self.marks.items()}
        if "A" in by_mark and "B" in by_mark:
            self.compare(by_mark["A"], by_mark["B"])

    def _focus_view(self, view_id: str) -> None:
        if view_id == "eval-run":
            if self.running is None:
                self.query_one("#eval-source").focus()
            else:
                self.query_one("#eval-live-episodes").focus()
        elif view_id == "eval-results":
            self.query_one("#eval-saved").focus()
        else:
            self.query_one("#eval-compare-body").focus()

    @on(TabbedContent.TabActivated, "#eval-views")
    def _view_shown(self, event: TabbedContent.TabActivated) -> None:
        event.stop()  # not the app's panes: its handler would move the focus
        self.app.refresh_bindings()

    # ----------------------------------------------------------------------------------- the Jobs pane

    def preset_model(self, model_id: str, inference_url: str | None = None) -> None:
        """Hand-over from the Jobs pane: evaluate ``model_id`` from the Run form, on the local backend
        (listing its models, starting it if needed), or on ``inference_url`` when given (a remote
        backend's OpenAI-compatible URL). The focus goes to the seeds: Enter runs."""
        self.form.set_source("local" if inference_url is None else "url")
        self.form.set_model(model_id)
        if inference_url is not None:
            self.query_one("#eval-url", Input).value = inference_url
        self.action_view("eval-run")
        self.query_one("#eval-seeds", Input).focus()
        if inference_url is None:
            self.list_models(start=True)

    # ---------------------------------------------------------------------------------- local models

    def list_models(self, *, start: bool) -> None:
        """List the local backend's models in a worker; ``start`` False only looks for a running one."""
        self.models_state = "listing"
        self._show_models_note()
        models_fn, root = self.models_fn, self.data_root

        def job(run: workers.Run) -> list[LocalModel] | None:
            found: list[LocalModel] | None = models_fn(root, start=start)
            return found

        self._models.start(job, start, doing="listing the local backend's models")

    @on(ModelsListed)
    def _models_listed(self, event: ModelsListed) -> None:
        event.stop()
        if not self._models.is_current(event):
            return
        self.models_state = "none" if event.result is None else "listed"
        self._show_models_note(event.result)

    @on(ModelsFailed)
    def _models_failed(self, event: ModelsFailed) -> None:
        event.stop()
        if not self._models.is_current(event):
            return
        self.models_state = "failed"
        self.form.show_models(None, f"{event.text} Press r to try again.", error=True)

    def _show_models_note(self, models: list[LocalModel] | None = None) -> None:
        state = self.models_state
        if state == "listed" and models is not None:
            note = (
                f"{len(models)} model(s) served by the local backend: ↑↓ pick one (r lists again)"
                if models
                else "The local backend serves no model yet."
            )
            self.form.show_models(models, note)
            self.form.sync()
            return
        note = {
            "unlisted": "Press r to start the local backend and list its models.",
            "listing": "Listing the local backend's models…",
            "none": "The local backend is not running: press r to start it and list its models.",
        }.get(state, "")
        self.form.show_models(None if state != "listing" else self.form.models, note)

    # --------------------------------------------------------------------------------------- leakage

    @on(EvalForm.Changed)
    def _form_changed(self, event: EvalForm.Changed) -> None:
        event.stop()
        self.form.show_problem(None)
        self.check_leakage()

    def check_leakage(self) -> None:
        """Re-check, after a short pause, whether a local model was trained on any eval seed."""
        request, _ = parse_eval_form(self.form.field_values())
        if request is None or request.source != "local" or request.model is None:
            self._leak.invalidate()
            self.form.show_leakage(None)
            return
        model, seeds, root = request.model, request.seeds, self.data_root
        leakage_fn, debounce = self.leakage_fn, self.leakage_debounce_s

        def job(run: workers.Run) -> tuple[int, int, str] | None:
            if not workers.sleep_unless_cancelled(run, debounce):
                return None
            return leakage_fn(model, list(seeds), root)

        self._leak.start(job, (model, seeds), doing="checking the model's training seeds")

    @on(LeakageChecked)
    def _leakage_checked(self, event: LeakageChecked) -> None:
        event.stop()
        if self._leak.is_current(event):
            self.form.show_leakage(None if event.result is None else event.result[2])

    @on(LeakageFailed)
    def _leakage_failed(self, event: LeakageFailed) -> None:
        event.stop()
        if self._leak.is_current(event):
            self.form.show_leakage(None)

    # ------------------------------------------------------------------------------------------ runs

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> bool:
        """Run what the form says (its problems shown at their fields instead); False if nothing started."""
        if self.running is not None:
            self.notify(
                "An eval is running: press x to stop it, or wait.", title="One eval at a time", severity="warning"
            )
            return False
        self.query_one("#eval-views", TabbedContent).active = "eval-run"
        request = self.form.parse()  # focuses the first wrong field
        if request is None:
            return False
        return self.start_eval(request)

    def start_eval(self, request: EvalRequest) -> bool:
        """Play ``request`` in a thread worker; False if an eval runs already."""
        if self.running is not None:
            return False
        self.running = request
        self.runs_started += 1
        self.stopping = False
        self._stop.clear()
        self.live_episodes = []
        self.last_progress = None
        values = request.settings_values(self.db_path)
        root, stop, leakage_fn = self.data_root, self._stop, self.leakage_fn
        sent_done = [-1]

        def must_send(p: EvalProgress) -> bool:
            """Every finished episode is shown at once (thinning drops only decision counts)."""
            if p.episodes_done != sent_done[0]:
                sent_done[0] = p.episodes_done
                return True
            return False

        post_progress = workers.throttled(
            lambda p: self.post_message(self.RunProgressed(p.model_copy(deep=True))), self.progress_min_s, must_send
        )

        def land(episode: EpisodeResult) -> None:
            self.post_message(self.EpisodeLanded(episode.model_copy(deep=True)))

        def job(run: workers.Run) -> tuple[EvalResult | None, Path | None, str | None]:
            from services.evals.launcher import run_eval
            from services.evals.local_backend import with_local_backend
            from services.evals.results import LeakageNote, result_from_run, save_result
            from services.evals.settings import build_settings

            settings = with_local_backend(build_settings(values), root)
            leakage = None
            if settings.backend == "local":
                found = leakage_fn(settings.model_name(), list(settings.seeds), root)
                if found is not None:
                    leakage = LeakageNote(overlap=found[0], training_seeds=found[1], message=found[2])
            played = run_eval(settings, post_progress, lambda: stop.is_set() or run.cancelled, on_episode=land)
            if not played.episodes:
                return None, None, played.stopped
            result = result_from_run(played, leakage)
            return result, save_result(result, root), played.stopped

        self._show_live_start(request)
        self._runs.start(job, request, doing="running the eval")
        self.app.refresh_bindings()
        return True

    def stop_eval(self) -> bool:
        """Ask the running eval to stop at its next decision; finished episodes are kept. False if none runs."""
        if self.running is None or self.stopping:
            return False
        self.stopping = True
        self._stop.set()
        self.query_one("#eval-live-title", Static).update(self._live_title() + "  ·  stopping…")
        self.app.refresh_bindings()
        return True

    def _live_title(self) -> str:
        request = self.running
        if request is None:
            return ""
        from services.evals.results import seeds_text

        return (
            f"Evaluating {cap_echo(request.model_label, 60)} on seeds {seeds_text(list(request.seeds))} "
            f"({len(request.seeds)} episodes, {request.max_turns} turns)"
        )

    def _show_live_start(self, request: EvalRequest) -> None:
        self.query_one("#eval-run-switch", ContentSwitcher).current = "eval-live"
        self.query_one("#eval-views", TabbedContent).active = "eval-run"
        self.query_one("#eval-live-title", Static).update(self._live_title())
        bar = self.query_one("#eval-live-bar", ProgressBar)
        bar.update(total=len(request.seeds), progress=0)
        starting = "starting the local backend, then checking the model…" if request.source == "local" else ""
        self.query_one("#eval-live-text", Static).update(
            starting or ("checking the server…" if request.source == "url" else "starting…")
        )
        self.query_one("#eval-live-episodes", DataTable).clear()
        self.query_one("#eval-live-bars", BarChart).set_rows([], 0, "(no episode finished yet)")
        self.query_one("#eval-live-episodes").focus()

    @on(RunProgressed)
    def _progressed(self, event: RunProgressed) -> None:
        event.stop()
        if self.running is None:
            return
        p = self.last_progress = event.progress
        self.query_one("#eval-live-bar", ProgressBar).update(total=p.episodes_total, progress=p.episodes_done)
        self.query_one("#eval-live-text", Static).update(view.progress_text(p))
        self.query_one("#eval-live-bars", BarChart).set_rows(view.progress_bars(p), p.episodes_done)

    @on(EpisodeLanded)
    def _episode_landed(self, event: EpisodeLanded) -> None:
        event.stop()
        if self.running is None:
            return
        self.live_episodes.append(event.episode)
        sync_rows(self.query_one("#eval-live-episodes", DataTable), view.episode_rows(self.live_episodes))

    @on(RunFinished)
    def _run_finished(self, event: RunFinished) -> None:
        event.stop()
        self._run_ended()
        result, folder, stopped = event.result
        if result is None:
            why = stopped or "no episode finished"
            self.notify(f"Nothing saved: {why} before any episode finished.", title="Eval stopped", severity="warning")
            return
        self.last_result = result
        a = result.aggregate
        text = (
            f"{result.model}: Crafter score {a.crafter_score:.2f} % (CI {a.crafter_score_ci[0]:.2f}–"
            f"{a.crafter_score_ci[1]:.2f}), mean unique {a.mean_unique:.2f} over {a.episodes} episodes"
            + (f"; saved in {folder}" if folder else "")
        )
        if stopped:
            self.notify(f"Stopped ({stopped}); {text}.", title="Eval stopped", severity="warning", timeout=10)
        else:
            self.notify(text + ".", title="Eval finished", timeout=10)
        self._show_result(result)
        self.action_view("eval-results")
        self.refresh_saved(select=result.eval_id)

    @on(RunFailed)
    def _run_failed(self, event: RunFailed) -> None:
        event.stop()
        self._run_ended()
        message = f"{event.message}\n{event.hint}" if event.hint else event.message
        self.form.show_problem(message)
        self.action_view("eval-run")
        self.notify(message, title="Eval could not run", severity="error", timeout=15)

    def _run_ended(self) -> None:
        self.running = None
        self.stopping = False
        self.query_one("#eval-run-switch", ContentSwitcher).current = "eval-form"
        self.app.refresh_bindings()

    def on_unmount(self) -> None:
        self._stop.set()  # a running eval stops at its next decision

    # ----------------------------------------------------------------------------------------- saved

    def refresh_saved(self, select: str | None = None) -> None:
        """Re-read the results store's manifests (``select``: put the cursor on that eval)."""
        root = self.data_root
        self._select_after = select

        def job(run: workers.Run) -> list[dict[str, Any]]:
            from services.evals.results import list_results

            return list_results(root)

        self._saved.start(job, None, doing="listing saved evals")

    _select_after: str | None = None

    @on(SavedListed)
    def _saved_listed(self, event: SavedListed) -> None:
        event.stop()
        if not self._saved.is_current(event):
            return
        self.saved = event.result
        ids = {str(m.get("eval_id")) for m in self.saved}
        self.marks = {k: v for k, v in self.marks.items() if k in ids}
        self._show_saved()
        table = self.query_one("#eval-saved", DataTable)
        if self._select_after in ids:
            index = [str(m.get("eval_id")) for m in self.saved].index(self._select_after)
            table.move_cursor(row=index, animate=False)
        self._select_after = None
        key = cursor_key(table)
        if key is not None and (self.shown is None or self.shown.eval_id != key):
            self.load(key)
        self.app.refresh_bindings()

    @on(SavedFailed)
    def _saved_failed(self, event: SavedFailed) -> None:
        event.stop()
        if self._saved.is_current(event):
            self._note("#eval-saved-note", event.text, error=True)

    def _show_saved(self) -> None:
        table = self.query_one("#eval-saved", DataTable)
        sync_rows(table, view.saved_rows(self.saved, self.marks))
        marked = sorted(self.marks.values())
        ready = "  ·  A and B marked: c compares" if marked == ["A", "B"] else ""
        table.border_subtitle = f"{len(self.saved)} saved{ready}" if self.saved else ""
        if not self.saved:
            from services.evals.results import evals_dir

            self._note("#eval-saved-note", f"No saved evals yet in {evals_dir(self.data_root)}: run one (F2).")
        else:
            self._note("#eval-saved-note", None)

    def _note(self, selector: str, text: str | None, *, error: bool = False) -> None:
        note = self.query_one(selector, Static)
        note.display = text is not None
        note.update(text or "")
        note.set_class(error, "-error")

    @on(DataTable.RowHighlighted, "#eval-saved")
    def _saved_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value
        if key is not None and (self.shown is None or self.shown.eval_id != key):
            self.load(key)

    def load(self, eval_id: str) -> None:
        root = self.data_root
        if self.last_result is not None and self.last_result.eval_id == eval_id:
            self._show_result(self.last_result)
            return

        def job(run: workers.Run) -> EvalResult:
            from services.evals.results import load_result

            return load_result(eval_id, root)

        self._load.start(job, eval_id, doing=f"reading eval {eval_id}")

    @on(ResultLoaded)
    def _result_loaded(self, event: ResultLoaded) -> None:
        event.stop()
        if self._load.is_current(event):
            self._show_result(event.result)

    @on(ResultFailed)
    def _result_failed(self, event: ResultFailed) -> None:
        event.stop()
        if self._load.is_current(event):
            summary = self.query_one("#eval-summary", Static)
            summary.display = True
            summary.update(Content.styled(event.text, "bold $text-error"))
            self.query_one("#eval-episodes").display = False
            self.query_one("#eval-bars").display = False

    def _show_result(self, result: EvalResult) -> None:
        self.shown = result
        summary = self.query_one("#eval-summary", Static)
        summary.update(view.result_summary(result))
        summary.border_title = f"Result {result.eval_id}"
        episodes = self.query_one("#eval-episodes", DataTable)
        sync_rows(episodes, view.episode_rows(result.episodes))
        episodes.border_title = f"Episodes ({len(result.episodes)})"
        bars = self.query_one("#eval-bars", BarChart)
        bars.set_rows(view.achievement_bars(result), result.aggregate.episodes)
        bars.border_title = f"Achievements: episodes that unlocked each (of {result.aggregate.episodes})"
        for widget in (summary, episodes, bars):
            widget.display = True

    # ------------------------------------------------------------------------------------ comparison

    def compare(self, a_id: str, b_id: str) -> None:
        """Compare two saved evals in a worker; the result shows in the Comparison view."""
        root = self.data_root
        self._note("#eval-compare-note", f"Comparing {a_id} with {b_id}…")
        self.action_view("eval-compare")

        def job(run: workers.Run) -> Comparison:
            from services.evals.compare import compare
            from services.evals.results import load_result

            return compare(load_result(a_id, root), load_result(b_id, root))

        self._compare.start(job, (a_id, b_id), doing="comparing two evals")

    @on(Compared)
    def _compared(self, event: Compared) -> None:
        event.stop()
        if not self._compare.is_current(event):
            return
        c = self.comparison = event.result
        self._note("#eval-compare-note", None)
        summary = self.query_one("#eval-compare-summary", Static)
        summary.update(view.comparison_summary(c))
        bars = self.query_one("#eval-compare-bars", CompareBars)
        bars.set_rows(view.comparison_rows(c), (f"A {c.a_model}", f"B {c.b_model}"))
        summary.display = bars.display = True

    @on(CompareFailed)
    def _compare_failed(self, event: CompareFailed) -> None:
        event.stop()
        if not self._compare.is_current(event):
            return
        self._note("#eval-compare-note", event.text, error=True)
        self.query_one("#eval-compare-summary").display = False
        self.query_one("#eval-compare-bars").display = False

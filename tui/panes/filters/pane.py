"""The Filters pane: the filter form beside a live preview, export with progress, and presets.

Work never runs on the event loop. The session index is built once per opened DB in a thread
worker (group "filter-index", with a progress bar), the first time the pane is shown, and again
when the DB file changed since. Each valid form change starts an exclusive thread worker (group
"filter-preview") that first sleeps the debounce: a newer keystroke cancels the sleeping worker,
and results carry a generation number, so a slow, superseded computation can never overwrite a
newer one. Invalid fields show their reason and the last valid preview stays up, marked as such.
Export (group "filter-export") streams through ``services.datasets.export`` with a progress bar and
ends with the manifest summary or the error, never a traceback.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, Label, ProgressBar, Static
from textual.worker import get_current_worker

from services.common.workspace import filter_presets_dir
from services.datasets.filter_spec import FilterSpec
from services.traces.db import TraceDB, TraceDBError
from tui.panes.filters import preview_view as pview
from tui.panes.filters.export_dialog import (
    DEFAULT_OUTPUT,
    ExportDialog,
    ExportRequest,
    LoadPresetDialog,
    PresetRequest,
    SavePresetDialog,
)
from tui.panes.filters.form import FilterForm, parse_filters, spec_values

if TYPE_CHECKING:
    from services.datasets.export import ExportResult
    from services.datasets.presets import PresetInfo
    from services.datasets.preview import Preview
    from services.datasets.session_index import SessionIndex

PreviewFn = Callable[["SessionIndex", FilterSpec], Any]
IndexFn = Callable[[TraceDB, Callable[[int, int], None], Callable[[], bool]], "SessionIndex"]
ExportFn = Callable[..., Any]
INDEX_GROUP = "filter-index"
PREVIEW_GROUP = "filter-preview"
EXPORT_GROUP = "filter-export"
DEBOUNCE_S = 0.25
PRESETS_DIR = filter_presets_dir()
PROGRESS_MIN_S = 0.1


def default_preview(index: SessionIndex, spec: FilterSpec) -> Any:
    from services.datasets.preview import preview

    return preview(index, spec)


def default_index(db: TraceDB, progress: Callable[[int, int], None], should_stop: Callable[[], bool]) -> SessionIndex:
    from services.datasets.session_index import SessionIndex

    return SessionIndex.build(db, progress, should_stop)


def default_export(*args: Any, **kwargs: Any) -> Any:
    from services.datasets.export import export_sft

    return export_sft(*args, **kwargs)


def _file_state(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class FiltersPane(Vertical):
    """Form on the left, preview on the right, an export strip below; follows the app's open DB."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave_form", "Leave the form", show=False),
    ]

    DEFAULT_CSS = """
    FiltersPane { height: 1fr; }
    FiltersPane > ContentSwitcher { height: 1fr; }
    FiltersPane #filters-main { height: 1fr; }
    FiltersPane #filters-loading { align: center middle; height: 1fr; }
    FiltersPane #filters-loading-label { width: 100%; content-align: center middle; color: $text-muted; }
    FiltersPane #filters-index-bar { width: auto; margin-top: 1; }
    FiltersPane #filters-index-bar { align-horizontal: center; width: 100%; }
    FiltersPane #filters-preview {
        width: 1fr;
        height: 1fr;
        padding: 0 1;
        border: round $primary 60%;
        border-title-color: $text-primary;
        border-title-style: bold;
        border-subtitle-color: $text-warning;
        border-subtitle-style: bold;
    }
    FiltersPane #filters-preview:focus { border: round $accent; }
    FiltersPane #filters-preview.-stale { border: round $warning; }
    FiltersPane #filters-export {
        height: auto;
        max-height: 12;
        border: round $accent;
        border-title-color: $text-accent;
        border-title-style: bold;
        padding: 0 1;
    }
    FiltersPane #filters-export.-failed { border: round $error; border-title-color: $text-error; }
    FiltersPane #filters-export ProgressBar Bar { width: 1fr; }
    FiltersPane #filters-export ProgressBar { width: 1fr; }
    """

    class IndexProgressed(Message):
        def __init__(self, generation: int, done: int, total: int) -> None:
            super().__init__()
            self.generation = generation
            self.done = done
            self.total = total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FiltersPane.IndexProgressed)

    class IndexLoaded(Message):
        def __init__(self, generation: int, index: SessionIndex, state: tuple[int, int] | None) -> None:
            super().__init__()
            self.generation = generation
            self.index = index
            self.state = state

    class IndexFailed(Message):
        def __init__(self, generation: int, message: str, hint: str) -> None:
            super().__init__()
            self.generation = generation
            self.message = message
            self.hint = hint

    class PreviewReady(Message):
        def __init__(self, generation: int, spec: FilterSpec, preview: Any) -> None:
            super().__init__()
            self.generation = generation
            self.spec = spec
            self.preview = preview

    class PreviewFailed(Message):
        def __init__(self, generation: int, message: str) -> None:
            super().__init__()
            self.generation = generation
            self.message = message

    class ExportProgressed(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done = done
            self.total = total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FiltersPane.ExportProgressed)

    class ExportFinished(Message):
        def __init__(self, result: Any) -> None:
            super().__init__()
            self.result = result

    class ExportFailed(Message):
        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    def __init__(
        self,
        db_path: Path | None,
        *,
        preview_fn: PreviewFn = default_preview,
        index_fn: IndexFn = default_index,
        export_fn: ExportFn = default_export,
        debounce_s: float = DEBOUNCE_S,
        presets_dir: Path = PRESETS_DIR,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.db_path = db_path
        self.preview_fn = preview_fn
        self.index_fn = index_fn
        self.export_fn = export_fn
        self.debounce_s = debounce_s
        self.presets_dir = presets_dir
        self.index: SessionIndex | None = None
        self.index_state: tuple[int, int] | None = None
        self.indexing = False
        self.spec: FilterSpec | None = None  # the form's current valid spec (None while invalid)
        self.preview: Preview | None = None  # the last valid preview shown
        self.preview_spec: FilterSpec | None = None
        self.exporting = False
        self.last_export: ExportResult | None = None
        self.export_output = DEFAULT_OUTPUT
        self.export_sizes = ""
        self._index_gen = 0
        self._preview_gen = 0
        self._export_stop = threading.Event()

    # ---------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="filters-nodb" if self.db_path is None else "filters-loading"):
            with Vertical(id="filters-nodb", classes="message-panel filters-message"):
                yield Static(Content.styled("No trace DB is open.", "bold $text-warning"))
                yield Static(
                    Content.assemble(
                        "Filters work on the open trace DB. Open one with ",
                        ("sft-studio --db PATH", "bold $text-accent"),
                        ", or build the demo with ",
                        ("sft-studio demo", "bold $text-accent"),
                        "; the Traces pane (",
                        ("1", "bold $text-accent"),
                        ") says where sft-studio looked.",
                    ),
                    classes="para",
                )
            with Vertical(id="filters-loading"):
                yield Label("Indexing the sessions of the trace DB …", id="filters-loading-label", markup=False)
                yield ProgressBar(show_eta=False, id="filters-index-bar")
            with Vertical(id="filters-error", classes="message-panel error-panel"):
                yield Static(id="filters-error-message", markup=False)
                yield Static(id="filters-error-hint", classes="para", markup=False)
                yield Static(
                    Content.styled("Go to another pane and back to retry.", "$foreground-muted"), classes="para"
                )
            with Horizontal(id="filters-main"):
                yield FilterForm(id="filters-form")
                with VerticalScroll(id="filters-preview"):
                    yield from pview.compose_preview()
        with Vertical(id="filters-export"):
            yield Static(id="filters-export-title", markup=False)
            yield ProgressBar(show_eta=False, id="filters-export-bar")
            yield Static(id="filters-export-summary", markup=False)

    def on_mount(self) -> None:
        self.query_one("#filters-error").border_title = "Cannot index the trace DB"
        self.query_one("#filters-nodb").border_title = "Filters"
        self.query_one("#filters-preview").border_title = "Preview"
        self.query_one("#filters-export").display = False
        pview.on_mount(self)

    # ------------------------------------------------------------------------------------------- DB

    def set_db(self, path: Path | None) -> None:
        """Follow the app's open DB: drop the index; it is rebuilt when the pane is shown."""
        self.db_path = path
        self.index = None
        self.index_state = None
        self.preview = None
        self.preview_spec = None
        self._index_gen += 1
        self._preview_gen += 1  # a preview of the old DB in flight is stale now
        self.workers.cancel_group(self, INDEX_GROUP)
        self.workers.cancel_group(self, PREVIEW_GROUP)
        self.indexing = False
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "filters-nodb" if path is None else "filters-loading"

    def activate(self) -> None:
        """The pane is shown: build the index if there is none, or if the DB file changed since."""
        if self.db_path is None or self.indexing:
            return
        if self.index is None or _file_state(self.db_path) != self.index_state:
            self.build_index()

    def build_index(self) -> None:
        if self.db_path is None:
            return
        self._index_gen += 1
        self.indexing = True
        if self.index is None:
            self.query_one(ContentSwitcher).current = "filters-loading"
            self.query_one("#filters-loading-label", Label).update(f"Indexing the sessions of {self.db_path} …")
            self.query_one("#filters-index-bar", ProgressBar).update(total=None, progress=0)
        else:
            self.query_one("#filters-preview").border_subtitle = "the DB changed: re-indexing…"
        self._build_index(self.db_path, self._index_gen)

    @work(thread=True, exclusive=True, group=INDEX_GROUP, exit_on_error=False, name="filter-index")
    def _build_index(self, path: Path, generation: int) -> None:
        worker = get_current_worker()
        last = [float("-inf")]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_MIN_S or done >= total:
                last[0] = now
                self.post_message(self.IndexProgressed(generation, done, total))

        state = _file_state(path)
        try:
            with TraceDB(path) as db:
                index = self.index_fn(db, progress, lambda: worker.is_cancelled)
        except TraceDBError as exc:
            self.post_message(self.IndexFailed(generation, exc.message, exc.hint))
        except Exception as exc:  # a bug or an odd file: say what happened, never a traceback
            if worker.is_cancelled:
                return
            self.post_message(
                self.IndexFailed(
                    generation,
                    f"Unexpected error while indexing {path}: {type(exc).__name__}: {exc}",
                    "This is probably a bug in sft-studio: please report it.",
                )
            )
        else:
            self.post_message(self.IndexLoaded(generation, index, state))

    @on(IndexProgressed)
    def _index_progressed(self, event: IndexProgressed) -> None:
        event.stop()
        if event.generation == self._index_gen and self.index is None:
            bar = self.query_one("#filters-index-bar", ProgressBar)
            bar.update(total=max(event.total, 1), progress=event.done)

    @on(IndexLoaded)
    def _index_loaded(self, event: IndexLoaded) -> None:
        event.stop()
        if event.generation != self._index_gen:
            return
        self.indexing = False
        self.index = event.index
        self.index_state = event.state
        self.query_one(ContentSwitcher).current = "filters-main"
        self.query_one("#filters-preview").border_subtitle = ""
        self.revalidate(debounce=False)

    @on(IndexFailed)
    def _index_failed(self, event: IndexFailed) -> None:
        event.stop()
        if event.generation != self._index_gen:
            return
        self.indexing = False
        self.index = None
        self.query_one("#filters-error-message", Static).update(Content.styled(event.message, "bold"))
        hint = self.query_one("#filters-error-hint", Static)
        hint.update(event.hint)
        hint.display = bool(event.hint)
        self.query_one(ContentSwitcher).current = "filters-error"

    # ------------------------------------------------------------------------------------- preview

    @property
    def form(self) -> FilterForm:
        return self.query_one(FilterForm)

    @on(FilterForm.Edited)
    def _edited(self, event: FilterForm.Edited) -> None:
        event.stop()
        self.revalidate()

    def revalidate(self, *, debounce: bool = True) -> None:
        """Check the form; mark invalid fields; schedule a preview of a valid spec."""
        index = self.index
        models = _names(index.models) if index is not None else None
        providers = _names(index.providers) if index is not None else None
        spec, errors = parse_filters(self.form.values(), models=models, providers=providers)
        self.form.show_errors(errors)
        self.spec = spec
        if spec is None:
            self._preview_gen += 1  # a computation in flight is stale now
            self.workers.cancel_group(self, PREVIEW_GROUP)
            pview.mark_stale(self, self.preview is not None)
            return
        if index is None:
            return
        self._preview_gen += 1
        pview.mark_computing(self)
        self._compute(index, spec, self._preview_gen, self.debounce_s if debounce else 0.0)

    @work(thread=True, exclusive=True, group=PREVIEW_GROUP, exit_on_error=False, name="filter-preview")
    def _compute(self, index: SessionIndex, spec: FilterSpec, generation: int, debounce: float) -> None:
        worker = get_current_worker()
        deadline = time.monotonic() + debounce
        while time.monotonic() < deadline:
            if worker.is_cancelled:
                return
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        if worker.is_cancelled:
            return
        try:
            result = self.preview_fn(index, spec)
        except Exception as exc:  # never a traceback on screen
            self.post_message(self.PreviewFailed(generation, f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(self.PreviewReady(generation, spec, result))

    @on(PreviewReady)
    def _preview_ready(self, event: PreviewReady) -> None:
        event.stop()
        if event.generation != self._preview_gen:
            return  # superseded by a newer keystroke
        self.preview = event.preview
        self.preview_spec = event.spec
        pview.show(self, event.preview, event.spec)

    @on(PreviewFailed)
    def _preview_failed(self, event: PreviewFailed) -> None:
        event.stop()
        if event.generation != self._preview_gen:
            return
        self.query_one("#filters-preview").border_subtitle = f"preview failed: {event.message}"

    def action_leave_form(self) -> None:
        """Escape in the form: focus the preview, so e / s / l work without typing into a field."""
        self.query_one("#filters-preview").focus()

    # -------------------------------------------------------------------------------------- export

    def open_export(self) -> None:
        if self.exporting:
            self.notify("An export is already running.", severity="warning")
            return
        if not self._ready_for("export"):
            return
        summary = pview.export_summary_line(self.preview) if self.preview is not None else ""
        self.app.push_screen(ExportDialog(self.export_output, self.export_sizes, summary), callback=self._start_export)

    def _ready_for(self, what: str) -> bool:
        if self.db_path is None:
            self.notify(f"No trace DB is open: nothing to {what}.", severity="warning")
            return False
        if self.index is None:
            self.notify("The sessions are still being indexed; try again in a moment.", severity="warning")
            return False
        if self.spec is None:
            self.notify(f"Some filter fields are invalid: fix the marked fields, then {what}.", severity="warning")
            return False
        return True

    def _start_export(self, request: ExportRequest | None) -> None:
        if request is None or self.spec is None or self.db_path is None:
            return
        self.export_output = request.output
        self.export_sizes = ",".join(str(n) for n in request.sizes)
        self.exporting = True
        self._export_stop.clear()
        strip = self.query_one("#filters-export")
        strip.display = True
        strip.border_title = "Export"
        self.query_one("#filters-export-title", Static).update(f"Exporting to {request.output} …")
        total = pview.expected_examples(self.preview)
        bar = self.query_one("#filters-export-bar", ProgressBar)
        bar.display = True
        bar.update(total=total or None, progress=0)
        self.query_one("#filters-export-summary", Static).display = False
        self._export(self.db_path, self.spec, request)

    @work(thread=True, exclusive=True, group=EXPORT_GROUP, exit_on_error=False, name="filter-export")
    def _export(self, path: Path, spec: FilterSpec, request: ExportRequest) -> None:
        from services.datasets.export import ExportError

        worker = get_current_worker()
        last = [float("-inf")]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_MIN_S:
                last[0] = now
                self.post_message(self.ExportProgressed(done, total))

        try:
            with TraceDB(path) as db:
                result = self.export_fn(
                    db,
                    spec,
                    request.output,
                    force=request.force,
                    sizes=list(request.sizes),
                    progress=progress,
                    should_stop=lambda: self._export_stop.is_set() or worker.is_cancelled,
                )
        except ExportError as exc:
            self.post_message(self.ExportFailed(str(exc)))
        except TraceDBError as exc:
            self.post_message(self.ExportFailed(f"{exc.message} {exc.hint}".strip()))
        except OSError as exc:
            self.post_message(self.ExportFailed(f"Cannot write the export: {exc.strerror or exc}."))
        except Exception as exc:  # a bug: say what happened, never a traceback
            self.post_message(self.ExportFailed(f"Unexpected error while exporting: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.ExportFinished(result))

    @on(ExportProgressed)
    def _export_progressed(self, event: ExportProgressed) -> None:
        event.stop()
        if self.exporting:
            self.query_one("#filters-export-bar", ProgressBar).update(progress=event.done)

    @on(ExportFinished)
    def _export_finished(self, event: ExportFinished) -> None:
        event.stop()
        self.exporting = False
        self.last_export = event.result
        strip = self.query_one("#filters-export")
        ok = pview.validation_ok(event.result)
        strip.set_class(not ok, "-failed")
        strip.border_title = "Export finished" if ok else "Export finished: validation failed"
        self.query_one("#filters-export-title", Static).display = False
        self.query_one("#filters-export-bar").display = False
        summary = self.query_one("#filters-export-summary", Static)
        summary.update(pview.export_result_content(event.result))
        summary.display = True

    @on(ExportFailed)
    def _export_failed(self, event: ExportFailed) -> None:
        event.stop()
        self.exporting = False
        strip = self.query_one("#filters-export")
        strip.set_class(True, "-failed")
        strip.border_title = "Export failed"
        self.query_one("#filters-export-title", Static).display = False
        self.query_one("#filters-export-bar").display = False
        summary = self.query_one("#filters-export-summary", Static)
        summary.update(Content.styled(event.message, "bold $text-error"))
        summary.display = True

    def stop_export(self) -> None:
        self._export_stop.set()

    def on_unmount(self) -> None:
        self._export_stop.set()

    # ------------------------------------------------------------------------------------- presets

    def open_save_preset(self) -> None:
        if not self._ready_for("save a preset"):
            return
        from services.datasets.presets import describe_filter

        summary = describe_filter(self.spec) if self.spec is not None else ""
        self.app.push_screen(SavePresetDialog(self.presets_dir, summary), callback=self._save_preset)

    def _save_preset(self, request: PresetRequest | None) -> None:
        if request is None or self.spec is None:
            return
        from services.datasets.presets import save_preset

        try:
            save_preset(request.path, self.spec, request.name, request.description)
        except Exception as exc:  # OSError, a preset error: a message, never a traceback
            self.notify(f"Cannot save {request.path}: {exc}", title="Preset not saved", severity="error")
            return
        self.notify(f"Saved {request.path}.", title="Preset saved")

    def open_load_preset(self) -> None:
        if self.db_path is None:
            self.notify("No trace DB is open: nothing to filter.", severity="warning")
            return
        from services.datasets.presets import list_presets

        try:
            presets = list_presets(self.presets_dir)
        except Exception as exc:
            self.notify(f"Cannot list presets in {self.presets_dir}: {exc}", severity="error")
            return
        entries = [_preset_entry(p) for p in presets]
        self.app.push_screen(LoadPresetDialog(self.presets_dir, entries), callback=self._load_preset)

    def _load_preset(self, path: Path | None) -> None:
        if path is None:
            return
        from services.datasets.presets import load_preset

        try:
            loaded = load_preset(path)
        except Exception as exc:  # PresetError names the file and the reason
            self.notify(str(exc), title="Preset not loaded", severity="error", timeout=10)
            return
        self.form.set_values(spec_values(loaded))
        self.notify(f"Loaded {path}.", title="Preset loaded")


def _names(values: Sequence[Any]) -> list[str]:
    return [str(v) for v in values if v is not None]


def _preset_entry(preset: PresetInfo) -> tuple[Path, str, str]:
    """(path, name, what it is) of one ``list_presets`` item; a broken file says why."""
    if preset.error:
        return preset.path, preset.name, f"cannot be loaded: {preset.error}"
    return preset.path, preset.name, preset.description or preset.summary

"""The Filters pane: the filter form beside a live preview, export with progress, and presets.

Work never runs on the event loop: each kind runs in its own ``TaggedWorker``. The session index
is built once per opened DB ("filter-index", with a progress bar), the first time the pane is
shown, and again when the DB file changed since. Each valid form change starts a preview job
("filter-preview") that first sleeps the debounce: a newer keystroke cancels the sleeping one, and
results carry a generation number, so a slow, superseded computation can never overwrite a newer
one. Invalid fields show their reason and the last valid preview stays up, marked as such. Export
("filter-export") streams through ``services.datasets.export`` with a progress bar and ends with
the manifest summary or the error, never a traceback. Its keys (e, s, l) are declared in ``spec.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import ContentSwitcher, Label, ProgressBar, Static

from services.common.workspace import default_export as workspace_export
from services.common.workspace import filter_presets_dir
from services.datasets.filter_check import FilterVocabulary, by_field, check_filter, read_vocabulary
from services.datasets.filter_spec import FilterSpec
from services.traces.db import TraceDB
from services.traces.fingerprint import Signature, db_signature
from tui.app import workers
from tui.panes.filters import preview_view as pview
from tui.panes.filters.export_dialog import (
    ExportDialog,
    ExportRequest,
    LoadPresetDialog,
    PresetRequest,
    SavePresetDialog,
)
from tui.panes.filters.form import FilterForm, parse_filters, spec_values
from tui.panes.filters.spec import SPEC

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
PROGRESS_MIN_S = 0.1
#: Terminal widths below this stack the form above the preview (side by side, the preview got ~26 columns at 80).
NARROW_BELOW = 120
#: How often the shown pane compares the DB's fingerprint with the indexed one (as the Traces pane).
WATCH_S = 2.0


def default_preview(index: SessionIndex, spec: FilterSpec) -> Any:
    from services.datasets.preview import preview

    return preview(index, spec)


def default_index(db: TraceDB, progress: Callable[[int, int], None], should_stop: Callable[[], bool]) -> SessionIndex:
    from services.datasets.session_index import SessionIndex

    return SessionIndex.build(db, progress, should_stop)


def default_export(*args: Any, **kwargs: Any) -> Any:
    from services.datasets.export import export_sft

    return export_sft(*args, **kwargs)


def _export_errors(exc: BaseException) -> tuple[str, str] | None:
    """What the exporter refuses by design, and a file that cannot be written, phrased for the user."""
    from services.datasets.export import ExportError  # loaded already: the export imported it

    if isinstance(exc, ExportError):
        return str(exc), ""
    if isinstance(exc, OSError):
        return f"Cannot write the export: {exc.strerror or exc}.", ""
    return None


class FiltersPane(Vertical):
    """Form on the left, preview on the right, an export strip below; follows the app's open DB."""

    BINDINGS: ClassVar[list[BindingType]] = list(SPEC.focus_keys)

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
    FiltersPane.-narrow #filters-main { layout: vertical; }
    FiltersPane.-narrow FilterForm { width: 100%; height: 1fr; max-height: 12; }
    FiltersPane.-narrow FilterForm .hint { display: none; }
    FiltersPane.-narrow FilterForm .hint.-error, FiltersPane.-narrow FilterForm .hint.-warning { display: block; }
    FiltersPane.-narrow #filters-preview { width: 100%; height: 1fr; }
    FiltersPane.-narrow #filters-export { max-height: 7; }
    FiltersPane #filters-export {
        height: auto;
        max-height: 12;
        border-subtitle-color: $text-muted;
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

    class IndexLoaded(workers.Done["SessionIndex", "Signature | None"]):
        """The index, and the DB file's state taken before it was built."""

    class IndexFailed(workers.Failed["Signature | None"]):
        pass

    class PreviewReady(workers.Done[Any, FilterSpec]):
        """The preview of the spec in ``context``."""

    class PreviewFailed(workers.Failed[FilterSpec]):
        pass

    class ExportProgressed(Message):
        def __init__(self, done: int, total: int) -> None:
            super().__init__()
            self.done = done
            self.total = total

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FiltersPane.ExportProgressed)

    class ExportFinished(workers.Done[Any, ExportRequest]):
        """The exporter's result (files, counts, validation)."""

    class ExportFailed(workers.Failed[ExportRequest]):
        pass

    def __init__(
        self,
        db_path: Path | None,
        *,
        preview_fn: PreviewFn = default_preview,
        index_fn: IndexFn = default_index,
        export_fn: ExportFn = default_export,
        debounce_s: float = DEBOUNCE_S,
        presets_dir: Path | None = None,
        watch_interval: float | None = WATCH_S,
        id: str | None = None,
    ) -> None:
        """``watch_interval``: seconds between checks of the DB's fingerprint while the pane is shown
        (None: no checks; ``r`` still re-reads)."""
        super().__init__(id=id)
        self.watch_interval = watch_interval
        #: Why the last index build failed (a damaged DB…), or None.
        self.index_error: str | None = None
        #: An export waiting for a re-count because the DB changed: (the confirmed request or None
        #: when the dialog is still to open, the preview the user had seen).
        self._pending_export: tuple[ExportRequest | None, Preview | None] | None = None
        #: (examples, sessions) the count quoted when the running export started.
        self._export_quote: tuple[int, int] | None = None
        #: The preview the open export dialog quotes.
        self._dialog_preview: Preview | None = None
        self.db_path = db_path
        self.preview_fn = preview_fn
        self.index_fn = index_fn
        self.export_fn = export_fn
        self.debounce_s = debounce_s
        self.presets_dir = filter_presets_dir() if presets_dir is None else presets_dir  # the workspace's
        self.index: SessionIndex | None = None
        #: What the indexed DB holds, for the shared validator's warnings (unknown model, type…).
        self.vocabulary = FilterVocabulary()
        self._vocabulary_read: dict[int, FilterVocabulary] = {}  # by index generation, set by the worker
        self.index_state: Signature | None = None
        self.indexing = False
        self.spec: FilterSpec | None = None  # the form's current valid spec (None while invalid)
        self.preview: Preview | None = None  # the last valid preview shown
        self.preview_spec: FilterSpec | None = None
        self.exporting = False
        self.last_export: ExportResult | None = None
        self.export_output = workspace_export()
        self.export_sizes = ""
        self._index_work: workers.TaggedWorker[SessionIndex, Signature | None] = workers.TaggedWorker(
            self, INDEX_GROUP, self.IndexLoaded, self.IndexFailed
        )
        self._preview_work: workers.TaggedWorker[Any, FilterSpec] = workers.TaggedWorker(
            self, PREVIEW_GROUP, self.PreviewReady, self.PreviewFailed
        )
        self._export_work: workers.TaggedWorker[Any, ExportRequest] = workers.TaggedWorker(
            self, EXPORT_GROUP, self.ExportFinished, self.ExportFailed, known=_export_errors, bug_hint=""
        )
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
                    Content.styled("Press r to retry (it also retries when the file changes).", "$foreground-muted"),
                    classes="para",
                )
            with Horizontal(id="filters-main"):
                yield FilterForm(id="filters-form")
                with VerticalScroll(id="filters-preview"):
                    yield from pview.compose_preview()
        with VerticalScroll(id="filters-export"):
            yield Static(id="filters-export-title", markup=False)
            yield ProgressBar(show_eta=False, id="filters-export-bar")
            yield Static(id="filters-export-summary", markup=False)

    def on_resize(self) -> None:
        """Below ``NARROW_BELOW`` terminal columns the form sits above the preview (stacked), so the
        preview gets the full width; valid fields then show no hint line (errors and warnings do)."""
        self.set_class(self.app.size.width < NARROW_BELOW, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < NARROW_BELOW, "-narrow")
        self.query_one("#filters-error").border_title = "Cannot index the trace DB"
        self.query_one("#filters-nodb").border_title = "Filters"
        self.query_one("#filters-preview").border_title = "Preview"
        self.query_one("#filters-export").display = False
        pview.on_mount(self)
        if self.watch_interval is not None:
            self.set_interval(self.watch_interval, self._check_changed, name="filters-watch")

    def _check_changed(self) -> None:
        """Re-index when a writer changed the DB (the WAL-aware fingerprint), only while the pane is
        shown (a hidden pane re-indexes when shown: ``activate``) and never two builds at once."""
        if self.db_path is None or self.indexing or not self.is_on_screen:
            return
        if len(self.app.screen_stack) > 1:
            return  # a dialog is open (the export dialog quotes this preview): re-checked on confirm
        if (self.index is not None or self.index_error is not None) and self._db_changed():
            self.build_index()

    def _db_changed(self) -> bool:
        """The DB file differs from the one the index was built from."""
        return self.db_path is not None and db_signature(self.db_path) != self.index_state

    def action_refresh(self) -> None:
        """``r``: index the DB again now (also retries after an error)."""
        if self.db_path is None:
            self.notify("No trace DB is open: nothing to refresh.", severity="warning")
            return
        if not self.indexing:
            self.build_index()

    # ------------------------------------------------------------------------------------------- DB

    def set_db(self, path: Path | None) -> None:
        """Follow the app's open DB: drop the index; it is rebuilt when the pane is shown."""
        self.db_path = path
        self.index = None
        self.index_error = None
        self._pending_export = None
        self.index_state = None
        self.preview = None
        self.preview_spec = None
        self._index_work.invalidate()
        self._preview_work.invalidate()  # a preview of the old DB in flight is stale now
        self.indexing = False
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "filters-nodb" if path is None else "filters-loading"

    def activate(self) -> None:
        """The pane is shown: build the index if there is none, or if the DB file changed since."""
        if self.db_path is None or self.indexing:
            return
        if self.index is None or db_signature(self.db_path) != self.index_state:
            self.build_index()

    def build_index(self) -> None:
        if self.db_path is None:
            return
        self.indexing = True
        if self.index is None:
            self.query_one(ContentSwitcher).current = "filters-loading"
            self.query_one("#filters-loading-label", Label).update(f"Indexing the sessions of {self.db_path} …")
            self.query_one("#filters-index-bar", ProgressBar).update(total=None, progress=0)
        else:
            self.query_one("#filters-preview").border_subtitle = "the DB changed: re-indexing…"
        path, index_fn = self.db_path, self.index_fn

        def build(run: workers.Run) -> SessionIndex:
            progress = workers.throttled(
                lambda done, total: self.post_message(self.IndexProgressed(run.generation, done, total)),
                PROGRESS_MIN_S,
                final=lambda done, total: done >= total,
            )
            with TraceDB(path) as db:
                index = index_fn(db, progress, lambda: run.cancelled)
                self._vocabulary_read[run.generation] = read_vocabulary(db)
                return index

        # the file's state is taken first: a write during the build shows as a change next time
        self._index_work.start(build, db_signature(path), doing=f"indexing {path}")

    @on(IndexProgressed)
    def _index_progressed(self, event: IndexProgressed) -> None:
        event.stop()
        if event.generation == self._index_work.generation and self.index is None:
            bar = self.query_one("#filters-index-bar", ProgressBar)
            bar.update(total=max(event.total, 1), progress=event.done)

    @on(IndexLoaded)
    def _index_loaded(self, event: IndexLoaded) -> None:
        event.stop()
        if not self._index_work.is_current(event):
            return
        self.indexing = False
        self.index_error = None
        self.index = event.result
        self.vocabulary = self._vocabulary_read.pop(event.generation, FilterVocabulary())
        self._vocabulary_read.clear()
        self.index_state = event.context
        self.query_one(ContentSwitcher).current = "filters-main"
        self.query_one("#filters-preview").border_subtitle = ""
        self.revalidate(debounce=False)

    @on(IndexFailed)
    def _index_failed(self, event: IndexFailed) -> None:
        event.stop()
        if not self._index_work.is_current(event):
            return
        self.indexing = False
        self.index = None
        self.index_error = event.message
        self.index_state = event.context  # a later change of the file triggers a retry
        self._pending_export = None
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
        spec, errors = parse_filters(self.form.values())
        warnings = by_field(check_filter(spec, self.vocabulary), "warning") if spec is not None else {}
        self.form.show_errors(errors, warnings)
        self.spec = spec
        if spec is None:
            self._preview_work.invalidate()  # a computation in flight is stale now
            pview.mark_stale(self, self.preview is not None)
            return
        if index is None:
            return
        pview.mark_computing(self)
        preview_fn, debounce_s = self.preview_fn, self.debounce_s if debounce else 0.0

        def compute(run: workers.Run) -> Any:
            # a newer keystroke cancels this job while it sleeps, so only the last one computes
            return preview_fn(index, spec) if workers.sleep_unless_cancelled(run, debounce_s) else None

        self._preview_work.start(compute, spec, doing="previewing")

    @on(PreviewReady)
    def _preview_ready(self, event: PreviewReady) -> None:
        event.stop()
        if not self._preview_work.is_current(event):
            return  # superseded by a newer keystroke
        self.preview = event.result
        self.preview_spec = event.context
        pview.show(self, event.result, event.context)
        if self._pending_export is not None and not self.indexing:
            request, seen = self._pending_export
            self._pending_export = None
            if request is None:
                self._open_export_dialog(seen)
            else:
                self._start_export(request, recounted_from=seen)

    @on(PreviewFailed)
    def _preview_failed(self, event: PreviewFailed) -> None:
        event.stop()
        if not self._preview_work.is_current(event):
            return
        self.query_one("#filters-preview").border_subtitle = f"preview failed: {event.message}"

    def action_leave_form(self) -> None:
        """Escape: close a finished export's result panel (it takes rows the form needs at 80x24) and
        leave the form for the preview, so e / s / l work without typing into a field."""
        strip = self.query_one("#filters-export")
        if strip.display and not self.exporting:
            strip.display = False
        self.query_one("#filters-preview").focus()

    # -------------------------------------------------------------------------------------- export

    def action_export(self) -> None:
        if self.exporting:
            self.notify("An export is already running.", severity="warning")
            return
        if not self._ready_for("export"):
            return
        if self._db_changed():  # the dialog quotes counts of the DB as it is now
            self._recount_before_export(None)
            return
        self._open_export_dialog(None)

    def _open_export_dialog(self, seen: Preview | None) -> None:
        """The dialog, quoting the current preview (``seen``: the counts before a re-count, said too)."""
        summary = pview.export_summary_line(self.preview) if self.preview is not None else ""
        if seen is not None and self.preview is not None:
            summary = pview.recount_line(seen, self.preview) + " " + summary
        examples = self.preview.examples if self.preview is not None else None
        self._dialog_preview = self.preview
        self.app.push_screen(
            ExportDialog(self.export_output, self.export_sizes, summary, examples), callback=self._confirmed
        )

    def _recount_before_export(self, request: ExportRequest | None) -> None:
        """The DB changed since it was indexed: index it again, then open the dialog (``request``
        None) or start the confirmed export, saying what changed."""
        self._pending_export = (request, self.preview)
        self.notify("The trace DB changed since it was counted: counting again before the export.")
        self.build_index()

    def _ready_for(self, what: str) -> bool:
        if self.db_path is None:
            self.notify(f"No trace DB is open: nothing to {what}.", severity="warning")
            return False
        if self.index is None and self.index_error is not None and not self.indexing:
            self.notify(
                f"{self.index_error} Nothing to {what}; press r to retry.",
                title="Cannot index the trace DB",
                severity="error",
            )
            return False
        if self.index is None:
            self.notify("The sessions are still being indexed; try again in a moment.", severity="warning")
            return False
        if self.spec is None:
            self.notify(f"Some filter fields are invalid: fix the marked fields, then {what}.", severity="warning")
            return False
        return True

    def _confirmed(self, request: ExportRequest | None) -> None:
        """The dialog's answer: re-checked against the DB before anything is written."""
        if request is None or self.spec is None or self.db_path is None:
            return
        if self._db_changed():
            self._recount_before_export(request)
            return
        quoted, self._dialog_preview = self._dialog_preview, None
        # a re-index that landed while the dialog was open: the counts moved, say so
        self._start_export(request, recounted_from=quoted if quoted is not self.preview else None)

    def _start_export(self, request: ExportRequest, recounted_from: Preview | None = None) -> None:
        if self.spec is None or self.db_path is None:
            return
        if self.preview is not None:
            self._export_quote = (self.preview.examples, self.preview.sessions_written)
        self.export_output = request.output
        self.export_sizes = ",".join(str(n) for n in request.sizes)
        self.exporting = True
        self._export_stop.clear()
        strip = self.query_one("#filters-export")
        strip.display = True
        strip.border_title = "Export"
        strip.border_subtitle = ""
        title = f"Exporting to {request.output} …"
        if recounted_from is not None and self.preview is not None:
            title = pview.recount_line(recounted_from, self.preview) + " " + title
        self.query_one("#filters-export-title", Static).update(title)
        total = pview.expected_examples(self.preview)
        bar = self.query_one("#filters-export-bar", ProgressBar)
        bar.display = True
        bar.update(total=total or None, progress=0)
        self.query_one("#filters-export-summary", Static).display = False
        path, spec, export_fn, stop = self.db_path, self.spec, self.export_fn, self._export_stop

        def progress(done: int, total: int) -> None:
            self.post_message(self.ExportProgressed(done, total))

        def export(run: workers.Run) -> Any:
            with TraceDB(path) as db:
                return export_fn(
                    db,
                    spec,
                    request.output,
                    force=request.force,
                    sizes=list(request.sizes),
                    progress=workers.throttled(progress, PROGRESS_MIN_S),
                    should_stop=lambda: stop.is_set() or run.cancelled,
                )

        self._export_work.start(export, request, doing="exporting")

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
        strip.border_subtitle = "Esc closes"
        self.query_one("#filters-export-title", Static).display = False
        self.query_one("#filters-export-bar").display = False
        summary = self.query_one("#filters-export-summary", Static)
        summary.update(pview.export_result_content(event.result, self._export_quote))
        summary.display = True

    @on(ExportFailed)
    def _export_failed(self, event: ExportFailed) -> None:
        event.stop()
        self.exporting = False
        strip = self.query_one("#filters-export")
        strip.set_class(True, "-failed")
        strip.border_title = "Export failed"
        strip.border_subtitle = "Esc closes"
        self.query_one("#filters-export-title", Static).display = False
        self.query_one("#filters-export-bar").display = False
        summary = self.query_one("#filters-export-summary", Static)
        summary.update(Content.styled(event.text, "bold $text-error"))
        summary.display = True

    def stop_export(self) -> None:
        self._export_stop.set()

    def on_unmount(self) -> None:
        self._export_stop.set()

    # ------------------------------------------------------------------------------------- presets

    def action_save_preset(self) -> None:
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

    def action_load_preset(self) -> None:
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


def _preset_entry(preset: PresetInfo) -> tuple[Path, str, str]:
    """(path, name, what it is) of one ``list_presets`` item; a broken file says why."""
    if preset.error:
        return preset.path, preset.name, f"cannot be loaded: {preset.error}"
    return preset.path, preset.name, preset.description or preset.summary

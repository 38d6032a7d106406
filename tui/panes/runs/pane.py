"""The Runs pane: the runs ledger as a sortable, filterable table, a comparison of 2–4 marked runs,
and one run's lineage back to the trace DB.

The ledger is read in a worker (``services.ledger.table.run_rows``, one query per table), which also
formats every cell and measures every column once (``view.table_rows``, ``view.column_widths``);
sorting and filtering then reorder plain rows, and the table (``tui.widgets.virtual_table``) draws
only the rows in view, so opening, sorting and filtering a thousand runs cost milliseconds.
Comparisons (``services.ledger.compare.compare_runs`` plus the eval results' per-achievement deltas)
and lineages (``services.ledger.lineage.lineage``, which hashes the dataset file again) are workers
too. A corrupt or newer ledger is said in one sentence in this
pane, and only here: the rest of the app does not read it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Input, Static

from tui.app import workers
from tui.panes.runs import achievement_data, view
from tui.panes.runs.curves import LossCurves
from tui.panes.runs.spec import SPEC
from tui.panes.runs.sweep_grid import SweepGrid
from tui.widgets.compare_bars import CompareBars, PairRow
from tui.widgets.virtual_table import VColumn, VirtualTable

if TYPE_CHECKING:
    from services.ledger.achievement_data import AchievementData
    from services.ledger.compare import RunComparison
    from services.ledger.records import Lineage

MAX_MARKED = 4
EMPTY_HELP = (
    "No runs in the ledger yet. It fills itself as you work: export a dataset (Filters pane, or "
    "`sft-studio export`), train on it (Jobs pane, or `sft-studio train`), evaluate the model (Eval pane, or "
    "`sft-studio eval`). Earlier work can be imported: `sft-studio runs import MANIFEST.json RESULT.json`."
)


def shown_path(path: Path) -> str:
    """Relative to the current folder when inside it (shorter, and the same on every machine)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


@dataclass
class Loaded:
    """What one read of the ledger gave: its runs with their cells and the columns' widths (empty
    when the file is not there)."""

    path: Path
    rows: list[view.TableRow]
    exists: bool
    counts: dict[str, int] = field(default_factory=dict)
    widths: tuple[int, ...] = ()


@dataclass
class Compared:
    comparison: RunComparison
    curves: list[tuple[str, list[list[float]]]]
    achievements: list[tuple[str, str, list[PairRow] | str]]  # (run, first run, deltas or why none)
    #: Per run after the first: the achievements that changed, with the training data that reached them.
    data_links: list[AchievementData] = field(default_factory=list)


def _ledger_errors(exc: BaseException) -> tuple[str, str] | None:
    from services.ledger.lineage import UnknownRun
    from services.ledger.open import LedgerError

    if isinstance(exc, LedgerError):
        return str(exc), "The rest of the app works without it; fix or move the file, then press r."
    if isinstance(exc, UnknownRun):
        return str(exc), ""
    return None


def load_ledger(path: Path) -> Loaded:
    """The ledger's runs (not created when missing: looking is not recording)."""
    from services.ledger.store import Ledger
    from services.ledger.table import run_rows

    if not path.exists():
        return Loaded(path, [], exists=False)
    with Ledger(path) as ledger:
        runs = run_rows(ledger)
        counts = ledger.counts()
    rows = view.table_rows(runs)
    return Loaded(path, rows, exists=True, counts=counts, widths=view.column_widths(rows))


def compare_ledger(path: Path, run_ids: Sequence[str]) -> Compared:
    from services.evals.compare import compare
    from services.evals.results import load_result
    from services.evals.settings import EvalError
    from services.ledger.compare import compare_runs
    from services.ledger.lineage import lineage
    from services.ledger.store import Ledger

    with Ledger(path) as ledger:
        lineages = [lineage(ledger, run_id, verify=False) for run_id in run_ids]
    result = compare_runs(lineages)
    curves = [(view.short_id(lin.id, 24), lin.facts.loss_points if lin.facts else []) for lin in lineages]
    first = lineages[0]
    achievements: list[tuple[str, str, list[PairRow] | str]] = []
    for other in lineages[1:]:
        a = first.evals[-1] if first.evals else None
        b = other.evals[-1] if other.evals else None
        if a is None or b is None or not a.result_path or not b.result_path:
            achievements.append((other.id, first.id, "no saved eval result for both runs"))
            continue
        try:
            c = compare(load_result(b.result_path), load_result(a.result_path))
        except (EvalError, ValueError, OSError, ZeroDivisionError) as exc:
            achievements.append((other.id, first.id, f"not comparable: {exc}"))
            continue
        achievements.append((other.id, first.id, [PairRow(d.name, d.a, d.b) for d in c.achievements]))
    from services.ledger.achievement_data import compare_links

    return Compared(result, curves, achievements, compare_links(lineages))  # hashes and reads trace DBs: a worker


def lineage_of(path: Path, run_id: str) -> Lineage:
    from services.ledger.lineage import lineage
    from services.ledger.store import Ledger

    with Ledger(path) as ledger:
        return lineage(ledger, run_id, verify=True)


class RunsPane(Vertical):
    """The runs table (s sort, / filter, space mark), comparison (c), lineage (l), export (e)."""

    BINDINGS: ClassVar[list[BindingType]] = list(SPEC.focus_keys)
    #: Focusable itself while the table is hidden (an empty or unreadable ledger): the focus stays in
    #: the shown pane, as in every other pane.
    can_focus = True

    DEFAULT_CSS = """
    RunsPane { height: 1fr; }
    RunsPane #runs-header { height: auto; padding: 0 1; color: $text-muted; }
    RunsPane #runs-filter { margin: 0 1; }
    RunsPane #runs-filter:focus { background-tint: $accent 20%; }
    RunsPane #runs-views { height: 1fr; }
    RunsPane #runs-table-view { height: 1fr; }
    RunsPane #runs-table { height: auto; max-height: 100%; }
    RunsPane #runs-table:focus { border: round $accent; }
    RunsPane .box {
        border: round $primary 60%;
        border-title-color: $text-primary;
        border-title-style: bold;
        padding: 0 1;
        height: auto;
    }
    RunsPane #runs-compare, RunsPane #runs-lineage { height: 1fr; padding: 0 1; }
    RunsPane #runs-compare:focus, RunsPane #runs-lineage:focus { border-left: thick $accent; }
    RunsPane #runs-message { padding: 1 2; height: auto; }
    RunsPane #runs-message.-error { color: $text-error; text-style: bold; }
    RunsPane #runs-note { height: auto; padding: 0 1; color: $text-muted; }
    RunsPane #runs-note.-error { color: $text-error; text-style: bold; }
    """

    class Listed(workers.Done[Loaded, None]):
        """The ledger was read."""

    class ListFailed(workers.Failed[None]):
        """The ledger could not be read (corrupt, newer, unreadable)."""

    class ComparedDone(workers.Done[Compared, tuple[str, ...]]):
        """The marked runs were compared."""

    class CompareFailed(workers.Failed[tuple[str, ...]]):
        """The comparison could not be made."""

    class LineageDone(workers.Done["Lineage", str]):
        """One run's lineage."""

    class LineageFailed(workers.Failed[str]):
        """The lineage could not be read."""

    class Exported(workers.Done["list[Path]", str]):
        """The files an export wrote."""

    class ExportFailed(workers.Failed[str]):
        """An export could not be written."""

    def __init__(
        self,
        db_path: Path | None = None,
        *,
        ledger_path: Path | str | None = None,
        export_dir: Path | None = None,
        id: str | None = None,
    ) -> None:
        """``ledger_path`` as ``--ledger`` (default: SFT_STUDIO_LEDGER, else the data dir's runs.db);
        ``export_dir`` where exports go (default: the workspace's ``runs/`` folder)."""
        super().__init__(id=id)
        from services.ledger.open import ledger_path as resolve

        self.ledger_path = resolve(ledger_path)
        self.export_dir = export_dir
        self.all_rows: list[view.TableRow] = []
        self.rows: list[view.TableRow] = []
        self.loaded: Loaded | None = None
        self.error: str | None = None
        self.sort_column: str | None = None
        self.sort_reverse = False
        self.filter_text = ""
        self.marked: list[str] = []
        self.comparison: Compared | None = None
        self.lineage: Lineage | None = None
        self._view_mounts: dict[str, asyncio.Future[None]] = {}
        self.loads = 0  # finished reads (tests wait on it)
        self.exported: list[Path] = []
        self._list = workers.TaggedWorker[Any, None](
            self, "runs-list", self.Listed, self.ListFailed, known=_ledger_errors
        )
        self._compare = workers.TaggedWorker[Any, tuple[str, ...]](
            self, "runs-compare", self.ComparedDone, self.CompareFailed, known=_ledger_errors
        )
        self._lineage = workers.TaggedWorker[Any, str](
            self, "runs-lineage", self.LineageDone, self.LineageFailed, known=_ledger_errors
        )
        self._export = workers.TaggedWorker[Any, str](self, "runs-export", self.Exported, self.ExportFailed)

    # ---------------------------------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Static(id="runs-header", markup=False)
        with ContentSwitcher(initial="runs-table-view", id="runs-views"):
            with Vertical(id="runs-table-view"):
                yield Input(placeholder="/ filter: words every row must contain", id="runs-filter", compact=True)
                yield VirtualTable(id="runs-table", classes="box", marks=True)
                yield Static(id="runs-message", markup=False)
            # The comparison and lineage views are filled on first use (_view_ready): composing their
            # dozen widgets up front was a third of the pane's open time (bench/RESULTS.md).
            yield VerticalScroll(id="runs-compare")
            yield VerticalScroll(id="runs-lineage")
            yield Vertical(id="runs-sweeps")  # its SweepGrid is mounted on the first w
        yield Static(id="runs-note", markup=False)

    def _compare_widgets(self) -> list[Widget]:
        widgets: list[Widget] = [
            Static(id="runs-compare-settings", classes="box"),
            LossCurves(id="runs-curves", classes="box"),
            Static(id="runs-compare-scores", classes="box"),
        ]
        for n in range(MAX_MARKED - 1):  # mounted once: shown or hidden, never mounted per comparison
            widgets += [Static(id=f"runs-compare-note-{n}", classes="box", markup=False)]
            widgets += [CompareBars(id=f"runs-compare-bars-{n}", classes="box")]
        widgets.append(Static(id="runs-compare-data", classes="box"))
        widgets[0].border_title = "Settings (≠ differs)"
        widgets[1].border_title = "Training loss"
        widgets[2].border_title = "Crafter score differences (95% CI)"
        widgets[-1].border_title = achievement_data.TITLE
        for widget in widgets[3:-1]:
            widget.display = False
        return widgets

    def _lineage_widgets(self) -> list[Widget]:
        text = Static(id="runs-lineage-text", classes="box")
        text.border_title = "Lineage: from the eval back to the trace DB"
        return [text]

    async def _view_ready(self, view_id: str) -> None:
        """Mount the view's widgets the first time it is needed (once, even when two results race)."""
        task = self._view_mounts.get(view_id)
        if task is None:
            widgets = self._compare_widgets() if view_id == "runs-compare" else self._lineage_widgets()
            task = asyncio.ensure_future(self.query_one(f"#{view_id}", VerticalScroll).mount_all(widgets))
            self._view_mounts[view_id] = task
        await task

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", VirtualTable)
        self._set_columns(view.column_widths([]))
        table.border_title = "Runs (s sort · / filter · space mark · c compare · l lineage · e export)"
        self.query_one("#runs-message").display = False
        self._header()

    def activate(self) -> None:
        """Shown: read the ledger (it changes as jobs and evals finish) and focus the table."""
        self.refresh_ledger()
        focused = self.screen.focused
        if focused is None or (focused is not self and self not in focused.ancestors):
            self._focus_table()

    # ------------------------------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("sweep_start", "sweep_stop"):
            sweeps = self._sweep_grid()
            if sweeps is None or self._view() != "runs-sweeps":
                return False
            return sweeps.can_start() if action == "sweep_start" else sweeps.can_stop()
        if self._view() == "runs-sweeps" and action in ("compare", "lineage", "mark", "sort", "export", "filter"):
            return False
        if action == "compare":
            return 2 <= len(self.marked) <= MAX_MARKED
        if action in ("lineage", "mark", "sort"):
            return bool(self.rows)
        if action == "export":
            return bool(self.rows) or self._view() == "runs-compare"
        return True

    def action_refresh(self) -> None:
        sweeps = self._sweep_grid()
        if sweeps is not None and self._view() == "runs-sweeps":
            sweeps.reload()
            return
        self.refresh_ledger()

    def _sweep_grid(self) -> SweepGrid | None:
        return next(iter(self.query(SweepGrid)), None)

    async def action_sweeps(self) -> None:
        sweeps = self._sweep_grid()
        if sweeps is None:  # built on first use, as the comparison and lineage views are
            sweeps = SweepGrid()
            await self.query_one("#runs-sweeps", Vertical).mount(sweeps)
        self._switch("runs-sweeps")
        sweeps.show()

    def action_sweep_start(self) -> None:
        if (sweeps := self._sweep_grid()) is not None:
            sweeps.start()

    def action_sweep_stop(self) -> None:
        if (sweeps := self._sweep_grid()) is not None:
            sweeps.stop()

    def may_close(self, proceed: Callable[[], None]) -> bool:
        """Quitting while a sweep runs asks first (``MayClose``)."""
        sweeps = self._sweep_grid()
        return sweeps is None or sweeps.may_close(proceed)

    def action_sort(self) -> None:
        table = self.query_one("#runs-table", VirtualTable)
        column = max(table.cursor_column - 1, 0)  # column 0 is the marks
        key = view.COLUMN_KEYS[column]
        self.sort_reverse = (not self.sort_reverse) if key == self.sort_column else key in ("score", "unique")
        self.sort_column = key
        self.apply(follow=False)

    def action_filter(self) -> None:
        self._switch("runs-table-view")
        self.query_one("#runs-filter", Input).focus()

    def action_mark(self) -> None:
        table = self.query_one("#runs-table", VirtualTable)
        run_id = table.cursor_key
        if run_id is None:
            return
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_MARKED:
            self.notify(
                f"At most {MAX_MARKED} runs are compared at once: unmark one first (space).", severity="warning"
            )
            return
        else:
            self.marked.append(run_id)
        table.set_marks(self._marks())
        self._header()
        self.refresh_bindings()

    def action_compare(self) -> None:
        ids = tuple(self.marked)
        self._note(f"Comparing {len(ids)} runs…")
        self._compare.start(lambda run: compare_ledger(self.ledger_path, ids), ids, doing="comparing runs")

    def action_lineage(self) -> None:
        run_id = self.query_one("#runs-table", VirtualTable).cursor_key
        if run_id is None:
            return
        self._note(f"Reading the lineage of {run_id} (hashing its dataset file)…")
        self._lineage.start(lambda run: lineage_of(self.ledger_path, run_id), run_id, doing="reading the lineage")

    def action_export(self) -> None:
        from services.ledger.exports import comparison_csv, comparison_markdown, write_exports
        from services.ledger.table import as_csv, as_markdown

        folder = self.export_dir or _workspace_runs()
        if self._view() == "runs-compare" and self.comparison is not None:
            kind = "comparison"
            c = self.comparison.comparison
            texts = (comparison_csv(c), comparison_markdown(c))
        else:
            kind = "table"
            runs = [r.run for r in self.rows]
            texts = (as_csv(runs), as_markdown(runs))
        self._export.start(lambda run: write_exports(folder, kind, *texts), kind, doing=f"exporting the {kind}")

    def action_back(self) -> None:
        self._switch("runs-table-view")
        self._focus_table()

    # ---------------------------------------------------------------------------------------- loading

    def refresh_ledger(self) -> None:
        self._list.start(lambda run: load_ledger(self.ledger_path), None, doing="reading the runs ledger")

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        if not self._list.is_current(message):
            return
        self.loads += 1
        self.error = None
        self.loaded = message.result
        self.all_rows = message.result.rows
        known = {r.run.id for r in self.all_rows}
        self.marked = [m for m in self.marked if m in known]
        self.apply(reload=True)

    @on(ListFailed)
    def _list_failed(self, message: ListFailed) -> None:
        if not self._list.is_current(message):
            return
        self.loads += 1
        self.error = view.shown_paths(message.text, _shown)
        self.loaded = None
        self.all_rows = []
        self.apply()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.apply()

    @on(Input.Submitted, "#runs-filter")
    def _filter_done(self) -> None:
        self.query_one("#runs-table", VirtualTable).focus()

    def apply(self, *, reload: bool = False, follow: bool = True) -> None:
        """Filter, then sort, then show (the precomputed cells: no formatting here); ``reload``: the
        ledger was read again (new cells and column widths); ``follow``: the cursor stays on its run
        (not after a sort, which keeps the cursor's place as the view reorders)."""
        rows = view.filter_rows(self.all_rows, self.filter_text)
        if self.sort_column is not None:
            rows = view.sort_rows(rows, self.sort_column, reverse=self.sort_reverse)
        self.rows = rows
        self.render_table(reload=reload, follow=follow)
        self.refresh_bindings()

    def _set_columns(self, widths: Sequence[int]) -> None:
        columns = [VColumn(c.label, w, c.numeric) for c, w in zip(view.COLUMNS, widths, strict=True)]
        self.query_one("#runs-table", VirtualTable).set_columns(columns)

    def _marks(self) -> dict[str, int]:
        return {key: n for n, key in enumerate(self.marked, 1)}

    def render_table(self, *, reload: bool = False, follow: bool = True) -> None:
        """Show ``self.rows``: the table keeps a reference to the list and draws the rows in view, so
        this costs the same for 5 runs or 5,000."""
        table = self.query_one("#runs-table", VirtualTable)
        message = self.query_one("#runs-message", Static)
        if reload and self.loaded is not None and self.loaded.widths:
            self._set_columns(self.loaded.widths)
        table.set_rows(self.rows, follow=follow)
        table.set_marks(self._marks())
        text = ""
        if self.error is not None:
            text = self.error
            message.set_class(True, "-error")
        elif self.loaded is not None and not self.all_rows:
            text = EMPTY_HELP
        elif self.all_rows and not self.rows:
            text = f"No run matches the filter {self.filter_text!r}: / and clear the field."
        message.update(text)
        message.set_class(self.error is not None, "-error")
        message.display = bool(text)
        had_focus = self.screen.focused is table
        table.display = self.error is None and bool(self.all_rows)
        if had_focus or self.screen.focused is self:
            self._focus_table()
        self.query_one("#runs-filter").display = self.error is None and bool(self.all_rows)
        self._header()

    def _header(self) -> None:
        parts = [f"Ledger {shown_path(self.ledger_path)}"]
        if self.loaded is not None and self.loaded.exists:
            n = self.loaded.counts
            parts.append(
                f"{len(self.all_rows)} runs"
                + (f" ({len(self.rows)} shown)" if len(self.rows) != len(self.all_rows) else "")
                + f", {n.get('datasets', 0)} datasets, {n.get('evals', 0)} evals"
            )
        elif self.loaded is not None:
            parts.append("not created yet")
        if self.sort_column is not None:
            label = view.COLUMNS[view.COLUMN_KEYS.index(self.sort_column)].label
            parts.append(f"sorted by {label} {'↓' if self.sort_reverse else '↑'}")
        if self.marked:
            parts.append(f"{len(self.marked)} marked" + (" (c compares)" if len(self.marked) >= 2 else ""))
        self.query_one("#runs-header", Static).update(" · ".join(parts))

    # ------------------------------------------------------------------------------------- comparison

    @on(ComparedDone)
    async def _compared(self, message: ComparedDone) -> None:
        if not self._compare.is_current(message):
            return
        await self._view_ready("runs-compare")
        if not self._compare.is_current(message):  # a newer comparison started while mounting
            return
        self.comparison = message.result
        c = message.result.comparison
        labels = [view.short_id(i, 22) for i in c.ids]
        settings = Table(box=None, pad_edge=False, show_header=True, header_style="bold", expand=False)
        settings.add_column("setting", no_wrap=True)
        for label in labels:
            settings.add_column(label, no_wrap=True, overflow="ellipsis")
        for row in c.settings:
            if row.name == "model":  # the column headers name the runs (the exports keep the row)
                continue
            style = "bold yellow" if row.differs else ""
            settings.add_row(
                Text(("≠ " if row.differs else "  ") + row.name, style=style),
                *(Text(v, style=style) for v in row.values),
            )
        body: list[Any] = [Text(f"Warning: {w}", style="bold red") for w in c.warnings]
        if not c.warnings and c.axes:
            body.append(Text(f"One axis differs: {c.axes[0]}.", style="green"))
        settings_widget = self.query_one("#runs-compare-settings", Static)
        from rich.console import Group

        settings_widget.update(Group(*body, settings))
        self.query_one("#runs-curves", LossCurves).set_curves(message.result.curves)
        lines = []
        for s in c.scores:
            ci = f" [{s.diff_ci[0]:+.2f}, {s.diff_ci[1]:+.2f}]" if s.diff_ci else ""
            how = f"paired on {s.paired_seeds} seeds: {s.verdict}" if s.paired_seeds else s.note
            lines.append(
                Content.assemble(
                    (view.short_id(s.b, 22), "bold"), " vs ", (view.short_id(s.a, 22), "bold"),
                    f": {s.score_b:.2f} vs {s.score_a:.2f}, ",
                    (f"{s.diff:+.2f}{ci}", _diff_style(s.diff)),
                    f" ({how})",
                )
            )  # fmt: skip
        scores = self.query_one("#runs-compare-scores", Static)
        scores.update(Content("\n").join(lines) if lines else Content("No score to compare (an eval is missing)."))
        pairs = message.result.achievements
        for n in range(MAX_MARKED - 1):
            note = self.query_one(f"#runs-compare-note-{n}", Static)
            bars = self.query_one(f"#runs-compare-bars-{n}", CompareBars)
            deltas = pairs[n][2] if n < len(pairs) else None
            note.display = isinstance(deltas, str)
            bars.display = isinstance(deltas, list)
            if n >= len(pairs):
                continue
            run_id, first_id = view.short_id(pairs[n][0], 18), view.short_id(pairs[n][1], 18)
            if isinstance(deltas, str):
                note.border_title = "Per-achievement success"
                note.update(f"{run_id} vs {first_id}: {deltas}")
            elif deltas is not None:
                bars.border_title = f"Per-achievement success rate: {run_id} vs {first_id}, Δ in points"
                bars.set_rows(deltas, (run_id, first_id))
        data = self.query_one("#runs-compare-data", Static)
        data.update(achievement_data.section(message.result.data_links, _shown))
        self._note("Comparing the marked runs · e exports it · Escape: back to the table")
        self._switch("runs-compare")
        scroller = self.query_one("#runs-compare", VerticalScroll)
        scroller.scroll_home(animate=False, immediate=True)
        scroller.focus()

    @on(CompareFailed)
    def _compare_failed(self, message: CompareFailed) -> None:
        if self._compare.is_current(message):
            self._note(message.text, error=True)

    # ---------------------------------------------------------------------------------------- lineage

    @on(LineageDone)
    async def _lineage_done(self, message: LineageDone) -> None:
        if not self._lineage.is_current(message):
            return
        await self._view_ready("runs-lineage")
        if not self._lineage.is_current(message):
            return
        self.lineage = message.result
        styles = {"bold": "bold $text-accent", "error": "bold $text-error", "muted": "$foreground-muted", "": ""}
        lines = [Content.styled(text, styles[style]) for style, text in view.lineage_lines(message.result, _shown)]
        self.query_one("#runs-lineage-text", Static).update(Content("\n").join(lines))
        self._note(f"Lineage of {message.context} · Escape: back to the table")
        self._switch("runs-lineage")
        body = self.query_one("#runs-lineage", VerticalScroll)
        body.scroll_home(animate=False, immediate=True)
        body.focus()

    @on(LineageFailed)
    def _lineage_failed(self, message: LineageFailed) -> None:
        if self._lineage.is_current(message):
            self._note(message.text, error=True)

    # ----------------------------------------------------------------------------------------- export

    @on(Exported)
    def _exported(self, message: Exported) -> None:
        if not self._export.is_current(message):
            return
        self.exported = message.result
        self._note(f"Exported the {message.context}: " + ", ".join(shown_path(p) for p in message.result))

    @on(ExportFailed)
    def _export_failed(self, message: ExportFailed) -> None:
        if self._export.is_current(message):
            self._note(message.text, error=True)

    # ---------------------------------------------------------------------------------------- helpers

    def _focus_table(self) -> None:
        table = self.query_one("#runs-table", VirtualTable)
        if table.display:
            table.focus()
        else:
            self.focus()

    def _view(self) -> str | None:
        return self.query_one("#runs-views", ContentSwitcher).current

    def _switch(self, view_id: str) -> None:
        self.query_one("#runs-views", ContentSwitcher).current = view_id
        self.refresh_bindings()

    def _note(self, text: str, *, error: bool = False) -> None:
        note = self.query_one("#runs-note", Static)
        note.update(text)
        note.set_class(error, "-error")


def _diff_style(diff: float) -> str:
    return "bold $text-success" if diff > 0 else "bold $text-error" if diff < 0 else ""


def _shown(path: str) -> str:
    return shown_path(Path(path))


def _workspace_runs() -> Path:
    from services.common.workspace import workspace_root

    return workspace_root() / "runs"

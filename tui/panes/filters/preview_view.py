"""How the Filters pane shows a preview and an export result (display only; no work here).

The preview column: headline counts (and how tokens are estimated), notes (the task-app-keys
warning among them), the funnel of sessions each filter removed in the exporter's order, kept
sessions by model/provider, achievement bars (share of kept sessions that reached each) and the
unique-count histogram of the kept set.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from services.common.workspace import display_path
from services.datasets.filter_spec import FilterSpec
from tui.widgets.bars import BarChart, BarRow

if TYPE_CHECKING:
    from services.datasets.export import ExportResult
    from services.datasets.preview import Preview


def compose_preview() -> Iterator[Widget]:
    computing = Content.styled("Computing the preview …", "$foreground-muted italic")
    yield Static(computing, id="pv-summary", classes="section")
    yield Static(id="pv-notes", classes="section note")
    yield Static(id="pv-funnel", classes="section")
    yield Static(id="pv-models", classes="section")
    yield BarChart(id="pv-achievements", classes="section", scale="total")
    yield BarChart(id="pv-histogram", classes="section", scale="max")


def on_mount(pane: Widget) -> None:
    titles = {
        "#pv-summary": "What an export would write",
        "#pv-notes": "Notes",
        "#pv-funnel": "Funnel: sessions each filter removed, in order",
        "#pv-models": "Written sessions by model · provider",
        "#pv-achievements": "Achievements reached (share of written sessions)",
        "#pv-histogram": "Written sessions by unique achievements",
    }
    for selector, title in titles.items():
        pane.query_one(selector).border_title = title
    pane.query_one("#pv-notes").display = False


def mark_computing(pane: Widget) -> None:
    _subtitle(pane, "")


def mark_stale(pane: Widget, has_preview: bool) -> None:
    _subtitle(pane, "invalid field: showing the last valid filter" if has_preview else "invalid field: no preview yet")


def _subtitle(pane: Widget, text: str) -> None:
    scroll = pane.query_one("#filters-preview")
    scroll.border_subtitle = text
    scroll.set_class(bool(text), "-stale")


def _n(value: int) -> str:
    return f"{value:,}"


def summary_content(preview: Preview) -> Content:
    lines = [
        Content.assemble(
            ("Eligible sessions ", "bold"),
            (_n(preview.eligible_sessions), "bold $text-accent"),
            (
                f" of {_n(preview.candidates)} with LM calls ({_n(preview.sessions_in_db)} in the DB)",
                "$foreground-muted",
            ),
        ),
        Content.assemble(
            ("Examples ", "bold"),
            (_n(preview.examples), "bold $text-accent"),
            (f" from {_n(preview.sessions_written)} sessions", "$foreground-muted"),
            (
                f" (limit: {_n(preview.examples_before_limit)} before it)"
                if preview.examples_before_limit != preview.examples
                else "",
                "$foreground-muted",
            ),
        ),
        Content.assemble(
            ("Estimated tokens ", "bold"),
            (f"~{_n(preview.estimated_tokens)}", "bold $text-accent"),
            (f" ({_n(preview.characters)} characters)", "$foreground-muted"),
        ),
        Content.styled(f"Tokens: {preview.token_method}.", "$foreground-muted italic"),
    ]
    if preview.export_error:
        lines.append(Content.styled(f"Export would fail: {preview.export_error}", "bold $text-error"))
    return Content("\n").join(lines)


FUNNEL_LABEL_MAX = 38


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def funnel_content(preview: Preview) -> Content:
    """One row per step: the filter, sessions it removed (a positive count), sessions left after it.
    The last "left" is the header's session count (the limit and example-less sessions are steps too)."""
    first = f"no LM calls (of {_n(preview.sessions_in_db)} in the DB)"
    labels = [first, *(step.label for step in preview.funnel[1:])]
    label_w = min(FUNNEL_LABEL_MAX, max(len(label) for label in labels))
    lines = [Content.styled(f"{'filter'.ljust(label_w)}  {'removed':>8}  {'left':>8}", "$foreground-muted")]
    for i, (label, step) in enumerate(zip(labels, preview.funnel, strict=True)):
        removed = _n(step.removed)
        lines.append(
            Content.assemble(
                (_fit(label, label_w).ljust(label_w), "" if step.removed or i == 0 else "$foreground-muted"),
                "  ",
                (f"{removed:>8}", "bold $text-warning" if step.removed and i else "$foreground-muted"),
                "  ",
                (f"{_n(step.remaining):>8}", "bold"),
            )
        )
    if len(preview.funnel) == 1:
        lines.append(Content.styled("(no filter set: every session with LM calls is kept)", "$foreground-muted italic"))
    return Content("\n").join(lines)


def models_content(preview: Preview) -> Content:
    if not preview.by_model:
        return Content.styled("(no session written)", "$foreground-muted italic")
    names = [f"{row.model or '(none)'} · {row.provider}" for row in preview.by_model]
    label_w = max(len(n) for n in [*names, "model · provider"])
    head = Content.styled(f"{'model · provider'.ljust(label_w)}  {'sessions':>9}  {'examples':>9}", "$foreground-muted")
    rows = [
        Content.assemble(name.ljust(label_w), "  ", (f"{_n(row.sessions):>9}", "bold"), f"  {_n(row.examples):>9}")
        for name, row in zip(names, preview.by_model, strict=True)
    ]
    return Content("\n").join([head, *rows])


def show(pane: Widget, preview: Preview, spec: FilterSpec) -> None:
    """Fill the preview column from ``preview`` (the result for ``spec``)."""
    _subtitle(pane, "")
    pane.query_one("#pv-summary", Static).update(summary_content(preview))
    notes = pane.query_one("#pv-notes", Static)
    notes.display = bool(preview.notes)
    notes.update(Content("\n").join(Content.styled(f"• {note}", "$text-warning") for note in preview.notes))
    pane.query_one("#pv-funnel", Static).update(funnel_content(preview))
    pane.query_one("#pv-models", Static).update(models_content(preview))
    kept = preview.sessions_written  # the breakdowns describe the header's sessions
    achievements = pane.query_one("#pv-achievements", BarChart)
    achievements.border_subtitle = f"of {_n(kept)} written sessions"
    rows = [BarRow(row.name, row.sessions) for row in preview.by_achievement]
    achievements.set_rows(rows, kept, "(no session written)")
    histogram = pane.query_one("#pv-histogram", BarChart)
    excluded = f", not counting {', '.join(spec.exclude_achievements)}" if spec.exclude_achievements else ""
    histogram.border_subtitle = f"unique achievements per session{excluded}"
    top = max(preview.unique_histogram, default=-1)
    rows = [BarRow(f"{k:>2}", preview.unique_histogram.get(k, 0)) for k in range(top + 1)]
    histogram.set_rows(rows, kept, "(no session written)")


# ------------------------------------------------------------------------------------------ export


def expected_examples(preview: Preview | None) -> int:
    return 0 if preview is None else preview.examples


def export_summary_line(preview: Preview) -> str:
    return (
        f"The filter matches {preview.examples:,} examples from {preview.sessions_written:,} sessions "
        f"(~{preview.estimated_tokens:,} tokens)."
    )


def recount_line(before: Preview, after: Preview) -> str:
    """What a re-count after a DB change found, against what was shown before."""
    if (before.examples, before.sessions_written) == (after.examples, after.sessions_written):
        return "The DB changed and was counted again: the same counts."
    return (
        f"The DB changed and was counted again (before: {before.examples:,} examples from "
        f"{before.sessions_written:,} sessions)."
    )


def validation_ok(result: ExportResult) -> bool:
    return result.validation.ok


def export_result_content(result: ExportResult, quoted: tuple[int, int] | None = None) -> Content:
    """The manifest summary: file, counts, sha256 prefix, subsets, validation, notes. ``quoted``:
    (examples, sessions) the count said when the export started; a difference (the DB grew during
    the export) is said."""
    lines = [
        Content.assemble(
            ("Wrote ", "bold"),
            (display_path(result.output), "bold $text-accent"),
            f": {result.examples:,} examples from {result.sessions:,} sessions, ~{result.token_estimate:,} tokens, ",
            ("sha256 ", "$foreground-muted"),
            (result.sha256[:12], "bold"),
        ),
        Content.assemble(("Manifest ", "$foreground-muted"), display_path(result.manifest)),
    ]
    if quoted is not None and quoted != (result.examples, result.sessions):
        lines.append(
            Content.styled(
                f"The DB changed during the export: the count said {quoted[0]:,} examples from {quoted[1]:,} "
                "sessions; the file holds what is written above.",
                "bold $text-warning",
            )
        )
    for sub in result.subsets:
        lines.append(
            Content.assemble(
                ("Subset ", "$foreground-muted"), f"{display_path(sub.path)}: first {sub.examples:,} examples"
            )
        )
    if result.validation.ok:
        lines.append(Content.styled("Validation OK: every line passes synth-ai's upload checks.", "bold $text-success"))
    else:
        lines.append(
            Content.styled(
                f"Validation failed: {len(result.validation.issues)} issue(s), first ones:", "bold $text-error"
            )
        )
        lines += [Content.styled(f"  - {issue}", "$text-error") for issue in result.validation.issues[:3]]
    lines += [Content.styled(f"• {note}", "$foreground-muted") for note in result.notes]
    return Content("\n").join(lines)


def spec_summary(spec: FilterSpec | None) -> str:
    """The filter as export_trace_sft.py flags (blank filter: "no filter")."""
    if spec is None:
        return "(invalid)"
    flags: list[str] = [f"--model {m}" for m in spec.models]
    flags += [f"--provider {p}" for p in spec.providers]
    if spec.min_unique:
        flags.append(f"--min-unique {spec.min_unique}")
    if spec.max_unique is not None:
        flags.append(f"--max-unique {spec.max_unique}")
    flags += [f"--exclude-achievement {a}" for a in spec.exclude_achievements]
    flags += [f"--require-achievement {a}" for a in spec.require_achievements]
    if spec.min_outcome_reward is not None:
        flags.append(f"--min-outcome-reward {spec.min_outcome_reward:g}")
    if spec.max_outcome_reward is not None:
        flags.append(f"--max-outcome-reward {spec.max_outcome_reward:g}")
    flags += [f"--event-reward {f.as_flag()}" for f in spec.event_rewards]
    if spec.limit is not None:
        flags.append(f"--limit {spec.limit}")
    return " ".join(flags) or "no filter (every session with LM calls)"

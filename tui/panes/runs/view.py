"""What the Runs pane shows, as plain functions of ledger records (no widgets: tested directly and
timed by the bench): the table's columns, cells, column widths, sort keys and filter, and the lineage
as text (a comparison's CSV and Markdown are ``services.ledger.exports``).

Every cell's text and width is computed once per load, in the pane's worker (``TableRow``,
``column_widths``): sorting and filtering 1,000 runs then compare precomputed values instead of
formatting again, and the table draws only the rows in view.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len

from services.ledger.records import Lineage
from services.ledger.table import RunRow, filter_summary

#: Longest run id shown in the table (the whole id is in the lineage and the exports).
ID_WIDTH = 30


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def short_id(run_id: str, width: int = ID_WIDTH) -> str:
    """The id, or when too long: a fine-tuned model ``fft:BASE:job_x`` as ``fft:…:job_x`` (the base has
    its own column; the job id tells runs apart), anything else as its tail."""
    if len(run_id) <= width:
        return run_id
    head, _, rest = run_id.partition(":")
    base, sep, job = rest.rpartition(":")
    if sep and base and len(head) + len(job) + 3 <= width:
        return f"{head}:…:{job}"
    return "…" + run_id[-(width - 1) :]


def score_text(row: RunRow) -> str:
    if row.crafter_score is None:
        return ""
    ci = row.crafter_score_ci
    return f"{row.crafter_score:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{row.crafter_score:.2f}"


@dataclass(frozen=True)
class Column:
    """A table column: its key, header, cell text, sort value, and whether it is a number (right-aligned)."""

    key: str
    label: str
    text: Callable[[RunRow], str]
    value: Callable[[RunRow], Any]
    numeric: bool = True


def _lr_text(row: RunRow) -> str:
    lr = _num(row.learning_rate)
    return "" if lr is None else f"{lr:.0e}" if lr < 0.01 else f"{lr:g}"


#: The key columns first: at 80x24 the run, its score and its training kind fit without scrolling.
COLUMNS: tuple[Column, ...] = (
    Column("run", "run", lambda r: short_id(r.id), lambda r: r.id, numeric=False),
    Column("score", "score % [95% CI]", lambda r: score_text(r), lambda r: r.crafter_score),
    Column("unique", "unique", lambda r: _fmt(r.mean_unique, 2), lambda r: r.mean_unique),
    Column("train", "train", lambda r: r.train_kind or r.kind, lambda r: r.train_kind or r.kind, numeric=False),
    Column("base", "base", lambda r: r.base or "", lambda r: r.base, numeric=False),
    Column("rank", "rank", lambda r: "" if r.lora_rank is None else str(r.lora_rank), lambda r: _num(r.lora_rank)),
    Column("lr", "lr", _lr_text, lambda r: _num(r.learning_rate)),
    Column("examples", "examples", lambda r: "" if r.examples is None else str(r.examples), lambda r: r.examples),
    Column("tokens", "tokens", lambda r: "" if r.tokens is None else str(r.tokens), lambda r: r.tokens),
    Column("filter", "filter", lambda r: r.filter or "", lambda r: r.filter, numeric=False),
    Column("loss", "loss", lambda r: _fmt(r.final_loss, 3), lambda r: r.final_loss),
    Column("val", "val loss", lambda r: _fmt(r.final_val_loss, 3), lambda r: r.final_val_loss),
    Column("tps", "tok/s", lambda r: _fmt(r.tokens_per_s, 0), lambda r: r.tokens_per_s),
    Column("status", "status", lambda r: r.status or "", lambda r: r.status, numeric=False),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


@dataclass(frozen=True)
class TableRow:
    """One run with its cell texts and sort values computed once, and its filter haystack."""

    run: RunRow
    cells: tuple[str, ...]
    values: tuple[Any, ...]
    haystack: str

    @property
    def key(self) -> str:
        """The run id (the table's row key)."""
        return self.run.id


def table_rows(runs: Sequence[RunRow]) -> list[TableRow]:
    out = []
    for run in runs:
        cells = tuple(c.text(run) for c in COLUMNS)
        values = tuple(c.value(run) for c in COLUMNS)
        out.append(TableRow(run, cells, values, " ".join((run.id, *cells)).lower()))
    return out


def column_widths(rows: Sequence[TableRow]) -> tuple[int, ...]:
    """Each column's width in cells: its widest text over ``rows`` and its header. Taken over every
    run of a load, not the filtered ones, so the columns stay put while a filter is typed."""
    widths = [cell_len(c.label) for c in COLUMNS]
    for row in rows:
        for i, text in enumerate(row.cells):
            if len(text) > widths[i] or not text.isascii():
                widths[i] = max(widths[i], cell_len(text))
    return tuple(widths)


def sort_rows(rows: Sequence[TableRow], column: str, *, reverse: bool = False) -> list[TableRow]:
    """Sorted by ``column``; empty cells last in either direction (ties keep the ledger's order)."""
    i = COLUMN_KEYS.index(column)
    present = [r for r in rows if r.values[i] is not None and r.values[i] != ""]
    empty = [r for r in rows if r.values[i] is None or r.values[i] == ""]
    numeric = COLUMNS[i].numeric
    present.sort(key=lambda r: r.values[i] if numeric else str(r.values[i]).lower(), reverse=reverse)
    return present + empty


def filter_rows(rows: Sequence[TableRow], text: str) -> list[TableRow]:
    """The rows containing every word of ``text`` (case-insensitive, in any cell or the full id)."""
    words = text.lower().split()
    if not words:
        return list(rows)
    return [r for r in rows if all(w in r.haystack for w in words)]


# ------------------------------------------------------------------------------------------ lineage


def lineage_lines(lin: Lineage, shown: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """The lineage as (style, line) pairs, from the evals back to the trace DB; style "" / "bold" /
    "error" / "muted"; ``shown`` writes a path (the pane: relative to the current folder). A dataset
    file that no longer matches its manifest is NOT TRUSTED."""
    out: list[tuple[str, str]] = []
    add = out.append
    if lin.evals:
        for ev in reversed(lin.evals):
            add(("bold", f"Eval {ev.eval_id}"))
            add(("", f"  Crafter score {ev.score_text()}, mean unique {ev.mean_unique:.2f} on {len(ev.seeds)} seeds"))
            saved = shown(ev.result_path) if ev.result_path else "(not saved)"
            add(("muted", f"  policy {ev.policy}, backend {ev.backend}; result {saved}"))
    else:
        add(("muted", "No eval of this run yet (Eval pane, or `sft-studio eval`)."))
    if lin.model is not None:
        m = lin.model
        add(("bold", f"↑ Model {m.model_id}"))
        add(("", f"  {m.kind}" + (f", base {m.base}" if m.base else "")))
    if lin.job is not None:
        j = lin.job
        add(("bold", f"↑ Job {j.job_id} on {j.backend}"))
        add(("", f"  status {j.last_status or 'unknown'}, submitted {j.submitted_at or '?'}"))
    if lin.facts is not None:
        f = lin.facts
        figures = [
            f"final loss {f.final_loss:.4f}" if f.final_loss is not None else "",
            f"val loss {f.final_val_loss:.4f}" if f.final_val_loss is not None else "",
            f"{f.tokens_per_s:.0f} tokens/s" if f.tokens_per_s is not None else "",
            f"{f.wall_s:.0f} s" if f.wall_s is not None else "",
            f"{len(f.loss_points)} loss points" if f.loss_points else "",
        ]
        if any(figures):
            add(("", "  " + ", ".join(x for x in figures if x)))
    if lin.config is not None:
        add(("bold", f"↑ Config {shown(lin.config.path)}"))
        add(("muted", f"  sha256 {lin.config.sha256[:16]}"))
    payload = (lin.job.payload if lin.job else None) or (lin.config.payload if lin.config else None)
    if payload:
        hp = payload.get("hyperparameters") or {}
        settings = ", ".join(f"{k}={v}" for k, v in sorted(hp.items()) if not isinstance(v, dict))
        add(("", f"  payload: model {payload.get('model', '?')}, {payload.get('training_type', '?')}"))
        if settings:
            add(("muted", f"  {settings}"))
    if lin.dataset is not None:
        d = lin.dataset
        check = lin.dataset_check
        trusted = d.file_ok and (check is None or check.state == "matches")
        add(("bold", f"↑ Dataset {shown(d.path)}"))
        add(("", f"  sha256 {d.sha256[:16]}, {d.examples} examples, {d.tokens} tokens, {d.sessions} sessions"))
        if not trusted:
            state = check.state if check is not None and check.state != "matches" else "differed when recorded"
            add(
                (
                    "error",
                    f"  NOT TRUSTED: the file {state} (sha256 now {(check.sha256_now or '—')[:16] if check else '?'})",
                )
            )
        elif check is not None:
            add(("muted", "  file on disk matches its manifest"))
        add(("bold", "↑ Filter"))
        add(("", f"  {filter_summary(d.filter)}"))
        add(("bold", f"↑ Trace DB {shown(d.db_path) if d.db_path else '(unknown)'}"))
        add(("muted", f"  sha256 {(d.db_sha256 or '?')[:16]}"))
    elif lin.job is not None:
        add(("error", "↑ Dataset: not in the ledger (import its manifest: `sft-studio runs import MANIFEST`)"))
    for warning in lin.warnings:
        add(("error", f"Warning: {shown_paths(warning, shown)}"))
    return out


def shown_paths(text: str, shown: Callable[[str], str]) -> str:
    """``text`` with each word that is an absolute path written by ``shown``."""
    return " ".join(shown(w) if w.startswith("/") else w for w in text.split(" "))

"""The runs table: one row per model (with its latest eval), plus jobs that made no model yet;
built with one query per table (a ledger of thousands of runs lists in milliseconds), and written
as JSON, CSV or Markdown for ``runs export``."""

from __future__ import annotations

import csv
import io
import os
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from services.jobs.store import JobRow
from services.ledger.store import Ledger
from services.ledger.tables import DatasetRow, EvalRow, JobFactsRow, ModelRow


class RunRow(BaseModel):
    id: str  # the model id, or the job id while there is no model
    kind: str
    base: str | None = None
    job: str | None = None
    status: str | None = None
    train_kind: str | None = None
    lora_rank: Any = None
    learning_rate: Any = None
    dataset: str | None = None
    examples: int | None = None
    tokens: int | None = None
    filter: str | None = None
    final_loss: float | None = None
    final_val_loss: float | None = None
    tokens_per_s: float | None = None
    evals: int = 0
    eval_id: str | None = None
    crafter_score: float | None = None
    crafter_score_ci: tuple[float, float] | None = None
    mean_unique: float | None = None
    mean_unique_ci: tuple[float, float] | None = None
    seeds: int | None = None


def filter_summary(spec: dict[str, Any]) -> str:
    parts = []
    for key, value in sorted(spec.items()):
        if value in (None, [], 0, {}):
            continue
        parts.append(f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}")
    return " ".join(parts) or "all sessions"


def run_rows(ledger: Ledger) -> list[RunRow]:
    """Column queries, not whole rows: the loss curves and eval settings stay on disk (a list of
    1,000 runs reads a few hundred kB, not every JSON blob)."""
    with ledger._read() as s:
        models = s.execute(select(ModelRow.model_id, ModelRow.kind, ModelRow.base, ModelRow.job_id)).all()
        jobs = {
            r.job_id: r
            for r in s.execute(
                select(
                    JobRow.job_id,
                    JobRow.base_model,
                    JobRow.last_status,
                    func.json_extract(JobRow.payload, "$.hyperparameters.train_kind").label("train_kind"),
                    func.coalesce(
                        func.json_extract(JobRow.payload, "$.hyperparameters.lora_rank"),
                        func.json_extract(JobRow.payload, "$.hyperparameters.r"),
                    ).label("lora_rank"),
                    func.json_extract(JobRow.payload, "$.hyperparameters.learning_rate").label("learning_rate"),
                ).order_by(JobRow.id)
            )
        }
        facts = {
            r.job_id: r
            for r in s.execute(
                select(
                    JobFactsRow.job_id, JobFactsRow.dataset_id, JobFactsRow.status, JobFactsRow.examples,
                    JobFactsRow.final_loss, JobFactsRow.final_val_loss, JobFactsRow.tokens_per_s,
                ).order_by(JobFactsRow.id)
            )
        }  # fmt: skip
        datasets = {
            r.id: r
            for r in s.execute(
                select(DatasetRow.id, DatasetRow.path, DatasetRow.examples, DatasetRow.tokens, DatasetRow.filter)
            )
        }
        evals: dict[str, list[Any]] = {}
        for e in s.execute(
            select(
                EvalRow.eval_id, EvalRow.model_id, EvalRow.dataset_id, EvalRow.crafter_score, EvalRow.crafter_score_low,
                EvalRow.crafter_score_high, EvalRow.mean_unique, EvalRow.mean_unique_low, EvalRow.mean_unique_high,
                func.json_array_length(EvalRow.seeds).label("seeds"),
            ).order_by(EvalRow.created_at, EvalRow.eval_id)
        ):  # fmt: skip
            evals.setdefault(e.model_id, []).append(e)
    rows = []
    with_model = {m.job_id for m in models if m.job_id}
    entries: list[tuple[str, str, str | None, str | None]] = [(m.model_id, m.kind, m.base, m.job_id) for m in models]
    entries += [(j, "job", jobs[j].base_model, j) for j in jobs if j not in with_model]
    for run_id, kind, base, job_id in entries:
        job = jobs.get(job_id) if job_id else None
        fact = facts.get(job_id) if job_id else None
        mine = evals.get(run_id, [])
        eval_ids = {e.dataset_id for e in mine if e.dataset_id is not None}
        dataset_id = fact.dataset_id if fact is not None and fact.dataset_id is not None else (
            max(eval_ids) if eval_ids else None
        )  # fmt: skip
        data = datasets.get(dataset_id) if dataset_id is not None else None
        last = mine[-1] if mine else None
        rows.append(
            RunRow(
                id=run_id,
                kind=kind,
                base=base,
                job=job_id,
                status=(fact.status if fact and fact.status else job.last_status if job else None),
                train_kind=(job.train_kind if job else None) or (kind if kind in ("peft", "fft") else None),
                lora_rank=job.lora_rank if job else None,
                learning_rate=job.learning_rate if job else None,
                dataset=os.path.basename(data.path) if data else None,
                examples=(fact.examples if fact and fact.examples else data.examples if data else None),
                tokens=data.tokens if data else None,
                filter=filter_summary(data.filter) if data else None,
                final_loss=fact.final_loss if fact else None,
                final_val_loss=fact.final_val_loss if fact else None,
                tokens_per_s=fact.tokens_per_s if fact else None,
                evals=len(mine),
                eval_id=last.eval_id if last else None,
                crafter_score=last.crafter_score if last else None,
                crafter_score_ci=_pair(last.crafter_score_low, last.crafter_score_high) if last else None,
                mean_unique=last.mean_unique if last else None,
                mean_unique_ci=_pair(last.mean_unique_low, last.mean_unique_high) if last else None,
                seeds=last.seeds if last else None,
            )
        )
    return rows


def _pair(low: float | None, high: float | None) -> tuple[float, float] | None:
    return (low, high) if low is not None and high is not None else None


COLUMNS = [
    "id", "kind", "base", "job", "status", "train_kind", "lora_rank", "learning_rate", "dataset", "examples", "tokens",
    "filter", "final_loss", "final_val_loss", "tokens_per_s", "evals", "eval_id", "crafter_score", "crafter_score_ci",
    "mean_unique", "mean_unique_ci", "seeds",
]  # fmt: skip


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return f"[{value[0]:.2f}, {value[1]:.2f}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def as_csv(rows: list[RunRow]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.model_dump()
        writer.writerow([_cell(tuple(data[c]) if isinstance(data[c], list) else data[c]) for c in COLUMNS])
    return buf.getvalue()


def as_markdown(rows: list[RunRow]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        data = row.model_dump()
        cells = [_cell(tuple(data[c]) if isinstance(data[c], list) else data[c]).replace("|", "\\|") for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

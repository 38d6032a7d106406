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
    1,000 runs reads a few hundred kB, not every JSON blob). The results are read as plain tuples
    and unpacked by position (a named attribute of a SQLAlchemy row costs several times more), and
    each dataset's filter summary is written once, however many runs used it."""
    with ledger._read() as s:
        models = s.execute(select(ModelRow.model_id, ModelRow.kind, ModelRow.base, ModelRow.job_id)).all()
        jobs = {
            r[0]: r
            for r in s.execute(
                select(
                    JobRow.job_id,
                    JobRow.base_model,
                    JobRow.last_status,
                    func.json_extract(JobRow.payload, "$.hyperparameters.train_kind"),
                    func.coalesce(
                        func.json_extract(JobRow.payload, "$.hyperparameters.lora_rank"),
                        func.json_extract(JobRow.payload, "$.hyperparameters.r"),
                    ),
                    func.json_extract(JobRow.payload, "$.hyperparameters.learning_rate"),
                ).order_by(JobRow.id)
            )
        }
        facts = {
            r[0]: r
            for r in s.execute(
                select(
                    JobFactsRow.job_id, JobFactsRow.dataset_id, JobFactsRow.status, JobFactsRow.examples,
                    JobFactsRow.final_loss, JobFactsRow.final_val_loss, JobFactsRow.tokens_per_s,
                ).order_by(JobFactsRow.id)
            )
        }  # fmt: skip
        datasets = {
            id_: (os.path.basename(path), examples, tokens, filter_summary(spec))
            for id_, path, examples, tokens, spec in s.execute(
                select(DatasetRow.id, DatasetRow.path, DatasetRow.examples, DatasetRow.tokens, DatasetRow.filter)
            )
        }
        evals: dict[str, list[Any]] = {}
        for e in s.execute(
            select(
                EvalRow.model_id, EvalRow.eval_id, EvalRow.dataset_id, EvalRow.crafter_score, EvalRow.crafter_score_low,
                EvalRow.crafter_score_high, EvalRow.mean_unique, EvalRow.mean_unique_low, EvalRow.mean_unique_high,
                func.json_array_length(EvalRow.seeds),
            ).order_by(EvalRow.created_at, EvalRow.eval_id)
        ):  # fmt: skip
            evals.setdefault(e[0], []).append(e)
    rows = []
    with_model = {m[3] for m in models if m[3]}
    entries: list[tuple[str, str, str | None, str | None]] = list(models)
    entries += [(j, "job", job[1], j) for j, job in jobs.items() if j not in with_model]
    no_job = (None,) * 6
    no_fact = (None,) * 7
    no_eval = (None,) * 10
    for run_id, kind, base, job_id in entries:
        _, _, last_status, train_kind, lora_rank, learning_rate = (jobs.get(job_id) if job_id else None) or no_job
        _, fact_dataset, fact_status, fact_examples, final_loss, final_val_loss, tokens_per_s = (
            facts.get(job_id) if job_id else None
        ) or no_fact
        mine = evals.get(run_id, ())
        dataset_id = fact_dataset
        if dataset_id is None:
            dataset_id = max((e[2] for e in mine if e[2] is not None), default=None)
        data = datasets.get(dataset_id) if dataset_id is not None else None
        _, eval_id, _, score, score_low, score_high, unique, unique_low, unique_high, seeds = (
            mine[-1] if mine else no_eval
        )
        rows.append(
            RunRow(
                id=run_id,
                kind=kind,
                base=base,
                job=job_id,
                status=fact_status or last_status,
                train_kind=train_kind or (kind if kind in ("peft", "fft") else None),
                lora_rank=lora_rank,
                learning_rate=learning_rate,
                dataset=data[0] if data else None,
                examples=fact_examples or (data[1] if data else None),
                tokens=data[2] if data else None,
                filter=data[3] if data else None,
                final_loss=final_loss,
                final_val_loss=final_val_loss,
                tokens_per_s=tokens_per_s,
                evals=len(mine),
                eval_id=eval_id,
                crafter_score=score,
                crafter_score_ci=_pair(score_low, score_high),
                mean_unique=unique,
                mean_unique_ci=_pair(unique_low, unique_high),
                seeds=seeds,
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

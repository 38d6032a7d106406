"""The runs ledger: the job store's database plus the ledger tables (``services.ledger.tables``).

One file, one migration path: :class:`Ledger` opens a :class:`~services.jobs.store.JobStore` on the
ledger path (which applies migration 2, the ledger tables) after :func:`preflight` has refused a
corrupt or newer file without writing to it. Every write is one short transaction (WAL, busy
timeout), so the app, a CLI and a running export can record at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.jobs.store import JobRecord, JobRow, JobStore, utc_now
from services.ledger.open import LedgerError, ledger_path, preflight
from services.ledger.records import ConfigInfo, DatasetInfo, EvalInfo, JobFacts, ModelInfo
from services.ledger.tables import ConfigRow, DatasetRow, EvalRow, JobFactsRow, ModelRow


class EvalLike(Protocol):
    """What :meth:`Ledger.record_eval` reads of ``services.evals.results.EvalResult`` (no import
    of the evals package here: evals imports the ledger's hook)."""

    eval_id: str
    model: str
    policy: str
    backend: str
    mode: str
    seeds: list[int]
    settings: dict[str, Any]
    finished_at: str


def sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def model_kind(model: str, policy: str = "openai") -> tuple[str, str | None, str | None]:
    """(kind, base, job id) read from a model id: ``peft:BASE:job_x`` / ``fft:BASE:job_x`` are
    fine-tuned (the local backend's and Synth's form), a policy is a policy, anything else a base."""
    if policy != "openai":
        return "policy", None, None
    head, _, rest = model.partition(":")
    if head in ("peft", "fft", "ft") and ":job_" in rest:
        base, _, job = rest.rpartition(":")
        return head, base, job
    return "base", model, None


class Ledger:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = ledger_path(path)
        preflight(self.path)
        try:
            self.jobs = JobStore(self.path)
        except SQLAlchemyError as exc:
            raise LedgerError(f"Cannot open the runs ledger {self.path}: {exc.__class__.__name__}: {exc}") from None
        self._sessions = sessionmaker(self.jobs.engine, expire_on_commit=False)

    def close(self) -> None:
        self.jobs.close()

    def counts(self) -> dict[str, int]:
        """Rows per table (for summaries: no row is loaded)."""
        from sqlalchemy import func

        with self._read() as s:
            return {
                name: int(s.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in (("datasets", DatasetRow), ("configs", ConfigRow), ("jobs", JobRow),
                                    ("models", ModelRow), ("evals", EvalRow))
            }  # fmt: skip

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # ------------------------------------------------------------------ datasets

    def record_manifest(self, manifest: Path, *, verify: bool = True) -> DatasetInfo:
        """Record the dataset an export manifest describes. ``verify`` hashes the file: a file that
        differs from its manifest (or is gone) is recorded with ``file_ok`` False and the reason."""
        try:
            body = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LedgerError(f"Cannot read the export manifest {manifest}: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("sha256"), str) or not body.get("file"):
            raise LedgerError(f"{manifest} is not an export manifest (no file and sha256).")
        file = (manifest.parent / str(body["file"])).resolve()
        ok, problem = True, None
        if verify:
            if not file.is_file():
                ok, problem = False, f"{file} is missing (its manifest {manifest} remains)"
            else:
                now = sha256_file(file)
                if now != body["sha256"]:
                    ok = False
                    problem = (
                        f"{file} changed since its manifest was written (sha256 now {now[:12]}, manifest "
                        f"{body['sha256'][:12]}): the manifest's filter and counts do not describe it"
                    )
        source = body.get("source_db") or {}
        counts = body.get("counts") or {}
        values: dict[str, Any] = {
            "path": str(file),
            "manifest_path": str(manifest.resolve()),
            "sha256": body["sha256"],
            "bytes": body.get("bytes"),
            "db_path": source.get("path"),
            "db_sha256": source.get("sha256"),
            "filter": body.get("filter") or {},
            "counts": counts,
            "examples": counts.get("examples"),
            "sessions": counts.get("sessions"),
            "tokens": body.get("token_estimate"),
            "subset_of": (body.get("subset_of") or {}).get("file"),
            "tool": body.get("tool"),
            "created_at": body.get("created_at"),
            "recorded_at": utc_now(),
            "file_ok": ok,
            "problem": problem,
        }
        with self._write() as s:
            row = s.scalars(
                select(DatasetRow).where(DatasetRow.path == values["path"], DatasetRow.sha256 == values["sha256"])
            ).first()
            if row is None:
                row = DatasetRow(**values)
                s.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
            s.flush()
            return DatasetInfo.model_validate(row)

    def dataset(self, dataset_id: int | None) -> DatasetInfo | None:
        if dataset_id is None:
            return None
        with self._read() as s:
            row = s.get(DatasetRow, dataset_id)
            return DatasetInfo.model_validate(row) if row is not None else None

    def find_dataset(self, sha256: str | None, path: str | None = None) -> DatasetInfo | None:
        """By content first (the file the job uploaded), else the newest row for that path (an
        ``--examples`` subset uploads a prefix, whose hash no manifest has)."""
        with self._read() as s:
            row = None
            if sha256:
                row = s.scalars(
                    select(DatasetRow).where(DatasetRow.sha256 == sha256).order_by(DatasetRow.id.desc())
                ).first()
            if row is None and path:
                resolved = str(Path(path).resolve())
                row = s.scalars(
                    select(DatasetRow).where(DatasetRow.path == resolved).order_by(DatasetRow.id.desc())
                ).first()
            return DatasetInfo.model_validate(row) if row is not None else None

    def datasets(self) -> list[DatasetInfo]:
        with self._read() as s:
            return [DatasetInfo.model_validate(r) for r in s.scalars(select(DatasetRow).order_by(DatasetRow.id))]

    def _dataset_for(self, sha256: str | None, path: str | None) -> DatasetInfo | None:
        """The ledger's row, else the manifest beside the file recorded now."""
        found = self.find_dataset(sha256, path)
        if found is not None or not path:
            return found
        from services.datasets.export_targets import manifest_path

        manifest = manifest_path(Path(path))
        if manifest.is_file():
            return self.record_manifest(manifest)
        return None

    # ------------------------------------------------------------------ configs and jobs

    def record_config(self, path: str, sha256: str, payload: dict[str, Any]) -> ConfigInfo:
        text: str | None = None
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        with self._write() as s:
            row = s.scalars(select(ConfigRow).where(ConfigRow.path == path, ConfigRow.sha256 == sha256)).first()
            if row is None:
                row = ConfigRow(path=path, sha256=sha256, text=text, payload=payload, recorded_at=utc_now())
                s.add(row)
            else:
                row.payload = payload
                if text is not None and row.text is None:
                    row.text = text
            s.flush()
            return ConfigInfo.model_validate(row)

    def config(self, config_id: int | None) -> ConfigInfo | None:
        if config_id is None:
            return None
        with self._read() as s:
            row = s.get(ConfigRow, config_id)
            return ConfigInfo.model_validate(row) if row is not None else None

    def _facts(self, s: Session, backend: str, job_id: str) -> JobFactsRow:
        row = s.scalars(select(JobFactsRow).where(JobFactsRow.backend == backend, JobFactsRow.job_id == job_id)).first()
        if row is None:
            row = JobFactsRow(backend=backend, job_id=job_id, loss_points=[])
            s.add(row)
        return row

    def record_submission(self, record: JobRecord, *, examples: int | None = None) -> JobFacts:
        """A submitted job: its ``jobs`` row (the same upsert the job store does), its config row and
        its dataset rows (found by sha256 or path; a manifest beside the file is recorded now)."""
        job = self.jobs.add(record)
        config = (
            self.record_config(record.config_path, record.config_sha256, record.payload)
            if record.config_path and record.config_sha256
            else None
        )
        dataset = self._dataset_for(record.dataset_sha256, record.dataset_path)
        validation = (
            self._dataset_for(record.validation_sha256, record.validation_path) if record.validation_path else None
        )
        with self._write() as s:
            facts = self._facts(s, job.backend, job.job_id)
            facts.config_id = config.id if config else facts.config_id
            facts.dataset_id = dataset.id if dataset else facts.dataset_id
            facts.validation_dataset_id = validation.id if validation else facts.validation_dataset_id
            facts.examples = examples if examples is not None else facts.examples
            facts.status = record.last_status
            s.flush()
            return JobFacts.model_validate(facts)

    def record_job_end(
        self,
        job_id: str,
        *,
        backend: str | None = None,
        status: str | None = None,
        fine_tuned_model: str | None = None,
        base_model: str | None = None,
        final_loss: float | None = None,
        final_val_loss: float | None = None,
        tokens_per_s: float | None = None,
        started_at: str | None = None,
        finished_at: str | None = None,
        error: str | None = None,
        loss_points: list[tuple[int, float]] | None = None,
    ) -> JobFacts:
        """A job that ended: its status, model and final figures (the ``jobs`` row updated when it is
        ours; a job submitted elsewhere still gets its facts and model rows)."""
        known = self.jobs.update_status(
            job_id, status=status, fine_tuned_model=fine_tuned_model, finished_at=finished_at, error=error,
            backend=backend,
        )  # fmt: skip
        label = known.backend if known is not None else backend or "unknown"
        base = base_model or (known.base_model if known is not None else None)
        wall = _seconds_between(started_at or (known.submitted_at if known else None), finished_at)
        with self._write() as s:
            facts = self._facts(s, label, job_id)
            facts.status = status or facts.status
            facts.final_loss = final_loss if final_loss is not None else facts.final_loss
            facts.final_val_loss = final_val_loss if final_val_loss is not None else facts.final_val_loss
            facts.tokens_per_s = tokens_per_s if tokens_per_s is not None else facts.tokens_per_s
            facts.started_at = started_at or facts.started_at
            facts.finished_at = finished_at or facts.finished_at
            facts.wall_s = wall if wall is not None else facts.wall_s
            if loss_points:
                facts.loss_points = [[float(a), float(b)] for a, b in loss_points]
            if fine_tuned_model:
                kind, parsed_base, _ = model_kind(fine_tuned_model)
                self._upsert_model(
                    s, fine_tuned_model, job_id=job_id, base=base or parsed_base,
                    kind=kind if kind != "base" else "fine-tuned",
                )  # fmt: skip
            s.flush()
            return JobFacts.model_validate(facts)

    def facts(self, job_id: str, backend: str | None = None) -> JobFacts | None:
        with self._read() as s:
            query = select(JobFactsRow).where(JobFactsRow.job_id == job_id)
            if backend is not None:
                query = query.where(JobFactsRow.backend == backend)
            row = s.scalars(query.order_by(JobFactsRow.id.desc())).first()
            return JobFacts.model_validate(row) if row is not None else None

    def trained_models(self, dataset_sha256: str, config_sha256: str, config_text: str | None = None) -> dict[str, str]:
        """The models (model id -> job id) of jobs trained on the dataset of ``dataset_sha256`` with the
        config of ``config_sha256`` (the file's sha256) or, for a row recorded without that hash, of
        exactly ``config_text``: what a sweep asks before it trains a cell again."""
        with self._read() as s:
            datasets = list(s.scalars(select(DatasetRow.id).where(DatasetRow.sha256 == dataset_sha256)))
            if not datasets:
                return {}
            configs = [
                row.id
                for row in s.scalars(select(ConfigRow))
                if row.sha256 == config_sha256 or (config_text is not None and row.text == config_text)
            ]
            if not configs:
                return {}
            jobs = list(
                s.scalars(
                    select(JobFactsRow.job_id).where(
                        JobFactsRow.dataset_id.in_(datasets), JobFactsRow.config_id.in_(configs)
                    )
                )
            )
            if not jobs:
                return {}
            rows = s.scalars(select(ModelRow).where(ModelRow.job_id.in_(jobs)))
            return {row.model_id: row.job_id or "" for row in rows}

    def all_facts(self) -> dict[str, JobFacts]:
        with self._read() as s:
            return {r.job_id: JobFacts.model_validate(r) for r in s.scalars(select(JobFactsRow))}

    # ------------------------------------------------------------------ models and evals

    def _upsert_model(self, s: Session, model_id: str, *, job_id: str | None, base: str | None, kind: str) -> ModelRow:
        row = s.get(ModelRow, model_id)
        if row is None:
            row = ModelRow(model_id=model_id, job_id=job_id, base=base, kind=kind, recorded_at=utc_now())
            s.add(row)
        else:
            row.job_id = job_id or row.job_id
            row.base = base or row.base
            row.kind = kind if row.kind in ("base", "fine-tuned") else row.kind
        return row

    def record_eval(
        self,
        result: EvalLike,
        aggregate: Any,
        result_path: Path | None,
        *,
        job_id: str | None = None,
        dataset_id: int | None = None,
    ) -> EvalInfo:
        """An eval and its model; the job comes from the model row, the ``jobs`` row naming the model,
        or ``job_id`` (the local backend's store, found by the caller), in that order."""
        kind, base, parsed_job = model_kind(result.model, result.policy)
        with self._write() as s:
            model = s.get(ModelRow, result.model)
            job = model.job_id if model is not None and model.job_id else None
            if job is None:
                row = s.scalars(
                    select(JobRow).where(JobRow.fine_tuned_model == result.model).order_by(JobRow.id.desc())
                ).first()
                job = row.job_id if row is not None else job_id
            if (
                job is None
                and parsed_job is not None
                and s.scalars(select(JobRow).where(JobRow.job_id == parsed_job)).first()
            ):
                job = parsed_job
            self._upsert_model(s, result.model, job_id=job, base=base, kind=kind)
            if dataset_id is None and job is not None:
                facts = s.scalars(select(JobFactsRow).where(JobFactsRow.job_id == job)).first()
                dataset_id = facts.dataset_id if facts is not None else None
            low, high = aggregate.crafter_score_ci
            ulow, uhigh = aggregate.mean_unique_ci
            values: dict[str, Any] = {
                "model_id": result.model,
                "policy": result.policy,
                "backend": result.backend,
                "mode": result.mode,
                "seeds": list(result.seeds),
                "settings": dict(result.settings),
                "episodes": aggregate.episodes,
                "crafter_score": aggregate.crafter_score,
                "crafter_score_low": low,
                "crafter_score_high": high,
                "mean_unique": aggregate.mean_unique,
                "mean_unique_low": ulow,
                "mean_unique_high": uhigh,
                "result_path": str(result_path) if result_path else None,
                "job_id": job,
                "dataset_id": dataset_id,
                "created_at": result.finished_at,
                "recorded_at": utc_now(),
            }
            saved = s.get(EvalRow, result.eval_id)
            if saved is None:
                saved = EvalRow(eval_id=result.eval_id, **values)
                s.add(saved)
            else:
                for key, value in values.items():
                    setattr(saved, key, value)
            s.flush()
            return EvalInfo.model_validate(saved)

    def model(self, model_id: str) -> ModelInfo | None:
        with self._read() as s:
            row = s.get(ModelRow, model_id)
            return ModelInfo.model_validate(row) if row is not None else None

    def models(self) -> list[ModelInfo]:
        with self._read() as s:
            return [ModelInfo.model_validate(r) for r in s.scalars(select(ModelRow).order_by(ModelRow.recorded_at))]

    def model_of_job(self, job_id: str) -> ModelInfo | None:
        with self._read() as s:
            row = s.scalars(select(ModelRow).where(ModelRow.job_id == job_id)).first()
            return ModelInfo.model_validate(row) if row is not None else None

    def eval(self, eval_id: str) -> EvalInfo | None:
        with self._read() as s:
            row = s.get(EvalRow, eval_id)
            return EvalInfo.model_validate(row) if row is not None else None

    def evals(self, model_id: str | None = None) -> list[EvalInfo]:
        """Oldest first."""
        with self._read() as s:
            query = select(EvalRow).order_by(EvalRow.created_at, EvalRow.eval_id)
            if model_id is not None:
                query = query.where(EvalRow.model_id == model_id)
            return [EvalInfo.model_validate(r) for r in s.scalars(query)]


def _seconds_between(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    try:
        return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    except (TypeError, ValueError):
        return None

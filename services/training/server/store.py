"""The local backend's records: files, jobs, events, metrics, timeline and models, in SQLite through
the SQLAlchemy 2 ORM (``data_dir()/backend/backend.db``).

One :class:`Store` per server process. Writes go through a lock (the API threads and the runner
thread share one SQLite file; SQLite takes one writer at a time anyway, and the lock also makes
"next event seq" and "only change a job that is not finished" atomic). Reads need no lock: WAL mode
lets polls read while the runner writes, which keeps status/events/metrics polls in milliseconds.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

#: Where a job ends; no transition leaves these.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
#: Statuses in which a job is being worked on (a restarted server marks them failed).
ACTIVE = frozenset({"validating_files", "running", "training", "evaluating"})
STOPPED_DURING_JOB = "the server stopped during the job"


def utc_now() -> str:
    """ISO 8601 with microseconds and an explicit UTC offset, as the hosted backend's timestamps."""
    return datetime.now(UTC).isoformat()


def new_file_id() -> str:
    return f"file_{secrets.token_hex(12)}"


def new_job_id() -> str:
    """``job_<16 hex>``, the hosted backend's format (e.g. ``job_24faa0fdfdf648b9``)."""
    return f"job_{secrets.token_hex(8)}"


class Base(DeclarativeBase):
    pass


class FileRow(Base):
    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    sha256: Mapped[str] = mapped_column(String, index=True)
    purpose: Mapped[str] = mapped_column(String)
    bytes: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)  # ready | failed
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    examples: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    status: Mapped[str] = mapped_column(String, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(String)
    training_type: Mapped[str] = mapped_column(String)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    training_file_id: Mapped[str] = mapped_column(String)
    validation_file_id: Mapped[str | None] = mapped_column(String, nullable=True)
    train_kind: Mapped[str] = mapped_column(String)
    fine_tuned_model: Mapped[str | None] = mapped_column(String, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Set by ``/start``; the runner takes started jobs in this order (FIFO).
    start_order: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String, index=True)
    updated_at: Mapped[str] = mapped_column(String)
    finished_at: Mapped[str | None] = mapped_column(String, nullable=True)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_job_seq", "job_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String, ForeignKey("jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String)
    level: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[str] = mapped_column(String)


class MetricRow(Base):
    __tablename__ = "metrics"
    __table_args__ = (
        Index("ix_metrics_job_step", "job_id", "step", "id"),
        Index("ix_metrics_job_name_step", "job_id", "name", "step", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String, ForeignKey("jobs.id"))
    name: Mapped[str] = mapped_column(String)
    value: Mapped[float] = mapped_column(Float)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    epoch: Mapped[float | None] = mapped_column(Float, nullable=True)
    phase: Mapped[str] = mapped_column(String)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[str] = mapped_column(String)


class TimelineRow(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String, ForeignKey("jobs.id"), index=True)
    phase: Mapped[str] = mapped_column(String)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    created_at: Mapped[str] = mapped_column(String)


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    base_model: Mapped[str] = mapped_column(String)
    job_id: Mapped[str] = mapped_column(String, index=True)
    train_kind: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    created_at: Mapped[str] = mapped_column(String)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Store:
    """The backend's database. Methods return plain dicts (the API's JSON), never ORM objects."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.engine: Engine = create_engine(
            f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 10}
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write = threading.RLock()

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._write, self._sessions() as session, session.begin():
            yield session

    # ------------------------------------------------------------------------------------ files

    def add_file(
        self, *, sha256: str, purpose: str, size: int, filename: str, status: str, reasons: list[str], examples: int
    ) -> dict[str, Any]:
        row = FileRow(
            id=new_file_id(),
            sha256=sha256,
            purpose=purpose,
            bytes=size,
            filename=filename,
            status=status,
            reasons=reasons,
            examples=examples,
            created_at=utc_now(),
        )
        with self._writing() as s:
            s.add(row)
        return file_json(row)

    def get_file_row(self, file_id: str) -> FileRow | None:
        with self._session() as s:
            return s.get(FileRow, file_id)

    def list_files(self, purpose: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(FileRow).order_by(FileRow.created_at.desc()).limit(limit)
        if purpose:
            query = query.where(FileRow.purpose == purpose)
        with self._session() as s:
            return [file_json(r) for r in s.scalars(query)]

    # ------------------------------------------------------------------------------------- jobs

    def create_job(
        self,
        *,
        payload: dict[str, Any],
        model: str,
        training_type: str,
        hyperparameters: dict[str, Any],
        metadata: dict[str, Any],
        training_file_id: str,
        validation_file_id: str | None,
        train_kind: str,
    ) -> JobRow:
        now = utc_now()
        row = JobRow(
            id=new_job_id(),
            status="queued",
            payload=payload,
            model=model,
            training_type=training_type,
            hyperparameters=hyperparameters,
            job_metadata=metadata,
            training_file_id=training_file_id,
            validation_file_id=validation_file_id,
            train_kind=train_kind,
            progress={},
            last_seq=0,
            created_at=now,
            updated_at=now,
        )
        with self._writing() as s:
            s.add(row)
            s.add(TimelineRow(job_id=row.id, phase="queued", message="job created", details={}, created_at=now))
        return row

    def get_job(self, job_id: str) -> JobRow | None:
        with self._session() as s:
            return s.get(JobRow, job_id)

    def list_jobs(
        self, *, status: str | None, training_type: str | None, created_after: str | None, limit: int
    ) -> list[JobRow]:
        query = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
        if status:
            query = query.where(func.lower(JobRow.status) == status.lower())
        if training_type:
            query = query.where(JobRow.training_type == training_type)
        if created_after:
            query = query.where(JobRow.created_at > created_after)
        with self._session() as s:
            return list(s.scalars(query))

    def request_start(self, job_id: str) -> bool:
        """Put a queued job in the runner's line (once); False when it was already started or is done."""
        with self._writing() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.start_order is not None or row.status in TERMINAL:
                return False
            highest = s.scalar(select(func.max(JobRow.start_order))) or 0
            row.start_order = highest + 1
            row.updated_at = utc_now()
            return True

    def next_started_job(self) -> str | None:
        """The oldest started job still queued (FIFO by start order)."""
        query = (
            select(JobRow.id)
            .where(JobRow.status == "queued", JobRow.start_order.is_not(None))
            .order_by(JobRow.start_order)
            .limit(1)
        )
        with self._session() as s:
            return s.scalar(query)

    def set_status(
        self, job_id: str, status: str, *, message: str = "", details: dict[str, Any] | None = None, **fields: Any
    ) -> bool:
        """Move an unfinished job to ``status`` (plus a timeline entry); False when it had already
        finished (a cancel and a success racing: whichever came first stays)."""
        with self._writing() as s:
            row = s.get(JobRow, job_id)
            return row is not None and self._set_status_in(s, row, status, message, details or {}, fields)

    @staticmethod
    def _set_status_in(
        s: Session, row: JobRow, status: str, message: str, details: dict[str, Any], fields: dict[str, Any]
    ) -> bool:
        if row.status in TERMINAL:
            return False
        now = utc_now()
        changed = row.status != status
        row.status = status
        row.updated_at = now
        if status in TERMINAL:
            row.finished_at = now
        for key, value in fields.items():
            setattr(row, key, value)
        if changed:
            s.add(TimelineRow(job_id=row.id, phase=status, message=message, details=details, created_at=now))
        return True

    def apply_trainer_batch(
        self,
        job_id: str,
        *,
        events: list[tuple[str, str, str, dict[str, Any]]],
        metrics: list[dict[str, Any]],
        statuses: list[str],
        progress: dict[str, Any] | None,
    ) -> None:
        """What the trainer reported since the last batch, in one transaction: a trainer that logs
        every step costs one commit per batch of lines, not one per line. Nothing changes a job that
        already finished (cancelled while its last lines were in flight)."""
        now = utc_now()
        with self._writing() as s:
            row = s.get(JobRow, job_id)
            if row is None or row.status in TERMINAL:
                return
            seq = row.last_seq
            for type_, level, message, data in events:
                seq += 1
                s.add(
                    EventRow(
                        job_id=job_id, seq=seq, type=type_, level=level, message=message, data=data, created_at=now
                    )
                )
            row.last_seq = seq
            for p in metrics:
                s.add(_metric_row(job_id, p, now))
            for status in statuses:
                self._set_status_in(s, row, status, f"trainer: {status}", {}, {})
            if progress is not None:
                row.progress = progress
            row.updated_at = now

    def update_job(self, job_id: str, **fields: Any) -> None:
        with self._writing() as s:
            row = s.get(JobRow, job_id)
            if row is not None:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = utc_now()

    def fail_interrupted_jobs(self) -> list[str]:
        """On start-up: a job a previous server left active can never finish; say why it failed."""
        with self._session() as s:
            ids = list(s.scalars(select(JobRow.id).where(JobRow.status.in_(ACTIVE))))
        for job_id in ids:
            if self.set_status(job_id, "failed", message=STOPPED_DURING_JOB, error=STOPPED_DURING_JOB):
                self.add_event(
                    job_id, "sft.job.failed", STOPPED_DURING_JOB, level="error", data={"error": STOPPED_DURING_JOB}
                )
        return ids

    # ----------------------------------------------------------------------------------- events

    def add_event(
        self, job_id: str, type_: str, message: str, *, level: str = "info", data: dict[str, Any] | None = None
    ) -> int:
        """Append an event with the job's next seq (1, 2, 3, ...); returns the seq."""
        with self._writing() as s:
            seq = self._next_seq(s, job_id)
            s.add(
                EventRow(
                    job_id=job_id,
                    seq=seq,
                    type=type_,
                    level=level,
                    message=message,
                    data=data or {},
                    created_at=utc_now(),
                )
            )
            return seq

    def add_events(self, job_id: str, events: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
        """Many events in one transaction: ``(type, level, message, data)`` each."""
        with self._writing() as s:
            for type_, level, message, data in events:
                seq = self._next_seq(s, job_id)
                s.add(
                    EventRow(
                        job_id=job_id,
                        seq=seq,
                        type=type_,
                        level=level,
                        message=message,
                        data=data,
                        created_at=utc_now(),
                    )
                )

    @staticmethod
    def _next_seq(s: Session, job_id: str) -> int:
        seq = s.scalar(
            update(JobRow).where(JobRow.id == job_id).values(last_seq=JobRow.last_seq + 1).returning(JobRow.last_seq)
        )
        if seq is None:
            raise KeyError(job_id)
        return int(seq)

    # The three polls below are plain SQL on the driver: building a SQLAlchemy statement costs more
    # than running it (0.6 ms against 0.05 ms per status poll on the development VM).

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.exec_driver_sql(sql, params))

    def events(self, job_id: str, since_seq: int, limit: int) -> list[dict[str, Any]]:
        """Events with ``seq > since_seq``, ascending."""
        rows = self._rows(
            "SELECT seq, type, level, message, data, created_at FROM events "
            "WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (job_id, since_seq, limit),
        )
        return [
            {
                "seq": seq,
                "type": type_,
                "level": level,
                "message": message,
                "data": orjson.loads(data) if data else {},
                "created_at": created,
                "job_id": job_id,
            }
            for seq, type_, level, message, data, created in rows
        ]

    def job_status(self, job_id: str) -> dict[str, Any] | None:
        """``/status``: four columns, without loading the job's payload."""
        rows = self._rows("SELECT status, progress, updated_at FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        status, progress, updated = rows[0]
        return {
            "job_id": job_id,
            "status": status,
            "progress": orjson.loads(progress) if progress else {},
            "updated_at": updated,
        }

    # ---------------------------------------------------------------------------------- metrics

    def add_metrics(self, job_id: str, points: Iterable[dict[str, Any]]) -> None:
        now = utc_now()
        with self._writing() as s:
            for p in points:
                s.add(_metric_row(job_id, p, now))

    def metrics(self, job_id: str, *, name: str | None, after_step: int | None, limit: int) -> list[dict[str, Any]]:
        """With ``after_step``: the first ``limit`` points past it (a cursor to page with). Without:
        the latest ``limit`` points, so a client that only ever asks ``limit=200`` (synth-ai 0.2.23)
        keeps seeing new ones. Ascending by step either way."""
        where = "job_id = ?"
        params: list[Any] = [job_id]
        if name:
            where += " AND name = ?"
            params.append(name)
        if after_step is not None:
            where += " AND step > ?"
            params.append(after_step)
            order = "step, id"
        else:
            order = "id DESC"
        rows = self._rows(
            f"SELECT name, value, step, epoch, phase, data, created_at FROM metrics WHERE {where} "
            f"ORDER BY {order} LIMIT ?",
            (*params, limit),
        )
        if after_step is None:
            rows.reverse()
        return [
            {
                "name": name_,
                "value": value,
                "step": step,
                "epoch": epoch,
                "phase": phase,
                "data": orjson.loads(data) if data else {},
                "created_at": created,
            }
            for name_, value, step, epoch, phase, data, created in rows
        ]

    def timeline(self, job_id: str, limit: int) -> list[dict[str, Any]]:
        query = select(TimelineRow).where(TimelineRow.job_id == job_id).order_by(TimelineRow.id).limit(limit)
        with self._session() as s:
            return [
                {"phase": r.phase, "message": r.message, "metadata": r.details, "created_at": r.created_at}
                for r in s.scalars(query)
            ]

    # ----------------------------------------------------------------------------------- models

    def add_model(self, *, model_id: str, base_model: str, job_id: str, train_kind: str, path: str) -> None:
        with self._writing() as s:
            s.merge(
                ModelRow(
                    id=model_id,
                    base_model=base_model,
                    job_id=job_id,
                    train_kind=train_kind,
                    path=path,
                    status="ready",
                    created_at=utc_now(),
                )
            )

    def list_models(self, limit: int) -> list[dict[str, Any]]:
        with self._session() as s:
            return [
                model_json(r) for r in s.scalars(select(ModelRow).order_by(ModelRow.created_at.desc()).limit(limit))
            ]

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        with self._session() as s:
            row = s.get(ModelRow, model_id)
            return None if row is None else model_json(row)

    def model_path(self, model_id: str) -> Path | None:
        """Where a fine-tuned model's weights are (for the inference worker), or None."""
        with self._session() as s:
            row = s.get(ModelRow, model_id)
            return None if row is None else Path(row.path)


def _metric_row(job_id: str, p: dict[str, Any], now: str) -> MetricRow:
    return MetricRow(
        job_id=job_id,
        name=p["name"],
        value=float(p["value"]),
        step=p.get("step"),
        epoch=p.get("epoch"),
        phase=p.get("phase") or "train",
        data=p.get("data") or {},
        created_at=now,
    )


def file_json(row: FileRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "sha256": row.sha256,
        "examples": row.examples,
    }
    if row.reasons:
        body["status_details"] = "; ".join(row.reasons[:3])
        body["errors"] = row.reasons
    return body


def model_json(row: ModelRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "model",
        "base_model": row.base_model,
        "created_at": row.created_at,
        "job_id": row.job_id,
        "status": row.status,
        "train_kind": row.train_kind,
    }

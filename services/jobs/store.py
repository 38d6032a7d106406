"""Jobs submitted from sft-studio, remembered locally (``data_dir()/runs.db``), so the app and the CLI
find them after a restart and issue 15's runs ledger can build on the same file.

SQLAlchemy 2 ORM on SQLite in WAL mode with a busy timeout: the app and a CLI in another process
can write at once (SQLite serialises writers; each write is one short transaction, so each is atomic
and none is half-applied). ``schema_version`` holds one row per applied migration; :data:`MIGRATIONS`
is the ordered list, and a later issue appends its own (the store upgrades itself on open). The
backend is recorded by label and URL, never by key.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, Integer, String, Text, create_engine, event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from services.common.data_dir import data_dir
from services.jobs.errors import JobStoreUnusable

DB_NAME = "runs.db"


def utc_now() -> str:
    return datetime.now(UTC).isoformat()


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    applied_at: Mapped[str] = mapped_column(String)


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String, index=True)
    base_url: Mapped[str] = mapped_column(String)
    job_id: Mapped[str] = mapped_column(String, index=True)
    config_path: Mapped[str | None] = mapped_column(String, nullable=True)
    config_sha256: Mapped[str | None] = mapped_column(String, nullable=True)
    dataset_path: Mapped[str | None] = mapped_column(String, nullable=True)
    dataset_sha256: Mapped[str | None] = mapped_column(String, nullable=True)
    validation_path: Mapped[str | None] = mapped_column(String, nullable=True)
    validation_sha256: Mapped[str | None] = mapped_column(String, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    submission_id: Mapped[str | None] = mapped_column(String, nullable=True, index=True)
    base_model: Mapped[str | None] = mapped_column(String, nullable=True)
    submitted_at: Mapped[str] = mapped_column(String)
    last_status: Mapped[str | None] = mapped_column(String, nullable=True)
    updated_at: Mapped[str | None] = mapped_column(String, nullable=True)
    fine_tuned_model: Mapped[str | None] = mapped_column(String, nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobRecord(BaseModel):
    """A remembered job (a plain copy of its row: safe to hand to another thread)."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    backend: str
    base_url: str
    job_id: str
    config_path: str | None = None
    config_sha256: str | None = None
    dataset_path: str | None = None
    dataset_sha256: str | None = None
    validation_path: str | None = None
    validation_sha256: str | None = None
    payload: dict[str, Any] = {}
    submission_id: str | None = None
    base_model: str | None = None
    submitted_at: str = ""
    last_status: str | None = None
    updated_at: str | None = None
    fine_tuned_model: str | None = None
    finished_at: str | None = None
    error: str | None = None


def _create_jobs(conn: Connection) -> None:
    Base.metadata.create_all(conn, tables=[JobRow.__table__])  # type: ignore[list-item]


def _create_ledger(conn: Connection) -> None:
    from services.ledger.tables import create_ledger_tables  # the ledger's models live in services.ledger

    create_ledger_tables(conn)


#: (version, name, apply). Append only; each runs once, in one transaction with its version row.
MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "jobs table (issue 13)", _create_jobs),
    (2, "runs ledger tables (issue 15)", _create_ledger),
]


#: How long a connection retries switching a new store to WAL while another process holds a lock.
WAL_SWITCH_TIMEOUT_S = 10.0


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Busy timeout first, then WAL. Switching the journal mode needs the file to itself, and SQLite
    answers "database is locked" at once (no busy wait) when two processes create the store at the
    same moment (seen on CI): the switch is retried for a while; it is a no-op once the file is WAL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    deadline = time.monotonic() + WAL_SWITCH_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class JobStore:
    """The local record of submitted jobs. Safe to use from several threads and processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", connect_args={"check_same_thread": False, "timeout": 10}
        )
        event.listen(self.engine, "connect", _pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.migrate()

    def migrate(self) -> int:
        """Apply the migrations not applied yet (an exclusive transaction: two processes opening the
        store at once apply each once). Returns the schema version.

        A store that is already up to date is only read: opening it never takes the write lock, so a
        reader (the Runs pane's worker, ``runs list``) does not wait for another process's write."""
        known = max(version for version, _, _ in MIGRATIONS)
        done = self._applied()
        if done >= {version for version, _, _ in MIGRATIONS}:
            self._refuse_newer(done, known)
            return max(done)
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                Base.metadata.create_all(conn, tables=[SchemaVersion.__table__])  # type: ignore[list-item]
                done = {row[0] for row in conn.execute(text("SELECT version FROM schema_version"))}
                self._refuse_newer(done, known)
                for version, name, apply in MIGRATIONS:
                    if version in done:
                        continue
                    apply(conn)
                    conn.execute(
                        text("INSERT INTO schema_version (version, name, applied_at) VALUES (:v, :n, :t)"),
                        {"v": version, "n": name, "t": utc_now()},
                    )
                conn.exec_driver_sql("COMMIT")
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
        return self.schema_version()

    def _applied(self) -> set[int]:
        """The versions recorded, read without a write lock (none while the table does not exist)."""
        with self.engine.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
            ).first()
            if exists is None:
                return set()
            return {row[0] for row in conn.execute(text("SELECT version FROM schema_version"))}

    def _refuse_newer(self, done: set[int], known: int) -> None:
        if done and max(done) > known:
            raise JobStoreUnusable(
                f"{self.path} is at schema version {max(done)}, newer than this sft-studio knows "
                f"({known}); it was left unchanged.",
                "Upgrade sft-studio, or point SFT_STUDIO_DATA_DIR at another folder.",
            )

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
        return int(value or 0)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def add(self, record: JobRecord) -> JobRecord:
        """Remember a job (its ``id`` assigned here); the same (backend, job_id) twice is one row."""
        values = record.model_dump(exclude={"id"})
        if not values.get("submitted_at"):
            values["submitted_at"] = utc_now()
        for attempt in range(3):
            try:
                with self._writing() as session:
                    row = session.scalars(
                        select(JobRow).where(JobRow.backend == record.backend, JobRow.job_id == record.job_id)
                    ).first()
                    if row is None:
                        row = JobRow(**values)
                        session.add(row)
                    else:
                        for key, value in values.items():
                            setattr(row, key, value)
                    session.flush()
                    return JobRecord.model_validate(row)
            except OperationalError:  # "database is locked" past the busy timeout: try again
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def update_status(
        self,
        job_id: str,
        *,
        status: str | None = None,
        fine_tuned_model: str | None = None,
        finished_at: str | None = None,
        error: str | None = None,
        backend: str | None = None,
    ) -> JobRecord | None:
        """Record what polling learned (only the fields given); None when the job is not ours."""
        with self._writing() as session:
            query = select(JobRow).where(JobRow.job_id == job_id)
            if backend is not None:
                query = query.where(JobRow.backend == backend)
            row = session.scalars(query.order_by(JobRow.id.desc())).first()
            if row is None:
                return None
            if status is not None:
                row.last_status = status
            if fine_tuned_model is not None:
                row.fine_tuned_model = fine_tuned_model
            if finished_at is not None:
                row.finished_at = finished_at
            if error is not None:
                row.error = error
            row.updated_at = utc_now()
            session.flush()
            return JobRecord.model_validate(row)

    def list(self, backend: str | None = None, *, limit: int | None = None) -> list[JobRecord]:
        """Newest first."""
        with self._sessions() as session:
            query = select(JobRow).order_by(JobRow.id.desc())
            if backend is not None:
                query = query.where(JobRow.backend == backend)
            if limit is not None:
                query = query.limit(limit)
            return [JobRecord.model_validate(row) for row in session.scalars(query)]

    def get(self, job_id: str, backend: str | None = None) -> JobRecord | None:
        with self._sessions() as session:
            query = select(JobRow).where(JobRow.job_id == job_id)
            if backend is not None:
                query = query.where(JobRow.backend == backend)
            row = session.scalars(query.order_by(JobRow.id.desc())).first()
            return JobRecord.model_validate(row) if row is not None else None

    def by_submission(self, submission_id: str) -> JobRecord | None:
        with self._sessions() as session:
            row = session.scalars(select(JobRow).where(JobRow.submission_id == submission_id)).first()
            return JobRecord.model_validate(row) if row is not None else None


def new_submission_id() -> str:
    """The client-generated id put in ``metadata.submission_id`` (how a retry finds its job)."""
    return f"sub_{secrets.token_hex(10)}"

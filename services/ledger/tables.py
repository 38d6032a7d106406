"""The ledger's tables, on the job store's declarative base: one SQLite file (``runs.db``), one
migration path (``services.jobs.store.MIGRATIONS`` version 2 creates these).

Links are columns, not a separate graph: a model names its job, a job's facts name the dataset and
config rows it trained with, an eval names its model (and the job/dataset its lineage reached when
recorded). That is every edge of the chain eval → model → job → config + dataset → trace DB, and each
is one indexed lookup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column

from services.jobs.store import Base


class DatasetRow(Base):
    """An exported JSONL as its manifest describes it (``file_ok`` False: the file differed from its
    manifest when recorded, so nothing downstream may trust the manifest's figures for it)."""

    __tablename__ = "ledger_datasets"
    __table_args__ = (UniqueConstraint("path", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String, index=True)
    manifest_path: Mapped[str | None] = mapped_column(String, nullable=True)
    sha256: Mapped[str] = mapped_column(String, index=True)
    bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    db_path: Mapped[str | None] = mapped_column(String, nullable=True)
    db_sha256: Mapped[str | None] = mapped_column(String, nullable=True)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    examples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sessions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subset_of: Mapped[str | None] = mapped_column(String, nullable=True)
    tool: Mapped[str | None] = mapped_column(String, nullable=True)
    created_at: Mapped[str | None] = mapped_column(String, nullable=True)
    recorded_at: Mapped[str] = mapped_column(String)
    file_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)


class ConfigRow(Base):
    """A training config file by content: its text (so a run can be rebuilt after the file changed)
    and the last payload sent with it."""

    __tablename__ = "ledger_configs"
    __table_args__ = (UniqueConstraint("path", "sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String)
    sha256: Mapped[str] = mapped_column(String, index=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_at: Mapped[str] = mapped_column(String)


class JobFactsRow(Base):
    """What the ledger adds to a ``jobs`` row (same backend + job id): its dataset and config rows and
    the final figures once the job ended."""

    __tablename__ = "ledger_job_facts"
    __table_args__ = (UniqueConstraint("backend", "job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    backend: Mapped[str] = mapped_column(String)
    job_id: Mapped[str] = mapped_column(String, index=True)
    dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    validation_dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    config_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    examples: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str | None] = mapped_column(String, nullable=True)
    final_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_val_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[str | None] = mapped_column(String, nullable=True)
    finished_at: Mapped[str | None] = mapped_column(String, nullable=True)
    wall_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    loss_points: Mapped[list[list[float]]] = mapped_column(JSON, default=list)


class ModelRow(Base):
    """A model an eval or a job named: ``kind`` is fft / peft (fine-tuned), base, or policy."""

    __tablename__ = "ledger_models"

    model_id: Mapped[str] = mapped_column(String, primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String, nullable=True, index=True)
    base: Mapped[str | None] = mapped_column(String, nullable=True)
    kind: Mapped[str] = mapped_column(String)
    recorded_at: Mapped[str] = mapped_column(String)


class EvalRow(Base):
    __tablename__ = "ledger_evals"

    eval_id: Mapped[str] = mapped_column(String, primary_key=True)
    model_id: Mapped[str] = mapped_column(String, index=True)
    policy: Mapped[str] = mapped_column(String)
    backend: Mapped[str] = mapped_column(String)
    mode: Mapped[str | None] = mapped_column(String, nullable=True)
    seeds: Mapped[list[int]] = mapped_column(JSON, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    episodes: Mapped[int] = mapped_column(Integer, default=0)
    crafter_score: Mapped[float] = mapped_column(Float)
    crafter_score_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    crafter_score_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    mean_unique: Mapped[float] = mapped_column(Float)
    mean_unique_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    mean_unique_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_path: Mapped[str | None] = mapped_column(String, nullable=True)
    job_id: Mapped[str | None] = mapped_column(String, nullable=True)
    dataset_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[str | None] = mapped_column(String, nullable=True)
    recorded_at: Mapped[str] = mapped_column(String)


LEDGER_TABLES = [DatasetRow, ConfigRow, JobFactsRow, ModelRow, EvalRow]


def create_ledger_tables(conn: Connection) -> None:
    """Migration 2 (issue 15): the ledger's tables beside ``jobs``."""
    Base.metadata.create_all(conn, tables=[t.__table__ for t in LEDGER_TABLES])  # type: ignore[misc]

"""Plain copies of ledger rows (pydantic: safe across threads, printed as JSON by ``runs show``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.jobs.store import JobRecord


class DatasetInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    manifest_path: str | None = None
    sha256: str
    bytes: int | None = None
    db_path: str | None = None
    db_sha256: str | None = None
    filter: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    examples: int | None = None
    sessions: int | None = None
    tokens: int | None = None
    subset_of: str | None = None
    tool: str | None = None
    created_at: str | None = None
    recorded_at: str
    file_ok: bool = True
    problem: str | None = None


class ConfigInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    path: str
    sha256: str
    text: str | None = None
    payload: dict[str, Any] = {}
    recorded_at: str


class JobFacts(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    backend: str
    job_id: str
    dataset_id: int | None = None
    validation_dataset_id: int | None = None
    config_id: int | None = None
    examples: int | None = None
    status: str | None = None
    final_loss: float | None = None
    final_val_loss: float | None = None
    tokens_per_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    wall_s: float | None = None
    loss_points: list[list[float]] = []


class ModelInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_id: str
    job_id: str | None = None
    base: str | None = None
    kind: str
    recorded_at: str


class EvalInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    eval_id: str
    model_id: str
    policy: str
    backend: str
    mode: str | None = None
    seeds: list[int] = []
    settings: dict[str, Any] = {}
    episodes: int = 0
    crafter_score: float
    crafter_score_low: float | None = None
    crafter_score_high: float | None = None
    mean_unique: float
    mean_unique_low: float | None = None
    mean_unique_high: float | None = None
    result_path: str | None = None
    job_id: str | None = None
    dataset_id: int | None = None
    created_at: str | None = None
    recorded_at: str

    def score_text(self) -> str:
        ci = (
            f" [{self.crafter_score_low:.2f}, {self.crafter_score_high:.2f}]"
            if self.crafter_score_low is not None and self.crafter_score_high is not None
            else ""
        )
        return f"{self.crafter_score:.2f}%{ci}"


FileState = Literal["matches", "changed", "missing", "not checked"]


class DatasetCheck(BaseModel):
    """The dataset file now, against the sha256 its manifest recorded."""

    state: FileState
    sha256_now: str | None = None
    message: str


class Lineage(BaseModel):
    """Everything the ledger knows about one run, from its evals back to the trace DB."""

    id: str
    model: ModelInfo | None = None
    evals: list[EvalInfo] = Field(default_factory=list)
    job: JobRecord | None = None
    facts: JobFacts | None = None
    config: ConfigInfo | None = None
    dataset: DatasetInfo | None = None
    dataset_check: DatasetCheck | None = None
    validation_dataset: DatasetInfo | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def filter(self) -> dict[str, Any] | None:
        return self.dataset.filter if self.dataset else None

    @property
    def trace_db(self) -> tuple[str | None, str | None]:
        return (self.dataset.db_path, self.dataset.db_sha256) if self.dataset else (None, None)

"""Typed views of the learning API's answers (synth_backend_api.md §6–§10), tolerant of its variants.

Each model has ``from_api(obj)`` that accepts what the doc says backends send: ``job_id`` or ``id``,
``status`` or ``state``, lists under ``jobs``/``data``/``results``, metric points with or without a
step. Anything unexpected is kept in ``raw`` (jobs) or ignored, never a crash: the caller decides
whether a missing field matters (:class:`~services.jobs.errors.BackendBadResponse` comes from the
client when the shape is unusable).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

#: §7, our rule: terminal = success ∪ failure; compared case-insensitively.
SUCCESS_STATUSES = frozenset({"succeeded", "completed"})
FAILURE_STATUSES = frozenset({"failed", "error", "errored", "cancelled", "canceled"})
TERMINAL_STATUSES = SUCCESS_STATUSES | FAILURE_STATUSES
CANCELLED_STATUSES = frozenset({"cancelled", "canceled"})

#: §8: the union of every module's terminal events.
SUCCESS_EVENTS = frozenset(
    {"sft.job.completed", "sft.completed", "sft.workflow.completed", "workflow.completed", "training.completed"}
)
FAILURE_EVENTS = frozenset(
    {"sft.job.failed", "sft.failed", "sft.workflow.failed", "workflow.failed", "training.failed"}
)
CANCEL_EVENTS = frozenset({"sft.job.cancelled", "sft.cancelled", "sft.job.canceled"})
TERMINAL_EVENTS = SUCCESS_EVENTS | FAILURE_EVENTS | CANCEL_EVENTS

#: §6 row 2: file readiness (an absent status counts as ready).
FILE_READY = frozenset({"ready", "uploaded", "stored", "complete", "processed"})
FILE_PROCESSING = frozenset({"processing", "pending", "validating"})
FILE_FAILED = frozenset({"failed", "error", "rejected", "invalid"})


def norm_status(value: Any) -> str:
    return str(value).strip().lower() if value is not None else ""


def is_terminal(status: str | None) -> bool:
    return norm_status(status) in TERMINAL_STATUSES


def is_success(status: str | None) -> bool:
    return norm_status(status) in SUCCESS_STATUSES


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def list_in(obj: Any, *keys: str) -> list[Any]:
    """The list an answer carries: the object itself when it is a list, else the first list under
    ``keys`` (``jobs``, ``data``, ``results`` …); ``[]`` when there is none."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        for key in keys:
            value = obj.get(key)
            if isinstance(value, list):
                return value
    return []


def error_detail(message: str | None, data: dict[str, Any]) -> str | None:
    """§8: ``message``, then ``data.detail | error | error_detail``, then the tail of the traceback."""
    for key in ("detail", "error", "error_detail"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip() if not message else f"{message}: {value.strip()}"
    if message:
        return message
    for key in ("traceback", "stack"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().splitlines()[-1]
    return None


class JobInfo(BaseModel):
    """``GET /learning/jobs/{id}`` (and each row of the list)."""

    job_id: str
    status: str = ""
    base_model: str | None = None
    training_type: str | None = None
    fine_tuned_model: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    error: str | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def succeeded(self) -> bool:
        return is_success(self.status)

    @property
    def train_kind(self) -> str | None:
        kind = self.raw.get("train_kind") or self.hyperparameters.get("train_kind")
        return kind if isinstance(kind, str) else None

    @classmethod
    def from_api(cls, obj: Any) -> JobInfo:
        """Raises ValueError when ``obj`` is not an object with a job id."""
        if not isinstance(obj, dict):
            raise ValueError("a job must be a JSON object")
        inner = obj.get("job")
        job: dict[str, Any] = inner if isinstance(inner, dict) and "job_id" not in obj and "id" not in obj else obj
        job_id = _str(job.get("job_id")) or _str(job.get("id"))
        if not job_id:
            raise ValueError("the job has no job_id/id")
        status = _str(job.get("status")) or _str(job.get("state")) or ""
        error = job.get("error")
        if isinstance(error, dict):
            error = error.get("message") or error.get("detail")
        return cls(
            job_id=job_id,
            status=status.strip().lower(),
            base_model=_str(job.get("model")) or _str(job.get("model_id")) or _str(job.get("base_model")),
            training_type=_str(job.get("training_type")) or _str(job.get("type")),
            fine_tuned_model=_str(job.get("fine_tuned_model")),
            created_at=_str(job.get("created_at")),
            started_at=_str(job.get("started_at")),
            finished_at=_str(job.get("finished_at")) or _str(job.get("completed_at")),
            updated_at=_str(job.get("updated_at")),
            error=_str(error),
            progress=_dict(job.get("progress")),
            hyperparameters=_dict(job.get("hyperparameters")),
            metadata=_dict(job.get("metadata")),
            raw=dict(job),
        )

    @classmethod
    def list_from_api(cls, obj: Any) -> list[JobInfo]:
        out = []
        for row in list_in(obj, "jobs", "data", "results"):
            try:
                out.append(cls.from_api(row))
            except ValueError:
                continue
        return out


class JobEvent(BaseModel):
    """One event of ``GET …/events`` (§6 row 7, §8)."""

    seq: int
    type: str = ""
    level: str = "info"
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None

    @classmethod
    def from_api(cls, obj: Any) -> JobEvent | None:
        """None for a row without a usable ``seq`` (it cannot be placed or de-duplicated)."""
        if not isinstance(obj, dict):
            return None
        seq = _int(obj.get("seq"))
        if seq is None:
            seq = _int(obj.get("sequence"))
        if seq is None:
            return None
        level = (_str(obj.get("level")) or "info").lower()
        return cls(
            seq=seq,
            type=_str(obj.get("type")) or _str(obj.get("event_type")) or "",
            level=level,
            message=_str(obj.get("message")) or "",
            data=_dict(obj.get("data")),
            created_at=_str(obj.get("created_at")),
        )

    @classmethod
    def list_from_api(cls, obj: Any) -> list[JobEvent]:
        events = [cls.from_api(row) for row in list_in(obj, "events", "data", "results")]
        return [e for e in events if e is not None]

    @property
    def is_terminal(self) -> bool:
        return self.type.lower() in TERMINAL_EVENTS

    @property
    def is_failure(self) -> bool:
        return self.type.lower() in FAILURE_EVENTS or self.type.lower() in CANCEL_EVENTS

    @property
    def detail(self) -> str | None:
        return error_detail(self.message or None, self.data)


class MetricPoint(BaseModel):
    """One point of ``GET …/metrics`` (§6 row 8, §9); ``step`` may be missing."""

    name: str
    value: float
    step: int | None = None
    epoch: float | None = None
    created_at: str | None = None

    @classmethod
    def from_api(cls, obj: Any) -> MetricPoint | None:
        if not isinstance(obj, dict):
            return None
        name = _str(obj.get("name")) or _str(obj.get("metric"))
        value = _float(obj.get("value"))
        if not name or value is None:
            return None
        return cls(
            name=name,
            value=value,
            step=_int(obj.get("step")),
            epoch=_float(obj.get("epoch")),
            created_at=_str(obj.get("created_at")),
        )

    @classmethod
    def list_from_api(cls, obj: Any) -> list[MetricPoint]:
        points = [cls.from_api(row) for row in list_in(obj, "points", "metrics", "data", "results")]
        return [p for p in points if p is not None]

    @property
    def key(self) -> tuple[str, int | str]:
        """De-duplication key: (name, step), or (name, created_at) without a step (§9)."""
        return (self.name, self.step if self.step is not None else f"t:{self.created_at}:{self.value}")


class FileInfo(BaseModel):
    """``POST /files`` / ``GET /files/{id}`` (§6 rows 1–2)."""

    file_id: str
    status: str = ""
    filename: str | None = None
    bytes: int | None = None
    purpose: str | None = None
    reasons: list[str] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Absent status counts as ready (§6 row 2)."""
        return not self.status or self.status in FILE_READY

    @property
    def processing(self) -> bool:
        return self.status in FILE_PROCESSING

    @property
    def failed(self) -> bool:
        return self.status in FILE_FAILED

    @classmethod
    def from_api(cls, obj: Any) -> FileInfo:
        if not isinstance(obj, dict):
            raise ValueError("a file must be a JSON object")
        file_id = _str(obj.get("id")) or _str(obj.get("file_id"))
        if not file_id:
            raise ValueError("the file has no id")
        status = _str(obj.get("status")) or _str(obj.get("state")) or _str(obj.get("storage_state")) or ""
        reasons = obj.get("reasons") or obj.get("errors") or []
        return cls(
            file_id=file_id,
            status=status.strip().lower(),
            filename=_str(obj.get("filename")),
            bytes=_int(obj.get("bytes")),
            purpose=_str(obj.get("purpose")),
            reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [str(reasons)],
            raw=dict(obj),
        )


class ModelInfo(BaseModel):
    """A fine-tuned model of ``GET /learning/models`` (§6 row 13, §10)."""

    id: str
    base_model: str | None = None
    job_id: str | None = None
    status: str | None = None
    created_at: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_api(cls, obj: Any) -> ModelInfo | None:
        if not isinstance(obj, dict):
            return None
        model_id = _str(obj.get("id")) or _str(obj.get("model_id")) or _str(obj.get("fine_tuned_model"))
        if not model_id:
            return None
        return cls(
            id=model_id,
            base_model=_str(obj.get("base_model")) or _str(obj.get("base")),
            job_id=_str(obj.get("job_id")),
            status=_str(obj.get("status")),
            created_at=_str(obj.get("created_at")),
            raw=dict(obj),
        )

    @classmethod
    def list_from_api(cls, obj: Any) -> list[ModelInfo]:
        models = [cls.from_api(row) for row in list_in(obj, "data", "models", "results")]
        return [m for m in models if m is not None]

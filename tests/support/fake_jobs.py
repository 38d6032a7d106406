"""A deterministic in-memory learning-API client for the Jobs pane's snapshots and Pilot tests.

It has the methods of ``services.jobs.client.LearningClient`` that the pane and ``JobWatch`` call,
answering from fixed jobs (fixed timestamps, events and metric points), so a snapshot shows the same
screen on every run. Tests that need the real HTTP path use the local backend instead
(``tests/services/training/server_support.LiveServer`` with the fake trainer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.jobs.api_models import JobEvent, JobInfo, MetricPoint, ModelInfo
from services.jobs.backends import BackendChoice
from services.jobs.errors import BackendAuthError, BackendConflict, BackendNotFound

T0 = "2026-12-07T09:00:00+00:00"


def at(minute: int, second: int = 0) -> str:
    return f"2026-12-07T09:{minute:02d}:{second:02d}+00:00"


@dataclass
class FakeJob:
    info: JobInfo
    events: list[JobEvent] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)


def _job(job_id: str, status: str, **extra: Any) -> JobInfo:
    body = {
        "job_id": job_id,
        "status": status,
        "model": "Qwen/Qwen3-0.6B",
        "training_type": "sft_offline",
        "hyperparameters": {"train_kind": "peft", "n_epochs": 1},
        "created_at": T0,
        **extra,
    }
    return JobInfo.from_api(body)


def running_job(job_id: str = "job_running_01", steps: int = 24, total: int = 40) -> FakeJob:
    """A job at step ``steps`` of ``total``: falling train loss, two validation points, a warning."""
    events = [
        JobEvent(seq=1, type="sft.created", message="Job created", created_at=at(0)),
        JobEvent(seq=2, type="sft.running", message="Job running", created_at=at(0, 5)),
        JobEvent(
            seq=3,
            type="sft.training.started",
            message="Training started",
            data={"total_steps": total},
            created_at=at(0, 30),
        ),
        JobEvent(
            seq=4,
            type="sft.stand_in",
            level="warning",
            message="Qwen/Qwen3-0.6B is trained as sft-studio/tiny-qwen3 (stand-in)",
            created_at=at(0, 31),
        ),
    ]
    metrics: list[MetricPoint] = []
    loss = 2.4
    for step in range(1, steps + 1):
        loss = loss * 0.93 + 0.02 * ((step * 7) % 5) / 5
        metrics.append(MetricPoint(name="train.loss", value=round(loss, 4), step=step, epoch=step / total))
        metrics.append(MetricPoint(name="train.learning_rate", value=1e-4, step=step, epoch=step / total))
    for step in (10, 20):
        metrics.append(MetricPoint(name="val.loss", value=round(2.4 * 0.95**step + 0.1, 4), step=step))
    events.append(
        JobEvent(
            seq=5,
            type="sft.progress",
            message="",
            data={"step": steps, "total_steps": total, "epoch": steps / total, "loss": metrics[-3].value},
            created_at=at(4),
        )
    )
    return FakeJob(_job(job_id, "training", started_at=at(0, 5)), events, metrics)


def failed_job(job_id: str = "job_failed_02") -> FakeJob:
    events = [
        JobEvent(seq=1, type="sft.created", message="Job created", created_at=at(0)),
        JobEvent(seq=2, type="sft.running", message="Job running", created_at=at(0, 4)),
        JobEvent(seq=3, type="sft.training.started", data={"total_steps": 8}, created_at=at(0, 20)),
        JobEvent(
            seq=4,
            type="sft.job.failed",
            level="error",
            message="Training failed",
            data={"detail": "CUDA out of memory while saving the model (tried to allocate 2.00 GiB)"},
            created_at=at(1, 10),
        ),
    ]
    metrics = [MetricPoint(name="train.loss", value=round(2.0 * 0.85**s, 4), step=s) for s in range(1, 6)]
    info = _job(
        job_id,
        "failed",
        started_at=at(0, 4),
        finished_at=at(1, 10),
        error="Training failed: CUDA out of memory while saving the model (tried to allocate 2.00 GiB)",
    )
    return FakeJob(info, events, metrics)


def succeeded_job(job_id: str = "job_done_03") -> FakeJob:
    model = f"peft:Qwen/Qwen3-0.6B:{job_id}"
    events = [
        JobEvent(seq=1, type="sft.created", created_at=at(0)),
        JobEvent(seq=2, type="sft.job.completed", data={"fine_tuned_model": model}, created_at=at(3)),
    ]
    metrics = [MetricPoint(name="train.loss", value=round(1.5 * 0.9**s, 4), step=s) for s in range(1, 9)]
    return FakeJob(
        _job(job_id, "succeeded", started_at=at(0, 2), finished_at=at(3), fine_tuned_model=model), events, metrics
    )


class FakeClient:
    """``LearningClient``'s reading calls over fixed jobs; ``cancel_job`` moves a job to cancelled."""

    is_loopback = True
    shown_url = "http://127.0.0.1:8765/api"
    base_url = shown_url

    def __init__(self, jobs: list[FakeJob] | None = None, *, auth_error: bool = False) -> None:
        self.jobs = {j.info.job_id: j for j in jobs or []}
        self.requests_sent = 0
        self.auth_error = auth_error
        self.closed = False
        self.cancelled: list[str] = []

    def _hit(self) -> None:
        self.requests_sent += 1
        if self.auth_error:
            raise BackendAuthError("the backend refused the key (401)", "Check SYNTH_API_KEY.")

    def _get(self, job_id: str) -> FakeJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise BackendNotFound(f"no job {job_id}")
        return job

    def list_jobs(self, **_: Any) -> list[JobInfo]:
        self._hit()
        return [j.info for j in self.jobs.values()]

    def get_job(self, job_id: str) -> JobInfo:
        self._hit()
        return self._get(job_id).info

    def job_status(self, job_id: str) -> JobInfo:
        self._hit()
        return self._get(job_id).info

    def events(self, job_id: str, since_seq: int = 0, limit: int = 200) -> list[JobEvent]:
        self._hit()
        return [e for e in self._get(job_id).events if e.seq > since_seq][:limit]

    def metrics(
        self, job_id: str, name: str | None = None, after_step: int | None = None, limit: int = 200
    ) -> list[MetricPoint]:
        self._hit()
        floor = -1 if after_step is None else after_step
        return [
            p
            for p in self._get(job_id).metrics
            if (name is None or p.name == name) and (p.step is None or p.step > floor)
        ]

    def cancel_job(self, job_id: str) -> JobInfo:
        self._hit()
        job = self._get(job_id)
        if job.info.terminal:
            raise BackendConflict(f"job {job_id} already finished ({job.info.status})")
        job.info = job.info.model_copy(update={"status": "cancelled", "finished_at": at(5)})
        job.events.append(JobEvent(seq=len(job.events) + 100, type="sft.job.cancelled", level="warning"))
        self.cancelled.append(job_id)
        return job.info

    def list_models(self, **_: Any) -> list[ModelInfo]:
        return []

    def served_models(self) -> list[str]:
        return []

    def close(self) -> None:
        self.closed = True


def fake_choice(name: str) -> BackendChoice:
    """A resolved local backend at a fixed loopback URL (what the header shows)."""
    return BackendChoice(
        kind="local",
        base_url=FakeClient.shown_url,
        api_key="sk-fake-0123456789abcdef",
        key_source="local backend key (data dir)",
        url_source="--backend local",
    )


def fake_pane_options(client: FakeClient, store_path: Any, **extra: Any) -> dict[str, Any]:
    """``pane_options["jobs"]`` that make the Jobs pane use ``client`` (deterministic, no network)."""
    from datetime import datetime

    options: dict[str, Any] = {
        "backends": ("local",),
        "store_path": store_path,
        "resolve": fake_choice,
        "open_fn": lambda choice: client,
        "poll_interval": 0.2,
        "clock": lambda: datetime.fromisoformat(at(5)),
    }
    options.update(extra)
    return options

"""The contract between the local backend's server and its trainer child process.

The server never imports torch: for each job it prepares a *job folder* and starts
``python -m services.training.trainer_main JOB_DIR`` (one child per job, killed with the server).
The child reads ``job.json`` and reports on stdout, one JSON object per line (:class:`TrainerLine`);
the server stores each event and metric as it arrives, and the last line is a :class:`Result`.
Anything else the child prints (library warnings, tracebacks) goes to ``trainer.log`` in the job
folder; the server keeps its tail for the failure event.

Job folder layout (all written by the server before the child starts, except ``output/``)::

    JOB_DIR/job.json          TrainerJob: the exact payload received plus what the server resolved
    JOB_DIR/train.jsonl       the training file (a hard link or copy of the stored upload)
    JOB_DIR/validation.jsonl  the validation file, when the job names one
    JOB_DIR/output/           what the trainer saves (adapter or full weights, tokenizer, state)
    JOB_DIR/trainer.log       the child's stderr
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_FILE = "job.json"
TRAIN_FILE = "train.jsonl"
VALIDATION_FILE = "validation.jsonl"
OUTPUT_DIR = "output"
LOG_FILE = "trainer.log"

#: The built-in base model (a ~1 M parameter Qwen3 built locally; see services/training/tiny_qwen3.py).
TINY_QWEN3 = "sft-studio/tiny-qwen3"


class TrainerJob(BaseModel):
    """What the trainer child is asked to do (``JOB_DIR/job.json``)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    #: The job-create payload exactly as received (synth_backend_api §3).
    payload: dict[str, Any]
    #: The base model the job names (``payload["model"]``).
    requested_base: str
    #: What is really trained: a local folder path. The server resolves Hugging Face ids, local
    #: folders, the built-in tiny model and stand-ins before the child starts.
    base_model_path: str
    #: The name of what is really trained (differs from ``requested_base`` only under a stand-in).
    effective_base: str
    stand_in: bool = False
    #: ``peft`` (LoRA/QLoRA) or ``fft`` (all weights), from ``hyperparameters.train_kind``.
    train_kind: Literal["peft", "fft"]
    has_validation: bool = False
    seed: int = 42


class Event(BaseModel):
    """One job event (synth_backend_api §8), e.g. ``sft.progress`` with step/epoch/loss/total_steps."""

    type: str
    level: Literal["info", "warning", "error"] = "info"
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)


class Metric(BaseModel):
    """One metric point (§9): ``train.loss``, ``train.learning_rate``, ``val.loss``, throughput."""

    name: str
    value: float
    step: int | None = None
    epoch: float | None = None
    phase: str = "train"
    data: dict[str, Any] = Field(default_factory=dict)


class Status(BaseModel):
    """A lifecycle step the trainer reached (``training``, ``evaluating``)."""

    status: Literal["training", "evaluating"]


class Result(BaseModel):
    """The child's last line. On failure ``error`` says why in one line (the log tail is added by
    the server); on success ``output_dir`` holds the saved model and ``throughput`` the measured
    tokens/s and samples/s."""

    ok: bool
    error: str | None = None
    output_dir: str | None = None
    train_kind: Literal["peft", "fft"] | None = None
    throughput: dict[str, float] = Field(default_factory=dict)
    final_loss: float | None = None


class TrainerLine(BaseModel):
    """One stdout line of the trainer child: exactly one of the fields is set."""

    model_config = ConfigDict(extra="forbid")

    event: Event | None = None
    metric: Metric | None = None
    status: Status | None = None
    result: Result | None = None


def model_id(train_kind: Literal["peft", "fft"], base: str, job_id: str) -> str:
    """The fine-tuned model id as the hosted backend names it (§10): ``peft:BASE:job_id``."""
    return f"{train_kind}:{base}:{job_id}"


def parse_model_id(value: str) -> tuple[str, str, str] | None:
    """``(prefix, base, job_id)`` of a fine-tuned model id, split on the first and last colon
    (a base such as ``Qwen/Qwen3-0.6B`` has no colon), or None when it is not one."""
    prefix, sep, rest = value.partition(":")
    if not sep or prefix not in {"peft", "fft", "ft", "rl"}:
        return None
    base, sep, job_id = rest.rpartition(":")
    if not sep or not base or not job_id:
        return None
    return prefix, base, job_id

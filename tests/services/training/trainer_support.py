"""Shared by the trainer tests: one build of the built-in model per test session, and small jobs.

Building tiny-qwen3 takes seconds on a quiet machine and tens of seconds on a busy one, so the
trainer and tiny-model tests share one build (a module-level cache keyed by nothing: the build is
deterministic). Torch is limited to one thread: the machine is shared, and one thread keeps
results comparable between runs.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from services.training.crafter_chats import crafter_chats, write_chats_jsonl
from services.training.protocol import TINY_QWEN3, TrainerJob

_BUILT: dict[str, Path] = {}


@functools.cache
def chats(seed: int) -> tuple[dict[str, Any], ...]:
    """One teacher episode's rows (cached: world generation is the slow part)."""
    return tuple(crafter_chats([seed]))


def rows(seeds: range) -> list[dict[str, Any]]:
    return [row for seed in seeds for row in chats(seed)]


def tiny_model() -> Path:
    """The built-in model's folder, built once per session in a temp data dir."""
    if "dir" not in _BUILT:
        from services.training.tiny_qwen3 import ensure_tiny_qwen3

        data_dir = Path(tempfile.mkdtemp(prefix="sft-studio-tiny-"))
        atexit.register(shutil.rmtree, data_dir, True)
        _BUILT["dir"] = ensure_tiny_qwen3(data_dir)
    return _BUILT["dir"]


def make_job(
    job_dir: Path,
    *,
    train_kind: str = "fft",
    seeds: range = range(1000, 1001),
    validation_seeds: range | None = None,
    hyperparameters: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    base_path: Path | None = None,
) -> TrainerJob:
    """A job folder as the server writes it: job.json, train.jsonl (teacher chats), validation."""
    job_dir.mkdir(parents=True, exist_ok=True)
    write_chats_jsonl(job_dir / "train.jsonl", rows(seeds))
    if validation_seeds is not None:
        write_chats_jsonl(job_dir / "validation.jsonl", rows(validation_seeds))
    hp = {"n_epochs": 1, "per_device_batch": 8, "learning_rate": 2e-3, "train_kind": train_kind}
    hp.update(hyperparameters or {})
    payload: dict[str, Any] = {"model": TINY_QWEN3, "hyperparameters": hp, "training_type": "sft_offline"}
    if metadata is not None:
        payload["metadata"] = metadata
    job = TrainerJob(
        job_id=f"job_{job_dir.name}",
        payload=payload,
        requested_base=TINY_QWEN3,
        base_model_path=str(base_path or tiny_model()),
        effective_base=TINY_QWEN3,
        train_kind="peft" if train_kind == "peft" else "fft",
        has_validation=validation_seeds is not None,
    )
    (job_dir / "job.json").write_text(job.model_dump_json(), encoding="utf-8")
    return job

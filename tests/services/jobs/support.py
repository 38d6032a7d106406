"""Shared pieces of the job tests: configs and datasets on disk, the stub, the real local backend."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.services.training.server_support import FAKE_TRAINER, GOOD_ROW

KEY = "sk-test-jobs-0123456789abcdef"

CONFIG = """\
[algorithm]
type = "offline"
method = "sft"
variety = "lora"

[job]
model = "{model}"

[compute]
gpu_type = "H100"
gpu_count = 1

[training]
mode = "lora"
use_qlora = false

[hyperparameters]
n_epochs = 1
per_device_batch = 2
gradient_accumulation_steps = 1
sequence_length = 512
learning_rate = 0.0001
warmup_ratio = 0.0
train_kind = "peft"
"""


def write_config(folder: Path, model: str = "Qwen/Qwen3-0.6B", name: str = "job.toml", extra: str = "") -> Path:
    path = folder / name
    path.write_text(CONFIG.format(model=model) + extra, encoding="utf-8")
    return path


def write_dataset(folder: Path, rows: int = 6, name: str = "train.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(GOOD_ROW) + "\n" for _ in range(rows)), encoding="utf-8")
    return path


def fake_model(folder: Path) -> Path:
    """A folder the local backend accepts as a base model (the fake trainer never loads it)."""
    model = folder / "fake-base"
    model.mkdir(parents=True, exist_ok=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    return model


@contextmanager
def local_backend(data_dir: Path) -> Iterator[tuple[str, str]]:
    """The real local backend on ``data_dir`` with the fast fake trainer; stopped afterwards."""
    from services.training.server.lifecycle import ensure_local_backend, stop_server

    url, key = ensure_local_backend(data_dir, extra_args=["--trainer-command", f"{sys.executable} {FAKE_TRAINER}"])
    try:
        yield url, key
    finally:
        with suppress(Exception):
            stop_server(data_dir)

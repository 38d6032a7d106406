"""The trainer child: protocol lines, the faster loss, seeded runs, LoRA + merge, failures, atomic saves.

Training runs use the built-in tiny model on a few teacher episodes with one torch thread, so each
stays well under a minute on a busy 2-core machine. The subprocess tests run the real
``python -m services.training.trainer_main JOB_DIR`` the server starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.training import protocol
from services.training.trainer_main import _error_line, run_job
from tests.services.training.trainer_support import make_job, rows, tiny_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _run_child(job_dir: Path, timeout: float = 240) -> tuple[int, list[protocol.TrainerLine], str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SFT_STUDIO_TORCH_THREADS": "1"}
    with (job_dir / "trainer.log").open("ab") as log:
        proc = subprocess.run(
            [sys.executable, "-m", "services.training.trainer_main", str(job_dir)],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=ROOT,
            env=env,
            timeout=timeout,
            check=False,
        )
    lines = [protocol.TrainerLine.model_validate_json(x) for x in proc.stdout.decode().splitlines() if x.strip()]
    return proc.returncode, lines, (job_dir / "trainer.log").read_text(encoding="utf-8", errors="replace")


def _losses(lines: list[protocol.TrainerLine]) -> list[float]:
    return [line.metric.value for line in lines if line.metric and line.metric.name == "train.loss"]


def test_fft_job_reports_the_protocol_and_saves_atomically(tmp_path: Path) -> None:
    job_dir = tmp_path / "j1"
    make_job(
        job_dir,
        seeds=range(1000, 1001),
        validation_seeds=range(2000, 2001),
        hyperparameters={"parallelism": {"bf16": True, "activation_checkpointing": True}, "weight_decay": 0.01},
    )
    code, lines, log = _run_child(job_dir)
    assert code == 0, log[-2000:]
    # every stdout line is a protocol line (library noise went to the log), the last one the Result
    result = lines[-1].result
    assert result is not None and result.ok and result.train_kind == "fft", log[-2000:]
    assert result.throughput["tokens_per_second"] > 0 and result.throughput["samples_per_second"] > 0
    events = [line.event for line in lines if line.event]
    types = [e.type for e in events]
    assert types[0] == "sft.parallelism.skipped" and events[0].level == "warning"
    assert {"sft.training.started", "sft.progress", "sft.training.finish", "sft.validation.summary"} <= set(types)
    started = next(e for e in events if e.type == "sft.training.started")
    assert started.data["total_steps"] == 7 and started.data["examples"] == 50
    progress = [e.data for e in events if e.type == "sft.progress"]
    assert set(progress[0]) == {"step", "epoch", "loss", "total_steps"} and progress[-1]["step"] == 7
    names = {line.metric.name for line in lines if line.metric}
    assert {"train.loss", "train.learning_rate", "val.loss", "train.tokens_per_second"} <= names
    assert "train.samples_per_second" in names
    statuses = [line.status.status for line in lines if line.status]
    assert statuses == ["training", "evaluating"]
    out = Path(result.output_dir or "")
    assert out == job_dir / "output"
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "trainer_state.json", "payload.json"} <= files
    assert json.loads((out / "payload.json").read_text())["hyperparameters"]["weight_decay"] == 0.01
    assert not [p for p in job_dir.iterdir() if p.name.startswith(".")]  # no temp or scratch left
    assert "Writing model shards" in log or "loss" in log  # library output landed in the log


def test_same_job_twice_gives_the_same_loss_curve(tmp_path: Path) -> None:
    curves = []
    for name in ("a", "b"):
        job = make_job(tmp_path / name, seeds=range(1000, 1001), hyperparameters={"n_epochs": 1})
        lines: list[protocol.TrainerLine] = []
        result = run_job(job, tmp_path / name, lines.append)
        assert result.ok
        curves.append(_losses(lines))
    assert len(curves[0]) == 7 and curves[0] == curves[1]


def test_labelled_head_loss_equals_trl_default() -> None:
    """The override's loss is TRL's loss (same batch, same weights), computed on labelled positions only."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import SFTTrainer

    from services.training.sft_data import normalise_messages
    from services.training.sft_trainer import LabelledHeadSFTTrainer, sft_config
    from services.training.train_settings import TrainSettings

    tok = AutoTokenizer.from_pretrained(tiny_model(), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model(), local_files_only=True)
    data = Dataset.from_list([{"messages": normalise_messages(r["messages"])} for r in rows(range(1000, 1001))[:6]])
    settings = TrainSettings(train_kind="fft", learning_rate=1e-3, per_device_batch=6)
    args = sft_config(settings, Path("/nonexistent-scratch"), 1, validation=False, eval_steps=0)
    ours = LabelledHeadSFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok)
    batch = ours._prepare_inputs(next(iter(ours.get_train_dataloader())))
    assert (batch["labels"] != -100).sum() < batch["attention_mask"].sum() / 5  # assistant-only labels
    model.train()
    with torch.no_grad():
        fast = ours.compute_loss(model, dict(batch))
        default = SFTTrainer.compute_loss(ours, model, dict(batch))
        fast_n = ours.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(40))
        default_n = SFTTrainer.compute_loss(ours, model, dict(batch), num_items_in_batch=torch.tensor(40))
    assert torch.allclose(fast, default, rtol=1e-5, atol=1e-6), (fast, default)
    assert torch.allclose(fast_n, default_n, rtol=1e-5, atol=1e-6)


def test_lora_job_completes_and_merges(tmp_path: Path) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    from services.training.sft_trainer import merge_lora

    job_dir = tmp_path / "lora"
    meta = {"effective_config": {"training": {"use_qlora": True}}}
    job = make_job(job_dir, train_kind="peft", hyperparameters={"lora_rank": 4, "learning_rate": 5e-3}, metadata=meta)
    lines: list[protocol.TrainerLine] = []
    result = run_job(job, job_dir, lines.append)
    assert result.ok and result.train_kind == "peft"
    warnings = [line.event.type for line in lines if line.event and line.event.level == "warning"]
    assert warnings == ["sft.qlora.unavailable"]  # QLoRA on CPU: said, and trained as LoRA
    started = next(line.event for line in lines if line.event and line.event.type == "sft.training.started")
    assert started.data["lora"]["rank"] == 4
    out = job_dir / "output"
    assert (out / "adapter_config.json").is_file() and not (out / "model.safetensors").exists()

    merged_dir = merge_lora(out, tmp_path / "export" / "merged")
    assert (merged_dir / "model.safetensors").is_file() and (merged_dir / "tokenizer.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, local_files_only=True)
    adapted = AutoPeftModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    ids = torch.tensor([[1, 5, 9, 300, 42]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)
    from services.training.train_settings import TrainerFailure

    with pytest.raises(TrainerFailure, match="not empty"):
        merge_lora(out, merged_dir)


def test_fft_output_exports_as_a_copy(tmp_path: Path) -> None:
    from services.training.sft_trainer import merge_lora
    from services.training.train_settings import TrainerFailure

    fake = tmp_path / "output"
    fake.mkdir()
    (fake / "config.json").write_text("{}", encoding="utf-8")
    (fake / "model.safetensors").write_bytes(b"w")
    dest = merge_lora(fake, tmp_path / "dest")
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.safetensors"]
    with pytest.raises(TrainerFailure, match="holds no trained model"):
        merge_lora(tmp_path / "dest-missing", tmp_path / "d2")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_base", "cannot load base model"),
        ("bad_data", "bad training data: train.jsonl line 2"),
        ("bad_hyperparameter", "hyperparameters.n_epochs must be greater than zero"),
        ("broken_weights", "cannot load base model"),
        ("no_job_file", "unreadable job file"),
    ],
)
def test_failures_end_with_a_result_and_exit_1(tmp_path: Path, case: str, expected: str) -> None:
    job_dir = tmp_path / case
    if case == "missing_base":
        make_job(job_dir, base_path=tmp_path / "no-such-model")
    elif case == "bad_data":
        make_job(job_dir)
        lines = (job_dir / "train.jsonl").read_text().splitlines()
        (job_dir / "train.jsonl").write_text(lines[0] + "\n{not json\n")
    elif case == "bad_hyperparameter":
        make_job(job_dir, hyperparameters={"n_epochs": 0})
    elif case == "broken_weights":
        broken = tmp_path / "broken"
        broken.mkdir()
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            (broken / name).write_bytes((tiny_model() / name).read_bytes())
        (broken / "model.safetensors").write_bytes(b"not weights")
        make_job(job_dir, base_path=broken)
    else:
        job_dir.mkdir()
    code, lines, log = _run_child(job_dir)
    assert code == 1
    result = lines[-1].result
    assert result is not None and not result.ok and expected in (result.error or ""), (result, log[-1500:])
    assert not (job_dir / "output").exists()
    if case == "broken_weights":
        assert "Traceback" in log  # the detail is in the log for the server's failure event


def test_disk_full_while_saving_keeps_nothing(tmp_path: Path) -> None:
    from services.training.sft_trainer import save_outputs
    from services.training.train_settings import TrainerFailure

    job = make_job(tmp_path / "j", seeds=range(1000, 1001))

    class Full:
        def save_model(self, path: str) -> None:
            Path(path, "model.safetensors").write_bytes(b"half")
            raise OSError(28, "No space left on device")

    class Tok:
        def save_pretrained(self, path: str) -> None:
            raise AssertionError("not reached")

    trainer: Any = Full()
    with pytest.raises(TrainerFailure, match="the disk is full"):
        save_outputs(trainer, Tok(), job, tmp_path / "j", {})  # type: ignore[arg-type]
    assert not (tmp_path / "j" / "output").exists()
    assert not [p for p in (tmp_path / "j").iterdir() if p.name.startswith(".")]


def test_out_of_memory_is_named() -> None:
    assert _error_line(MemoryError()) == "out of memory while training: MemoryError"

    class OutOfMemoryError(RuntimeError):
        pass

    assert _error_line(OutOfMemoryError("CUDA out of memory. Tried 2 GiB")).startswith("out of memory while training")
    assert _error_line(ValueError("bad\nsecond line")) == "ValueError: bad"

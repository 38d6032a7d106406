"""Payload -> trainer settings, and the trainer's own reading of chat JSONL (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.training.protocol import TrainerJob
from services.training.sft_data import DataError, read_chat_rows
from services.training.train_settings import logging_steps, resolve


def _job(hp: dict[str, Any], kind: str = "fft", metadata: dict[str, Any] | None = None) -> TrainerJob:
    payload: dict[str, Any] = {"model": "m", "hyperparameters": hp}
    if metadata is not None:
        payload["metadata"] = metadata
    return TrainerJob(
        job_id="job_1",
        payload=payload,
        requested_base="m",
        base_model_path="/x",
        effective_base="m",
        train_kind="peft" if kind == "peft" else "fft",
    )


def test_payload_values_are_used() -> None:
    hp = {
        "n_epochs": 3,
        "per_device_batch": 4,
        "gradient_accumulation_steps": 8,
        "sequence_length": 512,
        "learning_rate": 1e-4,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    }
    s = resolve(_job(hp), cuda=False)
    assert (s.n_epochs, s.per_device_batch, s.gradient_accumulation_steps) == (3, 4, 8)
    assert (s.sequence_length, s.learning_rate, s.warmup_ratio, s.weight_decay) == (512, 1e-4, 0.1, 0.01)
    assert s.lora is None and s.use_cpu and not s.bf16 and s.notices == []


def test_defaults_and_global_batch() -> None:
    s = resolve(_job({"n_epochs": 1, "global_batch": 32, "batch_size": 4}, kind="peft"), cuda=False)
    assert (s.per_device_batch, s.gradient_accumulation_steps) == (4, 8)
    assert s.lora is not None and (s.lora.rank, s.lora.alpha, s.lora.target_modules) == (16, 32, "all-linear")
    assert s.learning_rate == 2e-4 and s.sequence_length == 1024
    lora = resolve(
        _job({"lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0.0, "lora_target_modules": ["q_proj"]}, kind="peft"),
        cuda=False,
    ).lora
    assert lora is not None and (lora.rank, lora.alpha, lora.dropout, lora.target_modules) == (4, 8, 0.0, ["q_proj"])


def test_cpu_skips_are_events_never_silent() -> None:
    par = {"bf16": True, "activation_checkpointing": True, "use_deepspeed": True}
    meta = {"effective_config": {"training": {"use_qlora": True}}}
    s = resolve(_job({"parallelism": par}, kind="peft", metadata=meta), cuda=False)
    kinds = {n.type: n for n in s.notices}
    assert "LoRA in full precision" in kinds["sft.qlora.unavailable"].message
    assert kinds["sft.parallelism.skipped"].data["skipped"] == ["bf16", "activation_checkpointing", "use_deepspeed"]
    assert not s.bf16 and not s.activation_checkpointing and s.lora is not None and not s.lora.qlora

    gpu = resolve(
        _job({"parallelism": par}, kind="peft", metadata=meta), cuda=True, bf16_supported=True, bitsandbytes=True
    )
    assert gpu.bf16 and gpu.activation_checkpointing and gpu.lora is not None and gpu.lora.qlora
    assert [n.data["skipped"] for n in gpu.notices] == [["use_deepspeed"]]


def test_sequence_length_capped_by_the_base_context() -> None:
    s = resolve(_job({"sequence_length": 4096}), cuda=False, max_positions=1024)
    assert s.sequence_length == 1024 and s.notices[0].type == "sft.sequence_length.capped"


@pytest.mark.parametrize(
    ("hp", "field"),
    [
        ({"n_epochs": 0}, "n_epochs"),
        ({"per_device_batch": "x"}, "per_device_batch"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"warmup_ratio": 2}, "warmup_ratio"),
        ({"learning_rate": 0}, "learning_rate"),
    ],
)
def test_bad_values_name_the_field(hp: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"hyperparameters.{field}"):
        resolve(_job(hp), cuda=False)


def test_logging_interval() -> None:
    assert [logging_steps(n) for n in (1, 7, 100, 149, 1000)] == [1, 1, 1, 1, 10]


def test_rows_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    records = [
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "user", "content": "u"},
                {"role": "assistant", "content": None, "tool_calls": [{"name": "f", "arguments": {"x": 1}}]},
            ],
            "metadata": {"turn": 1},
        },
        {"messages": [{"role": "user", "content": "no answer"}]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    rows, skipped = read_chat_rows(path)
    assert skipped == 1
    assert rows == [
        {
            "messages": [
                {"role": "system", "content": "ab", "tool_calls": None},
                {"role": "user", "content": "u", "tool_calls": None},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
                },
            ]
        }
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"messages": []}\n', "line 1: missing messages"),
        ('{"messages": [{"role": "assistant", "content": "x"}]}\nnot json\n', "line 2: "),
        ("[1]\n", "line 1: record is not an object"),
        ('{"messages": [{"role": "user", "content": "x"}]}\n', "no example with an assistant turn"),
        ('{"messages": [{"role": "assistant", "tool_calls": [{"function": {}}]}]}\n', "no function name"),
    ],
)
def test_bad_rows_name_the_line(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=reason):
        read_chat_rows(path)

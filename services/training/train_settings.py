"""What a job's payload asks the trainer to do, resolved to concrete values (no torch here).

The hosted backend's payload (synth_backend_api §3) carries ``hyperparameters`` (``n_epochs``,
``per_device_batch``, ``batch_size``, ``global_batch``, ``gradient_accumulation_steps``,
``sequence_length``, ``learning_rate``, ``warmup_ratio``, ``train_kind``, ``parallelism``, and when a
client builds the payload itself ``weight_decay`` and ``lora_*``) and ``metadata.effective_config``
(``training.use_qlora``). This module turns that into one :class:`TrainSettings` plus the *notices*
the job must show: every requested setting the local trainer cannot honour on this machine (bf16,
activation checkpointing, QLoRA, DeepSpeed, FSDP on CPU) is named in an event, never dropped silently.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from services.training.protocol import TrainerJob

DEFAULT_SEQUENCE_LENGTH = 1024
DEFAULT_PER_DEVICE_BATCH = 8
DEFAULT_LEARNING_RATE = {"peft": 2e-4, "fft": 2e-5}
DEFAULT_LORA_RANK = 16  # the hosted backend's default (synth-ai examples/sft/README.md)
#: Points of ``train.loss`` a job logs (about): enough for a curve, few enough to page quickly.
LOG_POINTS = 100


class TrainerFailure(Exception):
    """The job cannot train or its result cannot be kept; the message is the job's error line."""


class Notice(BaseModel):
    """A requested setting the trainer changed or skipped, for a warning event."""

    type: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class LoraSettings(BaseModel):
    rank: int = DEFAULT_LORA_RANK
    alpha: int = 2 * DEFAULT_LORA_RANK
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    qlora: bool = False


class TrainSettings(BaseModel):
    train_kind: Literal["peft", "fft"]
    n_epochs: int = 1
    per_device_batch: int = DEFAULT_PER_DEVICE_BATCH
    gradient_accumulation_steps: int = 1
    sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    learning_rate: float
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    lr_scheduler_type: str = "cosine"
    lora: LoraSettings | None = None
    bf16: bool = False
    fp16: bool = False
    activation_checkpointing: bool = False
    use_cpu: bool = True
    seed: int = 42
    notices: list[Notice] = Field(default_factory=list)


def _int(hp: dict[str, Any], key: str) -> int | None:
    value = hp.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"hyperparameters.{key} must be an integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"hyperparameters.{key} must be greater than zero, got {value!r}")
    return number


def _float(hp: dict[str, Any], key: str, low: float, high: float | None = None) -> float | None:
    value = hp.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"hyperparameters.{key} must be a number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"hyperparameters.{key} must be {bound}, got {value!r}")
    return number


def _use_qlora(payload: dict[str, Any], hp: dict[str, Any]) -> bool:
    meta = payload.get("metadata")
    effective = meta.get("effective_config") if isinstance(meta, dict) else None
    training = effective.get("training") if isinstance(effective, dict) else None
    flag = training.get("use_qlora") if isinstance(training, dict) else None
    return bool(hp.get("use_qlora", flag))


def resolve(
    job: TrainerJob, *, cuda: bool, bf16_supported: bool = False, bitsandbytes: bool = False, max_positions: int = 0
) -> TrainSettings:
    """The settings for ``job`` on a machine with (or without) CUDA; ValueError names a bad field.

    ``max_positions`` (the base model's context, 0 = unknown) caps the sequence length.
    """
    hp = job.payload.get("hyperparameters")
    hp = hp if isinstance(hp, dict) else {}
    notices: list[Notice] = []
    per_device = _int(hp, "per_device_batch") or _int(hp, "batch_size") or DEFAULT_PER_DEVICE_BATCH
    accumulation = _int(hp, "gradient_accumulation_steps")
    global_batch = _int(hp, "global_batch")
    if accumulation is None:
        accumulation = max(1, global_batch // per_device) if global_batch else 1
    sequence_length = _int(hp, "sequence_length") or DEFAULT_SEQUENCE_LENGTH
    if max_positions and sequence_length > max_positions:
        notices.append(
            Notice(
                type="sft.sequence_length.capped",
                message=f"sequence_length {sequence_length} is longer than the base model's context "
                f"({max_positions}); examples are truncated at {max_positions} tokens",
                data={"requested": sequence_length, "used": max_positions},
            )
        )
        sequence_length = max_positions
    learning_rate = _float(hp, "learning_rate", 0.0)
    if learning_rate == 0.0:
        raise ValueError("hyperparameters.learning_rate must be greater than zero")
    scheduler = hp.get("lr_scheduler_type")
    lora: LoraSettings | None = None
    if job.train_kind == "peft":
        rank = _int(hp, "lora_rank") or DEFAULT_LORA_RANK
        targets = hp.get("lora_target_modules")
        if isinstance(targets, str) and targets != "all-linear":
            targets = [targets]
        dropout = _float(hp, "lora_dropout", 0.0, 1.0)
        lora = LoraSettings(
            rank=rank,
            alpha=_int(hp, "lora_alpha") or 2 * rank,
            dropout=0.05 if dropout is None else dropout,
            target_modules=targets if isinstance(targets, list | str) and targets else "all-linear",
        )
        if _use_qlora(job.payload, hp):
            if cuda and bitsandbytes:
                lora.qlora = True
            else:
                why = "no CUDA device" if not cuda else "bitsandbytes is not installed"
                notices.append(
                    Notice(
                        type="sft.qlora.unavailable",
                        message=f"QLoRA was requested but needs CUDA and bitsandbytes ({why}): "
                        "trained LoRA in full precision instead",
                        data={"requested": "qlora", "used": "lora", "reason": why},
                    )
                )
    par = hp.get("parallelism")
    par = par if isinstance(par, dict) else {}
    bf16 = fp16 = checkpointing = False
    skipped = [k for k in ("bf16", "fp16", "activation_checkpointing", "use_deepspeed", "fsdp") if par.get(k) is True]
    if cuda:
        bf16 = bool(par.get("bf16")) and bf16_supported
        fp16 = bool(par.get("fp16")) and not bf16
        checkpointing = bool(par.get("activation_checkpointing"))
        skipped = [k for k in skipped if k in ("use_deepspeed", "fsdp")]
        if par.get("bf16") is True and not bf16_supported:
            skipped.append("bf16")
    if skipped:
        where = "on this GPU" if cuda else "on CPU"
        notices.append(
            Notice(
                type="sft.parallelism.skipped",
                message=f"{', '.join(skipped)} requested but not used {where}: the local trainer runs one "
                "process in full precision"
                + ("" if cuda else " (bf16 and activation checkpointing only pay off on a GPU)"),
                data={"skipped": skipped, "device": "cuda" if cuda else "cpu"},
            )
        )
    return TrainSettings(
        train_kind=job.train_kind,
        n_epochs=_int(hp, "n_epochs") or 1,
        per_device_batch=per_device,
        gradient_accumulation_steps=accumulation,
        sequence_length=sequence_length,
        learning_rate=learning_rate if learning_rate is not None else DEFAULT_LEARNING_RATE[job.train_kind],
        warmup_ratio=_float(hp, "warmup_ratio", 0.0, 1.0) or 0.0,
        weight_decay=_float(hp, "weight_decay", 0.0) or 0.0,
        lr_scheduler_type=scheduler if isinstance(scheduler, str) and scheduler else "cosine",
        lora=lora,
        bf16=bf16,
        fp16=fp16,
        activation_checkpointing=checkpointing,
        use_cpu=not cuda,
        seed=job.seed,
        notices=notices,
    )


def logging_steps(total_steps: int) -> int:
    """Log every k steps so a job shows about :data:`LOG_POINTS` loss points (every step when short)."""
    return max(1, round(total_steps / LOG_POINTS))

"""Every config key we know: its type, its help text, and what happens to it on the way to the backend.

One table drives three things: the form (widget per kind, help per key), the warnings about keys
the reference CLI silently drops, and ``configs/README.md``'s promises. "Fate" is the honest
answer to "will the backend ever see this?".
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from services.configs.base_models import SFT_MODELS


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    CHOICE = "choice"  # a string with suggested values (other strings still allowed)
    LIST = "list"  # list of strings
    TABLE = "table"  # an inline table sent verbatim


class Fate(StrEnum):
    SENT = "sent"  # reaches the job payload exactly as the CLI sends it
    LABEL = "label"  # checked by the CLI, not sent
    LOCAL = "local"  # used on this machine (dataset paths), not sent
    EXTRA = "extra"  # dropped by the CLI; sft-studio sends it as a beyond-CLI hyperparameter
    DROPPED = "dropped"  # type-checked or accepted by the CLI, then silently dropped


class FieldSpec(BaseModel):
    section: str  # dotted table path, "" for top level
    key: str
    kind: Kind
    help: str
    fate: Fate
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


def _f(section: str, key: str, kind: Kind, fate: Fate, help: str, **extra: object) -> FieldSpec:
    return FieldSpec.model_validate({"section": section, "key": key, "kind": kind, "fate": fate, "help": help, **extra})


INT, F, B, S, C, L, T = Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.STR, Kind.CHOICE, Kind.LIST, Kind.TABLE
SENT, LABEL, LOCAL, EXTRA, DROPPED = Fate.SENT, Fate.LABEL, Fate.LOCAL, Fate.EXTRA, Fate.DROPPED

FIELDS: tuple[FieldSpec, ...] = (
    _f("algorithm", "type", C, LABEL, 'Always "offline" for SFT.', choices=("offline",)),
    _f("algorithm", "method", C, LABEL, '"sft" (or "supervised_finetune").', choices=("sft", "supervised_finetune")),
    _f(
        "algorithm",
        "variety",
        C,
        LABEL,
        'A label only: "lora" or "fft". QLoRA is variety "lora" + [training] use_qlora = true; '
        'synth-ai 0.2.23 refuses "qlora" and "peft".',
        choices=("lora", "fft"),
    ),
    _f(
        "job",
        "model",
        C,
        SENT,
        "Base model; matched case-insensitively, sent in canonical spelling.",
        choices=SFT_MODELS,
    ),
    _f(
        "job",
        "data",
        S,
        LOCAL,
        "Training JSONL. --dataset wins over it; relative paths resolve from the current directory.",
    ),
    _f("job", "data_path", S, LOCAL, "Alias of data, used only when data is empty."),
    _f("job", "poll_seconds", INT, DROPPED, "Accepted and unused by synth-ai 0.2.23."),
    _f("compute", "gpu_type", C, SENT, "GPU kind; required by the backend.", choices=("H100", "H200", "A100", "L40S")),
    _f("compute", "gpu_count", INT, SENT, "GPUs per job; required when [compute] exists.", minimum=1),
    _f("compute", "nodes", INT, SENT, "Number of nodes.", minimum=1),
    _f("compute", "variant", S, DROPPED, "Dropped by synth-ai 0.2.23: the backend never sees it."),
    _f("compute", "gpus_per_node", INT, DROPPED, "Dropped by synth-ai 0.2.23: the backend never sees it."),
    _f("data", "topology", T, SENT, "Copied to metadata.effective_config.data.topology."),
    _f(
        "data",
        "validation_path",
        S,
        LOCAL,
        "Validation JSONL, uploaded and sent as validation_files; a missing file only warns.",
    ),
    _f(
        "training",
        "mode",
        C,
        SENT,
        'Sent as effective_config.training.mode: "lora" for LoRA/QLoRA, "sft_offline" for full finetune.',
        choices=("lora", "sft_offline", "full_finetune"),
    ),
    _f("training", "use_qlora", B, SENT, "4-bit QLoRA on top of LoRA."),
    _f("training.validation", "enabled", B, SENT, "Sent as effective_config.training.validation.enabled."),
    _f(
        "training.validation",
        "evaluation_strategy",
        C,
        SENT,
        "When to evaluate.",
        choices=("steps", "epoch", "no"),
    ),
    _f("training.validation", "eval_steps", INT, SENT, "Evaluate every N optimizer steps (0 = backend default)."),
    _f("training.validation", "save_best_model_at_end", B, SENT, "Keep the checkpoint with the best metric."),
    _f("training.validation", "metric_for_best_model", C, SENT, "Metric for 'best'.", choices=("val.loss",)),
    _f("training.validation", "greater_is_better", B, SENT, "False for a loss."),
    _f(
        "training.lora",
        "r",
        INT,
        EXTRA,
        "LoRA rank. synth-ai 0.2.23 drops it (backend default 16); sft-studio sends hyperparameters.lora_rank, "
        "honoured by backends that support it.",
        minimum=1,
    ),
    _f(
        "training.lora",
        "alpha",
        INT,
        EXTRA,
        "LoRA alpha; sent as hyperparameters.lora_alpha (beyond the CLI).",
        minimum=1,
    ),
    _f(
        "training.lora",
        "dropout",
        F,
        EXTRA,
        "LoRA dropout; sent as hyperparameters.lora_dropout (beyond the CLI).",
        minimum=0,
        maximum=1,
    ),
    _f(
        "training.lora",
        "target_modules",
        L,
        EXTRA,
        'Modules LoRA adapts, e.g. ["all-linear"]; sent as hyperparameters.lora_target_modules (beyond the CLI).',
    ),
    _f("hyperparameters", "n_epochs", INT, SENT, "Passes over the data; always sent (default 1).", minimum=1),
    _f("hyperparameters", "batch_size", INT, SENT, "Legacy batch size.", minimum=1),
    _f(
        "hyperparameters",
        "global_batch",
        INT,
        SENT,
        "Explicit global batch, if the backend should derive the rest.",
        minimum=1,
    ),
    _f("hyperparameters", "per_device_batch", INT, SENT, "Examples per GPU per micro-step.", minimum=1),
    _f("hyperparameters", "gradient_accumulation_steps", INT, SENT, "Micro-steps per optimizer step.", minimum=1),
    _f("hyperparameters", "sequence_length", INT, SENT, "Tokens per example after truncation/packing.", minimum=1),
    _f("hyperparameters", "learning_rate", F, SENT, "Peak learning rate; must be > 0.", minimum=0),
    _f("hyperparameters", "warmup_ratio", F, SENT, "Fraction of steps spent warming up, 0–1.", minimum=0, maximum=1),
    _f(
        "hyperparameters",
        "train_kind",
        C,
        SENT,
        '"peft" for LoRA/QLoRA, "fft" for full finetune (any string is sent).',
        choices=("peft", "fft"),
    ),
    _f(
        "hyperparameters",
        "weight_decay",
        F,
        DROPPED,
        "Type-checked, then dropped by synth-ai 0.2.23: the backend uses its default.",
        minimum=0,
    ),
    _f("hyperparameters", "lora_rank", INT, EXTRA, "Dropped by the CLI; prefer [training.lora] r.", minimum=1),
    _f("hyperparameters", "lora_alpha", INT, EXTRA, "Dropped by the CLI; prefer [training.lora] alpha.", minimum=1),
    _f("hyperparameters", "lora_dropout", F, EXTRA, "Dropped by the CLI; prefer [training.lora] dropout.", minimum=0),
    _f(
        "hyperparameters", "lora_target_modules", L, EXTRA, "Dropped by the CLI; prefer [training.lora] target_modules."
    ),
    _f("hyperparameters.parallelism", "use_deepspeed", B, SENT, "Train with DeepSpeed."),
    _f("hyperparameters.parallelism", "deepspeed_stage", C, SENT, "ZeRO stage 0–3.", choices=("0", "1", "2", "3")),
    _f("hyperparameters.parallelism", "fsdp", B, SENT, "Use FSDP instead of DeepSpeed."),
    _f("hyperparameters.parallelism", "bf16", B, SENT, "bfloat16 mixed precision."),
    _f("hyperparameters.parallelism", "fp16", B, SENT, "float16 mixed precision."),
    _f("hyperparameters.parallelism", "activation_checkpointing", B, SENT, "Recompute activations to save memory."),
    _f("hyperparameters.parallelism", "tensor_parallel_size", INT, SENT, "Tensor-parallel degree.", minimum=1),
    _f("hyperparameters.parallelism", "pipeline_parallel_size", INT, SENT, "Pipeline-parallel degree.", minimum=1),
)

BY_PATH: dict[str, FieldSpec] = {spec.path: spec for spec in FIELDS}

# Tables that are accepted whole: keys inside are never "unknown".
OPEN_TABLES: dict[str, tuple[Fate, str]] = {
    "tags": (DROPPED, "[tags] is accepted and dropped by the CLI; sft-studio uses it to name sweep runs."),
    "lora": (DROPPED, "[lora] is deprecated and dropped; use [training.lora] (sft-studio sends it)."),
    "model_config": (DROPPED, "[model_config] is accepted and dropped by synth-ai 0.2.23."),
    "policy": (LABEL, "[policy] is ignored by SFT but validated: model_name or source, trainer_mode and label."),
    "compute.topology": (DROPPED, "[compute.topology] is dropped by synth-ai 0.2.23."),
    "hyperparameters.parallelism": (SENT, "Extra parallelism keys pass through after the known ones."),
    "data.topology": (SENT, "Copied verbatim to effective_config.data.topology."),
}

TOP_LEVEL_KEYS: dict[str, str] = {
    "model": "Top-level model: used only when [job].model is present and empty.",
    "env_file_path": "Env file the synth-ai CLI reads when --env-file is absent (relative to the config).",
}

SECTIONS: tuple[str, ...] = (
    "algorithm",
    "job",
    "compute",
    "data",
    "training",
    "training.validation",
    "training.lora",
    "hyperparameters",
    "hyperparameters.parallelism",
)


def fields_of(section: str) -> list[FieldSpec]:
    return [spec for spec in FIELDS if spec.section == section]

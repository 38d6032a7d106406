"""The job-create body, as synth-ai 0.2.23 builds and POSTs it, plus sft-studio's labelled extras.

``build_payload`` is the CLI's payload builder for a config that passed its type checks: dataset and
validation files resolved, the hyperparameters block range-checked in the CLI's order and key order,
the effective config, the canonical base model (``CliStop`` with the CLI's message where it stops).
The result lands in the report with the global batch and the LoRA settings the CLI drops
(``extras``), which sft-studio sends as hyperparameters when training LoRA.

After the uploads the CLI sets ``training_file_id`` (the key already sits last, so it stays last)
and, only when a validation file uploaded, ``metadata.effective_config.data.validation_files``.
``job_payload`` is that body with the extras appended to ``hyperparameters``; ``cli_exact=True``
gives the CLI's body byte for byte.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from services.configs.base_models import ModelRefused, canonical_sft_model
from services.configs.report import CliStop, ConfigReport, Level, ReportBuilder, Source
from services.configs.schema import SftConfigModel

TRAINING_PLACEHOLDER = "file_<training>"
VALIDATION_PLACEHOLDER = "file_<validation>"

PAYLOAD_ORDER = (
    "n_epochs",
    "batch_size",
    "global_batch",
    "per_device_batch",
    "gradient_accumulation_steps",
    "sequence_length",
    "learning_rate",
    "warmup_ratio",
    "train_kind",
)
_POSITIVE_INTS = PAYLOAD_ORDER[:6]
#: (key under [training.lora] / [lora], the hyperparameter sft-studio sends)
LORA_EXTRAS: tuple[tuple[str, str], ...] = (
    ("r", "lora_rank"),
    ("alpha", "lora_alpha"),
    ("dropout", "lora_dropout"),
    ("target_modules", "lora_target_modules"),
)


class PayloadUnavailable(ValueError):
    """The config does not pass the CLI's checks, so there is no payload to show."""


# --------------------------------------------------------------------------------------------------
# The CLI's hyperparameters helper


def _cli_number(value: Any, key: str, kind: type[int] | type[float]) -> int | float:
    """``kind(value)`` as the CLI checks it: an integer must be above zero, a float at least zero."""
    if kind is int:
        message = f"hyperparameters.{key} must be an integer greater than zero"
    else:
        message = f"hyperparameters.{key} must be a float greater than or equal to zero"
    if isinstance(value, bool):
        raise CliStop(message)
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise CliStop(message) from exc
    if number < (1 if kind is int else 0):
        raise CliStop(message)
    return number


def hyperparameters(block: dict[str, Any]) -> dict[str, Any]:
    """The CLI's payload helper: range checks in its order (``CliStop`` at the first), its key order,
    unknown keys after."""
    remaining = dict(block)
    out: dict[str, Any] = {}
    for key in _POSITIVE_INTS:
        if key in remaining:
            out[key] = _cli_number(remaining.pop(key), key, int)
    if "learning_rate" in remaining:
        rate = _cli_number(remaining.pop("learning_rate"), "learning_rate", float)
        if rate == 0.0:
            raise CliStop("hyperparameters.learning_rate must be greater than zero")
        out["learning_rate"] = rate
    if "warmup_ratio" in remaining:
        ratio = _cli_number(remaining.pop("warmup_ratio"), "warmup_ratio", float)
        if ratio > 1:
            raise CliStop("hyperparameters.warmup_ratio must be between 0 and 1 inclusive")
        out["warmup_ratio"] = ratio
    if "train_kind" in remaining:
        kind = remaining.pop("train_kind")
        if not isinstance(kind, str):
            raise CliStop("hyperparameters.train_kind must be a string")
        out["train_kind"] = kind
    ordered = {key: out[key] for key in PAYLOAD_ORDER if key in out}
    ordered.update(remaining)
    return ordered


# --------------------------------------------------------------------------------------------------
# Building the payload


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def build_payload(
    b: ReportBuilder,
    model: SftConfigModel,
    data: dict[str, Any],
    dataset: str | None,
    require_dataset: bool,
    allow_experimental: bool | None,
    model_check: Callable[[str], str] | None = None,
) -> None:
    """The CLI's payload for a config that passed its type checks (``data`` = ``model.dump()``),
    into ``b.report``; raises CliStop where the CLI stops. ``dataset``: the --dataset option.
    ``model_check``: the chosen backend's base-model check (canonical name, or ``ModelRefused``);
    None = synth-ai 0.2.23's hosted catalogue."""
    _train_file(b, dataset or model.job.data or model.job.data_path, require_dataset, dataset is not None)
    _validation_file(b, _section(data, "data"))
    hp_block, effective = _request_blocks(data)
    canonical = _base_model(model, data, allow_experimental, model_check)
    hp = hyperparameters(hp_block)
    b.report.payload = {
        "model": canonical,
        "hyperparameters": hp,
        "training_type": "sft_offline",
        "metadata": {"effective_config": effective},
        "training_file_id": None,
    }
    b.report.extras = lora_extras(b, model, _section(data, "hyperparameters"))
    b.report.global_batch = _global_batch(hp, effective["compute"])


def _train_file(b: ReportBuilder, raw: str | None, require: bool, given: bool) -> None:
    """The training file, resolved from the CWD; missing is the CLI's stop when it needs one."""
    if not raw:
        if require:
            raise CliStop("Dataset not specified; pass --dataset or set [job].data")
        b.add(Level.INFO, Source.STUDIO, "job.data", "No dataset in the config: pass one when you submit.")
        return
    path = b.resolve(raw)
    if path.exists():
        b.report.train_file = str(path)
    elif require or given:
        raise CliStop(f"Dataset not found: {path}")
    else:
        b.add(Level.WARNING, Source.CLI, "job.data", f"Dataset not found: {path} (from {b.cwd})")


def _validation_file(b: ReportBuilder, data_cfg: dict[str, Any]) -> None:
    """[data] validation_path, resolved; the CLI goes on without it when it is missing."""
    raw = data_cfg.get("validation_path")
    if not raw:
        return
    path = b.resolve(str(raw))
    if path.exists():
        b.report.validation_file = str(path)
    else:
        message = f"Validation dataset {path} missing; continuing without validation"
        b.add(Level.WARNING, Source.CLI, "data.validation_path", message)


def _request_blocks(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the hyperparameters block before its checks, metadata.effective_config), as the CLI fills them."""
    hp_cfg, train_cfg = _section(data, "hyperparameters"), _section(data, "training")
    compute_cfg, data_cfg = _section(data, "compute"), _section(data, "data")
    hp_block: dict[str, Any] = {"n_epochs": int(hp_cfg.get("n_epochs", 1))}
    for key in PAYLOAD_ORDER[1:]:
        if key in hp_cfg:
            hp_block[key] = hp_cfg[key]
    if isinstance(hp_cfg.get("parallelism"), dict):
        hp_block["parallelism"] = hp_cfg["parallelism"]
    topology = data_cfg.get("topology")
    training_block = {k: v for k, v in train_cfg.items() if k in ("mode", "use_qlora")}
    effective: dict[str, Any] = {
        "compute": {k: compute_cfg[k] for k in ("gpu_type", "gpu_count", "nodes") if k in compute_cfg},
        "data": {"topology": topology if isinstance(topology, dict) else {}},
        "training": training_block,
    }
    validation = train_cfg.get("validation")
    if isinstance(validation, dict):
        hp_block.update(
            {
                "evaluation_strategy": validation.get("evaluation_strategy", "steps"),
                "eval_steps": int(validation.get("eval_steps", 0) or 0),
                "save_best_model_at_end": bool(validation.get("save_best_model_at_end", True)),
                "metric_for_best_model": validation.get("metric_for_best_model", "val.loss"),
                "greater_is_better": bool(validation.get("greater_is_better", False)),
            }
        )
        training_block["validation"] = {"enabled": bool(validation.get("enabled", True))}
    return hp_block, effective


def _base_model(
    model: SftConfigModel,
    data: dict[str, Any],
    allow_experimental: bool | None,
    model_check: Callable[[str], str] | None = None,
) -> str:
    """[job].model (else [model].base, a plain string), as the backend's catalogue spells it."""
    raw_model = (model.job.model or "").strip()
    if not raw_model and isinstance(data.get("model"), str):
        raw_model = str(data["model"]).strip()
    if not raw_model:
        raise CliStop("Model not specified; set [job].model or [model].base in the config")
    try:
        if model_check is not None:
            return model_check(raw_model)
        return canonical_sft_model(raw_model, allow_experimental=allow_experimental)
    except ModelRefused as exc:
        raise CliStop(str(exc)) from exc


def _global_batch(hp: dict[str, Any], compute: dict[str, Any]) -> int | None:
    """per-device batch × accumulation × GPUs, when all three are whole numbers."""
    per_device = hp.get("per_device_batch")
    accumulation = hp.get("gradient_accumulation_steps", 1)
    gpus = compute.get("gpu_count", 1)
    if isinstance(per_device, int) and isinstance(accumulation, int) and isinstance(gpus, int):
        return per_device * accumulation * max(gpus, 1)
    return None


def lora_extras(b: ReportBuilder, model: SftConfigModel, hp_cfg: dict[str, Any]) -> dict[str, Any]:
    """LoRA settings the CLI drops; sft-studio sends them as hyperparameters when training LoRA."""
    sources: list[tuple[str, dict[str, Any]]] = []
    if model.training and model.training.lora:
        sources.append(("training.lora", model.training.lora.model_dump(exclude_none=True)))
    direct = {
        name[len("lora_") :] if name != "lora_rank" else "r": hp_cfg[name]
        for name in hp_cfg
        if name.startswith("lora_")
    }
    if direct:
        sources.append(("hyperparameters", direct))
    if model.lora:
        legacy = dict(model.lora)
        if "rank" in legacy and "r" not in legacy:
            legacy["r"] = legacy.pop("rank")
        sources.append(("lora", legacy))
    extras: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for section, values in sources:
        for short, long in LORA_EXTRAS:
            if short in values and long not in extras:
                extras[long] = values[short]
                origin[long] = f"{section}.{short}" if section != "hyperparameters" else f"hyperparameters.{long}"
    if not extras:
        return {}
    kind = (model.hyperparameters.train_kind or "").strip().lower()
    if kind == "fft":
        for long, where in origin.items():
            b.add(
                Level.WARNING,
                Source.STUDIO,
                where,
                f'{where} is ignored: train_kind = "fft" trains all weights, so no {long} is sent.',
            )
        return {}
    for long, where in origin.items():
        bad = _lora_value_problem(long, extras[long])
        if bad:
            b.add(Level.ERROR, Source.STUDIO, where, bad)
    return extras


def _lora_value_problem(name: str, value: Any) -> str | None:
    if name in ("lora_rank", "lora_alpha"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f"{name} must be a whole number ≥ 1 (got {value!r})"
    elif name == "lora_dropout":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            return f"lora_dropout must be a number in [0, 1) (got {value!r})"
    elif name == "lora_target_modules" and (
        not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value)
    ):
        return f"lora_target_modules must be a non-empty list of module names (got {value!r})"
    return None


# --------------------------------------------------------------------------------------------------
# The body to show or send


def job_payload(
    report: ConfigReport,
    *,
    training_file_id: str = TRAINING_PLACEHOLDER,
    validation_file_id: str | None = None,
    cli_exact: bool = False,
) -> dict[str, Any]:
    if report.payload is None:
        raise PayloadUnavailable(report.cli_error or "the config has errors")
    payload = copy.deepcopy(report.payload)
    if not cli_exact and report.extras:
        payload["hyperparameters"].update(report.extras)
    payload["training_file_id"] = training_file_id
    if validation_file_id:
        data = payload.setdefault("metadata", {}).setdefault("effective_config", {}).setdefault("data", {})
        data["validation_files"] = [validation_file_id]
    return payload


def preview_payload(report: ConfigReport, *, cli_exact: bool = False) -> dict[str, Any]:
    """The body with placeholder file ids (a validation id only when the validation file exists)."""
    return job_payload(
        report,
        validation_file_id=VALIDATION_PLACEHOLDER if report.validation_file else None,
        cli_exact=cli_exact,
    )


def payload_json(payload: dict[str, Any]) -> str:
    """Pretty JSON in the payload's own key order (what the wire carries, indented)."""
    return json.dumps(payload, indent=2, ensure_ascii=False)

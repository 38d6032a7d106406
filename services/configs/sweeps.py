"""Sweeps: one config per value of one axis, each named so its value is visible everywhere.

Every cell is the base file with a few values edited through tomlkit (so the base's comments and
layout survive), a ``[tags]`` block (sweep, axis, value, run_name), and a file name
``<base>-<axis>-<value>.toml``. ``hold_global_batch`` keeps per-device batch × accumulation ×
GPUs equal to the base's by recomputing the accumulation steps; a cell where that is impossible
is reported, not written. Dataset-size cells share one config and differ in ``examples`` (the
``--examples N`` of the submit step), recorded in the manifest and in the cell's tags.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, Field

from services.configs.check import check_text
from services.configs.document import (
    ConfigFileError,
    EditError,
    atomic_write,
    literal,
    parse_document,
    read_config_text,
    render,
    set_item,
)


class Axis(StrEnum):
    LORA_RANK = "lora_rank"
    LEARNING_RATE = "learning_rate"
    METHOD = "method"  # lora / qlora / fft
    SEQUENCE_LENGTH = "sequence_length"
    PER_DEVICE_BATCH = "per_device_batch"
    GPU_COUNT = "gpu_count"
    N_EPOCHS = "n_epochs"
    EXAMPLES = "examples"  # dataset size: --examples N per cell
    DATASET = "dataset"  # a different training file per cell ([job].data)


AXIS_HELP: dict[Axis, str] = {
    Axis.LORA_RANK: "[training.lora] r (sent by sft-studio as hyperparameters.lora_rank), e.g. 4,8,16,64",
    Axis.LEARNING_RATE: "[hyperparameters] learning_rate, e.g. 5e-6,1e-5,2e-5",
    Axis.METHOD: "LoRA vs QLoRA vs full finetune: lora,qlora,fft (sets variety, mode, use_qlora, train_kind)",
    Axis.SEQUENCE_LENGTH: "[hyperparameters] sequence_length, e.g. 2048,4096",
    Axis.PER_DEVICE_BATCH: "[hyperparameters] per_device_batch, e.g. 1,2,4 (pair with --hold-global-batch)",
    Axis.GPU_COUNT: "[compute] gpu_count, e.g. 1,2,4 (pair with --hold-global-batch)",
    Axis.N_EPOCHS: "[hyperparameters] n_epochs, e.g. 1,2,3",
    Axis.EXAMPLES: "dataset size: the first N examples of the dataset (--examples N), e.g. 500,1000,5000",
    Axis.DATASET: "[job] data: one training JSONL per cell, e.g. ft_data/top10.jsonl,ft_data/top50.jsonl",
}

_METHODS: dict[str, dict[str, Any]] = {
    "lora": {
        "algorithm.variety": "lora",
        "training.mode": "lora",
        "training.use_qlora": False,
        "hyperparameters.train_kind": "peft",
    },
    "qlora": {
        "algorithm.variety": "lora",
        "training.mode": "lora",
        "training.use_qlora": True,
        "hyperparameters.train_kind": "peft",
    },
    "fft": {
        "algorithm.variety": "fft",
        "training.mode": "sft_offline",
        "training.use_qlora": False,
        "hyperparameters.train_kind": "fft",
    },
}
_INT_AXES = {
    Axis.LORA_RANK: "training.lora.r",
    Axis.SEQUENCE_LENGTH: "hyperparameters.sequence_length",
    Axis.PER_DEVICE_BATCH: "hyperparameters.per_device_batch",
    Axis.GPU_COUNT: "compute.gpu_count",
    Axis.N_EPOCHS: "hyperparameters.n_epochs",
}


class SweepError(ValueError):
    """The sweep cannot be planned (bad axis values, unreadable base); nothing was written."""


class SweepCell(BaseModel):
    value: str
    path: Path
    run_name: str
    text: str
    global_batch: int | None = None
    gradient_accumulation_steps: int | None = None
    examples: int | None = None
    dataset: str | None = None
    problems: list[str] = Field(default_factory=list)  # this cell cannot be written
    errors: list[str] = Field(default_factory=list)  # the written config would not validate
    exists: bool = False


class SweepPlan(BaseModel):
    base: Path
    axis: Axis
    out_dir: Path
    hold_global_batch: bool
    base_global_batch: int | None
    cells: list[SweepCell]

    @property
    def writable(self) -> bool:
        """Every cell can be written and would pass the checks (a sweep of refused configs is no use)."""
        return bool(self.cells) and not any(cell.problems or cell.errors for cell in self.cells)


def slug(value: str) -> str:
    """A file-name-safe spelling that still reads as the value (``1e-5`` stays ``1e-5``)."""
    text = Path(value).stem if ("/" in value or value.endswith(".jsonl")) else value
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "value"


def _int(value: str, axis: Axis) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise SweepError(f"{axis.value} values must be whole numbers; {value!r} is not") from exc
    if number < 1:
        raise SweepError(f"{axis.value} values must be ≥ 1; got {number}")
    return number


def _float_literal(value: str, axis: Axis) -> str:
    try:
        number = float(value)
    except ValueError as exc:
        raise SweepError(f"{axis.value} values must be numbers; {value!r} is not") from exc
    if not number > 0 or number != number or number == float("inf"):
        raise SweepError(f"{axis.value} values must be positive numbers; got {value!r}")
    text = value.strip()
    try:
        literal(text)
    except EditError:
        text = repr(number)
    return text if any(c in text for c in ".eE") else f"{text}.0"


def _global_batch(doc: tomlkit.TOMLDocument) -> tuple[int, int, int] | None:
    hp = doc.get("hyperparameters", {})
    compute = doc.get("compute", {})
    per_device = hp.get("per_device_batch")
    accumulation = hp.get("gradient_accumulation_steps", 1)
    gpus = compute.get("gpu_count", 1)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (per_device, accumulation, gpus)):
        return None
    return int(per_device), int(accumulation), int(gpus)


def parse_values(axis: Axis, raw: str | list[str]) -> list[str]:
    values = [v.strip() for v in (raw.split(",") if isinstance(raw, str) else raw) if v.strip()]
    if not values:
        raise SweepError("give at least one value (comma-separated)")
    if len(set(values)) != len(values):
        raise SweepError("values repeat: each cell needs its own value")
    if axis is Axis.METHOD:
        unknown = [v for v in values if v.lower() not in _METHODS]
        if unknown:
            raise SweepError(f"method values are lora, qlora, fft; not {', '.join(unknown)}")
    return values


def plan_sweep(
    base: Path,
    axis: Axis | str,
    values: str | list[str],
    *,
    out_dir: Path | None = None,
    hold_global_batch: bool = False,
    cwd: Path | None = None,
) -> SweepPlan:
    """Every cell's text, name and checks; nothing is written."""
    axis = Axis(axis)
    wanted = parse_values(axis, values)
    try:
        base_text = read_config_text(base)
    except ConfigFileError as exc:
        raise SweepError(str(exc)) from exc
    try:
        base_doc = parse_document(base_text)
    except EditError as exc:
        raise SweepError(f"{base}: {exc}") from exc
    if axis is Axis.LORA_RANK:
        kind = str(base_doc.get("hyperparameters", {}).get("train_kind", "")).lower()
        if kind == "fft":
            raise SweepError(
                f'{base.name} is a full finetune (train_kind = "fft"): a LoRA-rank sweep needs a LoRA config'
            )
    base_batch = _global_batch(base_doc)
    if hold_global_batch and base_batch is None:
        raise SweepError("--hold-global-batch needs per_device_batch (and positive accumulation/gpu_count) in the base")
    base_global = base_batch[0] * base_batch[1] * base_batch[2] if base_batch else None
    stem = base.stem
    folder = out_dir or base.parent / "sweeps" / f"{stem}-{axis.value}"
    if folder.exists() and not folder.is_dir():
        raise SweepError(f"{folder} is a file, not a folder: the sweep's output needs a folder")
    cells = [_cell(base_text, axis, value, stem, folder, hold_global_batch, base_global, cwd) for value in wanted]
    names = [cell.path.name for cell in cells]
    if len(set(names)) != len(names):
        raise SweepError("two values give the same file name; use distinct values")
    return SweepPlan(
        base=base,
        axis=axis,
        out_dir=folder,
        hold_global_batch=hold_global_batch,
        base_global_batch=base_global,
        cells=cells,
    )


def apply_axis(doc: tomlkit.TOMLDocument, axis: Axis, value: str) -> tuple[int | None, str | None]:
    """Edit ``doc`` for one axis value (shared with ``services.sweeps``, whose cells combine several
    axes); returns the cell's ``(examples, dataset)`` for the axes that are not config edits.
    Raises :class:`SweepError` for a value the axis cannot take."""
    examples: int | None = None
    dataset: str | None = None
    if axis in _INT_AXES:
        set_item(doc, _INT_AXES[axis], _int(value, axis))
    elif axis is Axis.LEARNING_RATE:
        set_item(doc, "hyperparameters.learning_rate", literal(_float_literal(value, axis)))
    elif axis is Axis.METHOD:
        if value.lower() not in _METHODS:
            raise SweepError(f"method values are lora, qlora, fft; not {value}")
        for dotted, setting in _METHODS[value.lower()].items():
            set_item(doc, dotted, setting)
    elif axis is Axis.EXAMPLES:
        examples = _int(value, axis)
    elif axis is Axis.DATASET:
        dataset = value
        set_item(doc, "job.data", value)
    return examples, dataset


def global_batch(doc: tomlkit.TOMLDocument) -> int | None:
    """per-device batch × accumulation × GPUs, or None when the config does not say."""
    batch = _global_batch(doc)
    return batch[0] * batch[1] * batch[2] if batch else None


def hold_global_batch(doc: tomlkit.TOMLDocument, base_global: int) -> str | None:
    """Set the accumulation steps so the global batch stays ``base_global``; the problem when no
    whole number of steps does it (``doc`` unchanged then)."""
    batch = _global_batch(doc)
    if batch is None:
        return "the global batch cannot be held: per_device_batch is not set"
    per_device, _, gpus = batch
    steps, remainder = divmod(base_global, per_device * gpus)
    if remainder or steps < 1:
        return f"global batch {base_global} cannot be held: per-device {per_device} × {gpus} GPU(s) does not divide it"
    set_item(doc, "hyperparameters.gradient_accumulation_steps", steps)
    return None


def _cell(
    base_text: str,
    axis: Axis,
    value: str,
    stem: str,
    folder: Path,
    hold: bool,
    base_global: int | None,
    cwd: Path | None,
) -> SweepCell:
    doc = parse_document(base_text)
    examples, dataset = apply_axis(doc, axis, value)
    run_name = f"{stem}-{axis.value}-{slug(value)}"
    for key, tag in (("sweep", f"{stem}-{axis.value}"), ("axis", axis.value), ("value", value), ("run_name", run_name)):
        set_item(doc, f"tags.{key}", tag)
    if examples is not None:
        set_item(doc, "tags.examples", examples)
    problems: list[str] = []
    batch = _global_batch(doc)
    accumulation = batch[1] if batch else None
    if hold and base_global is not None and batch is not None:
        problem = hold_global_batch(doc, base_global)
        if problem:
            problems.append(problem)
    batch = _global_batch(doc)
    accumulation = batch[1] if batch else accumulation
    text = render(doc, base_text)
    path = folder / f"{run_name}.toml"
    report = check_text(text, path, cwd=cwd)
    errors = [f.message for f in report.errors] if report.cli_error is None else [report.cli_error]
    return SweepCell(
        value=value,
        path=path,
        run_name=run_name,
        text=text,
        global_batch=batch[0] * batch[1] * batch[2] if batch else None,
        gradient_accumulation_steps=accumulation,
        examples=examples,
        dataset=dataset,
        problems=problems,
        errors=errors,
        exists=path.exists(),
    )


def manifest(plan: SweepPlan) -> dict[str, Any]:
    return {
        "base": str(plan.base),
        "axis": plan.axis.value,
        "hold_global_batch": plan.hold_global_batch,
        "base_global_batch": plan.base_global_batch,
        "cells": [
            {
                "file": cell.path.name,
                "value": cell.value,
                "run_name": cell.run_name,
                "global_batch": cell.global_batch,
                "gradient_accumulation_steps": cell.gradient_accumulation_steps,
                "examples": cell.examples,
                "dataset": cell.dataset,
            }
            for cell in plan.cells
        ],
    }


def write_sweep(plan: SweepPlan, *, overwrite: bool = False) -> list[Path]:
    """Write every cell and ``sweep.json``; refuse before writing anything if a cell cannot be written."""
    if not plan.writable:
        bad = next(cell for cell in plan.cells if cell.problems or cell.errors)
        reason = bad.problems[0] if bad.problems else "would be refused: " + bad.errors[0].splitlines()[0]
        raise SweepError(f"{bad.path.name}: {reason}")
    existing = [cell.path for cell in plan.cells if cell.path.exists()]
    if existing and not overwrite:
        raise SweepError(f"{existing[0]} already exists ({len(existing)} file(s) of this sweep would be replaced)")
    try:
        plan.out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"Cannot create {plan.out_dir}: {exc.strerror or exc}") from exc
    written: list[Path] = []
    created: list[Path] = []  # files this call brought into being: removed again if a later write fails
    manifest_path = plan.out_dir / "sweep.json"
    try:
        for target, text in [*((cell.path, cell.text) for cell in plan.cells), (manifest_path, None)]:
            existed = target.exists()
            body = text if text is not None else json.dumps(manifest(plan), indent=2) + "\n"
            atomic_write(target, body, backup=False)
            written.append(target)
            if not existed:
                created.append(target)
    except ConfigFileError as exc:
        for path in created:
            path.unlink(missing_ok=True)
        raise SweepError(f"{exc} (the {len(created)} new file(s) of this sweep were removed again)") from exc
    return written

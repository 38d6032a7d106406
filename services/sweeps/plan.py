"""A sweep plan (TOML) over one or more axes, expanded into cells before anything runs.

``sft-studio config sweep`` writes variants of one config over one axis; a plan goes further: several
axes (their cartesian product), data axes (dataset size, data quality through a filter field) as well
as config axes, and for each cell the export, the job and the eval. The config edits are
``services.configs.sweeps``'s (one function per axis value, shared), so a cell's config reads exactly
as ``config sweep`` would write it, ``[tags]`` included.

A plan is refused as a whole (:class:`PlanError`, nothing written) when an axis is unknown, a value
does not fit its axis, or any cell is impossible: LoRA rank on a full-finetune cell, a filter that
selects nothing, a subset larger than its export, a global batch that cannot be held, a config the
checks refuse. Each cell gets a settings hash (config text, filter, subset size, trace DB, eval
settings): the sweep's state file is keyed by it, so a cell whose settings changed is a new cell.

Example::

    [sweep]
    name = "rank-lr"
    base_config = "configs/base.toml"     # relative to this file's folder
    db = "traces.db"
    hold_global_batch = true

    [filter]                              # the base filter (``sft-studio export`` flags, snake_case)
    min_unique = 1

    [axes]
    lora_rank = [8, 16]
    learning_rate = [1e-5, 2e-5]
    examples = [500, 1000]                # dataset size: the first N examples (export subsets)
    min_unique = [0, 3]                   # data quality: any filter field, or require_achievement

    [eval]
    policy = "model"                      # the fine-tuned model; "teacher" / "random" for a baseline
    seeds = "10000-10049"
    max_turns = 50
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import statistics
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from services.common.workspace import configs_dir, ft_data_dir
from services.configs.check import check_text
from services.configs.document import ConfigFileError, EditError, parse_document, read_config_text, render, set_item
from services.configs.sweeps import Axis, SweepError, apply_axis, global_batch, hold_global_batch, slug
from services.datasets.filter_spec import FilterSpec, FilterSpecError, validate_achievement_names
from services.evals.settings import DEFAULT_MAX_TURNS, DEFAULT_SEEDS, EvalError, seeds_from_spec

#: Plan axis name -> the config axis it edits (``train_kind`` is ``config sweep``'s ``method``).
CONFIG_AXES: dict[str, Axis] = {
    "lora_rank": Axis.LORA_RANK,
    "learning_rate": Axis.LEARNING_RATE,
    "train_kind": Axis.METHOD,
    "method": Axis.METHOD,
    "n_epochs": Axis.N_EPOCHS,
    "per_device_batch": Axis.PER_DEVICE_BATCH,
    "sequence_length": Axis.SEQUENCE_LENGTH,
    "gpu_count": Axis.GPU_COUNT,
}
#: Data-quality axes: a filter field per value (``require_achievement``: one name, or "" for none).
FILTER_AXES = ("min_unique", "max_unique", "min_outcome_reward", "max_outcome_reward", "limit", "require_achievement")
SIZE_AXIS = "examples"
KNOWN_AXES = (*CONFIG_AXES, SIZE_AXIS, *FILTER_AXES)
EVAL_POLICIES = ("model", "teacher", "random")


class PlanError(ValueError):
    """The plan is refused; nothing was written or run. The message names what to fix."""


class EvalPlan(BaseModel):
    """The fixed eval every cell gets: the same seeds, so cells compare."""

    policy: str = "model"
    seeds: list[int] = Field(default_factory=lambda: list(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1)))
    max_turns: int = DEFAULT_MAX_TURNS
    concurrency: int = 8


class Estimate(BaseModel):
    """What a cell will cost, before it runs; ``seconds`` None when no earlier run measured throughput."""

    examples: int
    tokens: int
    steps: int | None
    seconds: float | None
    throughput: str  # where ``seconds`` came from, or why it is unknown


class Cell(BaseModel):
    """One combination of axis values, with everything needed to run it."""

    values: dict[str, str]  # axis -> value, in the plan's axis order
    name: str  # file-name-safe, e.g. ``lora_rank-8_learning_rate-1e-5``
    settings_hash: str
    config_path: Path
    config_text: str
    filter: FilterSpec
    export_path: Path  # the export for this cell's filter (shared by cells with the same filter)
    dataset_path: Path  # the file trained on: the export, or its ``.nN`` subset
    examples_limit: int | None
    train_kind: str
    global_batch: int | None
    n_epochs: int
    estimate: Estimate | None = None
    problems: list[str] = Field(default_factory=list)

    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "(base)"


class SweepPlan(BaseModel):
    path: Path
    name: str
    base_config: Path
    db: Path
    hold_global_batch: bool
    base_filter: FilterSpec
    axes: dict[str, list[str]]
    eval: EvalPlan
    backend: str | None
    out_dir: Path  # configs/sweeps/<name>/ (cell configs and the state file)
    data_dir: Path  # ft_data/sweeps/<name>/ (exports and subsets)
    cells: list[Cell]

    @property
    def state_path(self) -> Path:
        return self.out_dir / "sweep-state.json"


# ------------------------------------------------------------------------------------ reading


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"sweep plan {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"sweep plan {path} cannot be read: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"sweep plan {path} is not valid TOML: {exc}") from None


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise PlanError(f"[{name}] must be a table")
    return value


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _axes(raw: dict[str, Any]) -> dict[str, list[str]]:
    unknown = [name for name in raw if name not in KNOWN_AXES]
    if unknown:
        raise PlanError(f"unknown axis {', '.join(unknown)}: the axes are {', '.join(KNOWN_AXES)}")
    if "train_kind" in raw and "method" in raw:
        raise PlanError("train_kind and method are the same axis; give one")
    axes: dict[str, list[str]] = {}
    for name, values in raw.items():
        if not isinstance(values, list) or not values:
            raise PlanError(f"axis {name} needs a non-empty list of values, e.g. {name} = [1, 2]")
        texts = [_value_text(v) for v in values]
        if len(set(texts)) != len(texts):
            raise PlanError(f"axis {name} repeats a value: each cell needs its own")
        axes[name] = texts
    return axes


def _eval(raw: dict[str, Any]) -> EvalPlan:
    policy = str(raw.get("policy", "model"))
    if policy not in EVAL_POLICIES:
        raise PlanError(f"[eval] policy must be one of {', '.join(EVAL_POLICIES)}; not {policy!r}")
    seeds_raw = raw.get("seeds")
    try:
        if seeds_raw is None:
            seeds = list(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1))
        elif isinstance(seeds_raw, str):
            seeds = seeds_from_spec(seeds_raw)
        elif isinstance(seeds_raw, list) and all(isinstance(s, int) and s >= 0 for s in seeds_raw) and seeds_raw:
            seeds = list(dict.fromkeys(seeds_raw))
        else:
            raise PlanError('[eval] seeds: a range such as "10000-10049" or a list of whole numbers')
    except EvalError as exc:
        raise PlanError(f"[eval] seeds: {exc}") from None
    unknown = set(raw) - {"policy", "seeds", "max_turns", "concurrency"}
    if unknown:
        raise PlanError(f"[eval] does not take {', '.join(sorted(unknown))}")
    try:
        plan = EvalPlan(
            policy=policy,
            seeds=seeds,
            max_turns=raw.get("max_turns", DEFAULT_MAX_TURNS),
            concurrency=raw.get("concurrency", 8),
        )
    except ValidationError as exc:
        raise PlanError(f"[eval]: {exc.errors()[0]['msg']}") from None
    if plan.max_turns < 1 or plan.concurrency < 1:
        raise PlanError("[eval] max_turns and concurrency must be 1 or more")
    return plan


def _base_filter(raw: dict[str, Any]) -> FilterSpec:
    try:
        spec = FilterSpec(**raw)
    except (ValidationError, FilterSpecError, TypeError) as exc:
        raise PlanError(f"[filter]: {exc}") from None
    return spec


def _filter_for(base: FilterSpec, values: dict[str, str]) -> FilterSpec:
    update: dict[str, Any] = {}
    for name, value in values.items():
        if name not in FILTER_AXES:
            continue
        if name == "require_achievement":
            update["require_achievements"] = [*base.require_achievements, *([value] if value else [])]
            continue
        try:
            number: Any = int(value) if name in ("min_unique", "max_unique", "limit") else float(value)
        except ValueError:
            raise PlanError(f"axis {name} takes numbers; {value!r} is not one") from None
        update[name] = number
    return base.model_copy(update=update)


def _resolve(folder: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"[sweep] {what} is required (a path, relative to the plan's folder)")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else folder / path).resolve()


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def load_plan(path: Path, *, estimate: bool = True, backend: str | None = None) -> SweepPlan:
    """Read and expand ``path``; :class:`PlanError` when it is refused. ``estimate`` reads the trace
    DB (examples and tokens of every filter) and the ledger (throughput); without it a plan of an
    unreadable DB still lists its cells (``sweep status``)."""
    path = Path(path)
    doc = _read(path)
    unknown = set(doc) - {"sweep", "filter", "axes", "eval"}
    if unknown:
        raise PlanError(
            f"unknown section(s) {', '.join(sorted(unknown))}: a plan has [sweep], [filter], [axes], [eval]"
        )
    head = _section(doc, "sweep")
    name = str(head.get("name") or path.stem)
    if slug(name) != name:
        raise PlanError(f"[sweep] name {name!r} must be file-name safe (letters, digits, . + - _), e.g. {slug(name)!r}")
    folder = path.resolve().parent
    base_config = _resolve(folder, head.get("base_config"), "base_config")
    db = _resolve(folder, head.get("db"), "db")
    hold = bool(head.get("hold_global_batch", False))
    axes = _axes(_section(doc, "axes"))
    base_filter = _base_filter(_section(doc, "filter"))
    eval_plan = _eval(_section(doc, "eval"))
    chosen_backend = backend or (str(head["backend"]) if head.get("backend") else None)
    out_dir = configs_dir() / "sweeps" / name
    data_dir = ft_data_dir() / "sweeps" / name
    try:
        base_text = read_config_text(base_config)
        parse_document(base_text)
    except (ConfigFileError, EditError) as exc:
        raise PlanError(f"base config: {exc}") from None
    plan = SweepPlan(
        path=path.resolve(),
        name=name,
        base_config=base_config,
        db=db,
        hold_global_batch=hold,
        base_filter=base_filter,
        axes=axes,
        eval=eval_plan,
        backend=chosen_backend,
        out_dir=out_dir,
        data_dir=data_dir,
        cells=[],
    )
    combos = list(itertools.product(*axes.values())) if axes else [()]
    plan.cells = [_cell(plan, base_text, dict(zip(axes, combo, strict=True))) for combo in combos]
    names = [cell.name for cell in plan.cells]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise PlanError(f"two cells would share the file name {twice!r}: give values that read differently")
    if estimate:
        _estimate(plan)
    return plan


def refusal(plan: SweepPlan) -> str | None:
    """The first impossible cell, worded for the user; None when every cell can run."""
    bad = [cell for cell in plan.cells if cell.problems]
    if not bad:
        return None
    first = bad[0]
    more = f" ({len(bad) - 1} more cell(s) refused too)" if len(bad) > 1 else ""
    return f"cell {first.label()}: {first.problems[0]}{more}"


# ------------------------------------------------------------------------------------ cells


def _cell(plan: SweepPlan, base_text: str, values: dict[str, str]) -> Cell:
    doc = parse_document(base_text)
    problems: list[str] = []
    base_global = global_batch(doc)
    examples: int | None = None
    for axis_name, value in values.items():
        axis = CONFIG_AXES.get(axis_name)
        if axis is None and axis_name == SIZE_AXIS:
            axis = Axis.EXAMPLES
        if axis is None:
            continue
        try:
            got, _ = apply_axis(doc, axis, value)
        except SweepError as exc:
            raise PlanError(f"axis {axis_name}: {exc}") from None
        examples = got if got is not None else examples
    train_kind = str(doc.get("hyperparameters", {}).get("train_kind", "")).lower()
    if "lora_rank" in values and train_kind == "fft":
        problems.append(
            "LoRA rank on a full-finetune cell (train_kind fft): sweep lora_rank over LoRA cells only "
            "(split the plan, or leave fft out of train_kind)"
        )
    if plan.hold_global_batch:
        if base_global is None:
            raise PlanError("hold_global_batch needs per_device_batch (and positive accumulation) in the base config")
        problem = hold_global_batch(doc, base_global)
        if problem:
            problems.append(problem)
    spec = _filter_for(plan.base_filter, values)
    for field_name, reason in spec.problems().items():
        problems.append(f"filter {field_name} {reason}")
    unknown = validate_achievement_names(spec.require_achievements)
    for name_, close in unknown.items():
        problems.append(f"unknown achievement {name_!r}" + (f" (did you mean {close!r}?)" if close else ""))
    data_values = {k: v for k, v in values.items() if k in FILTER_AXES}
    export_name = "-".join(f"{k}-{slug(v or 'none')}" for k, v in data_values.items()) or "data"
    export_path = plan.data_dir / f"{export_name}.jsonl"
    dataset = export_path.with_name(f"{export_path.stem}.n{examples}{export_path.suffix}") if examples else export_path
    name = "_".join(f"{k}-{slug(v or 'none')}" for k, v in values.items()) or "base"
    config_path = plan.out_dir / f"{name}.toml"
    set_item(doc, "job.data", str(dataset))
    for key, tag in (("sweep", plan.name), ("run_name", f"{plan.name}-{name}")):
        set_item(doc, f"tags.{key}", tag)
    for key, value in values.items():
        set_item(doc, f"tags.{key}", value)
    text = render(doc, base_text)
    report = check_text(text, config_path, cwd=plan.out_dir.parent, model_check=_model_check(plan.backend))
    if report.cli_error is not None:
        problems.append("the config would be refused: " + report.cli_error.splitlines()[0])
    else:
        problems += [f"the config would be refused: {f.message}" for f in report.errors if "job.data" not in f.path]
    hp = doc.get("hyperparameters", {})
    epochs = hp.get("n_epochs", 1)
    settings = {
        "config": text,
        "filter": spec.model_dump(mode="json"),
        "examples": examples,
        "db": str(plan.db),
        "eval": plan.eval.model_dump(),
    }
    return Cell(
        values=values,
        name=name,
        settings_hash=_hash(settings),
        config_path=config_path,
        config_text=text,
        filter=spec,
        export_path=export_path,
        dataset_path=dataset,
        examples_limit=examples,
        train_kind=train_kind or "peft",
        global_batch=global_batch(doc),
        n_epochs=epochs if isinstance(epochs, int) and epochs > 0 else 1,
        problems=problems,
    )


def _model_check(backend: str | None) -> Any:
    """The local backend's base-model check when the sweep runs there (no server is asked)."""
    if (backend or "").strip().lower() != "local":
        return None
    from services.jobs.submit import local_model_check

    return local_model_check(())


# ------------------------------------------------------------------------------------ estimates


def measured_throughput() -> tuple[float | None, str]:
    """The median tokens/s of earlier jobs in the runs ledger, and where it came from (a ledger that
    does not exist is not created: planning writes nothing)."""
    from services.ledger.hooks import enabled
    from services.ledger.open import ledger_path

    path = ledger_path()
    if not enabled() or not path.is_file():
        return None, "unknown (no earlier runs in the ledger)"
    try:
        from services.ledger.store import Ledger

        with Ledger(path) as ledger:
            rates = [f.tokens_per_s for f in ledger.all_facts().values() if f.tokens_per_s and f.tokens_per_s > 0]
    except Exception as exc:  # a ledger we cannot read leaves the estimate unknown, it does not refuse the plan
        return None, f"unknown (the ledger cannot be read: {type(exc).__name__})"
    if not rates:
        return None, "unknown (no earlier run measured tokens/s)"
    return statistics.median(rates), f"median {statistics.median(rates):,.0f} tokens/s of {len(rates)} earlier job(s)"


def _estimate(plan: SweepPlan) -> None:
    """Examples and tokens of each cell from the DB's session index (what the export will write),
    steps from the global batch and epochs, time from measured throughput; a filter that selects
    nothing, or a subset larger than its export, makes the cell impossible."""
    from services.datasets.index_cache import cached_index
    from services.datasets.preview import preview
    from services.traces.db import TraceDB

    if not plan.db.is_file():
        raise PlanError(f"trace DB {plan.db} does not exist")
    rate, source = measured_throughput()
    try:
        db = TraceDB(plan.db)
    except Exception as exc:  # TraceDBError and sqlite errors: one sentence, no traceback
        raise PlanError(f"trace DB {plan.db} cannot be opened: {exc}") from None
    try:
        index, _ = cached_index(db)
        previews: dict[str, Any] = {}
        for cell in plan.cells:
            key = cell.filter.model_dump_json()
            if key not in previews:
                previews[key] = preview(index, cell.filter)
            seen = previews[key]
            if seen.examples == 0 or seen.export_error:
                cell.problems.append(f"the filter selects nothing ({seen.export_error or 'no examples'})")
                continue
            examples = seen.examples
            tokens = seen.estimated_tokens
            if cell.examples_limit is not None:
                if cell.examples_limit > examples:
                    cell.problems.append(f"examples {cell.examples_limit} but the filter selects only {examples}")
                    continue
                tokens = round(tokens * cell.examples_limit / examples)
                examples = cell.examples_limit
            steps = math.ceil(examples / cell.global_batch) * cell.n_epochs if cell.global_batch else None
            seconds = tokens * cell.n_epochs / rate if rate else None
            cell.estimate = Estimate(examples=examples, tokens=tokens, steps=steps, seconds=seconds, throughput=source)
    finally:
        db.close()

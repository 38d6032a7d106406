"""Validate an SFT config the way synth-ai 0.2.23 does, then say what it would not tell you.

Two verdicts come out of one pass:

* ``cli_error``: the message ``synth-ai train --type sft`` stops with (None = it accepts the config),
  stage for stage in the CLI's order: TOML, type inference, pydantic types, [algorithm], dataset,
  model, hyperparameter ranges. Parity with the real CLI is tested case by case.
* ``findings``: everything a careful user wants to know, each marked with who complains: the CLI,
  the backend (e.g. no ``gpu_type`` → 400 after the upload), or sft-studio's own advice (keys the
  CLI silently drops, LoRA settings only we send, inconsistent LoRA/FFT switches).

The payload built here is the CLI's, key order included; ``extras`` are the beyond-CLI
hyperparameters sft-studio adds (LoRA rank/alpha/dropout/target modules).
"""

from __future__ import annotations

import math
import re
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, Field, ValidationError

from services.configs.base_models import ModelRefused, canonical_sft_model
from services.configs.fields import BY_PATH, OPEN_TABLES, TOP_LEVEL_KEYS, Fate, Kind
from services.configs.schema import SftConfigModel
from services.configs.toml_locate import key_lines, nearest_line


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Source(StrEnum):
    TOML = "toml"
    CLI = "synth-ai 0.2.23"
    BACKEND = "backend"
    STUDIO = "sft-studio"


class Finding(BaseModel):
    level: Level
    source: Source
    path: str  # dotted key path ("" = the whole file)
    message: str
    line: int | None = None


class ConfigReport(BaseModel):
    path: str
    cli_error: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    payload: dict[str, Any] | None = None  # exactly what the CLI would build, training_file_id None
    extras: dict[str, Any] = Field(default_factory=dict)  # beyond-CLI hyperparameters sft-studio adds
    train_file: str | None = None
    validation_file: str | None = None
    global_batch: int | None = None

    @property
    def cli_accepts(self) -> bool:
        return self.cli_error is None

    @property
    def submittable(self) -> bool:
        return self.cli_accepts and not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.WARNING]

    def at(self, path: str) -> list[Finding]:
        return [f for f in self.findings if f.path == path]


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
_SUPPORTED = (
    ("online", "policy_gradient", "gspo"),
    ("offline", "supervised_finetune", "fft"),
    ("offline", "sft", "fft"),
    ("offline", "sft", "lora"),
)
_LABELS = {t: f"{t[0]} {t[1]} / {t[2]}" for t in _SUPPORTED}
LORA_EXTRAS: tuple[tuple[str, str], ...] = (
    ("r", "lora_rank"),
    ("alpha", "lora_alpha"),
    ("dropout", "lora_dropout"),
    ("target_modules", "lora_target_modules"),
)


class _CliStop(Exception):
    """The CLI stops here with this message."""


def _toml_position(exc: tomllib.TOMLDecodeError) -> tuple[int | None, int | None, str]:
    text = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if match:
        return int(match.group(1)), int(match.group(2)), text[: match.start()].strip()
    match = re.search(r"\(at end of document\)", text)
    return None, None, text[: match.start()].strip() if match else text


def _infers_as_training_config(raw: dict[str, Any]) -> bool:
    """synth-ai's config finder: a file with no recognisable type is refused before anything else."""
    algo = raw.get("algorithm")
    if isinstance(algo, str) and algo.lower() in {"mipro", "gepa"}:
        return True
    prompt = raw.get("prompt_learning")
    if isinstance(prompt, dict) and str(prompt.get("algorithm", "")).lower() in {"mipro", "gepa"}:
        return True
    if isinstance(algo, dict):
        method = str(algo.get("method") or "").lower()
        kind = str(algo.get("type") or "").lower()
        variety = str(algo.get("variety") or "").lower()
        if method in {"policy_gradient", "ppo", "reinforce", "supervised_finetune", "sft"}:
            return True
        if kind in {"online", "offline"} or variety in {"gspo", "grpo", "ppo", "fft"}:
            return True
    if raw.get("job_type") == "rl":
        return True
    services = raw.get("services")
    if isinstance(services, dict) and ("task_url" in services or "environment" in services):
        return True
    training = raw.get("training")
    if isinstance(training, dict):
        mode = str(training.get("mode") or "").lower()
        if mode.startswith("sft"):
            return True
    hyper = raw.get("hyperparameters")
    return isinstance(hyper, dict) and str(hyper.get("train_kind") or "").lower() in {"sft", "fft"}


def _norm(value: object) -> str:
    return "" if value is None else str(value).strip().lower()


def _algorithm_error(algo: dict[str, Any] | None) -> str | None:
    if algo is None:
        return "Missing required [algorithm] section in config."
    key = (_norm(algo.get("type")), _norm(algo.get("method")), _norm(algo.get("variety")))
    if key not in _SUPPORTED:
        supported = "; ".join(f"type='{t}', method='{m}', variety='{v}'" for t, m, v in _SUPPORTED)
        return (
            "Unsupported algorithm configuration:\n"
            f"  type={key[0]!r}, method={key[1]!r}, variety={key[2]!r}\n"
            f"Supported combinations are: {supported}"
        )
    if key == _SUPPORTED[0]:
        return f"Config contains algorithm {_LABELS[key]!r}, but the current command expects SFT."
    return None


def _algorithm_path(algo: dict[str, Any] | None) -> str:
    """The key to fix: the first of type/method/variety that no supported combination starts with."""
    if algo is None:
        return "algorithm"
    key = (_norm(algo.get("type")), _norm(algo.get("method")), _norm(algo.get("variety")))
    for depth, name in enumerate(("type", "method", "variety"), start=1):
        if not any(s[:depth] == key[:depth] for s in _SUPPORTED[1:]):
            return f"algorithm.{name}"
    return "algorithm"


def _positive_int(value: Any, key: str) -> int:
    message = f"hyperparameters.{key} must be an integer greater than zero"
    if isinstance(value, bool):
        raise _CliStop(message)
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise _CliStop(message) from exc
    if number <= 0:
        raise _CliStop(message)
    return number


def _non_negative_float(value: Any, key: str) -> float:
    message = f"hyperparameters.{key} must be a float greater than or equal to zero"
    if isinstance(value, bool):
        raise _CliStop(message)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise _CliStop(message) from exc
    if number < 0:
        raise _CliStop(message)
    return number


def _hyperparameters(block: dict[str, Any]) -> dict[str, Any]:
    """The CLI's payload helper: range checks in its order, its key order, extras after."""
    remaining = dict(block)
    out: dict[str, Any] = {}
    for key in _POSITIVE_INTS:
        if key in remaining:
            out[key] = _positive_int(remaining.pop(key), key)
    if "learning_rate" in remaining:
        rate = _non_negative_float(remaining.pop("learning_rate"), "learning_rate")
        if rate == 0.0:
            raise _CliStop("hyperparameters.learning_rate must be greater than zero")
        out["learning_rate"] = rate
    if "warmup_ratio" in remaining:
        ratio = _non_negative_float(remaining.pop("warmup_ratio"), "warmup_ratio")
        if ratio > 1:
            raise _CliStop("hyperparameters.warmup_ratio must be between 0 and 1 inclusive")
        out["warmup_ratio"] = ratio
    if "train_kind" in remaining:
        kind = remaining.pop("train_kind")
        if not isinstance(kind, str):
            raise _CliStop("hyperparameters.train_kind must be a string")
        out["train_kind"] = kind
    ordered = {key: out[key] for key in PAYLOAD_ORDER if key in out}
    ordered.update(remaining)
    return ordered


def _range_problems(block: dict[str, Any]) -> list[tuple[str, str]]:
    """Every range check of the payload helper, each key on its own: the CLI stops at the first, a
    user fixing the file wants them all at once."""
    problems: list[tuple[str, str]] = []
    for key in PAYLOAD_ORDER:
        if key in block:
            try:
                _hyperparameters({key: block[key]})
            except _CliStop as stop:
                problems.append((f"hyperparameters.{key}", str(stop)))
    return problems


def _add_range_problems(check: _Check, block: Any, skip: frozenset[str] = frozenset()) -> None:
    if not isinstance(block, dict):
        return
    seen = {(f.path, f.message) for f in check.report.findings}
    for path, message in _range_problems(block):
        if path not in skip and (path, message) not in seen:
            check.add(Level.ERROR, Source.CLI, path, message)


class _Check:
    def __init__(self, text: str, path: Path, cwd: Path) -> None:
        self.text = text
        self.path = path
        self.cwd = cwd
        self.report = ConfigReport(path=str(path))
        self._lines: dict[str, int] | None = None

    def line(self, dotted: str) -> int | None:
        if self._lines is None:
            self._lines = key_lines(self.text)
        return nearest_line(self._lines, dotted)

    def add(self, level: Level, source: Source, path: str, message: str, line: int | None = None) -> None:
        where = line if line is not None else self.line(path)
        self.report.findings.append(Finding(level=level, source=source, path=path, message=message, line=where))

    def cli_stop(self, message: str, path: str = "", *, finding: str | None = None) -> None:
        if self.report.cli_error is None:
            self.report.cli_error = message
        self.add(Level.ERROR, Source.CLI, path, finding or message)

    def resolve(self, raw: str) -> Path:
        candidate = Path(raw).expanduser()
        return (candidate if candidate.is_absolute() else self.cwd / candidate).resolve()


def check_text(
    text: str,
    path: Path,
    *,
    dataset: Path | None = None,
    cwd: Path | None = None,
    require_dataset: bool = False,
    allow_experimental: bool | None = None,
) -> ConfigReport:
    """Check config ``text`` (as if read from ``path``) and build the CLI's payload when it passes."""
    check = _Check(text, path.expanduser().resolve(), (cwd or Path.cwd()).resolve())
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, message = _toml_position(exc)
        where = f"line {line}, column {column}" if line is not None else "the end of the file"
        check.report.cli_error = f"Failed to parse TOML: {check.path}\n{exc}"
        check.add(Level.ERROR, Source.TOML, "", f"Invalid TOML at {where}: {message}", line)
        return check.report
    _check_mapping(check, raw, dataset, require_dataset, allow_experimental)
    if check.report.cli_error is not None:
        # Later stages still run for their findings, but a config the CLI refuses has no payload.
        check.report.payload = None
        check.report.extras = {}
    _studio_advice(check, raw)
    return check.report


def check_file(path: Path, **kwargs: Any) -> ConfigReport:
    """Like :func:`check_text`, reading the file (a missing or unreadable file is one clear error)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        report = ConfigReport(path=str(path), cli_error=f"Config not found: {path.resolve()}")
        report.findings.append(Finding(level=Level.ERROR, source=Source.TOML, path="", message=report.cli_error))
        return report
    except (OSError, UnicodeDecodeError) as exc:
        report = ConfigReport(path=str(path), cli_error=f"Cannot read {path}: {exc}")
        report.findings.append(Finding(level=Level.ERROR, source=Source.TOML, path="", message=report.cli_error))
        return report
    return check_text(text, path, **kwargs)


def _check_mapping(
    check: _Check,
    raw: dict[str, Any],
    dataset: Path | None,
    require_dataset: bool,
    allow_experimental: bool | None,
) -> None:
    if not _infers_as_training_config(raw):
        check.cli_stop(
            f"Config {check.path} is missing algorithm.type/method metadata. "
            "Add type = 'rl', 'sft', or 'prompt_learning'.",
            "algorithm",
            finding="No [algorithm] section (or nothing else marks this file as an SFT config): "
            'add [algorithm] type = "offline", method = "sft", variety = "lora" or "fft".',
        )
    try:
        model = SftConfigModel.model_validate(raw)
    except ValidationError as exc:
        lines = []
        typed = set()
        for error in exc.errors():
            loc = ".".join(str(part) for part in error.get("loc", ()))
            lines.append(f"{loc or '<root>'}: {error.get('msg', 'invalid value')}")
            check.add(Level.ERROR, Source.CLI, loc, error.get("msg", "invalid value"))
            typed.add(loc)
        if check.report.cli_error is None:
            details = "\n".join(f"  - {line}" for line in lines) or "  - Invalid configuration"
            check.report.cli_error = f"Config validation failed ({check.path}):\n{details}"
        _add_range_problems(check, raw.get("hyperparameters"), skip=frozenset(typed))
        return
    data = model.dump()
    _coercions(check, raw, data)
    algo_error = _algorithm_error(model.algorithm.model_dump() if model.algorithm else None)
    if algo_error:
        check.cli_stop(algo_error, _algorithm_path(model.algorithm.model_dump() if model.algorithm else None))
        variety = _norm(raw.get("algorithm", {}).get("variety")) if isinstance(raw.get("algorithm"), dict) else ""
        if variety in {"qlora", "peft"}:
            check.add(
                Level.INFO,
                Source.STUDIO,
                "algorithm.variety",
                f'variety = "{variety}" is refused by synth-ai 0.2.23. Write variety = "lora"; QLoRA is '
                '[training] use_qlora = true with [hyperparameters] train_kind = "peft".',
            )
    try:
        _build_payload(check, model, data, dataset, require_dataset, allow_experimental)
    except _CliStop as stop:
        check.cli_stop(str(stop), _stop_path(str(stop)))
    _add_range_problems(check, data.get("hyperparameters"))


def _coercions(check: _Check, raw: dict[str, Any], data: dict[str, Any]) -> None:
    """Values synth-ai 0.2.23 converts before sending (pydantic's lax mode): accepted, as the CLI
    does, but said, because what is sent is not what the file says."""
    for path, spec in BY_PATH.items():
        if spec.kind not in (Kind.INT, Kind.FLOAT, Kind.BOOL):
            continue
        written = _get(raw, path)
        if written is None:
            continue
        if spec.kind is Kind.BOOL:
            converted = not isinstance(written, bool)
        elif spec.kind is Kind.INT:
            converted = isinstance(written, bool) or not isinstance(written, int)
        else:
            converted = isinstance(written, bool) or not isinstance(written, int | float)
        if not converted:
            continue
        sent = _get(data, path)
        shown = _toml(sent)
        check.add(
            Level.WARNING,
            Source.STUDIO,
            path,
            f"{path} = {_toml(written)} is {_kind_word(written)}: synth-ai 0.2.23 converts it and "
            f"sends {shown}. Write {path.rsplit('.', 1)[-1]} = {shown}.",
        )


_KIND_WORD = {bool: "a boolean", str: "a string", float: "a float", int: "an integer"}


def _kind_word(value: Any) -> str:
    return _KIND_WORD.get(type(value), f"a {type(value).__name__}")


def _toml(value: Any) -> str:
    """``value`` as TOML spells it (true, 1, "2", 5e-06)."""
    return str(tomlkit.item(value).as_string())


def _stop_path(message: str) -> str:
    match = re.match(r"(hyperparameters\.\w+)", message)
    if match:
        return match.group(1)
    if message.startswith(("Dataset", "Model")):
        return "job.data" if message.startswith("Dataset") else "job.model"
    return ""


def _build_payload(
    check: _Check,
    model: SftConfigModel,
    data: dict[str, Any],
    dataset: Path | None,
    require_dataset: bool,
    allow_experimental: bool | None,
) -> None:
    data_cfg = data.get("data") if isinstance(data.get("data"), dict) else {}
    hp_cfg = data.get("hyperparameters") if isinstance(data.get("hyperparameters"), dict) else {}
    train_cfg = data.get("training") if isinstance(data.get("training"), dict) else {}
    compute_cfg = data.get("compute") if isinstance(data.get("compute"), dict) else {}
    assert isinstance(data_cfg, dict) and isinstance(hp_cfg, dict)
    assert isinstance(train_cfg, dict) and isinstance(compute_cfg, dict)

    raw_dataset = str(dataset) if dataset is not None else (model.job.data or model.job.data_path)
    if not raw_dataset:
        if require_dataset:
            raise _CliStop("Dataset not specified; pass --dataset or set [job].data")
        check.add(Level.INFO, Source.STUDIO, "job.data", "No dataset in the config: pass one when you submit.")
    else:
        dataset_path = check.resolve(raw_dataset)
        if not dataset_path.exists():
            if require_dataset or dataset is not None:
                raise _CliStop(f"Dataset not found: {dataset_path}")
            check.add(Level.WARNING, Source.CLI, "job.data", f"Dataset not found: {dataset_path} (from {check.cwd})")
        else:
            check.report.train_file = str(dataset_path)

    validation_raw = data_cfg.get("validation_path")
    if validation_raw:
        vpath = check.resolve(str(validation_raw))
        if vpath.exists():
            check.report.validation_file = str(vpath)
        else:
            check.add(
                Level.WARNING,
                Source.CLI,
                "data.validation_path",
                f"Validation dataset {vpath} missing; continuing without validation",
            )

    hp_block: dict[str, Any] = {"n_epochs": int(hp_cfg.get("n_epochs", 1))}
    for key in PAYLOAD_ORDER[1:]:
        if key in hp_cfg:
            hp_block[key] = hp_cfg[key]
    if isinstance(hp_cfg.get("parallelism"), dict):
        hp_block["parallelism"] = hp_cfg["parallelism"]
    compute_block = {k: compute_cfg[k] for k in ("gpu_type", "gpu_count", "nodes") if k in compute_cfg}
    topology = data_cfg.get("topology")
    training_block = {k: v for k, v in train_cfg.items() if k in ("mode", "use_qlora")}
    effective: dict[str, Any] = {
        "compute": compute_block,
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

    raw_model = (model.job.model or "").strip()
    if not raw_model and isinstance(data.get("model"), str):
        raw_model = str(data["model"]).strip()
    if not raw_model:
        raise _CliStop("Model not specified; set [job].model or [model].base in the config")
    try:
        canonical = canonical_sft_model(raw_model, allow_experimental=allow_experimental)
    except ModelRefused as exc:
        raise _CliStop(str(exc)) from exc

    hyperparameters = _hyperparameters(hp_block)
    check.report.payload = {
        "model": canonical,
        "hyperparameters": hyperparameters,
        "training_type": "sft_offline",
        "metadata": {"effective_config": effective},
        "training_file_id": None,
    }
    check.report.extras = _lora_extras(check, model, hp_cfg)
    per_device = hyperparameters.get("per_device_batch")
    accumulation = hyperparameters.get("gradient_accumulation_steps", 1)
    gpus = compute_block.get("gpu_count", 1)
    if isinstance(per_device, int) and isinstance(accumulation, int) and isinstance(gpus, int):
        check.report.global_batch = per_device * accumulation * max(gpus, 1)


def _lora_extras(check: _Check, model: SftConfigModel, hp_cfg: dict[str, Any]) -> dict[str, Any]:
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
            check.add(
                Level.WARNING,
                Source.STUDIO,
                where,
                f'{where} is ignored: train_kind = "fft" trains all weights, so no {long} is sent.',
            )
        return {}
    for long, where in origin.items():
        bad = _lora_value_problem(long, extras[long])
        if bad:
            check.add(Level.ERROR, Source.STUDIO, where, bad)
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


def _walk(raw: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out.append((path, value))
        if isinstance(value, dict) and path not in OPEN_TABLES and path not in BY_PATH:
            out.extend(_walk(value, path))
    return out


_EXTRA_NAME = dict(LORA_EXTRAS)
_KNOWN_TABLES = {"algorithm", "job", "compute", "data", "training", "training.validation", "training.lora"}
_KNOWN_TABLES |= {"hyperparameters"}


def _studio_advice(check: _Check, raw: dict[str, Any]) -> None:
    for path, value in _walk(raw):
        spec = BY_PATH.get(path)
        if spec is not None:
            if spec.fate is Fate.DROPPED:
                check.add(Level.WARNING, Source.STUDIO, path, f"{path} never reaches the backend: {spec.help}")
            elif spec.fate is Fate.EXTRA:
                sent_as = path if path.startswith("hyperparameters.") else f"hyperparameters.{_EXTRA_NAME[spec.key]}"
                check.add(
                    Level.WARNING,
                    Source.STUDIO,
                    path,
                    f"{path} is dropped by synth-ai 0.2.23 (the backend's default applies); sft-studio sends it "
                    f"as {sent_as}, honoured by backends that support it.",
                )
            continue
        if path in OPEN_TABLES:
            fate, help_text = OPEN_TABLES[path]
            if fate is Fate.DROPPED:
                check.add(Level.WARNING, Source.STUDIO, path, help_text)
            continue
        if path in _KNOWN_TABLES:
            continue
        if path in TOP_LEVEL_KEYS:
            check.add(Level.INFO, Source.STUDIO, path, TOP_LEVEL_KEYS[path])
            continue
        if "." in path and path.rsplit(".", 1)[0] in OPEN_TABLES:
            continue
        what = "section" if isinstance(value, dict) else "key"
        check.add(
            Level.WARNING,
            Source.STUDIO,
            path,
            f"Unknown {what} {path}: kept in the file, never sent (synth-ai 0.2.23 ignores unknown keys).",
        )
    _consistency(check, raw)


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _consistency(check: _Check, raw: dict[str, Any]) -> None:
    compute = raw.get("compute")
    if compute is None:
        check.add(
            Level.ERROR,
            Source.BACKEND,
            "compute",
            "No [compute] section: synth-ai 0.2.23 sends compute = {} and the backend answers "
            '400 missing_gpu_type after the upload. Add [compute] gpu_type = "H100", gpu_count = 1.',
        )
    elif isinstance(compute, dict):
        for key in ("gpu_count", "nodes"):
            value = compute.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value < 1:
                check.add(
                    Level.ERROR, Source.STUDIO, f"compute.{key}", f"compute.{key} must be ≥ 1 (synth-ai sends {value})."
                )
        gpu = compute.get("gpu_type")
        if isinstance(gpu, str) and gpu != gpu.upper() and gpu.upper() in {"H100", "H200", "A100", "L40S"}:
            check.add(
                Level.WARNING,
                Source.STUDIO,
                "compute.gpu_type",
                f'gpu_type = "{gpu}" is sent as written; the backend spells it "{gpu.upper()}".',
            )
    for key in ("learning_rate", "warmup_ratio", "weight_decay"):
        value = _get(raw, f"hyperparameters.{key}")
        if isinstance(value, float) and not math.isfinite(value):
            check.add(
                Level.ERROR,
                Source.STUDIO,
                f"hyperparameters.{key}",
                f"hyperparameters.{key} is {value}: not a usable number (and not valid JSON).",
            )
    kind = _get(raw, "hyperparameters.train_kind")
    mode = _get(raw, "training.mode")
    qlora = _get(raw, "training.use_qlora")
    variety = _norm(_get(raw, "algorithm.variety"))
    if isinstance(kind, str) and kind.strip().lower() not in {"peft", "fft"}:
        check.add(
            Level.WARNING,
            Source.STUDIO,
            "hyperparameters.train_kind",
            f'train_kind = "{kind}" is sent as-is; backends expect "peft" (LoRA/QLoRA) or "fft" (full).',
        )
    if isinstance(kind, str) and kind.lower() == "fft":
        if qlora is True:
            check.add(
                Level.WARNING,
                Source.STUDIO,
                "training.use_qlora",
                'use_qlora = true with train_kind = "fft": QLoRA needs train_kind = "peft".',
            )
        if isinstance(mode, str) and mode.lower() == "lora":
            check.add(
                Level.WARNING,
                Source.STUDIO,
                "training.mode",
                'mode = "lora" with train_kind = "fft": pick one (full finetune uses mode = "sft_offline").',
            )
        if variety == "lora":
            check.add(
                Level.INFO,
                Source.STUDIO,
                "algorithm.variety",
                'variety = "lora" is only a label; train_kind = "fft" makes this a full finetune.',
            )
    if isinstance(kind, str) and kind.lower() == "peft":
        if isinstance(mode, str) and mode.lower() in {"sft_offline", "full_finetune"}:
            check.add(
                Level.WARNING,
                Source.STUDIO,
                "training.mode",
                f'mode = "{mode}" with train_kind = "peft": LoRA runs use mode = "lora".',
            )
        if variety == "fft":
            check.add(
                Level.INFO,
                Source.STUDIO,
                "algorithm.variety",
                'variety = "fft" is only a label; train_kind = "peft" makes this a LoRA run.',
            )
    if _get(raw, "hyperparameters.parallelism.bf16") is True and _get(raw, "hyperparameters.parallelism.fp16") is True:
        check.add(
            Level.WARNING,
            Source.STUDIO,
            "hyperparameters.parallelism.fp16",
            "bf16 and fp16 are both on: choose one precision.",
        )
    stage = _get(raw, "hyperparameters.parallelism.deepspeed_stage")
    if isinstance(stage, int) and not isinstance(stage, bool) and not 0 <= stage <= 3:
        check.add(
            Level.ERROR,
            Source.STUDIO,
            "hyperparameters.parallelism.deepspeed_stage",
            f"deepspeed_stage must be 0–3 (got {stage}).",
        )
    validation = _get(raw, "training.validation")
    if isinstance(validation, dict) and validation.get("enabled", True) and not _get(raw, "data.validation_path"):
        check.add(
            Level.INFO,
            Source.STUDIO,
            "training.validation",
            "Validation is on but [data] has no validation_path: "
            "evaluation runs only when a validation file is uploaded.",
        )
    if check.report.global_batch is not None and check.report.payload is not None:
        sent = check.report.payload  # the converted values (per_device_batch = "2" is sent as 2)
        hp = sent["hyperparameters"]
        gpus = _get(sent, "metadata.effective_config.compute.gpu_count") or 1
        check.add(
            Level.INFO,
            Source.STUDIO,
            "hyperparameters.gradient_accumulation_steps",
            f"Global batch {check.report.global_batch} = per-device {hp.get('per_device_batch')} × accumulation "
            f"{hp.get('gradient_accumulation_steps', 1)} × GPUs {max(gpus, 1)}.",
        )

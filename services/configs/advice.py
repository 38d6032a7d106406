"""What synth-ai 0.2.23 would not tell you about an SFT config: sft-studio's advice, rule by rule.

Three kinds, each a function that returns at most one ``Advice`` per key or per rule:

* values the CLI converts before sending (``coercions``): accepted, but what is sent is not what the
  file says;
* each key's fate (``key_advice``): keys the CLI silently drops, LoRA settings only sft-studio
  sends, unknown keys, top-level keys that mean something elsewhere;
* consistency ``RULES``: settings the CLI accepts that the backend refuses or that contradict each
  other. The list runs in order, so findings keep their order; a new rule is one function in it.

``check`` runs them at their place in the CLI's stages; every finding here is the backend's or
sft-studio's, never the CLI's own verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import tomlkit

from services.common.echo import cap_echo
from services.configs.fields import BY_PATH, OPEN_TABLES, TOP_LEVEL_KEYS, Fate, Kind
from services.configs.payload import LORA_EXTRAS
from services.configs.report import ConfigReport, Level, ReportBuilder, Source

ERROR, WARNING, INFO = Level.ERROR, Level.WARNING, Level.INFO
STUDIO, BACKEND = Source.STUDIO, Source.BACKEND


class Advice(NamedTuple):
    level: Level
    source: Source
    path: str
    message: str


def record(b: ReportBuilder, advice: Iterable[Advice | None]) -> None:
    """Add each piece of advice (None: the rule had nothing to say) as a finding."""
    for a in advice:
        if a is not None:
            b.add(a.level, a.source, a.path, a.message)


def _get(raw: dict[str, Any], dotted: str) -> Any:
    node: Any = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _variety(raw: dict[str, Any]) -> str:
    """``algorithm.variety`` as the CLI compares it (stripped, lower case; "" when absent)."""
    value = _get(raw, "algorithm.variety")
    return "" if value is None else str(value).strip().lower()


# --------------------------------------------------------------------------------------------------
# Values the CLI converts


_KIND_WORD = {bool: "a boolean", str: "a string", float: "a float", int: "an integer"}


def _kind_word(value: Any) -> str:
    return _KIND_WORD.get(type(value), f"a {type(value).__name__}")


def _toml(value: Any) -> str:
    """``value`` as TOML spells it (true, 1, "2", 5e-06)."""
    return str(tomlkit.item(value).as_string())


def _converted(kind: Kind, written: Any) -> bool:
    """Whether pydantic's lax mode converts ``written`` to ``kind`` (rather than taking it as is)."""
    if kind is Kind.BOOL:
        return not isinstance(written, bool)
    if kind is Kind.INT:
        return isinstance(written, bool) or not isinstance(written, int)
    return isinstance(written, bool) or not isinstance(written, int | float)


def coercions(raw: dict[str, Any], data: dict[str, Any]) -> Iterable[Advice]:
    """Values synth-ai 0.2.23 converts before sending (``data``: what it sends): accepted, as the CLI
    does, but said, because what is sent is not what the file says."""
    for path, spec in BY_PATH.items():
        if spec.kind not in (Kind.INT, Kind.FLOAT, Kind.BOOL):
            continue
        written = _get(raw, path)
        if written is None or not _converted(spec.kind, written):
            continue
        shown = _toml(_get(data, path))
        yield Advice(
            WARNING,
            STUDIO,
            path,
            f"{path} = {_toml(written)} is {_kind_word(written)}: synth-ai 0.2.23 converts it and "
            f"sends {shown}. Write {path.rsplit('.', 1)[-1]} = {shown}.",
        )


def refused_variety(raw: dict[str, Any]) -> Advice | None:
    """After the CLI refused the algorithm: how to write QLoRA/PEFT in words it accepts."""
    variety = _variety(raw)
    if variety not in {"qlora", "peft"}:
        return None
    return Advice(
        INFO,
        STUDIO,
        "algorithm.variety",
        f'variety = "{variety}" is refused by synth-ai 0.2.23. Write variety = "lora"; QLoRA is '
        '[training] use_qlora = true with [hyperparameters] train_kind = "peft".',
    )


# --------------------------------------------------------------------------------------------------
# Each key's fate


_EXTRA_NAME = dict(LORA_EXTRAS)
_KNOWN_TABLES = {"algorithm", "job", "compute", "data", "training", "training.validation", "training.lora"}
_KNOWN_TABLES |= {"hyperparameters"}


def walk(raw: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every (dotted path, value) of the file, tables before their keys; known keys and open tables
    are not entered."""
    out: list[tuple[str, Any]] = []
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out.append((path, value))
        if isinstance(value, dict) and path not in OPEN_TABLES and path not in BY_PATH:
            out.extend(walk(value, path))
    return out


def is_known_key(path: str) -> bool:
    """A key or table sft-studio knows (a form field, a known or open table, a key inside an open table,
    a meaningful top-level key): ``config set`` adds no other key unless asked to."""
    if path in BY_PATH or path in OPEN_TABLES or path in _KNOWN_TABLES or path in TOP_LEVEL_KEYS:
        return True
    return any(path.startswith(table + ".") for table in OPEN_TABLES)


def key_advice(path: str, value: Any) -> Advice | None:
    """What happens to one key on the way to the backend, when the user should know."""
    spec = BY_PATH.get(path)
    if spec is not None:
        if spec.fate is Fate.DROPPED:
            return Advice(WARNING, STUDIO, path, f"{path} never reaches the backend: {spec.help}")
        if spec.fate is Fate.EXTRA:
            sent_as = path if path.startswith("hyperparameters.") else f"hyperparameters.{_EXTRA_NAME[spec.key]}"
            return Advice(
                WARNING,
                STUDIO,
                path,
                f"{path} is dropped by synth-ai 0.2.23 (the backend's default applies); sft-studio sends it "
                f"as {sent_as}, honoured by backends that support it.",
            )
        return None
    if path in OPEN_TABLES:
        fate, help_text = OPEN_TABLES[path]
        return Advice(WARNING, STUDIO, path, help_text) if fate is Fate.DROPPED else None
    if path in _KNOWN_TABLES or ("." in path and path.rsplit(".", 1)[0] in OPEN_TABLES):
        return None
    if path in TOP_LEVEL_KEYS:
        return Advice(INFO, STUDIO, path, TOP_LEVEL_KEYS[path])
    what = "section" if isinstance(value, dict) else "key"
    return Advice(
        WARNING,
        STUDIO,
        path,
        f"Unknown {what} {cap_echo(path)}: kept in the file, never sent (synth-ai 0.2.23 ignores unknown keys).",
    )


# --------------------------------------------------------------------------------------------------
# Consistency rules


@dataclass(frozen=True)
class Config:
    """What a rule looks at: the file as parsed, and the report so far (the payload, if any)."""

    raw: dict[str, Any]
    report: ConfigReport

    def get(self, dotted: str) -> Any:
        return _get(self.raw, dotted)

    def train_kind_is(self, kind: str) -> bool:
        value = self.get("hyperparameters.train_kind")
        return isinstance(value, str) and value.lower() == kind

    def mode(self) -> str | None:
        """training.mode in lower case (None when it is not a string)."""
        mode = self.get("training.mode")
        return mode.lower() if isinstance(mode, str) else None


Rule = Callable[[Config], Advice | None]


def _no_compute(c: Config) -> Advice | None:
    if c.raw.get("compute") is not None:
        return None
    return Advice(
        ERROR,
        BACKEND,
        "compute",
        "No [compute] section: synth-ai 0.2.23 sends compute = {} and the backend answers "
        '400 missing_gpu_type after the upload. Add [compute] gpu_type = "H100", gpu_count = 1.',
    )


def _at_least_one(key: str) -> Rule:
    """compute.``key`` below 1 (the CLI sends it as written)."""

    def rule(c: Config) -> Advice | None:
        value = c.get(f"compute.{key}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            return Advice(ERROR, STUDIO, f"compute.{key}", f"compute.{key} must be ≥ 1 (synth-ai sends {value}).")
        return None

    return rule


def _gpu_type_case(c: Config) -> Advice | None:
    gpu = c.get("compute.gpu_type")
    if isinstance(gpu, str) and gpu != gpu.upper() and gpu.upper() in {"H100", "H200", "A100", "L40S"}:
        message = f'gpu_type = "{gpu}" is sent as written; the backend spells it "{gpu.upper()}".'
        return Advice(WARNING, STUDIO, "compute.gpu_type", message)
    return None


def _finite(key: str) -> Rule:
    """hyperparameters.``key`` is inf or nan: not a usable number, and not valid JSON."""

    def rule(c: Config) -> Advice | None:
        value = c.get(f"hyperparameters.{key}")
        if isinstance(value, float) and not math.isfinite(value):
            message = f"hyperparameters.{key} is {value}: not a usable number (and not valid JSON)."
            return Advice(ERROR, STUDIO, f"hyperparameters.{key}", message)
        return None

    return rule


def _train_kind_known(c: Config) -> Advice | None:
    kind = c.get("hyperparameters.train_kind")
    if isinstance(kind, str) and kind.strip().lower() not in {"peft", "fft"}:
        message = f'train_kind = "{kind}" is sent as-is; backends expect "peft" (LoRA/QLoRA) or "fft" (full).'
        return Advice(WARNING, STUDIO, "hyperparameters.train_kind", message)
    return None


def _fft_with_qlora(c: Config) -> Advice | None:
    if c.train_kind_is("fft") and c.get("training.use_qlora") is True:
        message = 'use_qlora = true with train_kind = "fft": QLoRA needs train_kind = "peft".'
        return Advice(WARNING, STUDIO, "training.use_qlora", message)
    return None


def _fft_with_lora_mode(c: Config) -> Advice | None:
    if c.train_kind_is("fft") and c.mode() == "lora":
        message = 'mode = "lora" with train_kind = "fft": pick one (full finetune uses mode = "sft_offline").'
        return Advice(WARNING, STUDIO, "training.mode", message)
    return None


def _fft_labelled_lora(c: Config) -> Advice | None:
    if c.train_kind_is("fft") and _variety(c.raw) == "lora":
        message = 'variety = "lora" is only a label; train_kind = "fft" makes this a full finetune.'
        return Advice(INFO, STUDIO, "algorithm.variety", message)
    return None


def _peft_with_full_mode(c: Config) -> Advice | None:
    if c.train_kind_is("peft") and c.mode() in {"sft_offline", "full_finetune"}:
        message = f'mode = "{c.get("training.mode")}" with train_kind = "peft": LoRA runs use mode = "lora".'
        return Advice(WARNING, STUDIO, "training.mode", message)
    return None


def _peft_labelled_fft(c: Config) -> Advice | None:
    if c.train_kind_is("peft") and _variety(c.raw) == "fft":
        message = 'variety = "fft" is only a label; train_kind = "peft" makes this a LoRA run.'
        return Advice(INFO, STUDIO, "algorithm.variety", message)
    return None


def _one_precision(c: Config) -> Advice | None:
    if c.get("hyperparameters.parallelism.bf16") is True and c.get("hyperparameters.parallelism.fp16") is True:
        message = "bf16 and fp16 are both on: choose one precision."
        return Advice(WARNING, STUDIO, "hyperparameters.parallelism.fp16", message)
    return None


def _deepspeed_stage(c: Config) -> Advice | None:
    stage = c.get("hyperparameters.parallelism.deepspeed_stage")
    if isinstance(stage, int) and not isinstance(stage, bool) and not 0 <= stage <= 3:
        message = f"deepspeed_stage must be 0–3 (got {stage})."
        return Advice(ERROR, STUDIO, "hyperparameters.parallelism.deepspeed_stage", message)
    return None


def _validation_without_file(c: Config) -> Advice | None:
    validation = c.get("training.validation")
    if isinstance(validation, dict) and validation.get("enabled", True) and not c.get("data.validation_path"):
        return Advice(
            INFO,
            STUDIO,
            "training.validation",
            "Validation is on but [data] has no validation_path: "
            "evaluation runs only when a validation file is uploaded.",
        )
    return None


def _global_batch(c: Config) -> Advice | None:
    """How the global batch comes about, from the values sent (per_device_batch = "2" is sent as 2)."""
    report = c.report
    if report.global_batch is None or report.payload is None:
        return None
    hp = report.payload["hyperparameters"]
    gpus = _get(report.payload, "metadata.effective_config.compute.gpu_count") or 1
    return Advice(
        INFO,
        STUDIO,
        "hyperparameters.gradient_accumulation_steps",
        f"Global batch {report.global_batch} = per-device {hp.get('per_device_batch')} × accumulation "
        f"{hp.get('gradient_accumulation_steps', 1)} × GPUs {max(gpus, 1)}.",
    )


RULES: tuple[Rule, ...] = (
    _no_compute,
    _at_least_one("gpu_count"),
    _at_least_one("nodes"),
    _gpu_type_case,
    _finite("learning_rate"),
    _finite("warmup_ratio"),
    _finite("weight_decay"),
    _train_kind_known,
    _fft_with_qlora,
    _fft_with_lora_mode,
    _fft_labelled_lora,
    _peft_with_full_mode,
    _peft_labelled_fft,
    _one_precision,
    _deepspeed_stage,
    _validation_without_file,
    _global_batch,
)


def advise(b: ReportBuilder, raw: dict[str, Any]) -> None:
    """Every key's fate, then every consistency rule in order, into ``b``'s report."""
    record(b, (key_advice(path, value) for path, value in walk(raw)))
    config = Config(raw, b.report)
    record(b, (rule(config) for rule in RULES))

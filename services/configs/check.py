"""Validate an SFT config the way synth-ai 0.2.23 does: what ``train --type sft`` accepts or refuses.

``check_text`` runs the CLI's stages in its order (TOML, type inference, pydantic types, [algorithm],
dataset, model, hyperparameter ranges) and gives its verdict: ``cli_error`` is the message the CLI
stops with (None = it accepts the config), word for word; parity with the real CLI is tested case by
case. Unlike the CLI it goes on after the first problem, so a user fixing the file sees them all.

The other two parts of a check run at their place in these stages: ``payload`` builds the body the
CLI would POST (kept only when the CLI accepts), ``advice`` adds what the CLI would not tell you.
The findings' vocabulary is ``report``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.configs.advice import advise, coercions, record, refused_variety
from services.configs.payload import PAYLOAD_ORDER, build_payload, hyperparameters
from services.configs.report import CliStop, ConfigReport, Finding, Level, ReportBuilder, Source
from services.configs.schema import SftConfigModel
from services.configs.toml_load import TomlError, load_plain

_SUPPORTED = (
    ("online", "policy_gradient", "gspo"),
    ("offline", "supervised_finetune", "fft"),
    ("offline", "sft", "fft"),
    ("offline", "sft", "lora"),
)
_LABELS = {t: f"{t[0]} {t[1]} / {t[2]}" for t in _SUPPORTED}


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


def _range_problems(block: dict[str, Any]) -> list[tuple[str, str]]:
    """Every range check of the payload helper, each key on its own: the CLI stops at the first, a
    user fixing the file wants them all at once."""
    problems: list[tuple[str, str]] = []
    for key in PAYLOAD_ORDER:
        if key in block:
            try:
                hyperparameters({key: block[key]})
            except CliStop as stop:
                problems.append((f"hyperparameters.{key}", str(stop)))
    return problems


def _add_range_problems(b: ReportBuilder, block: Any, skip: frozenset[str] = frozenset()) -> None:
    if not isinstance(block, dict):
        return
    seen = {(f.path, f.message) for f in b.report.findings}
    for path, message in _range_problems(block):
        if path not in skip and (path, message) not in seen:
            b.add(Level.ERROR, Source.CLI, path, message)


def check_text(
    text: str,
    path: Path,
    *,
    dataset: Path | None = None,
    cwd: Path | None = None,
    require_dataset: bool = False,
    allow_experimental: bool | None = None,
    model_check: Callable[[str], str] | None = None,
) -> ConfigReport:
    """Check config ``text`` (as if read from ``path``) and build the CLI's payload when it passes.
    ``model_check``: the chosen backend's base-model check (default: the hosted catalogue)."""
    b = ReportBuilder(text, path.expanduser().resolve(), (cwd or Path.cwd()).resolve())
    try:
        raw = load_plain(text)
    except TomlError as exc:
        at = f"at line {exc.line}, column {exc.column}" if exc.line is not None else "at end of document"
        b.report.cli_error = f"Failed to parse TOML: {b.path}\n{exc.reason} ({at})"
        b.add(Level.ERROR, Source.TOML, "", str(exc), exc.line)
        return b.report
    _check_mapping(b, raw, dataset, require_dataset, allow_experimental, model_check)
    if b.report.cli_error is not None:
        # Later stages still run for their findings, but a config the CLI refuses has no payload.
        b.report.payload = None
        b.report.extras = {}
    advise(b, raw)
    return b.report


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
    b: ReportBuilder,
    raw: dict[str, Any],
    dataset: Path | None,
    require_dataset: bool,
    allow_experimental: bool | None,
    model_check: Callable[[str], str] | None = None,
) -> None:
    """The CLI's stages after the TOML parse, in its order."""
    if not _infers_as_training_config(raw):
        b.cli_stop(
            f"Config {b.path} is missing algorithm.type/method metadata. Add type = 'rl', 'sft', or 'prompt_learning'.",
            "algorithm",
            finding="No [algorithm] section (or nothing else marks this file as an SFT config): "
            'add [algorithm] type = "offline", method = "sft", variety = "lora" or "fft".',
        )
    model = _validated(b, raw)
    if model is None:
        return
    data = model.dump()
    record(b, coercions(raw, data))
    algorithm = model.algorithm.model_dump() if model.algorithm else None
    algo_error = _algorithm_error(algorithm)
    if algo_error:
        b.cli_stop(algo_error, _algorithm_path(algorithm))
        record(b, [refused_variety(raw)])
    try:
        build_payload(
            b, model, data, None if dataset is None else str(dataset), require_dataset, allow_experimental, model_check
        )
    except CliStop as stop:
        b.cli_stop(str(stop), _stop_path(str(stop)))
    _add_range_problems(b, data.get("hyperparameters"))


def _validated(b: ReportBuilder, raw: dict[str, Any]) -> SftConfigModel | None:
    """The config through the CLI's pydantic models; None (and every type error, plus the range
    problems of the keys that typed fine) when they refuse it."""
    try:
        return SftConfigModel.model_validate(raw)
    except ValidationError as exc:
        lines = []
        typed = set()
        for error in exc.errors():
            loc = ".".join(str(part) for part in error.get("loc", ()))
            lines.append(f"{loc or '<root>'}: {error.get('msg', 'invalid value')}")
            b.add(Level.ERROR, Source.CLI, loc, error.get("msg", "invalid value"))
            typed.add(loc)
        if b.report.cli_error is None:
            details = "\n".join(f"  - {line}" for line in lines) or "  - Invalid configuration"
            b.report.cli_error = f"Config validation failed ({b.path}):\n{details}"
        _add_range_problems(b, raw.get("hyperparameters"), skip=frozenset(typed))
        return None


def _stop_path(message: str) -> str:
    match = re.match(r"(hyperparameters\.\w+)", message)
    if match:
        return match.group(1)
    if message.startswith(("Dataset", "Model")):
        return "job.data" if message.startswith("Dataset") else "job.model"
    return ""

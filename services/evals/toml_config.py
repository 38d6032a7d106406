"""Reading an eval TOML written for synth-ai's ``run_eval.py`` (and its later ``[eval]``/``[rollout]`` tables).

The flat keys of 0.2.10 keep their meaning: ``num_episodes`` = seeds 1..N, ``max_turns`` = decisions
per episode, ``policy_name`` = the task app's policy (or ours: ``teacher``/``random``/``openai``),
``difficulty`` recorded (it does not change worlds). 0.2.16+ adds ``[rollout]`` (``max_turns``,
``policy_name``, ``difficulty``), ``[rollout.env_config]`` (``env_params.max_steps_per_episode``,
``difficulty``) and ``[rollout.policy_config]`` (model, inference_url, sampling); the later ``synth-ai
eval`` CLI reads ``[eval]`` (``model``, ``seeds``, ``task_app_url``, ``max_turns``, ``max_llm_calls``,
``concurrency``, ``policy_config``, ``env_config``). Difficulty precedence follows the reference:
``rollout.env_config.difficulty`` > ``rollout.difficulty`` > top level. Keys we do not know are
warned about and ignored; a known key with the wrong type is an error naming the key and the type.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.evals.settings import EvalError, seeds_from_spec

PLACEHOLDER_HOST = "your-task-app.modal.run"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "num": (_is_num, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "table": (lambda v: isinstance(v, dict), "a table"),
    "any": (lambda v: True, "anything"),
    "seeds": (
        lambda v: isinstance(v, str) or (isinstance(v, list) and all(_is_int(s) for s in v)),
        'a list of integers or a range string such as "10000-10049"',
    ),
    "ops": (lambda v: isinstance(v, list), "a list"),
}

#: run_eval.py 0.2.10's flat keys (plus ``seeds``, ours and the later CLI's), key -> type.
FLAT_KEYS: dict[str, str] = {
    "task_app_url": "str",
    "model": "str",
    "inference_url": "str",
    "num_episodes": "int",
    "max_turns": "int",
    "concurrency": "int",
    "difficulty": "str",
    "policy_name": "str",
    "max_tokens": "int",
    "temperature": "num",
    "top_p": "num",
    "thinking_mode": "str",
    "thinking_budget": "int",
    "use_tools": "bool",
    "seeds": "seeds",
    "trace_db": "str",
}
ROLLOUT_KEYS: dict[str, str] = {
    "env_name": "str",
    "policy_name": "str",
    "max_turns": "int",
    "difficulty": "str",
    "env_config": "table",
    "policy_config": "table",
}
EVAL_KEYS: dict[str, str] = {
    "app_id": "str",
    "model": "str",
    "seeds": "seeds",
    "task_app_url": "str",
    "split": "str",
    "max_turns": "int",
    "max_llm_calls": "int",
    "concurrency": "int",
    "env_name": "str",
    "policy_name": "str",
    "trace_format": "str",
    "return_trace": "bool",
    "ops": "ops",
    "env_config": "table",
    "policy_config": "table",
    "metadata": "table",
    "inference_url": "str",
    "num_episodes": "int",
}
POLICY_CONFIG_KEYS: dict[str, str] = {
    "model": "str",
    "inference_url": "str",
    "temperature": "num",
    "top_p": "num",
    "max_tokens": "int",
    "thinking_mode": "str",
    "thinking_budget": "int",
    "use_tools": "bool",
    "max_llm_calls": "int",
    "provider": "str",
    "api_key": "any",
}
ENV_CONFIG_KEYS: dict[str, str] = {"difficulty": "str", "env_params": "table", "step_rewards": "table"}
ENV_PARAMS_KEYS: dict[str, str] = {"max_steps_per_episode": "int"}


@dataclass
class EvalToml:
    """Settings values read from the file (EvalSettings field names) and the warnings to show."""

    values: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _check(table: dict[str, Any], known: dict[str, str], where: str, warnings: list[str]) -> dict[str, Any]:
    """The known keys of ``table`` with their types checked; unknown ones warned about."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        kind = known.get(key)
        if kind is None:
            warnings.append(f"unknown key {where}{key} ignored")
            continue
        ok, wanted = _TYPES[kind]
        if not ok(value):
            shown = type(value).__name__ if not isinstance(value, str) else f'string "{value}"'
            raise EvalError(f"`{where}{key}` must be {wanted}, not {shown}.")
        out[key] = value
    return out


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, str):
        try:
            return seeds_from_spec(value)
        except EvalError as exc:
            raise EvalError(f"`{where}seeds`: {exc}") from None
    return list(value)


def _task_app_url(url: str) -> str:
    """run_eval.py's rule: the template's placeholder host is replaced by $TASK_APP_URL, else refused."""
    if PLACEHOLDER_HOST in url.lower():
        env = os.environ.get("TASK_APP_URL", "").strip()
        if not env:
            raise EvalError(
                f"task_app_url is still the template's placeholder ({url}); set it in the TOML or export TASK_APP_URL."
            )
        return env
    return url


def _policy_values(policy: dict[str, Any], values: dict[str, Any], warnings: list[str], where: str) -> None:
    """Sampling and model keys of a flat table or a policy_config table, in EvalSettings names."""
    for key in ("model", "inference_url", "temperature", "top_p", "max_tokens", "thinking_mode", "thinking_budget"):
        if key in policy:
            values[key] = policy[key]
    if policy.get("use_tools") is False:
        warnings.append(f"{where}use_tools = false ignored: the crafter-react policy always calls interact_many")
    if "policy_name" in policy:
        name = policy["policy_name"]
        if name in ("openai", "teacher", "random"):
            values["policy"] = name
        else:
            values["task_policy_name"] = name


def parse_eval_toml(data: dict[str, Any]) -> EvalToml:
    """The eval settings a parsed TOML document holds (see the module doc for precedence)."""
    result = EvalToml()
    warnings, values = result.warnings, result.values
    tables = {k: v for k, v in data.items() if isinstance(v, dict) and k in ("eval", "rollout")}
    flat = _check({k: v for k, v in data.items() if k not in tables}, FLAT_KEYS, "", warnings)
    _policy_values(flat, values, warnings, "")
    for key in ("max_turns", "concurrency", "difficulty", "trace_db"):
        if key in flat:
            values[key] = flat[key]
    if "task_app_url" in flat:
        values["task_app_url"] = _task_app_url(flat["task_app_url"])
    if "num_episodes" in flat:
        if flat["num_episodes"] < 1:
            raise EvalError(f"`num_episodes` must be at least 1, not {flat['num_episodes']}.")
        values["seeds"] = list(range(1, flat["num_episodes"] + 1))
    explicit_seeds = _seeds(flat["seeds"], "") if "seeds" in flat else None

    if "rollout" in tables:
        rollout = _check(tables["rollout"], ROLLOUT_KEYS, "rollout.", warnings)
        for key in ("max_turns", "difficulty"):
            if key in rollout:
                values[key] = rollout[key]
        if "policy_name" in rollout:
            _policy_values({"policy_name": rollout["policy_name"]}, values, warnings, "rollout.")
        _env_config(rollout.get("env_config", {}), values, warnings, "rollout.env_config.")
        pc = _check(rollout.get("policy_config", {}), POLICY_CONFIG_KEYS, "rollout.policy_config.", warnings)
        _policy_values(pc, values, warnings, "rollout.policy_config.")
        if "max_llm_calls" in pc:
            values["max_turns"] = pc["max_llm_calls"]

    if "eval" in tables:
        ev = _check(tables["eval"], EVAL_KEYS, "eval.", warnings)
        _policy_values(ev, values, warnings, "eval.")
        for key in ("max_turns", "concurrency"):
            if key in ev:
                values[key] = ev[key]
        if "max_llm_calls" in ev and "max_turns" not in ev:
            values["max_turns"] = ev["max_llm_calls"]
        if "task_app_url" in ev:
            values["task_app_url"] = _task_app_url(ev["task_app_url"])
        if "num_episodes" in ev:
            values["seeds"] = list(range(1, ev["num_episodes"] + 1))
        if "seeds" in ev:
            explicit_seeds = _seeds(ev["seeds"], "eval.")
        _env_config(ev.get("env_config", {}), values, warnings, "eval.env_config.")
        pc = _check(ev.get("policy_config", {}), POLICY_CONFIG_KEYS, "eval.policy_config.", warnings)
        _policy_values(pc, values, warnings, "eval.policy_config.")
    if explicit_seeds is not None:
        values["seeds"] = explicit_seeds  # explicit seeds beat num_episodes
    return result


def _env_config(table: dict[str, Any], values: dict[str, Any], warnings: list[str], where: str) -> None:
    env = _check(table, ENV_CONFIG_KEYS, where, warnings)
    if "difficulty" in env:
        values["difficulty"] = env["difficulty"]  # highest precedence, as in the reference
    _check(env.get("env_params", {}), ENV_PARAMS_KEYS, where + "env_params.", warnings)


def read_eval_toml(path: Path) -> EvalToml:
    """Parse ``path``; EvalError (never a traceback) for a missing file, bad TOML or wrong types."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalError(f"Eval TOML not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"Cannot read eval TOML {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EvalError(f"{path} is not valid TOML: {exc}") from None
    try:
        return parse_eval_toml(data)
    except EvalError as exc:
        raise EvalError(f"{path}: {exc}") from None

"""Named filter presets as TOML files (default folder ``configs/filters/``), for sharing and reuse.

Format (keys of ``[filter]`` are FilterSpec field names; absent keys keep their defaults)::

    # sft-studio filter preset: good-qwen-runs
    # Keeps sessions whose dominant model is qwen/qwen3-32b; with at least 5 unique achievements.

    name = "good-qwen-runs"
    description = "Qwen runs that got somewhere"

    [filter]
    models = ["qwen/qwen3-32b"]
    min_unique = 5
    event_rewards = ["unique_achievement_delta:3", {reward_type = "odd:type", min_total = 1.0}]

``event_rewards`` items are ``"TYPE:MIN"`` strings, parsed exactly like ``--event-reward``; a type
that such a string cannot carry (one with ``:`` or surrounding spaces) is written as an inline
table instead. The leading comment block (up to the first blank line) is regenerated on every
save; every other comment, and the key order, survive updates (tomlkit keeps them). Saves are
atomic: a temp file beside the target, then a rename.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, ValidationError
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

from services.common.atomic import write_atomic
from services.common.workspace import filter_presets_dir
from services.datasets.filter_spec import EventRewardFilter, FilterSpec, FilterSpecError, parse_event_reward

HEADER_MARK = "# sft-studio filter preset"
_TOP_KEYS = {"name", "description", "filter"}


class PresetError(Exception):
    """A preset file that cannot be read or written; the message names the file and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class Preset(BaseModel):
    name: str
    description: str = ""
    spec: FilterSpec


class PresetInfo(BaseModel):
    """One file of a preset folder; ``error`` says why it cannot be used (it is still listed)."""

    name: str
    path: Path
    description: str = ""
    summary: str = ""
    error: str | None = None


# --------------------------------------------------------------------------------------------------
# Words


def _either(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def describe_filter(spec: FilterSpec) -> str:
    """The filter in one sentence, for preset headers and lists."""
    parts: list[str] = []
    if spec.models:
        parts.append(f"whose dominant model is {_either(spec.models)} (other models' LM calls dropped)")
    if spec.providers:
        parts.append(f"whose dominant provider is {_either(spec.providers)}")
    lo, hi = spec.min_unique, spec.max_unique
    if lo or hi is not None:
        if hi is None:
            words = f"at least {lo}"
        elif lo:
            words = f"{lo} to {hi}"
        else:
            words = f"at most {hi}"
        ignoring = f" (not counting {', '.join(spec.exclude_achievements)})" if spec.exclude_achievements else ""
        parts.append(f"with {words} unique achievements{ignoring}")
    rlo, rhi = spec.min_outcome_reward, spec.max_outcome_reward
    if rlo is not None and rhi is not None:
        parts.append(f"with outcome reward {rlo:g} to {rhi:g}")
    elif rlo is not None:
        parts.append(f"with outcome reward ≥ {rlo:g}")
    elif rhi is not None:
        parts.append(f"with outcome reward ≤ {rhi:g}")
    if spec.require_achievements:
        parts.append(f"whose outcome lists {' and '.join(spec.require_achievements)}")
    parts += [f"with {f.reward_type} rewards totalling ≥ {f.min_total:g}" for f in spec.event_rewards]
    text = "Keeps sessions " + "; ".join(parts) if parts else "Keeps every session with LM calls (no filter)"
    if spec.limit is not None:
        text += f"; at most {spec.limit} examples"
    return text + "."


# --------------------------------------------------------------------------------------------------
# Reading


def _field_of(loc: tuple[int | str, ...]) -> str:
    return str(loc[0]) if loc else "filter"


def parse_filter(data: Mapping[str, Any]) -> tuple[FilterSpec | None, dict[str, str]]:
    """A FilterSpec from form/preset values (``event_rewards`` items as ``"TYPE:MIN"`` or
    ``{reward_type, min_total}``), or None plus field -> reason. Never raises."""
    problems: dict[str, str] = {}
    values = dict(data)
    unknown = sorted(set(values) - set(FilterSpec.model_fields))
    for key in unknown:
        problems[key] = "is not a filter field"
        values.pop(key)
    rewards: list[EventRewardFilter] = []
    raw_rewards = values.pop("event_rewards", None) or []
    if not isinstance(raw_rewards, list):
        problems["event_rewards"] = "must be a list of TYPE:MIN strings or {reward_type, min_total} tables"
    else:
        for item in raw_rewards:
            try:
                if isinstance(item, str):
                    parsed = parse_event_reward(item)
                    if parsed is not None:
                        rewards.append(parsed)
                elif isinstance(item, EventRewardFilter):
                    rewards.append(item)
                elif isinstance(item, Mapping):
                    rewards.append(EventRewardFilter.model_validate(dict(item)))
                else:
                    problems["event_rewards"] = f"item {item!r} is neither TYPE:MIN nor a table"
            except FilterSpecError as exc:
                problems[exc.field] = exc.message
            except ValidationError as exc:
                err = exc.errors()[0]
                problems["event_rewards"] = f"{item!r}: {_field_of(err['loc'])} {err['msg'].lower()}"
    try:
        spec = FilterSpec.model_validate({**values, "event_rewards": rewards})
    except ValidationError as exc:
        for err in exc.errors():
            problems.setdefault(_field_of(err["loc"]), err["msg"].lower())
        return None, problems
    problems.update(spec.problems())
    return (None, problems) if unknown or "event_rewards" in problems else (spec, problems)


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def read_preset(path: Path) -> Preset:
    """The preset in ``path``; PresetError (file + reason) for unreadable TOML or bad values."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(path, f"cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise PresetError(path, "is not UTF-8 text") from None
    try:
        doc = _plain(tomlkit.parse(text))
    except TOMLKitError as exc:
        raise PresetError(path, f"invalid TOML: {exc}") from None
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        hint = " (filter fields go under [filter])" if set(unknown) & set(FilterSpec.model_fields) else ""
        raise PresetError(path, f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}{hint}")
    name = doc.get("name", path.stem)
    description = doc.get("description", "")
    if not isinstance(name, str) or not isinstance(description, str):
        raise PresetError(path, "name and description must be strings")
    values = doc.get("filter", {})
    if not isinstance(values, dict):
        raise PresetError(path, "filter must be a table ([filter])")
    spec, problems = parse_filter(values)
    if problems or spec is None:
        raise PresetError(path, "; ".join(f"{k}: {v}" for k, v in problems.items()) or "invalid filter")
    return Preset(name=name, description=description, spec=spec)


def load_preset(path: Path) -> FilterSpec:
    """The FilterSpec stored in ``path`` (PresetError names the file and the reason)."""
    return read_preset(path).spec


def list_presets(folder: Path | None = None) -> list[PresetInfo]:
    """Every ``*.toml`` in ``folder`` (default: the workspace's presets folder) by name; a broken file is
    listed with its error."""
    folder = Path(folder) if folder is not None else filter_presets_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.toml")):
        try:
            preset = read_preset(path)
        except PresetError as exc:
            out.append(PresetInfo(name=path.stem, path=path, error=exc.reason))
            continue
        out.append(
            PresetInfo(
                name=preset.name, path=path, description=preset.description, summary=describe_filter(preset.spec)
            )
        )
    return out


# --------------------------------------------------------------------------------------------------
# Writing


def _min_text(value: float) -> str:
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _reward_item(f: EventRewardFilter) -> Any:
    t = f.reward_type
    if t and ":" not in t and t == t.strip():
        return f"{t}:{_min_text(f.min_total)}"
    table = tomlkit.inline_table()
    table.update({"reward_type": t, "min_total": f.min_total})
    return table


def _filter_values(spec: FilterSpec) -> dict[str, Any]:
    """Field -> TOML value for every non-default field (TOML has no null: None means absent)."""
    defaults = FilterSpec()
    out: dict[str, Any] = {}
    for name in FilterSpec.model_fields:
        value = getattr(spec, name)
        if value is None or value == getattr(defaults, name):
            continue
        out[name] = [_reward_item(f) for f in value] if name == "event_rewards" else value
    return out


def _comment(text: str) -> str:
    """``text`` as one comment line: TOML comments cannot hold control characters or line breaks."""
    return "".join(c if c >= " " and c != "\x7f" else " " for c in text)


def _header(name: str, spec: FilterSpec) -> list[str]:
    return [_comment(f"{HEADER_MARK}: {name}"), _comment(f"# {describe_filter(spec)}")]


def _replace_header(text: str, header: list[str]) -> str:
    lines = text.split("\n")  # not splitlines(): it also splits at U+0085 etc. inside strings
    if lines and lines[0].startswith(HEADER_MARK):
        while lines and lines[0].startswith("#"):
            lines.pop(0)
        while lines and not lines[0].strip():
            lines.pop(0)
    return "\n".join([*header, "", *lines]).rstrip("\n") + "\n"


def save_preset(path: Path, spec: FilterSpec, name: str, description: str = "") -> Path:
    """Write ``spec`` to ``path`` atomically. An existing preset keeps its comments and key order;
    only changed values, the name/description and the generated header are rewritten."""
    path = Path(path)
    if path.exists():
        try:
            doc = tomlkit.parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, TOMLKitError) as exc:
            raise PresetError(path, f"cannot update it: {exc}") from None
    else:
        doc = tomlkit.document()
    doc["name"] = name
    doc["description"] = description
    table = doc.get("filter")
    if not isinstance(table, Table):
        if table is not None:
            del doc["filter"]
        table = tomlkit.table()
        doc["filter"] = table
    values = _filter_values(spec)
    for key in list(table.keys()):
        if key not in values:
            del table[key]
    for key, value in values.items():
        if key in table and _plain(table[key]) == _plain(value):
            continue  # unchanged: keep the item (and its formatting) as it is
        table[key] = value
    text = _replace_header(tomlkit.dumps(doc), _header(name, spec))
    try:
        tomlkit.parse(text)  # never leave a file that the next load would refuse
    except TOMLKitError as exc:
        raise PresetError(path, f"cannot write it: {exc}") from None
    _write_atomic(path, text)
    return path


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise PresetError(path, f"cannot write it ({exc.strerror or exc})") from None

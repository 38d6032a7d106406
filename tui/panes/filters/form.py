"""The filter form: one field per export_trace_sft.py flag, each with its own reason when invalid.

``parse_filters`` turns the raw field texts into a :class:`FilterSpec` or a reason per field; it has
no widgets, so it is tested directly. :class:`FilterForm` shows the fields and reasons and posts
``FilterForm.Edited`` on every change; the pane decides what to compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static

from services.datasets.filter_spec import EventRewardFilter, FilterSpec, FilterSpecError, parse_event_reward

#: (field, label, hint shown while the field is valid)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("models", "Models", "dominant models, comma-separated"),
    ("providers", "Providers", "comma-separated; blank = all"),
    ("min_unique", "Min unique", "unique achievements, at least"),
    ("max_unique", "Max unique", "blank = no maximum"),
    ("exclude_achievements", "Exclude ach.", "not counted for min/max unique"),
    ("require_achievements", "Require ach.", "all in the outcome's list"),
    ("min_outcome_reward", "Min outcome", "outcome total_reward, at least"),
    ("max_outcome_reward", "Max outcome", "outcome total_reward, at most"),
    ("event_rewards", "Event rewards", "TYPE[:MIN], comma-separated"),
    ("limit", "Limit", "cap on examples; blank = all"),
)
FIELD_KEYS: tuple[str, ...] = tuple(key for key, _, _ in FIELDS)


def split_list(text: str) -> list[str]:
    """Comma-separated items, stripped, empties dropped, order kept, duplicates removed."""
    seen: dict[str, None] = {}
    for item in text.split(","):
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _parse_int(text: str, *, blank: int | None) -> int | None:
    raw = text.strip()
    if not raw:
        return blank
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"must be a whole number (got {raw!r})") from None


def _parse_float(text: str) -> float | None:
    raw = text.strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"must be a number (got {raw!r})") from None


def parse_filters(values: Mapping[str, str]) -> tuple[FilterSpec | None, dict[str, str]]:
    """The spec, or None and a reason per field that cannot be read (not a number, a limit below 1…).
    Values that read fine but look like slips (an unknown model, a misspelled achievement) are the
    shared validator's warnings (``services.datasets.filter_check``), not errors here: the CLI
    accepts them too."""
    errors: dict[str, str] = {}
    kwargs: dict[str, object] = {}
    for key in ("models", "providers"):
        kwargs[key] = split_list(values.get(key, ""))
    for key, blank in (("min_unique", 0), ("max_unique", None), ("limit", None)):
        try:
            kwargs[key] = _parse_int(values.get(key, ""), blank=blank)
        except ValueError as exc:
            errors[key] = str(exc)
    for key in ("min_outcome_reward", "max_outcome_reward"):
        try:
            kwargs[key] = _parse_float(values.get(key, ""))
        except ValueError as exc:
            errors[key] = str(exc)
    for key in ("exclude_achievements", "require_achievements"):
        kwargs[key] = split_list(values.get(key, ""))
    rewards: list[EventRewardFilter] = []
    for item in split_list(values.get("event_rewards", "")):
        try:
            parsed = parse_event_reward(item)
        except FilterSpecError as exc:
            errors["event_rewards"] = f"{exc.message}: MIN must be a number"
            break
        if parsed is not None:
            rewards.append(parsed)
    kwargs["event_rewards"] = rewards
    if errors:
        return None, errors
    spec = FilterSpec.model_validate(kwargs)
    problems = spec.problems()
    if problems:
        return None, problems
    return spec, {}


def spec_values(spec: FilterSpec) -> dict[str, str]:
    """The field texts that give ``spec`` back (to show a loaded preset)."""

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:g}"

    return {
        "models": ", ".join(spec.models),
        "providers": ", ".join(spec.providers),
        "min_unique": str(spec.min_unique) if spec.min_unique else "",
        "max_unique": "" if spec.max_unique is None else str(spec.max_unique),
        "exclude_achievements": ", ".join(spec.exclude_achievements),
        "require_achievements": ", ".join(spec.require_achievements),
        "min_outcome_reward": num(spec.min_outcome_reward),
        "max_outcome_reward": num(spec.max_outcome_reward),
        "event_rewards": ", ".join(f.as_flag() for f in spec.event_rewards),
        "limit": "" if spec.limit is None else str(spec.limit),
    }


class FilterForm(VerticalScroll):
    """Ten labelled inputs, each with a hint line that turns into the reason when the field is invalid."""

    DEFAULT_CSS = """
    FilterForm {
        width: 52;
        height: 1fr;
        border: round $primary 60%;
        border-title-color: $text-primary;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    FilterForm .field { height: auto; }
    FilterForm .field-label { width: 14; text-style: bold; }
    FilterForm Input { width: 1fr; }
    FilterForm .hint { color: $text-muted; height: auto; padding-left: 14; }
    FilterForm .hint.-error { color: $text-error; text-style: bold; }
    FilterForm .hint.-warning { color: $text-warning; text-style: bold; }
    """

    can_focus = False  # Tab goes straight to the fields (focusing one scrolls it into view)

    class Edited(Message):
        """A field changed (the pane re-validates and schedules a preview)."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {
        "min_unique": "0",
        "event_rewards": "e.g. unique_achievement_delta:1",
        "exclude_achievements": "e.g. collect_sapling",
        "require_achievements": "e.g. collect_wood",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.errors: dict[str, str] = {}
        self.warnings: dict[str, str] = {}
        self.hints: dict[str, str] = {key: hint for key, _, hint in FIELDS}

    def compose(self) -> ComposeResult:
        for key, label, _ in FIELDS:
            with Vertical(classes="field"):
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    yield Input(
                        id=f"filter-{key}",
                        compact=True,
                        select_on_focus=False,
                        placeholder=self.PLACEHOLDERS.get(key, ""),
                    )
                yield Static(self.hints[key], id=f"filter-hint-{key}", classes="hint", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Filter"
        self.border_subtitle = "Tab next field · Esc, then e s l"

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#filter-{key}", Input).value for key in FIELD_KEYS}

    def set_values(self, values: Mapping[str, str]) -> None:
        """Replace the field texts (a loaded preset); posts Edited once per changed field."""
        for key in FIELD_KEYS:
            field = self.query_one(f"#filter-{key}", Input)
            field.value = values.get(key, "")
            field.cursor_position = len(field.value)

    def set_hint(self, key: str, hint: str) -> None:
        self.hints[key] = hint
        self.show_errors(self.errors, self.warnings)

    def show_errors(self, errors: Mapping[str, str], warnings: Mapping[str, str] | None = None) -> None:
        """Each field's error (red; the field is invalid), else its warning (yellow: the value is
        used, but looks like a slip), else its hint."""
        self.errors = dict(errors)
        self.warnings = dict(warnings or {})
        for key in FIELD_KEYS:
            widget = self.query_one(f"#filter-hint-{key}", Static)
            error = self.errors.get(key)
            warning = None if error is not None else self.warnings.get(key)
            widget.update(error or (f"warning: {warning}" if warning else self.hints[key]))
            widget.set_class(error is not None, "-error")
            widget.set_class(warning is not None, "-warning")
            self.query_one(f"#filter-{key}", Input).set_class(error is not None, "-invalid")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Edited())

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.screen.focus_next()

"""The eval form: which model, on which seeds, how; every field checked before anything runs.

``parse_eval_form`` turns the raw field texts into an :class:`EvalRequest` or a reason per field; it
has no widgets, so it is tested directly. :class:`EvalForm` shows the fields (one line each, the hint
or the error beside it, so the form fits 80x24) and the local backend's models; the pane owns what
runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, OptionList, RadioButton, RadioSet, Static, Switch
from textual.widgets.option_list import Option

from services.common.echo import cap_echo
from services.common.secrets import mask_url
from services.evals.settings import DEFAULT_CONCURRENCY, DEFAULT_MAX_TURNS, DEFAULT_SEEDS, EvalError, seeds_from_spec
from tui.panes.eval.local_models import LocalModel
from tui.widgets.dialog import keys_line

#: Where the model comes from: (value, radio label, hint).
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("local", "local backend", "base and fine-tuned models of the local backend"),
    ("url", "URL", "any OpenAI-compatible server (vLLM, Groq, OpenAI…)"),
    ("teacher", "teacher", "sft-studio's scripted teacher: a reference, no server"),
    ("random", "random", "uniformly random actions: the floor, no server"),
)
SOURCE_VALUES: tuple[str, ...] = tuple(s for s, _, _ in SOURCES)
DEFAULT_TEMPERATURE = "0.2"
DEFAULTS: dict[str, str] = {
    "source": "local",
    "model": "",
    "url": "",
    "seeds": f"{DEFAULT_SEEDS[0]}-{DEFAULT_SEEDS[1]}",
    "max_turns": str(DEFAULT_MAX_TURNS),
    "concurrency": str(DEFAULT_CONCURRENCY),
    "temperature": DEFAULT_TEMPERATURE,
}
#: (field, label, hint shown while the field is valid)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("model", "Model", ""),  # depends on the source
    ("url", "URL", ""),
    ("seeds", "Seeds", "START-END (default: not the demo's 0-119)"),
    ("max_turns", "Max turns", "decisions per episode"),
    ("concurrency", "Concurrency", "episodes played at the same time"),
    ("temperature", "Temperature", "0-2 (models only)"),
)
MAX_TEMPERATURE = 2.0


@dataclass(frozen=True)
class EvalRequest:
    """What the form asks for; the pane adds the trace DB and resolves the local backend in a worker."""

    source: str = "local"
    model: str | None = None
    inference_url: str | None = None
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1))
    max_turns: int = DEFAULT_MAX_TURNS
    concurrency: int = DEFAULT_CONCURRENCY
    temperature: float = 0.2
    trace: bool = False

    @property
    def policy(self) -> str:
        return self.source if self.source in ("teacher", "random") else "openai"

    @property
    def model_label(self) -> str:
        return self.model or f"sft-studio/{self.policy}"

    def settings_values(self, trace_db: Path | None) -> dict[str, Any]:
        """Keywords of ``services.evals.settings.build_settings``."""
        values: dict[str, Any] = {
            "policy": self.policy,
            "model": self.model,
            "seeds": list(self.seeds),
            "max_turns": self.max_turns,
            "concurrency": self.concurrency,
            "temperature": self.temperature,
            "trace_db": trace_db if self.trace else None,
        }
        if self.source == "local":
            values["backend"] = "local"
        elif self.source == "url":
            values["inference_url"] = self.inference_url
        return values


def _count(text: str, label: str) -> int:
    raw = text.strip()
    if not raw:
        raise ValueError(f"{label} is required.")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{label} must be a whole number (got {cap_echo(raw, 40)!r}).") from None
    if value < 1:
        raise ValueError(f"{label} must be at least 1 (got {value}).")
    return value


def _temperature(text: str) -> float:
    raw = text.strip() or DEFAULT_TEMPERATURE
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"Temperature must be a number (got {cap_echo(raw, 40)!r}).") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_TEMPERATURE:
        raise ValueError(f"Temperature must be between 0 and {MAX_TEMPERATURE:g} (got {raw}).")
    return value


def parse_eval_form(values: Mapping[str, str], *, trace: bool = False) -> tuple[EvalRequest | None, dict[str, str]]:
    """The request, or None and a reason per field that is wrong."""
    errors: dict[str, str] = {}
    source = values.get("source", "local")
    if source not in SOURCE_VALUES:
        errors["source"] = f"Unknown model source {source!r}."
    model = values.get("model", "").strip() or None
    url = values.get("url", "").strip() or None
    if source in ("local", "url") and model is None:
        errors["model"] = (
            "Pick a model from the list below (or type its id)." if source == "local" else "Required: the model name."
        )
    if source == "url":
        if url is None:
            errors["url"] = "Required, e.g. http://localhost:8000/v1"
        elif not url.startswith(("http://", "https://")):
            errors["url"] = f"Must start with http:// or https:// (got {cap_echo(mask_url(url), 60)!r})."
    else:
        url = None
    if source in ("teacher", "random"):
        model = None
    seeds: list[int] = []
    try:
        seeds = seeds_from_spec(values.get("seeds", ""))
    except EvalError as exc:
        errors["seeds"] = str(exc)
    counts: dict[str, int] = {}
    for key, label in (("max_turns", "Max turns"), ("concurrency", "Concurrency")):
        try:
            counts[key] = _count(values.get(key, ""), label)
        except ValueError as exc:
            errors[key] = str(exc)
    temperature = 0.2
    try:
        temperature = _temperature(values.get("temperature", ""))
    except ValueError as exc:
        errors["temperature"] = str(exc)
    if errors:
        return None, errors
    return (
        EvalRequest(
            source=source,
            model=model,
            inference_url=url,
            seeds=tuple(seeds),
            max_turns=counts["max_turns"],
            concurrency=counts["concurrency"],
            temperature=temperature,
            trace=trace,
        ),
        {},
    )


class SourceChoice(RadioSet, inherit_bindings=False):
    """A radio row where the arrow keys pick (no separate confirm) and Enter is left to the form."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,up", "pick(-1)", "Previous source", show=False),
        Binding("right,down", "pick(1)", "Next source", show=False),
        Binding("space", "toggle_button", "Pick", show=False),
    ]

    def action_pick(self, step: int) -> None:
        if step < 0:
            self.action_previous_button()
        else:
            self.action_next_button()
        self.action_toggle_button()


class EvalForm(VerticalScroll):
    """Source, local models, model, URL, seeds, max turns, concurrency, temperature, trace, leakage."""

    DEFAULT_CSS = """
    EvalForm { height: 1fr; padding: 0 1; }
    EvalForm .field { height: auto; }
    EvalForm .field-label { width: 13; text-style: bold; }
    EvalForm Input { width: 28; }
    EvalForm .hint { width: 1fr; color: $text-muted; height: auto; padding-left: 1; }
    EvalForm .hint.-error { color: $text-error; text-style: bold; }
    EvalForm SourceChoice { layout: horizontal; width: 1fr; height: 1; }
    EvalForm SourceChoice > RadioButton { width: auto; margin-right: 2; }
    EvalForm #eval-source-hint { color: $text-muted; height: auto; padding-left: 13; }
    EvalForm #eval-models { height: auto; max-height: 6; margin-left: 13; border: none; }
    EvalForm #eval-models:focus { background-tint: $foreground 5%; }
    EvalForm #eval-models-note { color: $text-muted; height: auto; padding-left: 13; }
    EvalForm #eval-models-note.-error { color: $text-error; }
    EvalForm Switch { width: auto; height: 1; border: none; padding: 0; }
    EvalForm #eval-trace-hint { padding-left: 1; }
    EvalForm #eval-leakage { color: $text-warning; text-style: bold; height: auto; margin-top: 1; }
    EvalForm #eval-problem { color: $text-error; text-style: bold; height: auto; margin-top: 1; }
    EvalForm #eval-keys { color: $text-muted; height: auto; margin-top: 1; }
    """

    class Changed(Message):
        """A field changed (the pane re-checks seed leakage, or lists the local models)."""

    def __init__(self, initial: Mapping[str, str] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.initial = {**DEFAULTS, **(initial or {})}
        self.errors: dict[str, str] = {}
        self.models: list[LocalModel] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield Label("Model from", classes="field-label")
            with SourceChoice(id="eval-source", compact=True):
                for value, label, _ in SOURCES:
                    yield RadioButton(label, value=value == self.initial["source"], id=f"source-{value}")
        yield Static(id="eval-source-hint", markup=False)
        yield OptionList(id="eval-models", compact=True)
        yield Static(id="eval-models-note", markup=False)
        for key, label, _ in FIELDS:
            with Horizontal(classes="field"):
                yield Label(label, classes="field-label")
                yield Input(self.initial[key], id=f"eval-{key}", compact=True, select_on_focus=False)
                yield Static(id=f"hint-{key}", classes="hint", markup=False)
        with Horizontal(classes="field"):
            yield Label("Trace", classes="field-label")
            yield Switch(False, id="eval-trace")
            yield Static(id="eval-trace-hint", classes="hint", markup=False)
        yield Static(id="eval-leakage", markup=False)
        yield Static(id="eval-problem", markup=False)
        yield Static(
            keys_line(
                ("Enter", "run"), ("Tab", "next field"), ("← →", "model source"), ("F3", "results"), ("F1", "help")
            ),
            id="eval-keys",
        )

    def on_mount(self) -> None:
        self.query_one("#eval-leakage").display = False
        self.query_one("#eval-problem").display = False
        self.sync()

    # ------------------------------------------------------------------------------------ reading

    @property
    def source(self) -> str:
        pressed = self.query_one(SourceChoice).pressed_button
        return (pressed.id or "source-local").removeprefix("source-") if pressed is not None else "local"

    def field_values(self) -> dict[str, str]:
        values = {"source": self.source}
        for key, _, _ in FIELDS:
            values[key] = self.query_one(f"#eval-{key}", Input).value
        return values

    @property
    def trace(self) -> bool:
        switch = self.query_one("#eval-trace", Switch)
        return switch.value and not switch.disabled

    def parse(self) -> EvalRequest | None:
        """The request, or None with each problem shown at its field (the first one focused)."""
        request, errors = parse_eval_form(self.field_values(), trace=self.trace)
        self.errors = errors
        self.sync()
        if request is None:
            first = next(k for k in ("source", *(k for k, _, _ in FIELDS)) if k in errors)
            target = self.query_one(SourceChoice) if first == "source" else self.query_one(f"#eval-{first}", Input)
            target.focus()
        return request

    # ----------------------------------------------------------------------------------- updating

    def set_source(self, source: str) -> None:
        self.query_one(f"#source-{source}", RadioButton).value = True
        self.sync()

    def set_model(self, model: str) -> None:
        self.query_one("#eval-model", Input).value = model

    def set_trace_db(self, db: Path | None) -> None:
        """Tracing writes into the app's open DB: off (and disabled) while none is open."""
        switch = self.query_one("#eval-trace", Switch)
        switch.disabled = db is None
        self.query_one("#eval-trace-hint", Static).update(
            f"record every episode into the open DB ({db.name})" if db is not None else "no trace DB is open"
        )

    def show_models(self, models: Sequence[LocalModel] | None, note: str, *, error: bool = False) -> None:
        """The local backend's models (None: not listed yet), and a line about them."""
        options = self.query_one("#eval-models", OptionList)
        self.models = list(models or [])
        options.clear_options()
        options.add_options([Option(m.label, id=m.id) for m in self.models])
        options.display = bool(self.models) and self.source == "local"
        current = self.query_one("#eval-model", Input).value.strip()
        index = next((i for i, m in enumerate(self.models) if m.id == current), None)
        if index is not None:
            options.highlighted = index
        note_widget = self.query_one("#eval-models-note", Static)
        note_widget.update(note)
        note_widget.set_class(error, "-error")

    def show_leakage(self, text: str | None) -> None:
        widget = self.query_one("#eval-leakage", Static)
        widget.display = text is not None
        widget.update(f"⚠ Seed leakage: {text}" if text else "")

    def show_problem(self, text: str | None) -> None:
        """Why the last run could not start (unreachable server, unknown model…), until the next change."""
        widget = self.query_one("#eval-problem", Static)
        widget.display = text is not None
        widget.update(f"✗ {text}" if text else "")
        if text is not None:
            self.scroll_to_widget(widget, animate=False)

    @on(RadioSet.Changed)
    def _source_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.errors.clear()
        self.sync()
        self.post_message(self.Changed())

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        event.stop()
        key = (event.input.id or "").removeprefix("eval-")
        self.errors.pop(key, None)
        self.sync()
        self.post_message(self.Changed())

    @on(OptionList.OptionSelected, "#eval-models")
    @on(OptionList.OptionHighlighted, "#eval-models")
    def _model_picked(self, event: OptionList.OptionSelected | OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id is not None and self.query_one("#eval-model", Input).value != event.option.id:
            self.set_model(event.option.id)

    def sync(self) -> None:
        """Which fields apply to the source, and each field's hint or error."""
        source = self.source
        model = self.query_one("#eval-model", Input)
        url = self.query_one("#eval-url", Input)
        temperature = self.query_one("#eval-temperature", Input)
        model.disabled = source in ("teacher", "random")
        url.disabled = source != "url"
        temperature.disabled = source in ("teacher", "random")
        model.placeholder = {
            "local": "pick below, or type an id",
            "url": "e.g. Qwen/Qwen3-0.6B",
        }.get(source, f"sft-studio/{source}")
        url.placeholder = "e.g. http://localhost:8000/v1" if source == "url" else "(URL source only)"
        self.query_one("#eval-models", OptionList).display = source == "local" and bool(self.models)
        self.query_one("#eval-models-note").display = source == "local"
        self.query_one("#eval-source-hint", Static).update(
            self.errors.get("source") or dict((s, h) for s, _, h in SOURCES).get(source, "")
        )
        hints = {
            "model": {
                "local": "the id the backend serves",
                "url": "the name the server serves",
            }.get(source, "recorded as the model name"),
            "url": "…/v1 accepted" if source == "url" else "",
        }
        for key, _, hint in FIELDS:
            widget = self.query_one(f"#hint-{key}", Static)
            error = self.errors.get(key)
            widget.update(error or hints.get(key, hint))
            widget.set_class(error is not None, "-error")

"""The "collect rollouts" form: a keyboard-driven modal that validates its fields before anything runs.

``parse_form`` turns the raw field texts into a :class:`CollectRequest` or a reason per field; it
has no widgets, so it is tested directly. The modal shows each reason under its field and only
dismisses with a request that the collector will accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from services.common.echo import cap_echo
from services.common.secrets import mask_url
from services.rollouts.seeds import SeedRangeError, parse_seed_range
from tui.widgets.dialog import dialog_css

POLICIES: tuple[str, ...] = ("teacher", "random", "openai")
POLICY_HINTS: dict[str, str] = {
    "teacher": "sft-studio's scripted Crafter teacher: runs locally, no model server",
    "random": "uniformly random actions: a baseline, runs locally",
    "openai": "an OpenAI-compatible server (Groq, OpenAI, vLLM…): needs model and URL",
}
DEFAULTS: dict[str, str] = {
    "policy": "teacher",
    "model": "",
    "url": "",
    "seeds": "0-49",
    "episodes": "",
    "max_turns": "50",
    "concurrency": "4",
}
#: (field, label, hint shown while the field is valid)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("model", "Model", ""),  # hint depends on the policy
    ("url", "Inference URL", "openai only; API key from GROQ_API_KEY, OPENAI_API_KEY or SYNTH_API_KEY"),
    ("seeds", "Seeds", "START-END, both included (the same seeds make runs comparable)"),
    ("episodes", "Episodes", ""),  # hint depends on the seeds
    ("max_turns", "Max turns", "decisions per episode"),
    ("concurrency", "Concurrency", "episodes played at the same time"),
)


@dataclass(frozen=True)
class CollectRequest:
    """What the form asks for; the pane adds the DB path to make a ``CollectSpec``."""

    policy: str = "teacher"
    model: str | None = None
    inference_url: str | None = None
    seeds: tuple[int, int] = (0, 49)
    episodes: int | None = None
    max_turns: int = 50
    concurrency: int = 4

    def spec_kwargs(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "model": self.model,
            "inference_url": self.inference_url,
            "seeds": self.seeds,
            "episodes": self.episodes,
            "max_turns": self.max_turns,
            "concurrency": self.concurrency,
        }

    def as_values(self) -> dict[str, str]:
        """The form's field texts that give this request back (to start the next form from it)."""
        start, end = self.seeds
        return {
            "policy": self.policy,
            "model": self.model or "",
            "url": self.inference_url or "",
            "seeds": f"{start}-{end}",
            "episodes": "" if self.episodes is None else str(self.episodes),
            "max_turns": str(self.max_turns),
            "concurrency": str(self.concurrency),
        }

    @property
    def model_label(self) -> str:
        return self.model or f"sft-studio/{self.policy}"


def parse_count(text: str, label: str, *, blank_ok: bool = False) -> int | None:
    """A whole number ≥ 1 (or None for a blank field when ``blank_ok``); ValueError with a reason."""
    raw = text.strip()
    if not raw:
        if blank_ok:
            return None
        raise ValueError(f"{label} is required.")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{label} must be a whole number (got {raw!r}).") from None
    if value < 1:
        raise ValueError(f"{label} must be at least 1 (got {value}).")
    return value


def parse_form(values: Mapping[str, str]) -> tuple[CollectRequest | None, dict[str, str]]:
    """The request, or None and a reason per field that is wrong."""
    errors: dict[str, str] = {}
    policy = values.get("policy", "teacher")
    if policy not in POLICIES:
        errors["policy"] = f"Unknown policy {policy!r}: choose teacher, random or openai."
    model = values.get("model", "").strip() or None
    url = values.get("url", "").strip() or None
    if policy == "openai":
        if model is None:
            errors["model"] = "Required for openai: the model name the server serves."
        if url is None:
            errors["url"] = "Required for openai, e.g. https://api.groq.com/openai"
        elif not url.startswith(("http://", "https://")):
            errors["url"] = f"Must start with http:// or https:// (got {cap_echo(mask_url(url))!r})."
    else:
        url = None
    seeds = (0, 0)
    try:
        seeds = parse_seed_range(values.get("seeds", ""))
    except SeedRangeError as exc:
        errors["seeds"] = str(exc)
    counts: dict[str, int | None] = {}
    for key, label, blank_ok in (
        ("episodes", "Episodes", True),
        ("max_turns", "Max turns", False),
        ("concurrency", "Concurrency", False),
    ):
        try:
            counts[key] = parse_count(values.get(key, ""), label, blank_ok=blank_ok)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        return None, errors
    max_turns, concurrency = counts["max_turns"], counts["concurrency"]
    assert max_turns is not None and concurrency is not None
    request = CollectRequest(
        policy=policy,
        model=model,
        inference_url=url,
        seeds=seeds,
        episodes=counts["episodes"],
        max_turns=max_turns,
        concurrency=concurrency,
    )
    return request, {}


class PolicyChoice(RadioSet, inherit_bindings=False):
    """A radio row where the arrow keys pick (no separate confirm) and Enter is left to the form."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,up", "pick(-1)", "Previous policy", show=False),
        Binding("right,down", "pick(1)", "Next policy", show=False),
        Binding("space", "toggle_button", "Pick", show=False),
    ]

    def action_pick(self, step: int) -> None:
        if step < 0:
            self.action_previous_button()
        else:
            self.action_next_button()
        self.action_toggle_button()


class CollectForm(ModalScreen[CollectRequest | None]):
    """Policy, model, URL, seeds, episodes, max turns, concurrency; Enter starts, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("enter", "submit", "Start", show=False),
    ]

    DEFAULT_CSS = (
        dialog_css("CollectForm", width=96)
        + """
    CollectForm #collect-into {
        color: $text-muted;
        margin-bottom: 1;
    }
    CollectForm .field-label {
        width: 16;
        text-style: bold;
        padding-top: 0;
    }
    CollectForm PolicyChoice {
        layout: horizontal;
        width: 1fr;
        height: 1;
    }
    CollectForm PolicyChoice > RadioButton {
        width: auto;
        margin-right: 3;
    }
    CollectForm #collect-keys {
        color: $text-muted;
    }
    """
    )

    def __init__(self, db_path: Path, initial: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.values = {**DEFAULTS, **(initial or {})}
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="collect-dialog") as dialog:
            dialog.border_title = "Collect rollouts"
            yield Static(
                Content.assemble("Episodes are recorded into ", (str(self.db_path), "bold $text-primary")),
                id="collect-into",
            )
            with Horizontal(classes="field"):
                yield Label("Policy", classes="field-label")
                with Vertical(classes="field-body"):
                    with PolicyChoice(id="collect-policy", compact=True):
                        for policy in POLICIES:
                            yield RadioButton(policy, value=policy == self.values["policy"], id=f"policy-{policy}")
                    yield Static(id="hint-policy", classes="hint", markup=False)
            for key, label, _ in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label, classes="field-label")
                    with Vertical(classes="field-body"):
                        yield Input(self.values[key], id=f"collect-{key}", compact=True, select_on_focus=False)
                        yield Static(id=f"hint-{key}", classes="hint", markup=False)
            yield Static(
                Content.assemble(
                    ("Tab", "bold $text-accent"),
                    " next field  ·  ",
                    ("← →", "bold $text-accent"),
                    " pick the policy  ·  ",
                    ("Enter", "bold $text-accent"),
                    " start  ·  ",
                    ("Escape", "bold $text-accent"),
                    " cancel",
                ),
                id="collect-keys",
            )

    def on_mount(self) -> None:
        self._sync()
        self.query_one(PolicyChoice).focus()

    # ------------------------------------------------------------------------------------ reading

    @property
    def policy(self) -> str:
        pressed = self.query_one(PolicyChoice).pressed_button
        return str(pressed.label) if pressed is not None else "teacher"

    def field_values(self) -> dict[str, str]:
        values = {"policy": self.policy}
        for key, _, _ in FIELDS:
            values[key] = self.query_one(f"#collect-{key}", Input).value
        return values

    # ----------------------------------------------------------------------------------- updating

    @on(RadioSet.Changed)
    def _policy_changed(self) -> None:
        self._sync()

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("collect-")
        self.errors.pop(key, None)
        if key == "seeds":
            self.errors.pop("episodes", None)
        self._sync()

    def _sync(self) -> None:
        """Placeholders, the URL field's state, and each field's hint or error."""
        policy = self.policy
        model = self.query_one("#collect-model", Input)
        url = self.query_one("#collect-url", Input)
        openai = policy == "openai"
        model.placeholder = "e.g. qwen/qwen3-32b" if openai else f"sft-studio/{policy}"
        url.disabled = not openai
        url.placeholder = "e.g. https://api.groq.com/openai" if openai else "(openai only)"
        hints = {
            "policy": POLICY_HINTS.get(policy, ""),
            "model": "required: the model name the server serves"
            if openai
            else f"blank = sft-studio/{policy} (the name recorded in the traces)",
            "episodes": self._episodes_hint(),
        }
        for key, _, hint in FIELDS:
            hints.setdefault(key, hint)
        for key, hint in hints.items():
            widget = self.query_one(f"#hint-{key}", Static)
            error = self.errors.get(key)
            widget.update(error or hint)
            widget.set_class(error is not None, "-error")

    def _episodes_hint(self) -> str:
        try:
            start, end = parse_seed_range(self.query_one("#collect-seeds", Input).value)
        except SeedRangeError:
            return "blank = one per seed"
        n = end - start + 1
        return f"blank = one per seed ({n:,}); more wraps around the seeds again"

    # ------------------------------------------------------------------------------------ actions

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        request, errors = parse_form(self.field_values())
        self.errors = errors
        self._sync()
        if request is None:
            first = next(key for key in ("policy", *(k for k, _, _ in FIELDS)) if key in errors)
            target = self.query_one(PolicyChoice) if first == "policy" else self.query_one(f"#collect-{first}", Input)
            target.focus()
            return
        self.dismiss(request)

    def action_cancel(self) -> None:
        self.dismiss(None)

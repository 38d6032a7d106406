"""What one eval runs with: :class:`EvalSettings`, built from CLI flags, an eval TOML, or the Eval pane.

Default seeds are 10000-10049: disjoint from the demo DB's teacher seeds (0-119) and from every seed
range the docs use for collecting training data (0-49, 1000-1299), so a model fine-tuned on the demo
DB is never scored, by default, on worlds it was trained on. ``seeds`` in a TOML or ``--seeds`` beat
``num_episodes`` (which means seeds 1..N, as synth-ai's run_eval.py plays them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from services.rollouts.seeds import SeedRangeError, parse_seed_range

PolicyChoice = Literal["openai", "teacher", "random"]
BackendChoice = Literal["local"]

DEFAULT_SEEDS: tuple[int, int] = (10000, 10049)
DEFAULT_MAX_TURNS = 50
DEFAULT_CONCURRENCY = 8


class EvalError(Exception):
    """An eval cannot start or had to stop; the message is for the user."""


def seeds_from_spec(text: str) -> list[int]:
    """``"10000-10049"`` or ``"7"`` -> the seeds; the shared seed-range rule's messages on bad text."""
    try:
        start, end = parse_seed_range(text)
    except SeedRangeError as exc:
        raise EvalError(str(exc)) from None
    return list(range(start, end + 1))


def default_seeds() -> list[int]:
    return list(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1))


class EvalSettings(BaseModel):
    """One eval. ``model`` names what is evaluated (default ``sft-studio/<policy>`` for local policies)."""

    model: str | None = None
    policy: PolicyChoice = "openai"
    #: OpenAI-compatible base URL (a trailing /v1 or /v1/chat/completions is accepted).
    inference_url: str | None = None
    #: ``local``: the local training backend's /v1 and key (resolved before the eval starts).
    backend: BackendChoice | None = None
    #: Name of the environment variable holding the API key; None: chosen by URL (OPENAI_API_KEY, ...).
    api_key_env: str | None = None
    #: A key handed over directly (the local backend's); never written to results.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    seeds: list[int] = Field(default_factory=default_seeds)
    max_turns: int = DEFAULT_MAX_TURNS
    concurrency: int = DEFAULT_CONCURRENCY
    temperature: float = 0.2
    max_tokens: int = 512
    top_p: float | None = None
    #: Qwen3 thinking: "think" / "no_think" (run_eval.py's thinking_mode); None leaves the server default.
    thinking_mode: str | None = None
    thinking_budget: int | None = None
    #: Recorded only: world generation ignores difficulty (as in synth-ai's task app).
    difficulty: str = "easy"
    #: The task app's policy name in task-app mode (run_eval.py's policy_name).
    task_policy_name: str = "crafter-react"
    trace_db: Path | None = None
    task_app_url: str | None = None
    #: Seconds one inference call may take before it is retried.
    timeout_s: float = 60.0

    @field_validator("seeds")
    @classmethod
    def _seeds_ok(cls, seeds: list[int]) -> list[int]:
        if not seeds:
            raise ValueError("give at least one seed")
        if any(s < 0 for s in seeds):
            raise ValueError("seeds must be whole numbers of 0 or more")
        return list(dict.fromkeys(seeds))  # a seed twice would count one world twice

    @field_validator("concurrency")
    @classmethod
    def _concurrency_ok(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"concurrency must be at least 1 (got {value})")
        return value

    @field_validator("max_turns")
    @classmethod
    def _turns_ok(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"max turns must be at least 1 (got {value})")
        return value

    @field_validator("max_tokens")
    @classmethod
    def _tokens_ok(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"max_tokens must be at least 1 (got {value})")
        return value

    def model_name(self) -> str:
        if self.model:
            return self.model
        if self.policy == "openai":
            raise EvalError("Name the model to evaluate (--model), or choose --policy teacher or random.")
        return f"sft-studio/{self.policy}"

    def mode(self) -> str:
        return "task-app" if self.task_app_url else "in-process"


def build_settings(values: dict[str, Any]) -> EvalSettings:
    """EvalSettings from plain values; every validation problem as one EvalError sentence per field."""
    try:
        return EvalSettings(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise EvalError("Invalid eval settings: " + "; ".join(problems)) from None

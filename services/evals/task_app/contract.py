"""The ``POST /rollout`` request as grpo-crafter clients send it, read leniently (extra keys allowed).

Field names and defaults are synth-ai 0.2.10's (``synth_ai.task.contracts`` and the legacy
``synth_envs_hosted/rollout.py``); what each means for our app is in ``rollout.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class EnvSpec(_Lenient):
    env_id: str | None = None
    env_name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None


class PolicySpec(_Lenient):
    policy_id: str | None = None
    policy_name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class RecordSpec(_Lenient):
    trajectories: bool = True
    logprobs: bool = False
    value: bool = False
    return_trace: bool = False
    trace_format: str = "compact"


class SafetySpec(_Lenient):
    max_ops: int = 100000
    max_time_s: float = 3600.0


class RolloutRequest(_Lenient):
    run_id: str
    env: EnvSpec
    policy: PolicySpec
    #: Strings or ``{"type": ...}``; aliases policy/model = agent, environment/step = env.
    ops: list[Any] = Field(default_factory=list)
    record: RecordSpec = Field(default_factory=RecordSpec)
    on_done: str = "reset"
    safety: SafetySpec = Field(default_factory=SafetySpec)
    training_session_id: str | None = None
    synth_base_url: str | None = None
    mode: str | None = None


class RolloutRejected(Exception):
    """The request cannot be run as asked (answered 422 with this message, or ``status``)."""

    def __init__(self, message: str, *, code: str = "invalid_rollout_request", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def normalise_op(value: Any, index: int) -> str:
    """``agent`` or ``env`` (grpo-crafter's aliases); :class:`RolloutRejected` for anything else."""
    candidate: Any = None
    if isinstance(value, str):
        candidate = value
    elif isinstance(value, dict):
        candidate = value.get("type") or value.get("op")
    if not candidate:
        raise RolloutRejected(f"Missing op type at index {index}")
    lowered = str(candidate).strip().lower()
    if lowered in {"policy", "agent", "model"}:
        return "agent"
    if lowered in {"env", "environment", "step"}:
        return "env"
    raise RolloutRejected(f"Unsupported op type {candidate!r} at index {index}: use agent or env")

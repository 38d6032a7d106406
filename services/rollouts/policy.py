"""The one interface every Crafter policy implements (scripted teacher, random, HTTP LLM).

The collector only sees this: it asks for a decision on a prompt and records the answer's call
record as a synth-ai ``cais`` event, whoever produced it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel


class PolicyError(Exception):
    """A policy cannot run at all (bad URL, 401, unknown model): said before any episode starts."""


class PolicyDecision(BaseModel):
    """One decision: what to execute, and the record of how it was obtained."""

    #: Valid Crafter action names to execute, 1-8; ["noop"] when the answer had none usable.
    actions: list[str]
    #: False when the model did not produce a usable tool call (counted; the episode goes on).
    tool_call_ok: bool = True
    #: False when no answer of the model came back at all (e.g. a 200 holding no assistant message):
    #: an episode made only of such decisions is not recorded (it is not the model's play).
    reached_model: bool = True
    #: Why the answer was not (fully) usable, e.g. "no tool call" or "unknown actions dropped: fly".
    problem: str | None = None
    #: synth-ai call record (services.traces.records.call_record_from_chat).
    call_record: dict[str, Any]
    model_name: str
    provider: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: int = 0


@runtime_checkable
class Policy(Protocol):
    model_name: str
    provider: str

    async def preflight(self) -> None:
        """Raise PolicyError with a user-facing message if decisions cannot work (e.g. 401)."""

    async def decide(self, system_prompt: str, user_text: str) -> PolicyDecision:
        """Answer one prompt. Must not raise for a bad answer: return tool_call_ok=False instead."""

    async def aclose(self) -> None:
        """Release connections."""

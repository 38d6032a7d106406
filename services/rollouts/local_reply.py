"""How a local policy answers: its chosen actions wrapped as an ``interact_many`` chat completion and
a synth-ai call record, so the traces of the teacher and the random policy have a vendor model's shape."""

from __future__ import annotations

import time
import uuid

from services.crafter.prompt import TOOL_NAME
from services.rollouts.policy import PolicyDecision
from services.traces.records import call_record_from_chat, chat_tool_response

PROVIDER = "local"


def local_decision(
    model_name: str, system_prompt: str, user_text: str, actions: list[str], started: float, problem: str | None = None
) -> PolicyDecision:
    """The decision for ``actions``, timed from ``started`` (a ``time.perf_counter()`` value)."""
    latency_ms = int((time.perf_counter() - started) * 1000)
    response = chat_tool_response(
        model_name=model_name,
        tool_name=TOOL_NAME,
        arguments={"actions": actions},
        call_id=f"call_{uuid.uuid4().hex[:12]}",
        total_tokens=None,
    )
    record = call_record_from_chat(
        model_name=model_name,
        provider=PROVIDER,
        system_prompt=system_prompt,
        user_text=user_text,
        response=response,
        latency_ms=latency_ms,
    )
    return PolicyDecision(
        actions=actions,
        problem=problem,
        call_record=record,
        model_name=model_name,
        provider=PROVIDER,
        latency_ms=latency_ms,
    )

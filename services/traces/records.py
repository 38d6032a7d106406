"""Row contents in the shapes synth-ai 0.2.10's Crafter task app writes (trace_db.md §4).

The collector and the test fixtures both build their episodes here, so a trace we write reads
exactly like a vendor trace: same call-record fields, same metadata keys, same reward rows.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from services.traces.achievement_keys import KeyStyle
from services.traces.writer import EventReward, Outcome

#: Every field of synth-ai's call record; those we do not fill stay null, as in real DBs.
_CALL_RECORD_FIELDS = (
    "call_id", "api_type", "provider", "model_name", "schema_version", "started_at", "completed_at",
    "latency_ms", "request_params", "input_messages", "input_text", "tool_choice", "output_messages",
    "outputs", "output_text", "output_tool_calls", "usage", "finish_reason", "choice_index",
    "tool_results", "chunks", "request_raw_json", "response_raw_json", "span_id", "trace_id",
    "provider_request_id", "request_server_timing", "token_traces", "safety", "refusal", "redactions",
    "metadata", "outcome", "error",
)  # fmt: skip


def _text_message(role: str, text: str) -> dict[str, Any]:
    return {
        "role": role,
        "parts": [{"type": "text", "text": text, "uri": None, "data": None}],
        "name": None,
        "tool_call_id": None,
        "metadata": {},
    }


def chat_tool_response(
    *,
    model_name: str,
    tool_name: str,
    arguments: dict[str, Any],
    call_id: str,
    total_tokens: int | None,
    content: str | None = None,
) -> dict[str, Any]:
    """An OpenAI chat.completion answer holding one tool call (what a local policy "returns")."""
    arguments_json = json.dumps(arguments, separators=(",", ":"))
    return {
        "id": f"chatcmpl-{call_id}",
        "object": "chat.completion",
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": [
                        {"id": call_id, "type": "function",
                         "function": {"name": tool_name, "arguments": arguments_json}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"total_tokens": total_tokens},
    }  # fmt: skip


def _output_tool_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    choices = response.get("choices") or []
    message = (choices[0].get("message") if choices and isinstance(choices[0], dict) else None) or {}
    for index, call in enumerate(message.get("tool_calls") or []):
        if not isinstance(call, dict):
            continue
        function = call.get("function") or {}
        arguments = function.get("arguments")
        out.append(
            {"name": function.get("name"),
             "arguments_json": arguments if isinstance(arguments, str) else json.dumps(arguments),
             "arguments": None, "call_id": call.get("id"), "index": index, "parent_call_id": None,
             "metadata": {}}
        )  # fmt: skip
    return out


def call_record_from_chat(
    *,
    model_name: str,
    provider: str,
    system_prompt: str,
    user_text: str,
    response: dict[str, Any],
    latency_ms: int,
    request_params: dict[str, Any] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """synth-ai's call record for one chat-completions call, from the request and the raw answer.

    ``output_text`` is the assistant's text when non-empty, otherwise the whole response as JSON cut
    to 2000 characters plus an ellipsis — exactly what the 0.2.10 task app stores.
    """
    choices = response.get("choices") or []
    message = (choices[0].get("message") if choices and isinstance(choices[0], dict) else None) or {}
    text = message.get("content") if isinstance(message.get("content"), str) else ""
    output_text = text or json.dumps(response, separators=(",", ":"))
    if len(output_text) > 2000:
        output_text = output_text[:2000] + "…"
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    record: dict[str, Any] = dict.fromkeys(_CALL_RECORD_FIELDS)
    record.update(
        call_id=str(uuid.uuid4()),
        api_type="chat_completions",
        provider=provider,
        model_name=model_name,
        schema_version="1.0",
        latency_ms=latency_ms,
        request_params=request_params or {"raw_params": {"model": model_name}},
        input_messages=[_text_message("system", system_prompt), _text_message("user", user_text)],
        tool_choice="auto",
        output_text=output_text,
        output_tool_calls=_output_tool_calls(response),
        usage={"input_tokens": None, "output_tokens": None, "total_tokens": (usage or {}).get("total_tokens")},
        metadata={"has_tools": True, "num_tools": 1},
        outcome="error" if error else "success",
        error=error,
    )
    return record


def tool_call_record(
    *,
    model_name: str,
    provider: str,
    system_prompt: str,
    user_text: str,
    tool_name: str,
    arguments: dict[str, Any],
    latency_ms: int,
    total_tokens: int | None,
    call_id: str | None = None,
    assistant_text: str = "",
    temperature: float = 0.2,
    max_tokens: int = 512,
) -> dict[str, Any]:
    """One call record whose answer is a single tool call (fixtures and local policies)."""
    call_id = call_id or f"call_{uuid.uuid4().hex[:12]}"
    response = chat_tool_response(
        model_name=model_name,
        tool_name=tool_name,
        arguments=arguments,
        call_id=call_id,
        total_tokens=total_tokens,
        content=assistant_text or None,
    )
    record = call_record_from_chat(
        model_name=model_name,
        provider=provider,
        system_prompt=system_prompt,
        user_text=user_text,
        response=response,
        latency_ms=latency_ms,
        request_params={"temperature": temperature, "max_tokens": max_tokens, "raw_params": {"model": model_name}},
    )
    record["call_id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, call_id))
    return record


def lm_event_metadata(turn: int, run_id: str, policy_id: str) -> dict[str, Any]:
    return {
        "policy_id": policy_id,
        "turn": turn,
        "run_id": run_id,
        "step_id": f"decision_{turn}",
        "enriched": True,
        "hook_version": "1.0",
    }


def env_event_metadata(turn: int, run_id: str) -> dict[str, Any]:
    return {
        "turn": turn,
        "run_id": run_id,
        "op_index": 1,
        "step_id": f"decision_{turn}",
        "enriched": True,
        "hook_version": "1.0",
    }


def achievement_rewards(
    turned_true: list[str], new_unique: list[str], style: KeyStyle = KeyStyle.TASK_APP
) -> list[EventReward]:
    """The achievement rows of one decision: always achievement_delta, unique delta when > 0."""
    ref = style is KeyStyle.REFERENCE
    rows = [
        EventReward(
            reward_type="achievement_delta",
            value=float(len(turned_true)),
            annotation={("turned_true" if ref else "achievements"): list(turned_true)},
        )
    ]
    if new_unique:
        rows.append(
            EventReward(
                reward_type="unique_achievement_delta",
                value=float(len(new_unique)),
                annotation={("new_unique" if ref else "achievements"): list(new_unique)},
            )
        )
    return rows


def episode_outcome(
    final_achievements: list[str],
    total_steps: int,
    *,
    env_id: str,
    policy_id: str,
    seed: int,
    style: KeyStyle = KeyStyle.TASK_APP,
) -> Outcome:
    """The outcome row: return = number of unique achievements, as the task app scores it."""
    key = "achievements" if style is KeyStyle.REFERENCE else "final_achievements"
    return Outcome(
        total_reward=float(len(final_achievements)),
        achievements_count=len(final_achievements),
        total_steps=total_steps,
        reward_metadata={"env_id": env_id, "policy_id": policy_id, "env_seed": seed,
                         key: list(final_achievements)},
    )  # fmt: skip

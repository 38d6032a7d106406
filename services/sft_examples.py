"""Turning trace rows into chat-format SFT examples, exactly as synth-ai's export_trace_sft.py does.

Byte-identical output is the contract (tests/test_export_parity.py runs the 0.2.10 script), so
this module follows the reference's rules to the letter (shared/reference/trace_db.md §8.3):
which parts become content, when a message or record is dropped, how tool calls are normalised,
how turns are numbered. Two deliberate differences, both where the reference crashes or aborts:
a record whose output JSON is not an object is skipped and counted (the reference raises), and
list content (images, several text parts) is kept as OpenAI-style segments (the reference's own
validator aborts the whole export on it; synth-ai's upload validator accepts it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

#: (session_id, turn) -> {"unique": [...], "all": [...]} (lists: duplicates survive, as in the reference)
AchievementMap = dict[tuple[str, int], dict[str, list[str]]]


@dataclass
class ExampleCounters:
    """What was skipped while building, for the user (the reference skips silently)."""

    non_object_output: int = 0
    bad_turn: int = 0
    bad_call_records: int = 0
    image_examples: int = 0
    per_model: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def strict_loads(text: str) -> Any:
    """json.loads, via orjson when it can (3x faster on call records); raises ValueError alike.

    orjson refuses a few inputs json accepts (NaN, lone surrogates, ints over 64 bits): those fall
    back to json.loads, so the parsed value, and the export's bytes, never depend on which ran.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return strict_loads(value)
    except (TypeError, ValueError):
        return None


def collect_content(parts: Iterable[Any] | None) -> tuple[Any, bool]:
    """Message parts -> (content, has_image): one text part is a plain string, else segments."""
    if not parts:
        return "", False
    segments: list[dict[str, Any]] = []
    has_image = False
    for part in parts:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str):
                segments.append({"type": "text", "text": text})
        elif kind == "image":
            url = _image_data_url(part)
            if url:
                has_image = True
                segments.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "image_url":
            image_url = part.get("image_url", {})
            url = image_url.get("url") if isinstance(image_url, dict) else None
            if isinstance(url, str) and url:
                has_image = True
                segments.append({"type": "image_url", "image_url": {"url": url}})
    if not segments:
        return "", False
    if not has_image and len(segments) == 1 and segments[0]["type"] == "text":
        return segments[0]["text"], False
    return segments, has_image


def _image_data_url(part: dict[str, Any]) -> str | None:
    uri = part.get("uri")
    if isinstance(uri, str) and uri.startswith("data:"):
        return uri
    source = part.get("data") or part.get("source")
    if isinstance(source, dict):
        data = source.get("data")
        media_type = source.get("media_type") or part.get("mime_type") or "image/png"
        if isinstance(data, str) and data:
            return f"data:{media_type};base64,{data}"
    return None


def _output_content(content: Any) -> tuple[Any, bool]:
    if isinstance(content, list):
        return collect_content(content)
    if isinstance(content, str):
        return content, False
    if content is None:
        return "", False
    return str(content), False


def normalise_tool_calls(tool_calls: Any) -> list[dict[str, Any]]:
    """OpenAI tool calls with string ids, names and JSON-string arguments (reference rules)."""
    out: list[dict[str, Any]] = []
    if not tool_calls:
        return out
    for index, call in enumerate(tool_calls):
        if not isinstance(call, dict):
            continue
        function = call.get("function") if isinstance(call.get("function"), dict) else None
        name = call.get("name") or (function.get("name") if function else None) or "tool"
        if function is not None and "arguments" in function:
            args = function.get("arguments")
        else:
            args = call.get("arguments")
            if args is None:
                raw = call.get("arguments_json")
                if isinstance(raw, str):
                    try:
                        args = json.loads(raw)
                    except ValueError:
                        args = raw
        if isinstance(args, dict | list):
            text = json.dumps(args, ensure_ascii=False)
        elif isinstance(args, str):
            text = args
        elif args is None:
            text = "{}"
        else:
            text = str(args)
        call_id = call.get("id") or call.get("call_id") or f"call_{index}"
        out.append({"id": str(call_id), "type": "function", "function": {"name": str(name), "arguments": text}})
    return out


def _turn_of(metadata: Any, session_id: str, counters: dict[str, int]) -> int | None:
    """metadata.turn, else turn_<k> from step_id, else a per-session counter (None: skip the row)."""
    meta = metadata if isinstance(metadata, dict) else {}
    turn = meta.get("turn")
    if turn is None:
        step_id = meta.get("step_id")
        if isinstance(step_id, str) and step_id.startswith("turn_"):
            try:
                turn = int(step_id.split("_", 1)[1])
            except (ValueError, IndexError):
                turn = None
    if turn is None:
        turn = counters[session_id]
        counters[session_id] = turn + 1
        return int(turn)
    try:
        turn = int(turn)
    except (TypeError, ValueError):
        return None
    counters[session_id] = max(counters[session_id], turn + 1)
    return int(turn)


def build_examples(
    rows: Iterable[tuple[str, Any, str | None, str | None, Any]],
    sessions: set[str],
    achievements: AchievementMap,
    *,
    allowed_models: set[str] | None,
    limit: int | None,
    counters: ExampleCounters,
) -> Iterator[dict[str, Any]]:
    """Yield examples from ``(session_id, metadata, model, provider, call_records)`` rows, in order."""
    cumulative: dict[str, int] = defaultdict(int)
    turn_counters: dict[str, int] = defaultdict(int)
    emitted = 0
    for session_id, metadata_text, model, provider, records_text in rows:
        if session_id not in sessions:
            continue
        if allowed_models and model not in allowed_models:
            continue
        turn = _turn_of(_loads(metadata_text), session_id, turn_counters)
        if turn is None:
            counters.bad_turn += 1
            continue
        records = _loads(records_text)
        if not isinstance(records, list) or not records:
            counters.bad_call_records += 1
            continue
        for record in records:
            example = _example(record, counters)
            if example is None:
                continue
            messages, user_image, assistant_image = example
            achieved = achievements.get((session_id, turn), {"unique": [], "all": []})
            cumulative[session_id] += len(achieved.get("unique", []))
            if user_image or assistant_image:
                counters.image_examples += 1
            counters.per_model[str(model)] += 1
            yield {
                "messages": messages,
                "metadata": {
                    "session_id": session_id,
                    "turn": turn,
                    "model": model,
                    "provider": provider or "unknown",
                    "achievements": {
                        "new_unique": achieved.get("unique", []),
                        "turned_true": achieved.get("all", []),
                        "cumulative_unique": cumulative[session_id],
                    },
                    "user_has_image": user_image,
                    "assistant_has_image": assistant_image,
                    "has_image": user_image or assistant_image,
                },
            }
            emitted += 1
            if limit is not None and emitted >= limit:
                return


def _example(record: Any, counters: ExampleCounters) -> tuple[list[dict[str, Any]], bool, bool] | None:
    if not isinstance(record, dict):
        counters.bad_call_records += 1
        return None
    messages: list[dict[str, Any]] = []
    user_image = False
    for message in record.get("input_messages") or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role", "unknown")
        content, has_image = collect_content(message.get("parts"))
        if (content == "" or content is None) and not has_image:
            continue
        if has_image and role == "user":
            user_image = True
        messages.append({"role": role, "content": content})

    content_value: Any = ""
    assistant_image = False
    tool_calls: list[dict[str, Any]] = []
    output_text = record.get("output_text")
    parsed: Any = None
    if isinstance(output_text, str) and output_text:
        try:
            parsed = strict_loads(output_text)
        except ValueError:
            parsed = None
    if parsed:
        if not isinstance(parsed, dict):
            counters.non_object_output += 1  # the reference crashes here (AttributeError)
            return None
        choices = parsed.get("choices") or []
        if choices:
            first = choices[0] if isinstance(choices, list) else None
            message = (first.get("message") if isinstance(first, dict) else None) or {}
            if isinstance(message, dict):
                content_value, assistant_image = _output_content(message.get("content"))
                tool_calls = normalise_tool_calls(message.get("tool_calls"))
    if not tool_calls:
        tool_calls = normalise_tool_calls(record.get("output_tool_calls"))
    assistant: dict[str, Any] = {"role": "assistant", "content": content_value}
    if tool_calls:
        assistant["tool_calls"] = tool_calls
    if assistant["content"] in ("", None) and not tool_calls:
        return None
    messages.append(assistant)
    if len(messages) < 2:
        return None
    return messages, user_image, assistant_image

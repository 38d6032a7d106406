"""Turning trace rows into chat-format SFT examples, exactly as synth-ai's export_trace_sft.py does.

Byte-identical output is the contract (tests/services/datasets/test_export_parity.py runs the 0.2.10 script), so
this module follows the reference's rules to the letter (shared/reference/trace_db.md §8.3):
which parts become content, when a message or record is dropped, how tool calls are normalised,
how turns are numbered. Where the reference crashes we skip and count instead: a record whose
output JSON is not an object, a record that is not an object, a non-list ``input_messages``/
``parts``/``tool_calls``, a turn that int() refuses. List content (images, several text parts) is
kept as OpenAI-style segments (the reference's own check aborts the whole export on it; synth-ai's
upload validator accepts it).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Container, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from services.traces import skipped as reasons

#: (session_id, turn) -> (new_unique list, turned_true list); lists: duplicates survive, as in the reference.
#: A pair of lists rather than a dict: 128k turns of a 10k-session DB take half the memory.
AchievementMap = dict[tuple[str, int], tuple[list[Any], list[Any]]]

#: One LM event as the exporter reads it: (session_id, metadata, model_name, provider, call_records).
Row = tuple[str, Any, "str | None", "str | None", Any]

_NO_ACHIEVEMENTS: tuple[list[Any], list[Any]] = ([], [])
#: The C encoder behind json.dumps(obj, ensure_ascii=False), built once (same bytes as json.dump).
_encode = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class ExampleCounters:
    """What was skipped while building, for the user (the reference skips silently or crashes)."""

    non_object_output: int = 0  # output_text JSON that is not an object (the reference crashes)
    bad_turn: int = 0  # metadata.turn that int() refuses (the reference skips the row)
    bad_call_records: int = 0  # call_records not a non-empty JSON list, or a record not an object
    not_utf8: int = 0  # text that cannot be written as UTF-8 (lone surrogates; the reference crashes)
    no_assistant_output: int = 0  # a record without output text or tool calls (the reference drops it too)
    no_prompt: int = 0  # a record without any prompt message (the reference drops it too)
    bad_metadata: int = 0  # degraded: LM event metadata not a JSON object, so turns are numbered by position
    image_examples: int = 0
    per_model: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    #: The counters that are reasons (``services.traces.skipped``), in the order they are shown.
    REASONS = (
        ("non_object_output", reasons.OUTPUT_NOT_OBJECT),
        ("bad_turn", reasons.TURN_NOT_INTEGER),
        ("bad_call_records", reasons.BAD_CALL_RECORDS),
        ("not_utf8", reasons.NOT_UTF8),
        ("no_assistant_output", reasons.NO_ASSISTANT_OUTPUT),
        ("no_prompt", reasons.NO_PROMPT),
        ("bad_metadata", reasons.EVENT_METADATA_NOT_OBJECT),
    )

    def skipped(self) -> dict[str, int]:
        """Reason -> count, for the reasons that occurred."""
        counts = {reason: getattr(self, name) for name, reason in self.REASONS}
        return {k: v for k, v in counts.items() if v}


def strict_loads(text: str | bytes) -> Any:
    """json.loads, via orjson when it can (3x faster on call records); raises ValueError alike.

    orjson refuses a few inputs json accepts (NaN, Infinity, lone surrogates): those fall back to
    json.loads. One value differs: an integer beyond 64 bits comes back as a float. Callers that
    write values out check for that (``build_examples`` re-parses such rows with json.loads).
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _loads(value: Any, exact: bool = False) -> Any:
    """Parsed JSON, or None for NULL or anything unparsable (the reference's ``_parse_json``)."""
    if value is None:
        return None
    try:
        return json.loads(value) if exact else strict_loads(value)
    except (TypeError, ValueError, RecursionError):
        return None


def collect_content(parts: Any) -> tuple[Any, bool]:
    """Message parts -> (content, has_image): one text part is a plain string, else segments."""
    if not parts or not isinstance(parts, Iterable):
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
    if not tool_calls or not isinstance(tool_calls, Iterable):
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
                    except (ValueError, RecursionError):
                        args = raw
        if isinstance(args, dict | list):
            text = _encode(args)
        elif isinstance(args, str):
            text = args
        elif args is None:
            text = "{}"
        else:
            text = str(args)
        call_id = call.get("id") or call.get("call_id") or f"call_{index}"
        out.append({"id": str(call_id), "type": "function", "function": {"name": str(name), "arguments": text}})
    return out


def _turn_of(meta: Any, session_id: str, counters: dict[str, int]) -> int | None:
    """metadata.turn, else turn_<k> from step_id, else a per-session counter (None: skip the row)."""
    if not isinstance(meta, dict):
        meta = {}
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
    except (TypeError, ValueError, OverflowError):
        return None
    counters[session_id] = max(counters[session_id], turn + 1)
    return turn


def _metadata(text: Any, counters: ExampleCounters) -> Any:
    """An LM event's metadata; text that is not a JSON object is counted (``bad_metadata``): the
    reference reads it as {} too, numbering the turn by position."""
    meta = _loads(text)
    if isinstance(meta, dict):
        if isinstance(meta.get("turn"), float):
            meta = _loads(text, exact=True)  # orjson turns an int beyond 64 bits into a float
    elif text is not None:
        counters.bad_metadata += 1
    return meta


def build_examples(
    rows: Iterable[Row],
    sessions: Container[str] | None,
    achievements: AchievementMap,
    *,
    allowed_models: set[str] | None,
    limit: int | None,
    counters: ExampleCounters,
) -> Generator[tuple[dict[str, Any], bytes], None, None]:
    """Yield ``(record, line)`` per example, in the reference's order; ``line`` is the record as
    json.dump writes it (no newline), encoded as UTF-8 (``_line``).

    ``rows`` must come ordered by session_id, id. ``sessions=None`` takes every row (the caller
    already selected them in SQL).
    """
    cumulative: dict[str, int] = defaultdict(int)
    turn_counters: dict[str, int] = defaultdict(int)
    per_model = counters.per_model
    emitted = 0
    for session_id, metadata_text, model, provider, records_text in rows:
        if sessions is not None and session_id not in sessions:
            continue
        if allowed_models and model not in allowed_models:
            continue
        turn = _turn_of(_metadata(metadata_text, counters), session_id, turn_counters)
        if turn is None:
            counters.bad_turn += 1
            continue
        records = _loads(records_text)
        if not isinstance(records, list) or not records:
            counters.bad_call_records += 1
            continue
        exact: list[Any] | None = None
        achieved = achievements.get((session_id, turn), _NO_ACHIEVEMENTS)
        unique = achieved[0]
        for index, record in enumerate(records):
            example = _example(record, counters)
            if example is None:
                continue
            out = _record(example, session_id, turn, model, provider, achieved, cumulative[session_id] + len(unique))
            text = _line(out) or _utf8(out)
            if text is not None and b"e+" in text:
                # A float printed in exponent form: maybe an integer beyond 64 bits that orjson read
                # as a float. Rebuild this record from json.loads, which keeps it an integer.
                if exact is None:
                    exact = _loads(records_text, exact=True)
                redone = _example(exact[index], ExampleCounters(), exact=True) if isinstance(exact, list) else None
                if redone is not None:  # always, in fact: both parsers give the same structure
                    example = redone
                    out = _record(
                        example, session_id, turn, model, provider, achieved, cumulative[session_id] + len(unique)
                    )
                    text = _line(out) or _utf8(out)
            if text is None:  # a lone surrogate (from a JSON escape): cannot be written as UTF-8
                counters.not_utf8 += 1
                continue
            cumulative[session_id] += len(unique)
            if example[1] or example[2]:
                counters.image_examples += 1
            per_model[str(model)] += 1
            yield out, text
            emitted += 1
            if limit is not None and emitted >= limit:
                return


_dumps = orjson.dumps
_OrjsonError = orjson.JSONEncodeError


class _Unusual(Exception):
    """A record ``_line`` does not know the shape of: the general path writes it."""


def _utf8(out: dict[str, Any]) -> bytes | None:
    """What json.dump writes for ``out``, as UTF-8 (the general path); None when it cannot be
    written as UTF-8."""
    try:
        return _encode(out).encode("utf-8")
    except UnicodeEncodeError:
        return None


def _value(value: Any) -> bytes:
    """One JSON value as json.dumps(ensure_ascii=False) writes it, UTF-8: a string through orjson
    (the same escapes, checked for every code point by tests/services/datasets/test_export_lines.py),
    anything else through the stdlib encoder."""
    kind = type(value)
    if kind is str:
        return _dumps(value)
    if kind is int:
        return str(value).encode()  # int.__repr__, as the stdlib encoder writes it
    if value is None:
        return b"null"
    return _encode(value).encode("utf-8")


def _strings(values: list[Any]) -> bytes:
    return b"[" + b", ".join([_value(v) for v in values]) + b"]"


def _message(message: dict[str, Any]) -> bytes:
    """A message as ``_example`` builds it: role, content and, for the assistant, normalised tool
    calls (every field a string)."""
    head = b'{"role": ' + _value(message["role"]) + b', "content": ' + _value(message["content"])
    calls = message.get("tool_calls")
    if len(message) != (2 if calls is None else 3):
        raise _Unusual
    if calls is None:
        return head + b"}"
    return (
        head
        + b', "tool_calls": ['
        + b", ".join(
            [
                b'{"id": '
                + _dumps(call["id"])
                + b', "type": "function", "function": {"name": '
                + _dumps(call["function"]["name"])
                + b', "arguments": '
                + _dumps(call["function"]["arguments"])
                + b"}}"
                for call in calls
            ]
        )
        + b"]}"
    )


def _line(out: dict[str, Any]) -> bytes | None:
    """``_record``'s dict as ``_encode(out).encode("utf-8")`` gives it, without the stdlib encoder's
    per-call cost: the structure is fixed, so only the values are encoded. None when a value is one
    orjson refuses (a lone surrogate: the general path counts it) or the record does not have the
    shape ``_record`` gives (``_message``'s keys); the caller then takes the general path."""
    meta = out["metadata"]
    achievements = meta["achievements"]
    try:
        messages = b", ".join([_message(m) for m in out["messages"]])
        return (
            b'{"messages": ['
            + messages
            + b'], "metadata": {"session_id": '
            + _value(meta["session_id"])
            + b', "turn": '
            + _value(meta["turn"])
            + b', "model": '
            + _value(meta["model"])
            + b', "provider": '
            + _value(meta["provider"])
            + b', "achievements": {"new_unique": '
            + _strings(achievements["new_unique"])
            + b', "turned_true": '
            + _strings(achievements["turned_true"])
            + b', "cumulative_unique": '
            + _value(achievements["cumulative_unique"])
            + (b'}, "user_has_image": true' if meta["user_has_image"] else b'}, "user_has_image": false')
            + (b', "assistant_has_image": true' if meta["assistant_has_image"] else b', "assistant_has_image": false')
            + (b', "has_image": true}}' if meta["has_image"] else b', "has_image": false}}')
        )
    except (_OrjsonError, UnicodeEncodeError, _Unusual):
        return None


def _record(
    example: tuple[list[dict[str, Any]], bool, bool],
    session_id: str,
    turn: int,
    model: str | None,
    provider: str | None,
    achieved: tuple[list[Any], list[Any]],
    cumulative: int,
) -> dict[str, Any]:
    messages, user_image, assistant_image = example
    return {
        "messages": messages,
        "metadata": {
            "session_id": session_id,
            "turn": turn,
            "model": model,
            "provider": provider or "unknown",
            "achievements": {
                "new_unique": achieved[0],
                "turned_true": achieved[1],
                "cumulative_unique": cumulative,
            },
            "user_has_image": user_image,
            "assistant_has_image": assistant_image,
            "has_image": user_image or assistant_image,
        },
    }


def _example(
    record: Any, counters: ExampleCounters, *, exact: bool = False
) -> tuple[list[dict[str, Any]], bool, bool] | None:
    """One call record -> (messages, user_has_image, assistant_has_image), or None when skipped."""
    if not isinstance(record, dict):
        counters.bad_call_records += 1
        return None
    messages: list[dict[str, Any]] = []
    user_image = False
    inputs = record.get("input_messages")
    for message in inputs if isinstance(inputs, list) else ():
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
            parsed = json.loads(output_text) if exact else strict_loads(output_text)
        except (ValueError, RecursionError):
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
    if (content_value == "" or content_value is None) and not tool_calls:
        counters.no_assistant_output += 1
        return None
    messages.append(assistant)
    if len(messages) < 2:
        counters.no_prompt += 1
        return None
    return messages, user_image, assistant_image

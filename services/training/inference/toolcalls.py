"""Reading OpenAI ``tool_calls`` out of a model's generated text.

Qwen-style chat templates (ours included) render a call as
``<tool_call>{"name": NAME, "arguments": ARGS}</tool_call>``; an OpenAI client wants
``choices[0].message.tool_calls`` with ``arguments`` as a JSON *string*. We accept a block closed by
``</tool_call>``, by ``<|im_end|>`` or by the end of the text (a model cut off by ``max_tokens`` or
one that forgot the closing tag), and a bare ``{"name": ..., "arguments": ...}`` answer without tags.

The project's lenient Crafter action reader (services/crafter/action_text.py) is used only where the
model clearly meant a call: inside a ``<tool_call>`` block whose JSON is broken, when the request
offered the ``interact_many`` tool. Plain prose stays ``content``: turning it into a call here would
make the client count it as a valid tool call (the policy client reads actions from text itself and
counts those decisions as failed calls).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.crafter.action_text import actions_from_text
from services.crafter.prompt import TOOL_NAME

#: Markers a decoder may leave in the text; they end the answer or are noise around it.
STOP_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>")
_PAD_MARKERS = ("<|pad|>",)
_BLOCK_RE = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_THINK_RE = re.compile(r"<think>.*?</think>", re.S)


@dataclass
class ParsedAnswer:
    """What the generated text says: free text and/or tool calls in the OpenAI shape."""

    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def clean_text(text: str) -> str:
    """The answer up to the first stop marker, without padding markers."""
    for marker in STOP_MARKERS:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    for marker in _PAD_MARKERS:
        text = text.replace(marker, "")
    return text


def _call(name: str, arguments: Any) -> dict[str, Any]:
    """One OpenAI tool call; ``arguments`` is kept verbatim when it is already a JSON string."""
    if isinstance(arguments, str):
        args_text = arguments
    else:
        args_text = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    function = {"name": name, "arguments": args_text}
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function}


def _call_from_obj(obj: Any) -> dict[str, Any] | None:
    """A call from ``{"name", "arguments"|"parameters"}`` (also nested under ``function``), or None."""
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict) and "name" not in obj:
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            json.loads(args)
        except ValueError:
            return None
    elif not isinstance(args, dict):
        return None
    return _call(name.strip(), args)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def parse_answer(text: str, tool_names: Iterable[str] = ()) -> ParsedAnswer:
    """Split generated ``text`` into content and tool calls.

    ``tool_names`` are the tools the request offered; with none offered (or ``tool_choice`` "none",
    which the caller passes as no names) everything is content. Never raises.
    """
    text = clean_text(text)
    names = set(tool_names)
    if not names:
        return ParsedAnswer(content=text.strip() or None)
    calls: list[dict[str, Any]] = []
    leftover: list[str] = []
    last = 0
    for match in _BLOCK_RE.finditer(text):
        body = match.group(1).strip()
        call = _call_from_obj(_loads(body))
        if call is None and TOOL_NAME in names:
            actions = actions_from_text(body)
            if actions:
                call = _call(TOOL_NAME, {"actions": actions})
        if call is None:
            continue  # junk inside the tags: kept as content below
        leftover.append(text[last : match.start()])
        last = match.end()
        calls.append(call)
    leftover.append(text[last:])
    if not calls:
        bare = _THINK_RE.sub("", text).strip()
        call = _call_from_obj(_loads(bare)) if bare.startswith("{") else None
        if call is not None:
            return ParsedAnswer(content=None, tool_calls=[call])
        return ParsedAnswer(content=text.strip() or None)
    content = "".join(leftover).strip()
    return ParsedAnswer(content=content or None, tool_calls=calls)

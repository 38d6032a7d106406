"""Reading Crafter actions out of a model's plain text when it did not call the tool.

A lenient fallback (JSON with "actions", bracket lists, bullet lists, snake_case action names);
the decision is still counted as a failed tool call.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.crafter.facts import ACTIONS
from services.crafter.prompt import MAX_ACTIONS, TOOL_NAME, actions_from_tool_calls, normalise_action

# --------------------------------------------------------------------------------------------
# Lenient reading of answers without a usable tool call

_THINK_RE = re.compile(r"<think>.*?</think>", re.S | re.I)
_BRACKET_RE = re.compile(r"\[([^\[\]]{1,600})\]")
_BULLET_RE = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s*")
_SNAKE_RE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\bnoop\b")
_MAX_JSON_STARTS = 64


def _actions_from_obj(obj: Any) -> list[str]:
    if isinstance(obj, list):
        for item in obj:
            found = _actions_from_obj(item)
            if found:
                return found
        return []
    if not isinstance(obj, dict):
        return []
    if "tool_calls" in obj and isinstance(obj["tool_calls"], list):
        return actions_from_tool_calls(obj["tool_calls"])[0]
    if "actions" in obj or "action" in obj:
        return actions_from_tool_calls([{"function": {"name": TOOL_NAME, "arguments": obj}}])[0]
    for key in ("arguments", "parameters", "args", "input"):
        if key in obj:
            return actions_from_tool_calls([{"function": {"name": obj.get("name"), "arguments": obj[key]}}])[0]
    if isinstance(obj.get("function"), dict):
        return _actions_from_obj(obj["function"])
    return []


def _json_values(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    values: list[Any] = []
    starts = [m.start() for m in re.finditer(r"\{", text)][:_MAX_JSON_STARTS]
    end = -1
    for start in starts:
        if start < end:
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        values.append(value)
    return values


def _strip_item(item: str) -> str:
    return item.strip().strip("`'\"*").strip()


def actions_from_text(text: str | None) -> list[str]:
    """Actions read leniently from an answer's text; ``[]`` when nothing looks like actions.

    Tried in order: a JSON object with ``actions`` (or a ``{"name", "arguments"}`` tool call, as in
    ``<tool_call>`` tags); a bracketed list whose items are all actions; bullet/numbered or
    comma-separated lines made only of actions; finally canonical snake_case action names anywhere
    (``move_left``, ``place_table``; bare ``do``/``sleep`` in prose are too ambiguous). Reasoning in
    ``<think>`` blocks is ignored. At most MAX_ACTIONS are returned.
    """
    if not text:
        return []
    text = _THINK_RE.sub(" ", text)
    if "</think>" in text.lower():
        text = re.split(r"</think>", text, flags=re.I)[-1]
    for value in _json_values(text):
        found = _actions_from_obj(value)
        if found:
            return found[:MAX_ACTIONS]
    for match in _BRACKET_RE.finditer(text):
        items = [_strip_item(i) for i in match.group(1).split(",")]
        normed = [normalise_action(i) for i in items if i]
        if normed and all(a is not None for a in normed):
            return [a for a in normed if a is not None][:MAX_ACTIONS]
    listed: list[str] = []
    for line in text.splitlines():
        body = _strip_item(_BULLET_RE.sub("", line)).rstrip(".;")
        if not body:
            continue
        parts = [_strip_item(p) for p in re.split(r"[,;]|\s+then\s+|\s*->\s*", body)]
        normed = [normalise_action(p) for p in parts if p]
        if normed and all(a is not None for a in normed):
            listed.extend(a for a in normed if a is not None)
    if listed:
        return listed[:MAX_ACTIONS]
    named = [m.group(0) for m in _SNAKE_RE.finditer(text.lower()) if m.group(0) in ACTIONS]
    return named[:MAX_ACTIONS]

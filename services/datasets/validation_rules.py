"""The two dataset checks' rules, record by record (``services.datasets.validation`` has the file-level
check and its report). Stdlib and orjson only: the export's part worker checks every example it
writes and must start quickly (pydantic's import alone cost it ~0.1 s).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

MAX_ISSUES = 20
EXPORT_FAILURE_HEADER = "Validation error while exporting dataset:"

# --------------------------------------------------------------------------------------------------
# 1. The exporter's pre-write check


def export_problem(record: Any, *, allow_segments: bool = True) -> str | None:
    """The first problem of one example in the reference exporter's words (without "row N: ").

    ``allow_segments=False`` is the reference exactly (list content is "content not string").
    """
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages:
        return "missing messages list"
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"message {index} is not an object"
        if "role" not in message or "content" not in message:
            return f"message {index} missing role/content"
        if not isinstance(message["role"], str):
            return f"message {index} role not string"
        content = message["content"]
        if not isinstance(content, str) and not (allow_segments and isinstance(content, list)):
            return f"message {index} content not string"
    return None


def export_row_problem(record: Any, row: int, *, allow_segments: bool = True) -> str | None:
    """``row N: <problem>`` for example ``row`` (1-based), as the reference lists it, or None."""
    problem = export_problem(record, allow_segments=allow_segments)
    return None if problem is None else f"row {row}: {problem}"


def export_problems(records: Iterable[Any], *, allow_segments: bool = True) -> list[str]:
    """The first problem of each example, at most 20, as the reference collects them."""
    problems: list[str] = []
    for row, record in enumerate(records, start=1):
        problem = export_row_problem(record, row, allow_segments=allow_segments)
        if problem is not None:
            problems.append(problem)
            if len(problems) >= MAX_ISSUES:
                break
    return problems


def export_failure_text(problems: Sequence[str]) -> str:
    """The reference's abort message (stderr, exit 1)."""
    return "\n - ".join([EXPORT_FAILURE_HEADER, *problems])


# --------------------------------------------------------------------------------------------------
# 2. synth-ai's upload validator


def _tool_call_issue(call: Any, index: int) -> str | None:
    if not isinstance(call, dict):
        return f"tool_call {index} is not an object"
    name: Any = None
    function = call.get("function")
    if isinstance(function, dict):
        name = function.get("name") if isinstance(function.get("name"), str) else None
    if name is None and isinstance(call.get("name"), str):
        name = call["name"]
    if not isinstance(name, str) or not name.strip():
        return f"tool_call {index} missing function name"
    return None


def _message_issue(message: Any, index: int) -> str | None:
    if not isinstance(message, dict):
        return f"message {index} is not an object"
    role = message.get("role")
    if not isinstance(role, str) or not role.strip():
        return f"message {index} has invalid role"
    content = message.get("content")
    if content is not None and not isinstance(content, str | list | dict):
        return f"message {index} has unsupported content type {type(content).__name__}"
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            return f"message {index} tool_calls must be a list"
        for n, call in enumerate(tool_calls):
            issue = _tool_call_issue(call, n)
            if issue is not None:
                return issue
    for key in ("name", "reasoning", "raw_content"):
        value = message.get(key)
        if value is not None and not isinstance(value, str):
            return f"message {index} {key} must be a string if present"
    return None


def _tool_issue(tool: Any, index: int) -> str | None:
    if not isinstance(tool, dict):
        return f"tool {index} is not an object"
    name = tool.get("name")
    if not isinstance(name, str) or not name.strip():
        return f"tool {index} missing name"
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        return f"tool {index} description must be a string if present"
    parameters = tool.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return f"tool {index} parameters must be an object if present"
    return None


def upload_issue(record: Any) -> str | None:
    """The first problem synth-ai's upload validator finds in one parsed record, or None."""
    if not isinstance(record, dict):
        return "record is not an object"
    messages = record.get("messages")
    # A string is a Sequence to the CLI: it passes as a list and fails per character.
    if not isinstance(messages, list | str):
        return "missing messages[] list"
    if len(messages) < 1:
        return "missing messages[] with at least 1 turns"
    for index, message in enumerate(messages):
        issue = _message_issue(message, index)
        if issue is not None:
            return issue
    tools = record.get("tools")
    if tools is not None:
        if not isinstance(tools, list | str):
            return "tools must be provided as a list when present"
        for index, tool in enumerate(tools):
            issue = _tool_issue(tool, index)
            if issue is not None:
                return issue
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be an object if present"
    return None


def line_issue(text: str) -> str | None:
    """The upload validator's verdict on one stripped, non-blank line."""
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError:
        record = None  # json.loads decides (it also takes NaN/Infinity) and words the error
    else:
        issue = upload_issue(record)
        if issue is None:
            return None
        # orjson reads integers beyond 64 bits as floats; json.loads words "unsupported content type" right.
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"invalid JSON ({exc.msg})"
    except RecursionError:
        return "invalid JSON (nested too deeply to read)"
    return upload_issue(record)

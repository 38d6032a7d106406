"""Reading a job's chat JSONL into the rows the trainer feeds TRL (no torch here).

The server already checked the upload with the CLI's rules; this reader is the trainer's own guard
(a job folder written by hand, a file changed since) and makes the rows uniform for Arrow: every
message becomes ``role`` + ``content`` (text; list content keeps its text parts) + ``tool_calls``
(``{"type", "function": {"name", "arguments"}}`` with ``arguments`` a JSON string, verbatim when it
already is one, so the chat template writes exactly what the exporter kept). The ``metadata``
column and anything else is dropped. A row without an assistant turn teaches nothing and is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DataError(Exception):
    """The training or validation file cannot be trained on; the message names the line."""


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    if isinstance(content, dict):
        return str(content.get("text", ""))
    raise ValueError(f"content of type {type(content).__name__}")


def _tool_call(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise ValueError("a tool call is not an object")
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("a tool call has no function name")
    args = function.get("arguments")
    text = args if isinstance(args, str) else json.dumps({} if args is None else args, ensure_ascii=False)
    return {"type": "function", "function": {"name": name, "arguments": text}}


def normalise_messages(messages: Any) -> list[dict[str, Any]]:
    """The uniform message list of one row; ValueError says what is wrong."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("missing messages[] list")
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or not message["role"]:
            raise ValueError(f"message {index} has no role")
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise ValueError(f"message {index}: tool_calls is not a list")
        out.append(
            {
                "role": message["role"],
                "content": _text(message.get("content")),
                "tool_calls": [_tool_call(c) for c in calls] or None,
            }
        )
    return out


def read_chat_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    """``([{"messages": [...]}, ...], skipped)`` from a chat JSONL; DataError on an unreadable row.

    ``skipped`` counts rows with no assistant turn. Blank lines are ignored, as the CLI does.
    """
    rows: list[dict[str, Any]] = []
    skipped = 0
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("record is not an object")
                    messages = normalise_messages(record.get("messages"))
                except ValueError as exc:
                    raise DataError(f"{path.name} line {number}: {exc}") from None
                if not any(m["role"] == "assistant" for m in messages):
                    skipped += 1
                    continue
                rows.append({"messages": messages})
        except UnicodeDecodeError:
            raise DataError(f"{path.name}: not UTF-8 text") from None
    if not rows:
        raise DataError(f"{path.name}: no example with an assistant turn to train on")
    return rows, skipped

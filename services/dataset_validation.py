"""The checks synth-ai's `train --type sft` CLI runs on a dataset before upload, same messages.

Running them right after every export (and as `sft-studio validate FILE`) means a file we write is
known to pass the backend's gate before anyone spends GPU money (synth_backend_api.md §4).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

MAX_ISSUES = 20


class ValidationReport(BaseModel):
    path: Path
    examples: int = 0
    issues: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def failure_text(self) -> str:
        """The CLI's failure block: header line, then one ' - Line N: …' per issue."""
        head = f"{self.path}: Dataset validation failed"
        head += " (showing first 20 issues):" if len(self.issues) >= MAX_ISSUES else ":"
        return "\n".join([head, *(f" - {issue}" for issue in self.issues)])


def _message_issue(message: Any, index: int) -> str | None:
    if not isinstance(message, dict):
        return f"message {index} is not an object"
    role = message.get("role")
    if not isinstance(role, str) or not role.strip():
        return f"message {index} missing role"
    content = message.get("content")
    if content is not None and not isinstance(content, str | list | dict):
        return f"message {index} has invalid content"
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            return f"message {index} tool_calls is not a list"
        for n, call in enumerate(tool_calls):
            if not isinstance(call, dict):
                return f"message {index} tool_call {n} is not an object"
            function = call.get("function")
            name = function.get("name") if isinstance(function, dict) else call.get("name")
            if not isinstance(name, str) or not name.strip():
                return f"tool_call {n} missing function name"
    for key in ("name", "reasoning", "raw_content"):
        if key in message and message[key] is not None and not isinstance(message[key], str):
            return f"message {index} {key} is not a string"
    return None


def record_issue(record: Any) -> str | None:
    """The first problem of one parsed record, or None."""
    if not isinstance(record, dict):
        return "record is not an object"
    messages = record.get("messages")
    if not isinstance(messages, list):
        return "missing messages[] list"
    if not messages:
        return "missing messages[] with at least 1 turns"
    for index, message in enumerate(messages):
        issue = _message_issue(message, index)
        if issue:
            return issue
    tools = record.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools is not a list"
        for n, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"].strip():
                return f"tool {n} missing name"
            if tool.get("description") is not None and not isinstance(tool["description"], str):
                return f"tool {n} description is not a string"
            if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
                return f"tool {n} parameters is not an object"
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata is not an object"
    return None


def validate_jsonl(path: Path) -> ValidationReport:
    """Check every non-blank line; stop after 20 issues; a file with none is an issue itself."""
    report = ValidationReport(path=path)
    try:
        fh = path.open(encoding="utf-8")
    except OSError as exc:
        report.issues.append(f"cannot read file: {exc.strerror or exc}")
        return report
    with fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            report.examples += 1
            try:
                record = json.loads(line)
            except ValueError as exc:
                issue: str | None = f"invalid JSON ({exc})"
            else:
                issue = record_issue(record)
            if issue:
                report.issues.append(f"Line {number}: {issue}")
                if len(report.issues) >= MAX_ISSUES:
                    break
    if report.examples == 0 and not report.issues:
        report.issues.append("File contains no SFT examples")
    return report

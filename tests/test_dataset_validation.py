"""The synth-ai train CLI's dataset checks, same messages; and `sft-studio validate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.dataset_validation import validate_jsonl
from tui.cli import main

CALL = {"id": "1", "type": "function", "function": {"name": "interact_many", "arguments": "{}"}}
OK = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}]}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "Line 1: invalid JSON ("),
        ("[1, 2]", "Line 1: record is not an object"),
        ('{"messages": "x"}', "Line 1: missing messages[] list"),
        ('{"messages": []}', "Line 1: missing messages[] with at least 1 turns"),
        ('{"messages": [{"role": "", "content": "x"}]}', "Line 1: message 0 missing role"),
        ('{"messages": [{"role": "user", "content": 5}]}', "Line 1: message 0 has invalid content"),
        ('{"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {}}]}]}',
         "Line 1: tool_call 0 missing function name"),
        ('{"messages": [{"role": "user", "content": "x"}], "metadata": 3}', "Line 1: metadata is not an object"),
    ],
)  # fmt: skip
def test_each_rule_has_its_message(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(line + "\n")
    report = validate_jsonl(path)
    assert not report.ok and report.issues[0].startswith(message)
    assert report.failure_text().startswith(f"{path}: Dataset validation failed:")


def test_roles_are_not_whitelisted_and_blank_lines_skip(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(OK) + "\n\n" + json.dumps({"messages": [{"role": "banana", "content": "x"}]}) + "\n")
    report = validate_jsonl(path)
    assert report.ok and report.examples == 2


def test_empty_file_and_issue_cap(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n \n")
    assert validate_jsonl(empty).issues == ["File contains no SFT examples"]
    many = tmp_path / "m.jsonl"
    many.write_text("[]\n" * 30)
    report = validate_jsonl(many)
    assert len(report.issues) == 20 and "(showing first 20 issues):" in report.failure_text()


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "g.jsonl"
    good.write_text(json.dumps(OK) + "\n")
    assert main(["validate", str(good)]) == 0
    assert "OK, 1 SFT example(s)" in capsys.readouterr().out
    bad = tmp_path / "b.jsonl"
    bad.write_text("{\n")
    assert main(["validate", str(bad)]) == 1
    assert "Dataset validation failed" in capsys.readouterr().err

"""Both dataset checks, every message: the exporter's pre-write check (export_trace_sft.py 0.2.10)
and synth-ai's upload validator (synth_ai.learning.sft.data, 0.2.23); and `sft-studio validate`.

The expected strings are the sources' own (see the module docstring of services/dataset_validation).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.datasets.validation import (
    export_failure_text,
    export_problems,
    export_row_problem,
    upload_issue,
    validate_jsonl,
)
from tui.cli import main

CALL = {"id": "1", "type": "function", "function": {"name": "interact_many", "arguments": "{}"}}
OK = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}]}

# --------------------------------------------------------------------------------------------------
# 1. The exporter's pre-write check


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({}, "row 3: missing messages list"),
        ({"messages": []}, "row 3: missing messages list"),
        ({"messages": "x"}, "row 3: missing messages list"),
        ({"messages": [{"role": "user", "content": "a"}, 5]}, "row 3: message 1 is not an object"),
        ({"messages": [{"role": "user"}]}, "row 3: message 0 missing role/content"),
        ({"messages": [{"content": "x"}]}, "row 3: message 0 missing role/content"),
        ({"messages": [{"role": None, "content": "x"}]}, "row 3: message 0 role not string"),
        ({"messages": [{"role": "user", "content": 5}]}, "row 3: message 0 content not string"),
        ({"messages": [{"role": "user", "content": None}]}, "row 3: message 0 content not string"),
        ({"messages": [{"role": "user", "content": {"a": 1}}]}, "row 3: message 0 content not string"),
        ({"messages": [{"role": "user", "content": "x"}]}, None),
    ],
)
def test_export_check_messages(record: dict[str, object], problem: str | None) -> None:
    assert export_row_problem(record, 3) == problem


def test_export_check_list_content_is_our_one_difference() -> None:
    segments = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]}
    assert export_row_problem(segments, 1) is None  # kept: synth-ai's upload validator accepts it
    assert export_row_problem(segments, 1, allow_segments=False) == "row 1: message 0 content not string"


def test_export_check_reports_first_problem_per_row_and_at_most_20() -> None:
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}
    bad = {"messages": [{"role": 1, "content": 2}]}
    problems = export_problems([good, bad] * 30)
    assert len(problems) == 20
    assert problems[:2] == ["row 2: message 0 role not string", "row 4: message 0 role not string"]
    assert export_failure_text(problems[:2]) == (
        "Validation error while exporting dataset:\n - row 2: message 0 role not string\n"
        " - row 4: message 0 role not string"
    )


# --------------------------------------------------------------------------------------------------
# 2. synth-ai's upload validator

TOOL_CALL_FN = {"role": "assistant", "content": "", "tool_calls": [{"function": {}}]}


@pytest.mark.parametrize(
    ("record", "issue"),
    [
        ([1, 2], "record is not an object"),
        ("x", "record is not an object"),
        ({}, "missing messages[] list"),
        ({"messages": {"role": "user"}}, "missing messages[] list"),
        ({"messages": 3}, "missing messages[] list"),
        ({"messages": []}, "missing messages[] with at least 1 turns"),
        ({"messages": ""}, "missing messages[] with at least 1 turns"),
        ({"messages": "x"}, "message 0 is not an object"),  # a string is a sequence to the CLI
        ({"messages": [OK["messages"][0], 7]}, "message 1 is not an object"),
        ({"messages": [{"content": "x"}]}, "message 0 has invalid role"),
        ({"messages": [{"role": " ", "content": "x"}]}, "message 0 has invalid role"),
        ({"messages": [{"role": 3, "content": "x"}]}, "message 0 has invalid role"),
        ({"messages": [{"role": "banana", "content": "x"}]}, None),  # no role whitelist
        ({"messages": [{"role": "user", "content": 5}]}, "message 0 has unsupported content type int"),
        ({"messages": [{"role": "user", "content": 1.5}]}, "message 0 has unsupported content type float"),
        ({"messages": [{"role": "user", "content": True}]}, "message 0 has unsupported content type bool"),
        ({"messages": [{"role": "user", "content": {"a": 1}}]}, None),
        ({"messages": [{"role": "user"}]}, None),  # content may be missing or null
        ({"messages": [{"role": "user", "content": "", "tool_calls": {}}]}, "message 0 tool_calls must be a list"),
        ({"messages": [{"role": "user", "content": "", "tool_calls": [3]}]}, "tool_call 0 is not an object"),
        ({"messages": [TOOL_CALL_FN]}, "tool_call 0 missing function name"),
        (
            {"messages": [{"role": "a", "tool_calls": [CALL, {"function": {"name": " "}, "name": "x"}]}]},
            "tool_call 1 missing function name",  # function.name wins even when blank
        ),
        ({"messages": [{"role": "a", "tool_calls": [{"function": {"name": 3}, "name": "ok"}]}]}, None),
        ({"messages": [{"role": "a", "tool_calls": [{"name": "ok"}]}]}, None),
        ({"messages": [{"role": "a", "content": "x", "name": 3}]}, "message 0 name must be a string if present"),
        ({"messages": [{"role": "a", "reasoning": []}]}, "message 0 reasoning must be a string if present"),
        ({"messages": [{"role": "a", "raw_content": {}}]}, "message 0 raw_content must be a string if present"),
        ({"messages": [{"role": "a", "tool_call_id": 5}]}, None),  # coerced, never an error
        ({**OK, "tools": {}}, "tools must be provided as a list when present"),
        ({**OK, "tools": "ab"}, "tool 0 is not an object"),
        ({**OK, "tools": [5]}, "tool 0 is not an object"),
        ({**OK, "tools": [{"name": ""}]}, "tool 0 missing name"),
        ({**OK, "tools": [{"name": "t", "description": 3}]}, "tool 0 description must be a string if present"),
        ({**OK, "tools": [{"name": "t", "parameters": []}]}, "tool 0 parameters must be an object if present"),
        ({**OK, "tools": None}, None),
        ({**OK, "metadata": 3}, "metadata must be an object if present"),
        ({**OK, "metadata": None}, None),
        (OK, None),
    ],
)
def test_upload_issue_messages(record: object, issue: str | None) -> None:
    assert upload_issue(record) == issue


def _check(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "d.jsonl"
    path.write_bytes(text.encode("utf-8"))
    return validate_jsonl(path).issues


def test_file_level_messages(tmp_path: Path) -> None:
    assert _check(tmp_path, "{not json\n") == [
        "Line 1: invalid JSON (Expecting property name enclosed in double quotes)"
    ]
    assert _check(tmp_path, json.dumps(OK) + "\n[1,]\n") == ["Line 2: invalid JSON (Expecting value)"]
    assert _check(tmp_path, "\ufeff" + json.dumps(OK) + "\n") == [
        "Line 1: invalid JSON (Unexpected UTF-8 BOM (decode using utf-8-sig))"
    ]
    assert _check(tmp_path, '{"messages": [{"role": "u", "content": NaN}]}\n') == [
        "Line 1: message 0 has unsupported content type float"  # json.loads reads NaN
    ]
    assert _check(tmp_path, '{"messages": [{"role": "u", "content": 123456789012345678901234567890}]}') == [
        "Line 1: message 0 has unsupported content type int"  # an integer beyond 64 bits stays an int
    ]
    assert _check(tmp_path, "\n \n\t\n") == ["File contains no SFT examples"]
    assert _check(tmp_path, "") == ["File contains no SFT examples"]


def test_line_numbers_count_blank_lines_and_every_newline_kind(tmp_path: Path) -> None:
    good = json.dumps(OK)
    assert _check(tmp_path, f"{good}\n\n[]\n") == ["Line 3: record is not an object"]
    assert _check(tmp_path, f"{good}\r\n[]\r\n") == ["Line 2: record is not an object"]
    assert _check(tmp_path, f"{good}\r[]\r{good}") == ["Line 2: record is not an object"]
    assert _check(tmp_path, f"{good}\r\r\n[]") == ["Line 3: record is not an object"]
    report = validate_jsonl(tmp_path / "d.jsonl")
    assert report.examples == 2


def test_stops_at_20_issues_with_the_cli_suffix(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("[]\n" * 30)
    report = validate_jsonl(path)
    assert len(report.issues) == 20 and report.issues[-1] == "Line 20: record is not an object"
    assert report.failure_text().splitlines()[0] == f"{path}: Dataset validation failed (showing first 20 issues):"
    path.write_text("[]\n" * 19 + json.dumps(OK) + "\n")
    assert validate_jsonl(path).failure_text() == "\n".join(
        [f"{path}: Dataset validation failed:", *(f" - Line {n}: record is not an object" for n in range(1, 20))]
    )


def test_unreadable_files(tmp_path: Path) -> None:
    assert validate_jsonl(tmp_path / "none.jsonl").issues == [f"Dataset not found: {tmp_path / 'none.jsonl'}"]
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(OK).encode() + b"\n" + b'{"messages": "\xe9"}\n')
    assert validate_jsonl(path).issues == ["Line 2: not UTF-8 text (byte 15 of the line)"]
    assert validate_jsonl(tmp_path).issues[0].startswith(f"Cannot read {tmp_path}")


# --------------------------------------------------------------------------------------------------
# 3. `sft-studio validate FILE`


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "g.jsonl"
    good.write_text(json.dumps(OK) + "\n\n" + json.dumps(OK) + "\n")
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK, 2 SFT example(s)\n"
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps(OK) + "\n{\n" + json.dumps({"messages": []}) + "\n")
    assert main(["validate", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"{bad}: Dataset validation failed:\n"
        " - Line 2: invalid JSON (Expecting property name enclosed in double quotes)\n"
        " - Line 3: missing messages[] with at least 1 turns\n"
    )

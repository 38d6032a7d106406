"""Tool calls read out of generated text (services/training/inference/toolcalls.py)."""

from __future__ import annotations

import json

import pytest

from services.training.inference.toolcalls import clean_text, parse_answer

TOOLS = ["interact_many"]


def _args(answer_call: dict) -> dict:  # type: ignore[type-arg]
    assert answer_call["type"] == "function"
    assert answer_call["id"].startswith("call_")
    text = answer_call["function"]["arguments"]
    assert isinstance(text, str)
    return json.loads(text)  # type: ignore[no-any-return]


def test_tagged_call_becomes_openai_tool_call_with_string_arguments() -> None:
    text = '<tool_call>{"name": "interact_many", "arguments": {"actions": ["move_left", "do"]}}</tool_call><|im_end|>'
    parsed = parse_answer(text, TOOLS)
    assert parsed.content is None
    assert len(parsed.tool_calls) == 1
    assert parsed.tool_calls[0]["function"]["name"] == "interact_many"
    assert _args(parsed.tool_calls[0]) == {"actions": ["move_left", "do"]}


def test_string_arguments_are_kept_verbatim() -> None:
    raw = '{"actions":["noop"]}'
    text = '<tool_call>{"name": "interact_many", "arguments": ' + json.dumps(raw) + "}</tool_call>"
    parsed = parse_answer(text, TOOLS)
    assert parsed.tool_calls[0]["function"]["arguments"] == raw


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "interact_many", "arguments": {"actions": ["do"]}}<|im_end|>junk after',
        '<tool_call>{"name": "interact_many", "arguments": {"actions": ["do"]}}',
        '  <tool_call>\n{"name": "interact_many", "parameters": {"actions": ["do"]}}\n</tool_call>',
        '{"name": "interact_many", "arguments": {"actions": ["do"]}}',
        '<think>hmm</think>{"name": "interact_many", "arguments": {"actions": ["do"]}}',
    ],
)
def test_unclosed_untagged_and_parameters_forms(text: str) -> None:
    parsed = parse_answer(text, TOOLS)
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["interact_many"]
    assert _args(parsed.tool_calls[0]) == {"actions": ["do"]}


def test_text_around_calls_is_content_and_several_calls_kept_in_order() -> None:
    text = (
        'Let me go.\n<tool_call>{"name": "a", "arguments": {}}</tool_call>\n'
        '<tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>'
    )
    parsed = parse_answer(text, ["a", "b"])
    assert parsed.content == "Let me go."
    assert [c["function"]["name"] for c in parsed.tool_calls] == ["a", "b"]
    assert len({c["id"] for c in parsed.tool_calls}) == 2


def test_broken_json_inside_tags_falls_back_to_the_action_reader() -> None:
    text = '<tool_call>{"name": "interact_many", "arguments": {"actions": ["move_left", "place_table"'
    parsed = parse_answer(text, TOOLS)
    assert _args(parsed.tool_calls[0]) == {"actions": ["move_left", "place_table"]}


def test_nameless_call_inside_tags_is_read_as_interact_many() -> None:
    parsed = parse_answer('<tool_call>{"arguments": {"actions": ["do"]}}</tool_call>', TOOLS)
    assert _args(parsed.tool_calls[0]) == {"actions": ["do"]}


def test_action_reader_only_when_interact_many_was_offered() -> None:
    text = '<tool_call>{"name": "interact_many", "arguments": {"actions": ["move_left"'
    parsed = parse_answer(text, ["other_tool"])
    assert parsed.tool_calls == []
    assert parsed.content == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "move_left then do",  # prose stays content: the client counts it as a failed call
        "<tool_call>not json at all</tool_call>",
        "<tool_call></tool_call>",
        '<tool_call>{"name": "interact_many", "arguments": "not json"}</tool_call>',
        '<tool_call>["interact_many"]</tool_call>',
        "{not json",
        '{"name": 3}',
        "\x00\xff<tool_call><tool_call>}}}}",
        "<|im_end|>",
        "<|pad|><|pad|>",
    ],
)
def test_junk_never_raises_and_gives_no_call(text: str) -> None:
    parsed = parse_answer(text, TOOLS)
    assert parsed.tool_calls == []
    assert parsed.content is None or isinstance(parsed.content, str)


def test_no_tools_offered_means_plain_content() -> None:
    text = '<tool_call>{"name": "interact_many", "arguments": {"actions": ["do"]}}</tool_call><|im_end|>'
    parsed = parse_answer(text, [])
    assert parsed.tool_calls == []
    assert parsed.content == text.replace("<|im_end|>", "")


def test_clean_text_cuts_at_stop_markers_and_drops_padding() -> None:
    assert clean_text("abc<|im_end|>def") == "abc"
    assert clean_text("a<|pad|>b<|endoftext|>c") == "ab"

"""The export's line encoder (``examples._line``) writes exactly what json.dumps(ensure_ascii=False)
writes (the reference's json.dump), or declines so the general path writes it."""

from __future__ import annotations

from typing import Any

import pytest

from services.datasets.examples import _encode, _line, _record, _value


def _reference(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


def test_strings_escape_every_code_point_as_json_does() -> None:
    """orjson and the stdlib escape the same characters the same way (controls, quote, backslash;
    nothing else, not even DEL or U+2028), so strings go through orjson."""
    for start in range(0, 0x110000, 256):
        text = "".join(chr(c) for c in range(start, start + 256) if not 0xD800 <= c <= 0xDFFF)
        assert _value(text) == _reference(text), hex(start)


@pytest.mark.parametrize(
    "value", [0, -7, 2**70, None, True, False, 1.5, 1e20, float("nan"), [1, "a", None], {"k": [1.0, {"x": "é"}]}]
)
def test_other_values_as_json_writes_them(value: Any) -> None:
    assert _value(value) == _reference(value)


def _out(messages: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    example = (messages, meta.pop("user_image", False), meta.pop("assistant_image", False))
    achieved = meta.pop("achieved", (["a", "b"], ["a"]))
    return _record(
        example, meta.pop("sid", "s-1"), meta.pop("turn", 3), meta.pop("model", "m"), meta.pop("provider", None),
        achieved, meta.pop("cumulative", 2),
    )  # fmt: skip


CALL = {"id": "call_0", "type": "function", "function": {"name": "act", "arguments": '{"a": [1, "é\\n"]}'}}
SEGMENTS = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]


@pytest.mark.parametrize(
    "out",
    [
        _out([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]),
        _out([{"role": "system", "content": "s\t\x01\u2028"}, {"role": "user", "content": "日本"},
              {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]}]),
        _out([{"role": 5, "content": SEGMENTS}, {"role": None, "content": "x"}], user_image=True, assistant_image=True),
        _out([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], model=None, sid="ü",
             achieved=([1, None, 2.5, {"n": 2**70}, "x"], []), turn=-1, cumulative=0),
        _out([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], achieved=([], []),
             user_image=True),
    ],
)  # fmt: skip
def test_lines_as_json_dump_writes_them(out: dict[str, Any]) -> None:
    assert _line(out) == _reference(out)


def test_declines_what_it_cannot_write() -> None:
    """A lone surrogate (orjson refuses; the exporter counts the record as not UTF-8) and a message
    of a shape ``_example`` never builds go to the general path."""
    assert _line(_out([{"role": "user", "content": "\ud800"}, {"role": "assistant", "content": "a"}])) is None
    extra = _out([{"role": "user", "content": "q", "name": "n"}, {"role": "assistant", "content": "a"}])
    assert _line(extra) is None

"""Seed ranges, parsed once for ``sft-studio collect --seeds`` and the collect form (same words in both)."""

from __future__ import annotations

import pytest

from services.rollouts.seeds import SeedRangeError, parse_seed_range
from tui.cli import main
from tui.panes.traces.collect_form import parse_form


@pytest.mark.parametrize(
    ("text", "seeds"), [("0-49", (0, 49)), (" 7 ", (7, 7)), ("3 - 5", (3, 5)), ("0", (0, 0)), ("4-4", (4, 4))]
)
def test_ranges(text: str, seeds: tuple[int, int]) -> None:
    assert parse_seed_range(text) == seeds


BAD = [
    ("", "Give a seed range START-END, e.g. 0-49."),
    ("  ", "Give a seed range START-END, e.g. 0-49."),
    ("a-b", "Seeds must look like START-END, e.g. 0-49 (got 'a-b')."),
    ("-3", "Seeds must look like START-END, e.g. 0-49 (got '-3')."),
    ("2--3", "Seeds must look like START-END, e.g. 0-49 (got '2--3')."),
    ("1-2-3", "Seeds must look like START-END, e.g. 0-49 (got '1-2-3')."),
    ("9-3", "The range 9-3 is empty: END must be at least START."),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_refused_with_the_forms_words(text: str, message: str) -> None:
    with pytest.raises(SeedRangeError) as info:
        parse_seed_range(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "message"), BAD)
def test_cli_and_form_refuse_alike(text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, errors = parse_form({"policy": "teacher", "seeds": text, "max_turns": "5", "concurrency": "1"})
    assert errors == {"seeds": message}
    with pytest.raises(SystemExit) as info:
        main(["collect", "--seeds", text])
    assert info.value.code == 2
    assert f"argument --seeds: {message}" in capsys.readouterr().err

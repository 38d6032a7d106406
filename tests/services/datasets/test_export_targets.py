"""Subset sizes and export file names, defined once for the exporter, the export dialog and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.datasets.export import export_sft
from services.datasets.export_targets import SizesError, export_targets, manifest_path, parse_sizes, subset_path
from services.datasets.filter_spec import FilterSpec
from services.traces.db import TraceDB


@pytest.mark.parametrize(
    ("text", "sizes"),
    [(None, []), ("", []), (" ", []), ("100", [100]), (" 500,100,100 ", [100, 500]), ("5,,2, 2,", [2, 5])],
)
def test_sizes_are_sorted_and_distinct(text: str | None, sizes: list[int]) -> None:
    assert parse_sizes(text) == sizes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10,x", "sizes takes whole numbers separated by commas, got 'x'"),
        ("10, 2.5", "sizes takes whole numbers separated by commas, got '2.5'"),
        ("3,0", "sizes values must be 1 or more, got 0"),
        ("-4", "sizes values must be 1 or more, got -4"),
    ],
)
def test_bad_sizes_name_the_bad_item(text: str, message: str) -> None:
    with pytest.raises(SizesError) as info:
        parse_sizes(text)
    assert str(info.value) == message
    with pytest.raises(SizesError, match=r"^--sizes "):
        parse_sizes(text, label="--sizes")


def test_names() -> None:
    out = Path("ft_data/x.jsonl")
    assert manifest_path(out) == Path("ft_data/x.manifest.json")
    assert subset_path(out, 100) == Path("ft_data/x.n100.jsonl")
    assert export_targets(out, [5, 50]) == [
        out,
        Path("ft_data/x.manifest.json"),
        Path("ft_data/x.n5.jsonl"),
        Path("ft_data/x.n5.manifest.json"),
        Path("ft_data/x.n50.jsonl"),
        Path("ft_data/x.n50.manifest.json"),
    ]


def test_the_exporter_writes_exactly_the_targets(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "d.jsonl"
    with TraceDB(ref_db) as db:
        result = export_sft(db, FilterSpec(limit=20), out, sizes=[10, 3])
    assert sorted(out.parent.iterdir()) == sorted(export_targets(out, [3, 10]))
    assert [result.manifest, *(s.path for s in result.subsets)] == [
        manifest_path(out),
        subset_path(out, 3),
        subset_path(out, 10),
    ]

"""Subset sizes and export file names, defined once for the exporter, the export dialog and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.datasets.export import ExportError, export_sft
from services.datasets.export_targets import (
    SizesError,
    check_sizes_fit,
    export_targets,
    manifest_path,
    parse_sizes,
    subset_path,
)
from services.datasets.filter_spec import FilterSpec
from services.traces.db import TraceDB
from tui.cli import main as cli_main


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


def test_sizes_larger_than_the_export_are_refused_before_any_file(ref_db: Path, tmp_path: Path) -> None:
    """Issue 10 #17 / 11 #13: ``--sizes 999999`` wrote ``*.n999999.jsonl`` holding every example.
    The export refuses, names the largest size that works, and leaves no file behind."""
    out = tmp_path / "out" / "d.jsonl"
    with TraceDB(ref_db) as db, pytest.raises(ExportError) as info:
        export_sft(db, FilterSpec(limit=20), out, sizes=[5, 20, 21, 999999])
    assert str(info.value) == (
        "Cannot write the subsets: subset sizes 21, 999,999 larger than the 20 examples this export holds: "
        "choose sizes up to 20 (the main file holds them all)."
    )
    assert not out.parent.exists() or sorted(p.name for p in out.parent.iterdir()) == []
    check_sizes_fit([1, 20], 20)  # equal to the count is fine: the subset holds what its name says


def test_cli_refuses_sizes_larger_than_the_export(
    ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.jsonl"
    code = cli_main(["export", "--db", str(ref_db), "--output", str(out), "--limit", "7", "--sizes", "5,999999"])
    err = capsys.readouterr().err
    assert code == 1
    assert "subset size 999,999 larger than the 7 examples this export holds: choose sizes up to 7" in err
    assert "No file was written." in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []

"""Export behaviour beyond parity: atomic writes, overwrite guard, manifest, subsets, our fixes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import services.sft_export as sft_export
from services.achievement_keys import KeyStyle
from services.dataset_validation import validate_jsonl
from services.filter_spec import FilterSpec
from services.sft_export import ExportError, export_sft, manifest_path, subset_path
from services.trace_db import TraceDB, TraceDBError
from services.trace_schema import Flavour
from services.trace_writer import TraceWriter
from tests.tracegen import build_db, make_episode


def _export(db: Path, out: Path, spec: FilterSpec | None = None, **kw):  # type: ignore[no-untyped-def]
    with TraceDB(db) as trace_db:
        return export_sft(trace_db, spec or FilterSpec(), out, **kw)


def test_manifest_describes_and_rebuilds_the_file(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = _export(ref_db, out, FilterSpec(min_unique=3, limit=20))
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["sha256"] == result.sha256 == sft_export.file_sha256(out)
    assert manifest["counts"]["examples"] == 20 == len(out.read_text().splitlines())
    assert manifest["source_db"]["sha256"] == sft_export.file_sha256(ref_db)
    assert manifest["token_estimate"] > 0 and "characters" in manifest["token_estimate_method"]
    again = tmp_path / "again.jsonl"
    _export(ref_db, again, FilterSpec.model_validate(manifest["filter"]))
    assert sft_export.file_sha256(again) == manifest["sha256"]
    assert result.validation.ok and result.validation.examples == 20


def test_existing_file_needs_force(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ExportError, match="already exists"):
        _export(ref_db, out)
    assert out.read_text() == "keep me\n"
    _export(ref_db, out, force=True)
    assert out.read_text() != "keep me\n"


def test_failure_midway_leaves_no_file(ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "d.jsonl"
    real = sft_export._AtomicFile.write
    calls = {"n": 0}

    def failing(self, line):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 10:
            raise OSError(28, "No space left on device")
        real(self, line)

    monkeypatch.setattr(sft_export._AtomicFile, "write", failing)
    with pytest.raises(OSError):
        _export(ref_db, out)
    assert list(tmp_path.iterdir()) == []


def test_no_match_leaves_no_file(ref_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"No sessions matched the provided filters\."):
        _export(ref_db, tmp_path / "d.jsonl", FilterSpec(models=["nobody"]))
    assert list(tmp_path.iterdir()) == []


def test_output_dir_not_writable(ref_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="Cannot create"):
        _export(ref_db, blocker / "d.jsonl")


def test_limit_zero_is_refused_not_one_example(ref_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="limit must be 1 or more"):
        _export(ref_db, tmp_path / "d.jsonl", FilterSpec(limit=0))


def test_size_subsets_are_prefixes_with_manifests(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = _export(ref_db, out, sizes=[5, 50, 100000])
    full = out.read_text().splitlines(keepends=True)
    for sub in result.subsets:
        lines = subset_path(out, sub.size).read_text().splitlines(keepends=True)
        assert lines == full[: sub.size]
        manifest = json.loads(sub.manifest.read_text())
        assert manifest["counts"]["examples"] == len(lines) == sub.examples
        assert manifest["first_n_examples"] == sub.size and manifest["subset_of"] == "d.jsonl"


def test_task_app_keys_are_noted(app_db: Path, tmp_path: Path) -> None:
    result = _export(app_db, tmp_path / "d.jsonl")
    assert any("task app's achievement keys" in n for n in result.notes)


def test_non_object_output_is_skipped_and_images_kept(tmp_path: Path) -> None:
    db = build_db(tmp_path / "t.db", sessions=2, decisions=3, style=KeyStyle.REFERENCE, quirks=False)
    ep = make_episode(random.Random(5), 77, decisions=2, style=KeyStyle.REFERENCE)
    assert ep.decisions[0].lm is not None and ep.decisions[1].lm is not None
    rec0 = ep.decisions[0].lm.call_records[0]  # type: ignore[index]
    rec0["output_text"] = "42"  # the reference crashes on this
    rec1 = ep.decisions[1].lm.call_records[0]  # type: ignore[index]
    rec1["input_messages"][1]["parts"].append({"type": "image", "uri": "data:image/png;base64,AAAA"})
    with TraceWriter(db) as w:
        w.write([ep])
    out = tmp_path / "d.jsonl"
    result = _export(db, out)
    assert result.skipped == {"non-object output JSON": 1}
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    images = [r for r in rows if r["metadata"]["has_image"]]
    assert len(images) == 1 and isinstance(images[0]["messages"][1]["content"], list)
    assert validate_jsonl(out).ok
    assert any("images" in n for n in result.notes)


def test_old_flavour_is_a_clear_error(tmp_path: Path) -> None:
    db = build_db(tmp_path / "old.db", sessions=2, decisions=2, flavour=Flavour.V0_2_3)
    with pytest.raises(TraceDBError, match=r"lacks events.call_records, event_rewards"):
        _export(db, tmp_path / "d.jsonl")

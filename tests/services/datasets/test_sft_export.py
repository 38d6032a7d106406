"""Export behaviour beyond byte parity: atomic writes, overwrite guard, manifest, subsets, the worker
process, old DB flavours, our fixes where the reference crashes or aborts, and the CLI around it."""

from __future__ import annotations

import errno
import gc
import json
import os
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import services.common.atomic as atomic
import services.datasets.export as sft_export
import services.datasets.export_part as sft_export_part
from services.datasets.export import (
    ExportError,
    ExportResult,
    ExportStopped,
    ExportValidationError,
    export_sft,
    file_sha256,
    manifest_path,
    subset_path,
)
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.datasets.selection import gc_paused
from services.traces.achievement_keys import KeyStyle
from services.traces.db import MissingSchemaError, TraceDB
from services.traces.schema import Flavour
from services.traces.writer import Episode, EventReward, TraceWriter
from tests.support.tracegen import build_db, make_episode
from tui.cli import main


def _export(db: Path, out: Path, spec: FilterSpec | None = None, **kw: Any) -> ExportResult:
    with TraceDB(db) as trace_db:
        return export_sft(trace_db, spec or FilterSpec(), out, **kw)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _episodes(n: int = 3, decisions: int = 3, seed: int = 0) -> list[Episode]:
    return [make_episode(random.Random(seed + i), i, decisions=decisions, style=KeyStyle.REFERENCE) for i in range(n)]


def _record(ep: Episode, decision: int = 0) -> dict[str, Any]:
    lm = ep.decisions[decision].lm
    assert lm is not None and isinstance(lm.call_records, list)
    record = lm.call_records[0]
    assert isinstance(record, dict)
    return record


def _db(path: Path, episodes: list[Episode], flavour: Flavour = Flavour.V0_2_10) -> Path:
    with TraceWriter(path, flavour=flavour) as writer:
        writer.write(episodes)
    return path


# --------------------------------------------------------------------------------------------------
# Manifest, subsets, atomicity


def test_manifest_describes_and_rebuilds_the_file(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    spec = FilterSpec(min_unique=3, event_rewards=[EventRewardFilter(reward_type="sparse", min_total=1)], limit=20)
    result = _export(ref_db, out, spec)
    manifest = json.loads(manifest_path(out).read_text())
    rows = _lines(out)
    assert manifest["file"] == "d.jsonl" and manifest["sha256"] == result.sha256 == file_sha256(out)
    assert manifest["bytes"] == out.stat().st_size == result.bytes
    assert manifest["counts"]["examples"] == 20 == len(rows) == result.examples
    assert manifest["counts"]["sessions"] == len({r["metadata"]["session_id"] for r in rows}) == result.sessions
    assert manifest["counts"]["per_model"] == dict(Counter(r["metadata"]["model"] for r in rows))
    source = manifest["source_db"]
    assert source["sha256"] == file_sha256(ref_db) and source["size_bytes"] == ref_db.stat().st_size
    assert source["path"] == str(ref_db.resolve()) and source["mtime"].endswith("+00:00")
    assert manifest["tool"] == "sft-studio 0.1.0" and manifest["created_at"].endswith("+00:00")
    assert manifest["token_estimate"] == result.token_estimate > 0 and "/ 4" not in manifest["token_estimate_method"]
    assert "divided by 4" in manifest["token_estimate_method"]
    assert manifest["upload_validation"] == {"ok": True, "issues": []}
    assert manifest["subset_of"] is None
    assert FilterSpec.model_validate(manifest["filter"]) == spec
    again = tmp_path / "again.jsonl"
    _export(ref_db, again, FilterSpec.model_validate(manifest["filter"]))
    assert file_sha256(again) == manifest["sha256"]


def test_token_estimate_counts_content_and_arguments(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = _export(ref_db, out, FilterSpec(limit=5))
    expected = 0
    for row in _lines(out):
        chars = sum(len(m["content"]) for m in row["messages"])
        chars += sum(len(c["function"]["arguments"]) for m in row["messages"] for c in m.get("tool_calls", []))
        expected += -(-chars // 4)
    assert result.token_estimate == expected


def test_size_subsets_are_prefixes_with_their_own_manifests(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = _export(ref_db, out, sizes=[50, 5])
    full = out.read_bytes().splitlines(keepends=True)
    assert [s.size for s in result.subsets] == [5, 50]
    for sub in result.subsets:
        path = subset_path(out, sub.size)
        assert path.name == f"d.n{sub.size}.jsonl" and sub.path == path
        lines = path.read_bytes().splitlines(keepends=True)
        assert lines == full[: sub.size]
        manifest = json.loads(manifest_path(path).read_text())
        rows = [json.loads(line) for line in lines]
        assert manifest["counts"]["examples"] == len(lines) == sub.examples
        assert manifest["counts"]["sessions"] == len({r["metadata"]["session_id"] for r in rows}) == sub.sessions
        assert manifest["counts"]["per_model"] == dict(Counter(r["metadata"]["model"] for r in rows))
        assert manifest["sha256"] == file_sha256(path) == sub.sha256
        assert manifest["subset_of"] == {"file": "d.jsonl", "first_n_examples": sub.size}
        rebuilt = tmp_path / f"rebuilt{sub.size}.jsonl"
        _export(ref_db, rebuilt, FilterSpec.model_validate(manifest["filter"]))
        assert rebuilt.read_bytes() == path.read_bytes()
    assert manifest_path(out).exists() and len(full) == result.examples


def test_existing_files_need_force(ref_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ExportError, match=r"d\.jsonl already exists; pass --force to overwrite it\."):
        _export(ref_db, out)
    assert out.read_text() == "keep me\n" and _leftovers(tmp_path) == ["d.jsonl"]
    out.unlink()
    manifest_path(out).write_text("{}")  # any file the export would replace counts
    with pytest.raises(ExportError, match=r"d\.manifest\.json already exists"):
        _export(ref_db, out)
    _export(ref_db, out, force=True)
    assert out.read_text() != "keep me\n" and json.loads(manifest_path(out).read_text())["file"] == "d.jsonl"


def test_files_get_the_umask_permissions_not_mkstemp_0600(ref_db: Path, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        _export(ref_db, tmp_path / "d.jsonl", FilterSpec(limit=3))
    finally:
        os.umask(old)
    assert (tmp_path / "d.jsonl").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d.manifest.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failure_midway_leaves_no_file(
    ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, workers: int
) -> None:
    """Writing fails (or the user interrupts) after some lines: no target, no temp file remains."""
    out = tmp_path / "d.jsonl"
    out.write_text("old\n")
    real = sft_export_part._inspect
    calls = {"n": 0}

    def failing(record: dict[str, Any]) -> tuple[int, bool, bool]:
        calls["n"] += 1
        if calls["n"] > 40:
            raise failure
        return real(record)

    monkeypatch.setattr(sft_export_part, "_inspect", failing)
    monkeypatch.setattr(sft_export_part, "_CHUNK", 2000)  # flush every line or so: some bytes were written
    with pytest.raises(type(failure)):
        _export(ref_db, out, sizes=[5], workers=workers, force=True)
    assert _leftovers(tmp_path) == ["d.jsonl"] and out.read_text() == "old\n"


def test_write_error_leaves_no_file(ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sft_export.AtomicFile.write
    calls = {"n": 0}

    def failing(self: Any, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(28, "No space left on device")
        real(self, data)

    monkeypatch.setattr(sft_export_part, "_CHUNK", 2000)
    monkeypatch.setattr(sft_export.AtomicFile, "write", failing)
    with pytest.raises(OSError, match="No space left"):
        _export(ref_db, tmp_path / "d.jsonl")
    assert _leftovers(tmp_path) == []


def test_full_disk_at_close_leaves_no_temp(ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The final flush fails and so does the buffered close: every temp file still goes."""
    real_fdopen = os.fdopen

    class FullAtClose:
        def __init__(self, real: Any) -> None:
            self.real, self.closed = real, False

        def write(self, data: bytes) -> int:
            return len(data)

        def flush(self) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self) -> int:
            return int(self.real.fileno())

        def close(self) -> None:
            self.real.close()
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: FullAtClose(real_fdopen(fd, *a, **k)))
    out = tmp_path / "d.jsonl"
    out.write_text("old\n")
    with pytest.raises(OSError, match="No space left"):
        _export(ref_db, out, sizes=[3], force=True)
    assert _leftovers(tmp_path) == ["d.jsonl"] and out.read_text() == "old\n"


def test_stop_request_leaves_no_file(ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sft_export_part, "_CHECK_EVERY", 1)
    with pytest.raises(ExportStopped, match="no file was written"):
        _export(ref_db, tmp_path / "d.jsonl", should_stop=lambda: True)
    assert _leftovers(tmp_path) == []


def test_output_path_problems_are_clear(ref_db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match=r"Cannot create the folder .*file.*a file is in the way|part of that path"):
        _export(ref_db, blocker / "sub" / "d.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(ExportError, match=r"dir\.jsonl is a folder"):
        _export(ref_db, tmp_path / "dir.jsonl")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(ExportError, match=r"Cannot write into .*locked: permission denied"):
            _export(ref_db, locked / "d.jsonl")


def test_progress_reaches_every_session(ref_db: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    examples: list[tuple[int, int]] = []
    result = _export(ref_db, tmp_path / "d.jsonl", session_progress=lambda d, t: seen.append((d, t)),
                     progress=lambda d, t: examples.append((d, t)))  # fmt: skip
    assert seen[-1][0] == seen[-1][1] == result.sessions
    assert examples[-1][0] == result.examples


def test_invalid_filters_and_sizes_are_refused(ref_db: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="--limit must be 1 or more"):
        _export(ref_db, tmp_path / "d.jsonl", FilterSpec(limit=0))  # the reference writes 1 example
    with pytest.raises(ExportError, match="--limit must be 1 or more"):
        _export(ref_db, tmp_path / "d.jsonl", FilterSpec(limit=-3))
    with pytest.raises(ExportError, match="Subset sizes must be 1 or more"):
        _export(ref_db, tmp_path / "d.jsonl", sizes=[0])
    assert _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# The worker process


@pytest.mark.parametrize(
    ("spec", "sizes"),
    [
        (FilterSpec(), [7, 150]),
        (FilterSpec(limit=150), [100]),  # the cut falls inside the worker's part
        (FilterSpec(limit=30), []),  # the first part alone reaches the limit
        (FilterSpec(min_unique=2, models=["qwen/qwen3-32b", "alpha-model"]), [3]),
    ],
)
def test_worker_process_writes_the_same_bytes(ref_db: Path, tmp_path: Path, spec: FilterSpec, sizes: list[int]) -> None:
    alone = _export(ref_db, tmp_path / "alone.jsonl", spec, sizes=sizes, workers=0)
    helped = _export(ref_db, tmp_path / "helped.jsonl", spec, sizes=sizes, workers=1)
    assert helped.sha256 == alone.sha256
    assert (helped.examples, helped.sessions, helped.per_model, helped.token_estimate) == (
        alone.examples,
        alone.sessions,
        alone.per_model,
        alone.token_estimate,
    )
    assert [(s.examples, s.sessions, s.sha256) for s in helped.subsets] == [
        (s.examples, s.sessions, s.sha256) for s in alone.subsets
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failing_worker_costs_time_not_the_export(
    ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = _export(ref_db, tmp_path / "alone.jsonl", workers=0)
    monkeypatch.setattr(sft_export_part, "_WORKER", "import sys; sys.exit(3)")
    helped = _export(ref_db, tmp_path / "helped.jsonl", workers=1)
    assert helped.sha256 == alone.sha256 and helped.examples == alone.examples
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_split_point_balances_work() -> None:
    ordered = [f"s{i}" for i in range(10)]
    weights = dict.fromkeys(ordered, 10)
    assert sft_export.split_point(ordered, weights, None, 1) == 5
    assert sft_export.split_point(ordered, weights, None, 0) == 10
    assert sft_export.split_point(ordered, weights, None, None) == 10  # small: not worth a process
    big = dict.fromkeys(ordered, 10_000)
    assert sft_export.split_point(ordered, big, None, None) == 5
    assert sft_export.split_point(ordered, big, 100, None) == 10  # the first half alone has enough
    assert sft_export.split_point(["a"], {"a": 10**6}, None, 1) == 1


# --------------------------------------------------------------------------------------------------
# Key styles, flavours, objective_key


def test_task_app_keys_read_as_renamed_and_noted(app_db: Path, ref_db: Path, tmp_path: Path) -> None:
    spec = FilterSpec(min_unique=2, require_achievements=["collect_wood"])
    theirs = _export(ref_db, tmp_path / "ref.jsonl", spec)
    ours = _export(app_db, tmp_path / "app.jsonl", spec)
    assert (tmp_path / "app.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert any("task app's achievement keys" in n and "renamed" in n for n in ours.notes)
    assert not any("task app" in n for n in theirs.notes)
    manifest = json.loads(manifest_path(tmp_path / "app.jsonl").read_text())
    assert manifest["source_db"]["achievement_key_style"] == "task-app"
    assert any(r["metadata"]["achievements"]["new_unique"] for r in _lines(tmp_path / "app.jsonl"))


def test_db_without_call_records_is_a_precise_error(tmp_path: Path) -> None:
    db = build_db(tmp_path / "old.db", sessions=2, decisions=2, flavour=Flavour.V0_2_3)
    with pytest.raises(MissingSchemaError, match=r"needs events\.call_records, which this DB \(0\.2\.3 flavour\)"):
        _export(db, tmp_path / "out" / "d.jsonl")
    assert _leftovers(tmp_path / "out") == []


def test_db_without_reward_metadata_degrades_or_says_what_is_missing(tmp_path: Path) -> None:
    db = build_db(tmp_path / "v026.db", sessions=4, decisions=3, flavour=Flavour.V0_2_6, style=KeyStyle.REFERENCE)
    result = _export(db, tmp_path / "d.jsonl", FilterSpec(min_outcome_reward=0))
    assert result.examples > 0
    assert any("reward_metadata" in n for n in result.notes)
    with pytest.raises(MissingSchemaError, match=r"required-achievement filter needs outcome_rewards\.reward_metadata"):
        _export(db, tmp_path / "e.jsonl", FilterSpec(require_achievements=["collect_wood"]))


def test_objective_key_reads_only_reward_rows(tmp_path: Path) -> None:
    db = _db(tmp_path / "v047.db", _episodes(3), flavour=Flavour.V0_4_7)
    with sqlite3.connect(db) as conn:  # another objective's rows must not count
        conn.execute(
            "INSERT INTO outcome_rewards (session_id, total_reward, achievements_count, total_steps, created_at, "
            "reward_metadata, objective_key) VALUES ('rollout-000000', 999, 0, 1, '2025-10-18', "
            """'{"achievements": ["only_in_cost_row"]}', 'cost')"""
        )
    conn.close()
    result = _export(db, tmp_path / "d.jsonl")
    assert any("objective 'reward' only" in n for n in result.notes)
    with pytest.raises(ExportError, match="No sessions matched"):
        _export(db, tmp_path / "e.jsonl", FilterSpec(min_outcome_reward=500))
    with pytest.raises(ExportError, match="No sessions matched"):
        _export(db, tmp_path / "f.jsonl", FilterSpec(require_achievements=["only_in_cost_row"]))


# --------------------------------------------------------------------------------------------------
# Where the reference crashes or aborts, and odd values it handles


def test_non_object_output_json_is_skipped_and_counted(tmp_path: Path) -> None:
    eps = _episodes()
    _record(eps[1], 0)["output_text"] = "42"  # the reference: AttributeError, exit 1
    _record(eps[1], 1)["output_text"] = '"just a string"'
    db = _db(tmp_path / "t.db", eps)
    result = _export(db, tmp_path / "d.jsonl")
    assert result.examples == 7 and result.skipped == {"output JSON is not an object": 2}
    assert result.validation.ok


def test_image_parts_are_kept_as_segments(tmp_path: Path) -> None:
    """The reference aborts the whole export ("content not string"); we keep OpenAI-style segments."""
    eps = _episodes()
    _record(eps[1], 1)["input_messages"][1]["parts"].append({"type": "image", "uri": "data:image/png;base64,AAAA"})
    _record(eps[2], 0)["input_messages"][1]["parts"].append({"type": "text", "text": "second part"})
    db = _db(tmp_path / "t.db", eps)
    out = tmp_path / "d.jsonl"
    result = _export(db, out)
    rows = _lines(out)
    image = [r for r in rows if r["metadata"]["has_image"]]
    assert len(image) == 1 and image[0]["metadata"]["user_has_image"]
    assert image[0]["messages"][1]["content"][-1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA"},
    }
    assert (result.image_examples, result.segment_examples) == (1, 2)
    assert result.validation.ok and any("list content" in n for n in result.notes)
    assert json.loads(manifest_path(out).read_text())["counts"]["segment_examples"] == 2


def test_non_string_role_aborts_with_the_reference_block(tmp_path: Path) -> None:
    eps = _episodes()
    _record(eps[0], 2)["input_messages"][0]["role"] = None
    _record(eps[2], 1)["input_messages"][1]["role"] = 7
    db = _db(tmp_path / "t.db", eps)
    for workers in (0, 1):
        with pytest.raises(ExportValidationError) as err:
            _export(db, tmp_path / "d.jsonl", workers=workers)
        assert str(err.value) == (
            "Validation error while exporting dataset:\n - row 3: message 0 role not string\n"
            " - row 8: message 1 role not string"
        )
        assert _leftovers(tmp_path) == ["t.db"]


def test_blank_role_exports_but_fails_upload_validation(tmp_path: Path) -> None:
    eps = _episodes()
    _record(eps[1], 0)["input_messages"][0]["role"] = " "  # a string: the reference writes it
    db = _db(tmp_path / "t.db", eps)
    result = _export(db, tmp_path / "d.jsonl")
    assert result.validation.issues == ["Line 4: message 0 has invalid role"]
    assert json.loads(manifest_path(tmp_path / "d.jsonl").read_text())["upload_validation"]["ok"] is False


def test_integers_beyond_64_bits_keep_their_digits(tmp_path: Path) -> None:
    """orjson reads them as floats; the exporter re-parses such records with json.loads."""
    eps = _episodes()
    _record(eps[0], 0)["output_text"] = (
        '{"choices": [{"message": {"tool_calls": [{"id": 18446744073709551616, '
        '"function": {"name": "f", "arguments": {"seed": 99999999999999999999}}}]}}]}'
    )
    eps[0].decisions[1].rewards.append(
        EventReward(reward_type="unique_achievement_delta", value=1, annotation={"new_unique": [2**70]})
    )
    db = _db(tmp_path / "t.db", eps)
    rows = _lines(_export(db, tmp_path / "d.jsonl").output)
    call = rows[0]["messages"][-1]["tool_calls"][0]
    assert call == {"id": "18446744073709551616", "type": "function",
                    "function": {"name": "f", "arguments": '{"seed": 99999999999999999999}'}}  # fmt: skip
    assert rows[1]["metadata"]["achievements"]["new_unique"][-1] == 2**70


def test_lone_surrogate_text_is_skipped_and_counted(tmp_path: Path) -> None:
    eps = _episodes()
    _record(eps[1], 1)["output_text"] = '{"choices": [{"message": {"content": "bad \\ud800 text"}}]}'
    db = _db(tmp_path / "t.db", eps)
    result = _export(db, tmp_path / "d.jsonl")
    assert result.examples == 8 and result.skipped == {"text is not valid Unicode (cannot be written as UTF-8)": 1}


def test_non_string_achievements_do_not_crash(tmp_path: Path) -> None:
    eps = _episodes()
    eps[0].decisions[0].rewards.append(
        EventReward(reward_type="unique_achievement_delta", value=1, annotation={"new_unique": [3, "x", None]})
    )
    db = _db(tmp_path / "t.db", eps)
    rows = _lines(_export(db, tmp_path / "d.jsonl").output)
    assert rows[0]["metadata"]["achievements"]["new_unique"][-3:] == [3, "x", None]


def test_gc_pause_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


# --------------------------------------------------------------------------------------------------
# CLI


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_export_prints_like_the_reference_then_our_summary(
    ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.jsonl"
    code, stdout, stderr = _cli(["export", "--db", str(ref_db), "--output", str(out), "--sizes", "5,10"], capsys)
    assert code == 0
    assert stdout == "Minimum unique achievements filter: 0 (all traces)\n"
    lines = stderr.splitlines()
    assert lines[0] == f"Wrote {len(_lines(out))} examples from 45 session(s) -> {out.resolve()}"
    assert lines[1].startswith(f"Manifest: {manifest_path(out).resolve()} (sha256 ")
    assert f"Subset: first 5 examples -> {subset_path(out, 5).resolve()}" in lines
    assert lines[-1] == "synth-ai upload validation: OK"
    code, _, stderr = _cli(["export", "--db", str(ref_db), "--output", str(out)], capsys)
    assert code == 1 and stderr == f"Error: {out} already exists; pass --force to overwrite it.\nNo file was written.\n"
    code, _, _ = _cli(["export", "--db", str(ref_db), "--output", str(out), "--force"], capsys)
    assert code == 0


def test_cli_preset_and_flags(ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from services.datasets.presets import save_preset

    preset = save_preset(tmp_path / "p.toml", FilterSpec(min_unique=2, limit=50), name="two")
    code, stdout, _ = _cli(["export", "--db", str(ref_db), "--output", str(tmp_path / "a.jsonl"), "--preset",
                            str(preset)], capsys)  # fmt: skip
    assert code == 0 and stdout == ""  # the preset sets min_unique: no "0 (all traces)" line
    code, _, _ = _cli(["export", "--db", str(ref_db), "--output", str(tmp_path / "b.jsonl"), "--min-unique", "2",
                       "--limit", "50"], capsys)  # fmt: skip
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    code, _, _ = _cli(["export", "--db", str(ref_db), "--output", str(tmp_path / "c.jsonl"), "--preset",
                       str(preset), "--limit", "5"], capsys)  # fmt: skip
    assert len(_lines(tmp_path / "c.jsonl")) == 5  # a flag overrides the preset's value
    bad = tmp_path / "bad.toml"
    bad.write_text("[filter\n")
    code, _, stderr = _cli(["export", "--db", str(ref_db), "--output", str(tmp_path / "d.jsonl"), "--preset",
                            str(bad)], capsys)  # fmt: skip
    assert code == 2 and f"Cannot use preset {bad}" in stderr and not (tmp_path / "d.jsonl").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--limit", "0"], "--limit must be 1 or more"),
        (["--min-unique", "3", "--max-unique", "1"], "--max-unique is below min unique (3)"),
        (["--sizes", "10,x"], "--sizes takes whole numbers separated by commas, got 'x'"),
        (["--sizes", "0"], "--sizes values must be 1 or more, got 0"),
    ],
)
def test_cli_usage_errors(
    flags: list[str], message: str, ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = _cli(["export", "--db", str(ref_db), "--output", str(tmp_path / "d.jsonl"), *flags], capsys)
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert _leftovers(tmp_path) == []


def test_cli_db_errors_never_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, stderr = _cli(["export", "--db", str(tmp_path / "none.db")], capsys)
    assert (code, stderr) == (1, f"Database not found: {tmp_path / 'none.db'}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, stderr = _cli(["export"], capsys)
    assert code == 1 and "No trace DB found." in stderr and "pass one with --db PATH." in stderr
    assert "sft-studio demo" in stderr  # the one "nothing found" text of every command (issue 10 item 1)
    assert not (tmp_path / "ft_data").exists()


def test_cli_finds_the_db_like_the_reference(
    ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    found = tmp_path / "traces/v3/synth_ai.db"
    found.parent.mkdir(parents=True)
    found.write_bytes(ref_db.read_bytes())
    (tmp_path / "deep").mkdir()
    monkeypatch.chdir(tmp_path / "deep")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, stdout, _ = _cli(["export", "--limit", "2", "--min-unique", "1"], capsys)
    assert code == 0
    assert stdout.splitlines() == [
        f"Found trace database: {found}",
        f"Output will be written to: {tmp_path / 'deep/ft_data/crafter_traces.jsonl'}",
    ]

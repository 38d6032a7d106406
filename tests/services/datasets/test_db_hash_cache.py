"""An export names its source DB by sha256; an unchanged DB's hash is kept from the last export
instead of hashing the file again (issue 10 item 23), and any change is hashed afresh."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.datasets import export as export_module
from services.datasets.export import export_sft, file_sha256, manifest_path
from services.datasets.filter_spec import FilterSpec
from services.traces.db import TraceDB
from tests.services.traces.test_stats_snapshot import append_session
from tests.support.tracegen import build_db, settle


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "traces"
    folder.mkdir()
    return settle(build_db(folder / "synth_ai.db", sessions=6, decisions=3, quirks=False))


def source_sha(db: Path, out: Path) -> Any:
    with TraceDB(db) as trace_db:
        export_sft(trace_db, FilterSpec(), out, force=True, record=False)
    return json.loads(manifest_path(out).read_text())["source_db"]["sha256"]


class CountingPopen(subprocess.Popen[bytes]):
    hashing = 0

    def __init__(self, args: Any, *rest: Any, **kw: Any) -> None:
        if export_module._HASH_CHILD in args:
            CountingPopen.hashing += 1
        super().__init__(args, *rest, **kw)


def test_an_unchanged_db_is_not_hashed_again(db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module.subprocess, "Popen", CountingPopen)
    CountingPopen.hashing = 0
    folder_before = sorted(os.listdir(db_path.parent))
    assert source_sha(db_path, tmp_path / "a.jsonl") == file_sha256(db_path)
    assert CountingPopen.hashing == 1
    assert source_sha(db_path, tmp_path / "b.jsonl") == file_sha256(db_path)
    assert CountingPopen.hashing == 1  # kept from the first export
    assert sorted(os.listdir(db_path.parent)) == folder_before  # nothing written beside the DB

    append_session(db_path, 0)  # a change: hashed again, and (just written) not kept
    assert source_sha(db_path, tmp_path / "c.jsonl") == file_sha256(db_path)
    assert source_sha(db_path, tmp_path / "d.jsonl") == file_sha256(db_path)
    assert CountingPopen.hashing == 3
    settle(db_path)
    assert source_sha(db_path, tmp_path / "e.jsonl") == file_sha256(db_path)
    assert source_sha(db_path, tmp_path / "f.jsonl") == file_sha256(db_path)
    assert CountingPopen.hashing == 4

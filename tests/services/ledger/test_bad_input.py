"""Bad input: a ledger from a newer version, a corrupt ledger, a manifest whose file changed since,
unknown ids, files that are neither manifests nor eval results."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from services.datasets.export import export_sft
from services.datasets.filter_spec import FilterSpec
from services.jobs.store import MIGRATIONS, JobStore
from services.ledger.importing import import_path
from services.ledger.lineage import UnknownRun, lineage
from services.ledger.open import LedgerError
from services.ledger.store import Ledger, sha256_file
from services.traces.db import TraceDB


def _manifest(folder: Path, text: str = '{"messages": []}\n') -> Path:
    data = folder / "d.jsonl"
    data.write_text(text)
    manifest = folder / "d.manifest.json"
    body = {"file": "d.jsonl", "sha256": sha256_file(data), "filter": {"min_unique": 2}, "counts": {"examples": 1}}
    manifest.write_text(json.dumps(body))
    return manifest


def test_jobs_store_and_ledger_share_one_migration_path(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    JobStore(path).close()  # the job store alone creates the ledger tables too (migration 2)
    with Ledger(path) as ledger:
        assert ledger.jobs.schema_version() == MIGRATIONS[-1][0] >= 2
        assert ledger.datasets() == []


def test_a_newer_ledger_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = JobStore(path)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO schema_version VALUES (99, 'from the future', 't')")
    store.close()
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=rf"{path} is at schema version 99, newer than .*Nothing was changed"):
        Ledger(path)
    assert path.read_bytes() == before


def test_a_corrupt_ledger_is_named_and_the_export_still_works(
    tmp_path: Path, ref_db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "runs.db"
    bad.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(LedgerError, match=rf"The runs ledger {bad} is corrupt or not a database"):
        Ledger(bad)
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(bad))
    db = TraceDB(ref_db)
    try:
        with caplog.at_level(logging.WARNING, logger="sft_studio.ledger"):
            result = export_sft(db, FilterSpec(limit=3), tmp_path / "out.jsonl", workers=0)
    finally:
        db.close()
    assert result.output.is_file() and result.examples == 3
    assert f"the runs ledger {bad} did not record the export out.manifest.json" in caplog.text
    assert bad.read_bytes() == b"\x00garbage" * 512


def test_an_sqlite_file_that_is_not_a_ledger(tmp_path: Path, ref_db: Path) -> None:
    with pytest.raises(LedgerError, match="not an sft-studio runs ledger"):
        Ledger(ref_db)


def test_a_changed_dataset_file_is_flagged_not_trusted(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    (tmp_path / "d.jsonl").write_text('{"messages": [1]}\n')
    with Ledger(tmp_path / "runs.db") as ledger:
        done = import_path(ledger, manifest)
        assert done.kind == "dataset" and "NOT TRUSTED" in done.message and "changed since" in done.message
        dataset = ledger.datasets()[0]
        assert dataset.file_ok is False and dataset.problem is not None
        (tmp_path / "d.jsonl").unlink()
        assert "missing" in (import_path(ledger, manifest).message)


def test_unknown_ids_and_foreign_files(tmp_path: Path) -> None:
    with Ledger(tmp_path / "runs.db") as ledger:
        with pytest.raises(UnknownRun, match="No run, model or eval 'nope' in the runs ledger"):
            lineage(ledger, "nope")
        other = tmp_path / "x.json"
        other.write_text('{"hello": 1}')
        with pytest.raises(LedgerError, match="neither an export manifest"):
            import_path(ledger, other)
        with pytest.raises(LedgerError, match="no such file"):
            import_path(ledger, tmp_path / "missing.json")
        (tmp_path / "bad.json").write_text("{")
        with pytest.raises(LedgerError, match="not readable JSON"):
            import_path(ledger, tmp_path / "bad.json")

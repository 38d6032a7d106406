"""The local job store: records, status updates, migrations, two writers at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from services.jobs.store import MIGRATIONS, JobRecord, JobStore


def _record(job_id: str, backend: str = "local") -> JobRecord:
    return JobRecord(backend=backend, base_url="http://127.0.0.1:1/api", job_id=job_id, payload={"model": "m"})


def test_add_update_list_get(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "runs.db")
    first = store.add(_record("job_1"))
    store.add(_record("job_2", backend="https://x/api"))
    assert first.id is not None and first.submitted_at
    updated = store.update_status("job_1", status="succeeded", fine_tuned_model="peft:m:job_1", finished_at="t")
    assert updated is not None and (updated.last_status, updated.fine_tuned_model) == ("succeeded", "peft:m:job_1")
    assert store.update_status("job_unknown", status="x") is None
    assert [r.job_id for r in store.list()] == ["job_2", "job_1"]
    assert [r.job_id for r in store.list(backend="local")] == ["job_1"]
    got = store.get("job_1")
    assert got is not None and got.payload == {"model": "m"}
    store.add(_record("job_1"))  # the same job again: one row
    assert len(store.list(backend="local")) == 1


def test_schema_version_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    assert JobStore(path).schema_version() == MIGRATIONS[-1][0]
    store = JobStore(path)  # a second open applies nothing twice
    assert store.schema_version() == MIGRATIONS[-1][0]
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM schema_version").scalar()
    assert rows == len(MIGRATIONS)


def _writer(path: str, prefix: str) -> None:
    store = JobStore(Path(path))
    for i in range(30):
        store.add(_record(f"{prefix}_{i}"))
        store.update_status(f"{prefix}_{i}", status="running")


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), name)) for name in ("app", "cli")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    records = JobStore(path).list()
    assert len(records) == 60 and {r.last_status for r in records} == {"running"}


def test_a_store_from_a_newer_version_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    import pytest

    from services.jobs.errors import JobStoreUnusable

    path = tmp_path / "runs.db"
    store = JobStore(path)
    store.add(_record("job_1"))
    newer = MIGRATIONS[-1][0] + 1
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO schema_version VALUES ({newer}, 'from the future', 't')")
    store.close()
    before = path.read_bytes()
    with pytest.raises(JobStoreUnusable, match=f"schema version {newer}, newer than this sft-studio"):
        JobStore(path)
    assert path.read_bytes() == before


def test_an_up_to_date_store_opens_and_reads_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    """The Runs pane's worker and ``runs list`` open the store to read: they must not wait for a write
    in progress elsewhere (opening used to take the write lock to check the migrations)."""
    import sqlite3
    import time

    path = tmp_path / "runs.db"
    JobStore(path).add(_record("job_1"))
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE jobs SET last_status = 'running'")
    try:
        t = time.monotonic()
        store = JobStore(path)
        assert [r.job_id for r in store.list()] == ["job_1"] and store.list()[0].last_status != "running"
        assert time.monotonic() - t < 5  # the busy timeout is 10 s: no wait for the writer
        store.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()

"""Against the real local backend (issue 12) with the fast fake trainer: submit → train → succeed →
model listed; and cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.jobs.backends import BackendChoice, open_client, resolve_backend
from services.jobs.client import LearningClient
from services.jobs.errors import BackendConflict
from services.jobs.poller import watch
from services.jobs.store import JobStore
from services.jobs.submit import plan_submission, submit
from tests.services.jobs.support import fake_model, local_backend, write_config, write_dataset


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BackendChoice, LearningClient]]:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    with local_backend(tmp_path / "data"):
        choice = resolve_backend("local", cwd=tmp_path, environ={})
        client = open_client(choice)
        try:
            yield choice, client
        finally:
            client.close()


def test_submit_train_succeed_model_listed(tmp_path: Path, local: tuple[BackendChoice, LearningClient]) -> None:
    choice, client = local
    assert choice.base_url.startswith("http://127.0.0.1:") and choice.key_source.startswith("local backend key")
    config = write_config(tmp_path, model=str(fake_model(tmp_path)))
    plan = plan_submission(config, write_dataset(tmp_path), choice=choice, client=client, cwd=tmp_path)
    store = JobStore(tmp_path / "runs.db")
    job = submit(plan, client, store)
    snapshots = []
    result = watch(client, job.job_id, poll_interval=0.2, poll_timeout=60, on_snapshot=snapshots.append)
    assert result.outcome == "terminal", result
    final = result.snapshot
    assert final is not None and final.succeeded, final.error
    assert final.fine_tuned_model == f"peft:{fake_model(tmp_path).resolve()}:{job.job_id}"
    assert final.curves["train.loss"] and final.tokens_per_s == 1234.5
    assert [m.id for m in client.list_models()] == [final.fine_tuned_model]
    assert client.get_job(job.job_id).status == "succeeded"
    record = store.get(job.job_id)
    assert record is not None and record.backend == "local"
    with pytest.raises(BackendConflict):
        client.cancel_job(job.job_id)


def test_cancel_a_running_job(tmp_path: Path, local: tuple[BackendChoice, LearningClient]) -> None:
    choice, client = local
    config = write_config(tmp_path, model=str(fake_model(tmp_path)))
    plan = plan_submission(config, write_dataset(tmp_path), choice=choice, client=client, cwd=tmp_path)
    payload = plan.payload(client.upload_file(plan.upload_path).file_id)
    payload["metadata"]["fake_trainer"] = {"mode": "hang"}
    job = client.create_job(payload)
    client.start_job(job.job_id)
    deadline = time.monotonic() + 60
    while client.get_job(job.job_id).status not in ("training", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.cancel_job(job.job_id)
    result = watch(client, job.job_id, poll_interval=0.2, poll_timeout=60)
    assert result.snapshot is not None and result.snapshot.cancelled and not result.snapshot.succeeded

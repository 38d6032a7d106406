"""The learning-API client against the fault-injecting stub: retries, fallbacks, errors, paging."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from services.jobs.api_models import JobInfo, MetricPoint
from services.jobs.client import LearningClient, Timeouts, normalise_base_url
from services.jobs.errors import (
    BackendAuthError,
    BackendBadResponse,
    BackendConflict,
    BackendNotFound,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnreachable,
)
from tests.services.jobs.support import KEY, write_dataset
from tests.support.stub_backend import Reply, StubBackend


def _client(stub: StubBackend, **kwargs: object) -> LearningClient:
    return LearningClient(stub.root_url, KEY, sleep=lambda s: None, **kwargs)  # type: ignore[arg-type]


def test_base_url_gets_api_once() -> None:
    assert normalise_base_url("http://h:1") == "http://h:1/api"
    assert normalise_base_url("http://h:1/api/") == "http://h:1/api"
    assert normalise_base_url("http://h:1/api/api") == "http://h:1/api"
    with pytest.raises(ValueError):
        normalise_base_url("ftp://h")


def test_upload_falls_back_to_learning_files_on_404(stub: StubBackend, tmp_path: Path) -> None:
    stub.fail("POST", r"/files", status=404)
    with _client(stub) as client:
        info = client.upload_file(write_dataset(tmp_path))
        assert info.file_id == "file_stub_1" and info.ready
        client.upload_file(write_dataset(tmp_path, name="b.jsonl"))  # remembered: straight to /learning/files
    paths = [r.path for r in stub.requests if r.method == "POST"]
    assert paths == ["/api/files", "/api/learning/files", "/api/learning/files"]
    assert stub.uploads[0].fields["purpose"] == "fine-tune"


def test_upload_survives_a_dropped_connection(stub: StubBackend, tmp_path: Path) -> None:
    stub.fail("POST", r"/files", drop=True)
    with _client(stub) as client:
        info = client.upload_file(write_dataset(tmp_path))
    assert info.file_id == "file_stub_1"
    assert len(stub.requests_to("POST", r"/files")) == 2


def test_upload_dropped_every_time_is_unreachable(stub: StubBackend, tmp_path: Path) -> None:
    stub.fail("POST", r"/files", drop=True, times=10)
    with _client(stub, retries=2) as client, pytest.raises(BackendUnreachable) as caught:
        client.upload_file(write_dataset(tmp_path))
    assert "uploading train.jsonl" in caught.value.message
    assert not stub.uploads


def test_get_retries_500_and_create_does_not(stub: StubBackend) -> None:
    with _client(stub) as client:
        job = client.create_job({"model": "m"})
        stub.fail("GET", r"/learning/jobs/[^/]+", status=500, times=2)
        assert client.get_job(job.job_id).status == "queued"
        assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+")) == 3
        stub.fail("POST", r"/learning/jobs", status=503)
        with pytest.raises(BackendServerError):
            client.create_job({"model": "m"})
    assert len(stub.requests_to("POST", r"/learning/jobs")) == 2


def test_429_is_retried(stub: StubBackend) -> None:
    stub.fail("GET", r"/learning/models", status=429)
    with _client(stub) as client:
        assert client.list_models() == []


def test_timeout_is_a_clear_error(stub: StubBackend) -> None:
    stub.fail("GET", r"/health", delay=1.5, times=3)
    with _client(stub, timeouts=Timeouts(file_get=0.2), retries=1) as client, pytest.raises(BackendTimeout) as caught:
        client.health()
    assert "within 0.2 s" in caught.value.message


def test_401_names_no_key(stub: StubBackend) -> None:
    stub.fail("GET", r"/learning/jobs", status=401, body={"detail": f"bad key {KEY}"})
    with _client(stub) as client, pytest.raises(BackendAuthError) as caught:
        client.list_jobs()
    text = f"{caught.value} {caught.value!r} {caught.value.hint}"
    assert KEY not in text and "refused the key" in text
    assert len(stub.requests_to("GET", r"/learning/jobs")) == 1  # never retried


def test_html_and_garbage_answers(stub: StubBackend) -> None:
    with _client(stub) as client:
        job = client.create_job({"model": "m"})
        stub.fail("GET", r"/learning/jobs/[^/]+", html=True)
        with pytest.raises(BackendBadResponse, match="HTML"):
            client.get_job(job.job_id)
        stub.fail("GET", r"/learning/jobs/[^/]+", garbage=True)
        with pytest.raises(BackendBadResponse, match="not JSON"):
            client.get_job(job.job_id)
        stub.fail("GET", r"/learning/jobs/[^/]+", status=502, html=True, times=5)
        with pytest.raises(BackendServerError, match="HTML page"):
            client.get_job(job.job_id)


def test_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LearningClient(f"http://127.0.0.1:{port}", KEY, retries=1, sleep=lambda s: None)
    with client, pytest.raises(BackendUnreachable) as caught:
        client.health()
    assert f"127.0.0.1:{port}" in caught.value.message and caught.value.hint


def test_not_found_conflict_and_rejected(stub: StubBackend) -> None:
    with _client(stub) as client:
        with pytest.raises(BackendNotFound):
            client.get_job("job_missing")
        job = client.create_job({"model": "m"})
        stub.set_job(job.job_id, {"job_id": job.job_id, "status": "succeeded"})
        with pytest.raises(BackendConflict, match="already succeeded"):
            client.cancel_job(job.job_id)
        stub.fail("POST", r"/learning/jobs", status=400, body={"detail": "missing_gpu_type"})
        with pytest.raises(BackendRejected, match="missing_gpu_type"):
            client.create_job({"model": "m"})


def test_state_instead_of_status_and_id_instead_of_job_id(stub: StubBackend) -> None:
    with _client(stub) as client:
        job = client.create_job({"model": "m"})
        stub.set_job(job.job_id, {"id": job.job_id, "state": "RUNNING", "model_id": "base"})
        info = client.get_job(job.job_id)
    assert (info.job_id, info.status, info.base_model) == (job.job_id, "running", "base")


def test_lists_under_any_key() -> None:
    row = {"id": "job_1", "status": "queued"}
    for key in ("jobs", "data", "results"):
        assert [j.job_id for j in JobInfo.list_from_api({key: [row]})] == ["job_1"]
    assert JobInfo.list_from_api([row])[0].job_id == "job_1"
    assert MetricPoint.from_api({"name": "train.loss", "value": 1.5}) is not None  # no step


def test_metrics_page_past_200(stub: StubBackend) -> None:
    with _client(stub) as client:
        job = client.create_job({"model": "m"})
        stub.add_metrics(job.job_id, [{"name": "train.loss", "value": 1 / s, "step": s} for s in range(1, 451)])
        points = client.metrics(job.job_id, name="train.loss")
    assert [p.step for p in points] == list(range(1, 451))
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+/metrics")) == 3


def test_models_shape_is_checked(stub: StubBackend) -> None:
    stub.add_route("GET", r"/learning/models", lambda request, match: Reply(200, {"weird": 1}))
    with _client(stub) as client, pytest.raises(BackendBadResponse, match="no list of models"):
        client.list_models()


def test_readiness_waits_through_processing_and_404(stub: StubBackend, tmp_path: Path) -> None:
    states = iter([Reply(404, {"detail": "not yet"}), Reply(200, {"id": "file_stub_1", "status": "processing"})])

    def get_file(request: object, match: object) -> Reply:
        return next(states, Reply(200, {"id": "file_stub_1", "status": "ready"}))

    stub.add_route("POST", r"/files", lambda r, m: Reply(200, {"id": "file_stub_1", "status": "pending"}))
    stub.add_route("GET", r"/files/(?P<file_id>[^/]+)", get_file)  # type: ignore[arg-type]
    with _client(stub) as client:
        info = client.upload_file(write_dataset(tmp_path), ready_interval=0.01)
    assert info.ready and len(stub.requests_to("GET", r"/files/[^/]+")) == 3
    stub.add_route(
        "GET",
        r"/files/(?P<file_id>[^/]+)",
        lambda r, m: Reply(200, {"id": "x", "status": "failed", "reasons": ["Line 1: bad"]}),
    )
    with _client(stub) as client, pytest.raises(BackendRejected, match="Line 1: bad"):
        client.upload_file(write_dataset(tmp_path), ready_interval=0.01)


def test_metrics_of_every_name_page_without_loss_at_page_cuts(stub: StubBackend) -> None:
    names = ("train.loss", "train.learning_rate", "train.tokens_per_second")
    with _client(stub) as client:
        job = client.create_job({"model": "m"})
        stub.add_metrics(job.job_id, [{"name": n, "value": 1.0, "step": s} for s in range(1, 151) for n in names])
        points = client.metrics(job.job_id)
    assert sorted((p.name, p.step) for p in points) == sorted((n, s) for s in range(1, 151) for n in names)

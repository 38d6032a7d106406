"""Planning and submitting: the same checks as `config validate`/`validate`, the Configs pane's payload,
never two jobs, and the file ids named when the create fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.configs.base_models import ModelRefused
from services.configs.check import check_file
from services.configs.payload import job_payload
from services.jobs.backends import resolve_backend
from services.jobs.client import LearningClient
from services.jobs.errors import SubmissionRefused, UploadedButNotCreated
from services.jobs.store import JobStore
from services.jobs.submit import local_model_check, plan_submission, submit
from tests.services.jobs.support import KEY, fake_model, write_config, write_dataset
from tests.support.stub_backend import RecordedRequest, Reply, StubBackend


def _plan(tmp_path: Path, stub: StubBackend, **kwargs: object):  # type: ignore[no-untyped-def]
    choice = resolve_backend(stub.base_url, cwd=tmp_path, environ={"SYNTH_API_KEY": KEY})
    config = kwargs.pop("config", None) or write_config(tmp_path)
    dataset = kwargs.pop("dataset", None) or write_dataset(tmp_path)
    return plan_submission(config, dataset, choice=choice, cwd=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_payload_is_the_configs_panes_plus_the_submission_id(tmp_path: Path, stub: StubBackend) -> None:
    plan = _plan(tmp_path, stub)
    report = check_file(tmp_path / "job.toml", dataset=tmp_path / "train.jsonl", require_dataset=True, cwd=tmp_path)
    expected = job_payload(report, training_file_id="file_x")
    expected["metadata"]["submission_id"] = plan.submission_id
    assert plan.payload("file_x") == expected
    assert list(plan.payload("file_x")) == list(expected)  # key order too
    lines = plan.describe()
    assert any("POST /learning/jobs" in line for line in lines)
    assert not stub.requests  # planning sends nothing


def test_refused_config_sends_nothing(tmp_path: Path, stub: StubBackend) -> None:
    config = write_config(tmp_path, extra="\n[compute.x]\n")
    config.write_text(config.read_text().replace('variety = "lora"', 'variety = "qlora"'))
    with pytest.raises(SubmissionRefused, match="Unsupported algorithm"):
        _plan(tmp_path, stub, config=config)
    no_compute = tmp_path / "nocompute.toml"
    text = write_config(tmp_path).read_text()
    no_compute.write_text(text.replace('[compute]\ngpu_type = "H100"\ngpu_count = 1\n', ""))
    with pytest.raises(SubmissionRefused, match="compute"):
        _plan(tmp_path, stub, config=no_compute)
    assert not stub.requests


def test_bad_dataset_sends_nothing(tmp_path: Path, stub: StubBackend) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\nnot json\n', encoding="utf-8")
    with pytest.raises(SubmissionRefused, match="Dataset validation failed") as caught:
        _plan(tmp_path, stub, dataset=bad)
    assert "Line 2: invalid JSON" in caught.value.message
    assert not stub.requests


def test_examples_subset(tmp_path: Path, stub: StubBackend) -> None:
    plan = _plan(tmp_path, stub, examples=2)
    try:
        assert plan.examples == 2 and plan.upload_name == "train.jsonl"
        assert len(plan.upload_path.read_text().splitlines()) == 2
    finally:
        plan.cleanup()
    with pytest.raises(SubmissionRefused, match="positive"):
        _plan(tmp_path, stub, examples=0)


def test_submit_uploads_creates_starts_and_records(tmp_path: Path, stub: StubBackend) -> None:
    plan = _plan(tmp_path, stub)
    store = JobStore(tmp_path / "runs.db")
    steps: list[str] = []
    with LearningClient(stub.base_url, KEY) as client:
        job = submit(plan, client, store, on_step=lambda name, text: steps.append(name))
    assert job.job_id == "job_stub_1" and job.started and not job.reused
    assert stub.job_payloads == [job.payload]
    assert stub.job_payloads[0]["training_file_id"] == "file_stub_1"
    assert [r.path for r in stub.requests if r.method == "POST"][-1] == "/api/learning/jobs/job_stub_1/start"
    record = store.get("job_stub_1")
    assert record is not None and record.submission_id == plan.submission_id
    assert record.dataset_sha256 == plan.dataset_sha256 and KEY not in record.model_dump_json()
    assert steps[:2] == ["upload", "ready"]


def test_a_lost_create_answer_never_makes_a_second_job(tmp_path: Path, stub: StubBackend) -> None:
    answered: list[int] = []
    original = stub._create_job

    def create_then_drop(request: RecordedRequest, match: re.Match[str]) -> Reply:
        reply = original(request, match)
        answered.append(1)
        return Reply(0, None, drop=True) if len(answered) == 1 else reply

    stub.add_route("POST", r"/learning/jobs", create_then_drop)
    plan = _plan(tmp_path, stub)
    with LearningClient(stub.base_url, KEY) as client:
        job = submit(plan, client, None)
    assert job.reused and job.job_id == "job_stub_1"
    assert len(stub.job_payloads) == 1  # looked up, not created again


def test_create_refused_after_upload_names_the_file(tmp_path: Path, stub: StubBackend) -> None:
    stub.fail("POST", r"/learning/jobs", status=400, body={"detail": "missing_gpu_type"})
    plan = _plan(tmp_path, stub)
    with LearningClient(stub.base_url, KEY) as client, pytest.raises(UploadedButNotCreated) as caught:
        submit(plan, client, None)
    assert "file_stub_1" in caught.value.message and "missing_gpu_type" in caught.value.message


def test_local_model_check(tmp_path: Path) -> None:
    check = local_model_check(["peft:x:job_1"])
    assert check("sft-studio/tiny-qwen3") == "sft-studio/tiny-qwen3"
    folder = fake_model(tmp_path)
    assert check(str(folder)) == str(folder.resolve())
    with pytest.raises(ModelRefused, match="cannot train"):
        check("nobody/not-cached-model-xyz")
    with pytest.raises(ModelRefused, match="fine-tuned"):
        check("peft:x:job_1")


def test_local_backend_plan_accepts_its_models_and_refuses_hosted_only_checks(tmp_path: Path) -> None:
    choice = resolve_backend("local", cwd=tmp_path, environ={})
    config = write_config(tmp_path, model="sft-studio/tiny-qwen3")
    plan = plan_submission(config, write_dataset(tmp_path), choice=choice, cwd=tmp_path)
    assert plan.payload()["model"] == "sft-studio/tiny-qwen3"
    hosted = resolve_backend("http://127.0.0.1:9", cwd=tmp_path, environ={})
    with pytest.raises(SubmissionRefused, match="not supported"):
        plan_submission(config, tmp_path / "train.jsonl", choice=hosted, cwd=tmp_path)

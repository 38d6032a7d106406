"""`sft-studio jobs …` and `models list`: listings, JSON, unknown ids, cancel (finished and running)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.jobs.backends import open_client, resolve_backend
from tests.services.jobs.support import KEY, fake_model, local_backend, write_config, write_dataset
from tests.support.paths import ROOT
from tests.support.stub_backend import StubBackend
from tui.cli import main


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNTH_API_KEY", KEY)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))  # no base model is cached
    for name in ("BACKEND_BASE_URL", "SFT_STUDIO_BACKEND_KEY", "BACKEND_OVERRIDE", "SYNTH_BACKEND_URL_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def stub() -> Iterator[StubBackend]:
    with StubBackend() as backend:
        yield backend


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and KEY not in captured.out + captured.err
    return code, captured.out, captured.err


def _job(stub: StubBackend, body: dict[str, object]) -> str:
    stub.set_job("job_stub_1", {"job_id": "job_stub_1", **body})
    return "job_stub_1"


def test_unknown_job(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    for action in ("show", "watch", "cancel", "events", "metrics"):
        code, _out, err = _run(["jobs", action, "job_nope", "--backend", stub.base_url], capsys)
        assert code == 1 and "not found" in err, (action, err)


def test_cancel_of_a_finished_job(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    job_id = _job(stub, {"status": "succeeded", "fine_tuned_model": "peft:m:job_stub_1"})
    code, _out, err = _run(["jobs", "cancel", job_id, "--backend", stub.base_url], capsys)
    assert code == 1 and "cannot cancel job job_stub_1: it already succeeded" in err


def test_list_show_events_metrics(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    job_id = _job(stub, {"state": "running", "model": "Qwen/Qwen3-0.6B"})
    stub.add_events(
        job_id, [{"seq": s, "type": "sft.progress", "data": {"step": s, "total_steps": 300}} for s in range(1, 251)]
    )
    stub.add_metrics(job_id, [{"name": "train.loss", "value": 2.0 / s, "step": s} for s in range(1, 251)])
    code, out, err = _run(["jobs", "list", "--backend", stub.base_url], capsys)
    assert code == 0 and "job_stub_1" in out and "running" in out and f"Backend: backend {stub.base_url}" in err
    code, out, err = _run(["jobs", "show", job_id, "--backend", stub.base_url, "--json"], capsys)
    shown = json.loads(out)
    assert shown["progress"]["step"] == 250 and shown["progress"]["total_steps"] == 300 and not shown["terminal"]
    code, out, err = _run(["jobs", "events", job_id, "--backend", stub.base_url, "--json"], capsys)
    assert [e["seq"] for e in json.loads(out)] == list(range(1, 251))
    code, out, err = _run(
        ["jobs", "metrics", job_id, "--backend", stub.base_url, "--json", "--name", "train.loss"], capsys
    )
    assert len(json.loads(out)) == 250
    code, out, err = _run(["jobs", "show", job_id, "--backend", stub.base_url], capsys)
    assert code == 0 and "step 250/300" in out


def test_watch_401_mid_poll_stops(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    job_id = _job(stub, {"status": "running"})
    stub.fail("GET", r"/learning/jobs/[^/]+/events", status=401, times=100)
    code, _out, err = _run(["jobs", "watch", job_id, "--backend", stub.base_url, "--poll-interval", "0.05"], capsys)
    assert code == 1 and "refused the key" in err
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+/events")) == 1


def test_models_list(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    stub.add_model({"id": "peft:Qwen/Qwen3-0.6B:job_1", "base_model": "Qwen/Qwen3-0.6B", "job_id": "job_1"})
    code, out, err = _run(["models", "list", "--backend", stub.base_url], capsys)
    assert code == 0 and "peft:Qwen/Qwen3-0.6B:job_1" in out
    stub.fail("GET", r"/learning/models", html=True)
    code, out, err = _run(["models", "list", "--backend", stub.base_url], capsys)
    assert code == 1 and "HTML" in err


def test_a_cancelled_job_is_cancelled_in_the_runs_ledger(
    env: Path, stub: StubBackend, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobs cancel` answered `cancelled`: the ledger said `queued` for ever (nothing polled it again)."""
    from services.jobs.store import JobRecord
    from services.ledger.store import Ledger
    from services.ledger.table import run_rows

    ledger_file = env / "runs.db"
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(ledger_file))
    job_id = _job(stub, {"status": "queued"})
    with Ledger(ledger_file) as ledger:
        ledger.record_submission(
            JobRecord(backend="url", base_url=stub.base_url, job_id=job_id, submitted_at="2026-12-08T00:00:00+00:00")
        )
        assert [r.status for r in run_rows(ledger) if r.job == job_id] == [None]
    code, out, _err = _run(["jobs", "cancel", job_id, "--backend", stub.base_url], capsys)
    assert code == 0 and "cancelled" in out
    with Ledger(ledger_file) as ledger:
        assert [r.status for r in run_rows(ledger) if r.job == job_id] == ["cancelled"]


def test_cancel_a_running_local_job(env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with local_backend(env / "data"):
        choice = resolve_backend("local", cwd=env, environ={})
        with open_client(choice) as client:
            from services.jobs.submit import plan_submission

            plan = plan_submission(
                write_config(env, model=str(fake_model(env))), write_dataset(env), choice=choice, client=client, cwd=env
            )
            payload = plan.payload(client.upload_file(plan.upload_path).file_id)
            payload["metadata"]["fake_trainer"] = {"mode": "hang"}
            job_id = client.create_job(payload).job_id
            client.start_job(job_id)
            deadline = time.monotonic() + 60
            while client.get_job(job_id).status not in ("training", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        code, out, err = _run(["jobs", "cancel", job_id, "--backend", "local"], capsys)
        assert code == 0 and job_id in out
        code, out, err = _run(["jobs", "watch", job_id, "--backend", "local", "--poll-interval", "0.1"], capsys)
        assert code == 1 and "cancelled" in err
        code, out, err = _run(["jobs", "cancel", job_id, "--backend", "local"], capsys)
        assert code == 1 and "already cancelled" in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_watching_and_says_how_to_reattach(env: Path, stub: StubBackend, sig: int) -> None:
    job_id = _job(stub, {"status": "running"})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "jobs",
            "watch",
            job_id,
            "--backend",
            stub.base_url,
            "--poll-interval",
            "0.1",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(stub.requests_to("GET", r"/learning/jobs/[^/]+/events")) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143)
    assert f"Stopped watching job {job_id}" in err and f"sft-studio jobs watch {job_id} --backend" in err
    assert f"sft-studio jobs cancel {job_id}" in err and "Traceback" not in err
    assert stub.requests_to("POST", r"/learning/jobs/[^/]+/cancel") == []  # the job goes on

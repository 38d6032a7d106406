"""`sft-studio backend serve|status|stop|key` and the embedded start: one server per data dir."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.training.server.auth import KEY_ENV
from services.training.server.lifecycle import ensure_local_backend, running_server, stop_server
from tests.support.paths import ROOT
from tui.cli import main


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    env["SFT_STUDIO_DATA_DIR"] = str(data_dir)
    return env


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", "backend", *args],
        cwd=ROOT,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _wait_running(data_dir: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while running_server(data_dir) is None:
        assert time.monotonic() < deadline, "the backend did not come up"
        time.sleep(0.2)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    monkeypatch.delenv(KEY_ENV, raising=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "backend", "serve", "--port", "0"],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_running(tmp_path)
        yield tmp_path, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_serve_status_key_second_serve_and_stop(served: tuple[Path, subprocess.Popen[str]]) -> None:
    data_dir, proc = served
    status = _cli(data_dir, "status", "--json")
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert info["running"] and info["host"] == "127.0.0.1" and info["pid"] == proc.pid
    key = _cli(data_dir, "key").stdout.strip()
    key_file = data_dir / "backend" / "api_key"
    assert key == key_file.read_text().strip() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    jobs = httpx.get(f"{info['url']}/api/learning/jobs", headers={"Authorization": f"Bearer {key}"}, trust_env=False)
    assert jobs.status_code == 200
    assert httpx.get(f"{info['url']}/api/learning/jobs", trust_env=False).status_code == 401

    second = _cli(data_dir, "serve", "--port", "0")
    assert second.returncode == 1
    assert f"already running for {data_dir} on port {info['port']}" in second.stderr
    assert "Traceback" not in second.stderr

    stopped = _cli(data_dir, "stop")
    assert stopped.returncode == 0 and f"port {info['port']}" in stopped.stdout
    proc.wait(20)
    assert _cli(data_dir, "status").returncode == 1
    assert not (data_dir / "backend" / "server.json").exists()
    assert key not in (proc.stdout.read() if proc.stdout else "") + (proc.stderr.read() if proc.stderr else "")


def test_a_non_loopback_bind_needs_allow_remote(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "serve", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 1 and "--allow-remote" in refused.stderr


def test_bad_stand_in_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "serve", "--stand-in", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "REQUESTED=TRAINED" in capsys.readouterr().err


def test_stop_and_status_when_nothing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "status", "--data-dir", str(tmp_path)]) == 1
    assert main(["backend", "stop", "--data-dir", str(tmp_path)]) == 0
    assert "no backend was running" in capsys.readouterr().out


def test_ensure_local_backend_starts_detached_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    try:
        url, key = ensure_local_backend(tmp_path)
        info = running_server(tmp_path)
        assert info is not None and info.url == url and info.pid != os.getpid()
        assert os.getsid(info.pid) != os.getsid(0)  # its own session: it outlives the app
        assert ensure_local_backend(tmp_path) == (url, key)
        assert running_server(tmp_path) == info
        response = httpx.get(f"{url}/api/learning/models", headers={"Authorization": f"Bearer {key}"}, trust_env=False)
        assert response.json() == {"object": "list", "data": []}
    finally:
        with contextlib.suppress(Exception):
            stop_server(tmp_path)
    assert running_server(tmp_path) is None


def test_a_server_killed_mid_job_takes_its_trainer_along_and_the_restart_fails_the_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.services.training.server_support import FAKE_TRAINER, GOOD_ROW, jsonl

    monkeypatch.delenv(KEY_ENV, raising=False)
    trainer = f"{sys.executable} {FAKE_TRAINER}"
    args = ["--trainer-command", trainer]
    url, key = ensure_local_backend(tmp_path, extra_args=args)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=f"{url}/api", headers=headers, trust_env=False, timeout=30) as client:
            file_id = client.post("/files", files={"file": ("t.jsonl", jsonl([GOOD_ROW]))}).json()["id"]
            body = {
                "model": "sft-studio/tiny-qwen3",
                "hyperparameters": {"n_epochs": 1},
                "training_type": "sft_offline",
                "metadata": {"fake_trainer": {"mode": "hang"}},
                "training_file_id": file_id,
            }
            base = tmp_path / "base"
            base.mkdir()
            (base / "config.json").write_text("{}")
            body["model"] = str(base)
            job_id = client.post("/learning/jobs", json=body).json()["job_id"]
            client.post(f"/learning/jobs/{job_id}/start", json={})
            deadline = time.monotonic() + 60
            while client.get(f"/learning/jobs/{job_id}").json()["status"] != "training":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        info = running_server(tmp_path)
        assert info is not None
        trainers = subprocess.run(["pgrep", "-P", str(info.pid)], capture_output=True, text=True).stdout.split()
        assert trainers, "the trainer child should be running"
        os.kill(info.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in trainers):  # PR_SET_PDEATHSIG ended it
            assert time.monotonic() < deadline, "the trainer outlived the killed server"
            time.sleep(0.1)
        url, key = ensure_local_backend(tmp_path, extra_args=args)
        job = httpx.get(f"{url}/api/learning/jobs/{job_id}", headers=headers, trust_env=False).json()
        assert job["status"] == "failed" and job["error"] == "the server stopped during the job"
    finally:
        with contextlib.suppress(Exception):
            stop_server(tmp_path)

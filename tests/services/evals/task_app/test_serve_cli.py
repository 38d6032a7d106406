"""`sft-studio task-app serve`: clear start-up errors (no traceback), then a served app that stops cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.evals.task_app.client import check_task_app, run_rollout
from tests.support.paths import ROOT
from tui.cli import main

KEY = "sk-env-cli-0123456789abcdef"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEV_ENVIRONMENT_API_KEY", "dev_environment_api_key", "ENVIRONMENT_API_KEY_ALIASES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["task-app", "serve", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_no_server_key(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT_API_KEY")
    code, text = _run(capsys, "--port", "0")
    assert code == 1 and "ENVIRONMENT_API_KEY is not set" in text and "Traceback" not in text


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, text = _run(capsys, "--port", str(port))
    assert code == 1 and f"Cannot listen on 127.0.0.1:{port}" in text and "--port" in text


def test_remote_host_needs_allow_remote(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _run(capsys, "--host", "0.0.0.0", "--port", "0")
    assert code == 1 and "--allow-remote" in text


def test_trace_db_that_is_not_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 50, encoding="utf-8")
    code, text = _run(capsys, "--port", "0", "--trace-db", str(bogus))
    assert code == 1 and "--trace-db" in text and "Traceback" not in text
    assert bogus.read_text(encoding="utf-8").startswith("these are my notes")  # untouched
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, text = _run(capsys, "--port", "0", "--trace-db", str(folder))
    assert code == 1 and "directory" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--port", "70000"], "--port"), (["--inference-retries", "-1"], "--inference-retries")],
)
def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    code, text = _run(capsys, *args)
    assert code == 2 and needle in text


def test_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "task-app" in capsys.readouterr().out


@pytest.mark.slow
def test_serves_traces_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTH_", "OPENAI_"))}
    env["ENVIRONMENT_API_KEY"] = KEY
    db = tmp_path / "served.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "task-app", "serve", "--port", "0", "--trace-db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "serving http://127.0.0.1:" in first, first + (proc.stderr.read() if proc.stderr else "")
        url = first.split("serving ", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                info = check_task_app(url, KEY)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert info.task_id == "crafter_classic"
        result = run_rollout(url, seed=2, model="sft-studio/random", inference_url="", max_turns=12, api_key=KEY)
        assert result.decisions == 12 and result.error is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        _out, err = proc.communicate()
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    import sqlite3

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT session_id FROM session_traces").fetchall() == [("eval-2",)]
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/", timeout=2)

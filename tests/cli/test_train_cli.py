"""`sft-studio train`: dry run, submit and watch, and every bad input as a clear message and exit code."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.jobs.support import KEY, fake_model, local_backend, write_config, write_dataset
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


def _train(tmp: Path, backend: str, *extra: str, config: Path | None = None, dataset: Path | None = None) -> list[str]:
    return [
        "train",
        "--type",
        "sft",
        "--config",
        str(config or write_config(tmp)),
        "--dataset",
        str(dataset or write_dataset(tmp)),
        "--backend",
        backend,
        "--poll-interval",
        "0.05",
        *extra,
    ]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _clean(err: str) -> None:
    assert "Traceback" not in err and KEY not in err


def test_dry_run_sends_nothing_and_prints_the_payload(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(_train(env, stub.base_url, "--dry-run"), capsys)
    assert code == 0 and not stub.requests
    assert '"training_file_id": "file_<training>"' in out and '"submission_id"' in out
    assert "Dry run: nothing was sent." in err and f"Backend: backend {stub.base_url}" in out + err
    assert "SYNTH_API_KEY from the environment" in out + err
    _clean(out + err)


def test_success_prints_the_model_id_last(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    model = "peft:Qwen/Qwen3-0.6B:job_stub_1"
    stub.set_job("job_stub_1", {"job_id": "job_stub_1", "status": "succeeded", "fine_tuned_model": model})
    code, out, err = _run(_train(env, stub.base_url), capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == model
    assert "Job created (id=job_stub_1)" in err and "Final status: succeeded" in err
    _clean(out + err)


def test_failed_job_exits_non_zero_with_the_reason(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    stub.set_job("job_stub_1", {"job_id": "job_stub_1", "state": "failed", "error": "CUDA out of memory"})
    code, out, err = _run(_train(env, stub.base_url), capsys)
    assert code == 1 and "job job_stub_1 failed: CUDA out of memory" in err
    _clean(out + err)


def test_no_poll(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(_train(env, stub.base_url, "--no-poll"), capsys)
    assert code == 0 and "Started job job_stub_1 (polling disabled)" in err and out.strip() == "job_stub_1"
    assert not stub.requests_to("GET", r"/learning/jobs/[^/]+/events")


def test_poll_timeout_is_honoured(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    stub.set_job("job_stub_1", {"job_id": "job_stub_1", "status": "running"})
    code, _out, err = _run(_train(env, stub.base_url, "--poll-timeout", "0.5"), capsys)
    assert code == 1 and "--poll-timeout" in err and "sft-studio jobs watch job_stub_1" in err


def test_unreachable_backend(env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = _run(_train(env, f"http://127.0.0.1:{port}"), capsys)
    assert code == 1 and "cannot reach" in err
    _clean(out + err)


def test_wrong_key(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    stub.fail("POST", r"/files", status=401, body={"detail": "invalid api key"})
    code, out, err = _run(_train(env, stub.base_url), capsys)
    assert code == 1 and "refused the key" in err and not stub.job_payloads
    _clean(out + err)


def test_config_the_cli_would_refuse(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(env)
    config.write_text(config.read_text().replace("n_epochs = 1", "n_epochs = 0"))
    code, out, err = _run(_train(env, stub.base_url, config=config), capsys)
    assert code == 1 and "n_epochs must be an integer greater than zero" in err and not stub.requests
    _clean(out + err)


def test_dataset_failing_validation(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = env / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "", "content": "x"}]}\n', encoding="utf-8")
    code, out, err = _run(_train(env, stub.base_url, dataset=bad), capsys)
    assert code == 1 and "Dataset validation failed" in err and not stub.requests
    _clean(out + err)


def test_env_file_missing_or_unreadable(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(_train(env, stub.base_url, "--env-file", str(env / "missing.env")), capsys)
    assert code == 2 and "missing.env does not exist" in err
    code, out, err = _run(_train(env, stub.base_url, "--env-file", str(env)), capsys)
    assert code == 2 and "is a folder" in err
    assert not stub.requests
    _clean(out + err)


def test_env_file_is_never_written(env: Path, stub: StubBackend, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SYNTH_API_KEY")
    env_file = env / "my.env"
    env_file.write_text(f'SYNTH_API_KEY="{KEY}"\n', encoding="utf-8")
    before = env_file.read_bytes(), env_file.stat().st_mtime_ns
    code, _out, err = _run(_train(env, stub.base_url, "--env-file", str(env_file), "--no-poll"), capsys)
    assert code == 0 and f"SYNTH_API_KEY from --env-file {env_file.name}" in err.replace("./", "")
    assert (env_file.read_bytes(), env_file.stat().st_mtime_ns) == before
    assert stub.requests[0].header("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize("fault", ["html", "garbage"])
def test_backend_answering_html_or_garbage(env: Path, stub: StubBackend, capsys, fault: str) -> None:  # type: ignore[no-untyped-def]
    stub.fail("POST", r"/files", **{fault: True})  # type: ignore[arg-type]
    code, out, err = _run(_train(env, stub.base_url), capsys)
    assert code == 1 and ("HTML" in err or "not JSON" in err)
    _clean(out + err)


def test_create_failure_names_the_uploaded_file(env: Path, stub: StubBackend, capsys) -> None:  # type: ignore[no-untyped-def]
    stub.fail("POST", r"/learning/jobs", status=400, body={"detail": "missing_gpu_type"})
    code, _out, err = _run(_train(env, stub.base_url), capsys)
    assert code == 1 and "uploaded file_stub_1 but creating the job failed" in err


def test_local_backend_end_to_end(env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(env, model=str(fake_model(env)))
    with local_backend(env / "data"):
        code, out, err = _run(_train(env, "local", config=config), capsys)
        assert code == 0, err
        model_id = out.splitlines()[-1]
        assert model_id.startswith("peft:") and "Backend: local backend http://127.0.0.1:" in err
        code, out, err = _run(["models", "list", "--backend", "local", "--json"], capsys)
        assert code == 0 and [m["id"] for m in json.loads(out)] == [model_id]
        code, out, err = _run(["jobs", "list", "--backend", "local", "--json"], capsys)
        rows = json.loads(out)
        assert rows[0]["status"] == "succeeded" and rows[0]["sft_studio"]["config_path"] == str(config)
        job_id = rows[0]["job_id"]
        # no --backend: the job store says where it was submitted (how the app and a later shell reattach)
        code, out, err = _run(["jobs", "watch", job_id], capsys)
        assert code == 0 and out.splitlines()[-1] == model_id and "Backend: local backend" in err


def test_config_validate_follows_the_backend(env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    config = write_config(env, model="sft-studio/tiny-qwen3")
    code, out, _err = _run(["config", "validate", str(config), "--backend", "local"], capsys)
    assert code == 0 and "ok" in out
    code, out, _err = _run(["config", "validate", str(config)], capsys)
    assert code == 1 and "is not supported" in out
    hosted = write_config(env, name="hosted.toml")
    code, out, _err = _run(["config", "validate", str(hosted), "--backend", "local"], capsys)
    assert code == 1 and "local backend cannot train 'Qwen/Qwen3-0.6B'" in out.replace("\n", " ")

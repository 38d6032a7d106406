"""Acceptance: synth-ai 0.2.23's own ``synth-ai train --type sft`` (in its separate venv) uploads,
creates, starts and polls a job to ``succeeded`` against our server, with the shipped LoRA config.

The fake trainer stands in for torch here (so this runs wherever the reference CLI can be installed);
``test_real_trainer_...`` runs the real trainer child when this build has it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import httpx
import pytest

from services.training.server.base_models import parse_stand_ins
from tests.services.training.server_support import GOOD_ROW, LiveServer, jsonl
from tests.support.paths import ROOT
from tests.support.reference_cli import reference_python, run_reference_cli
from tests.support.reference_tools import ReferenceUnavailable, reference_unavailable

pytestmark = [pytest.mark.network, pytest.mark.slow]

LORA_CONFIG = ROOT / "configs" / "crafter_lora_qwen0p6b.toml"
JOB_CREATED = re.compile(r"Job created \(id=([^\)]+)\)")


@pytest.fixture(scope="module", autouse=True)
def _reference_cli() -> None:
    try:
        reference_python()
    except ReferenceUnavailable as exc:
        reference_unavailable(f"synth-ai 0.2.23 unavailable: {exc}")


def _work(tmp_path: Path) -> tuple[Path, Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    config = work / "lora.toml"
    shutil.copyfile(LORA_CONFIG, config)
    data = work / "crafter.jsonl"
    data.write_bytes(jsonl([GOOD_ROW] * 4))
    return work, config, data


def _job(server: LiveServer, stdout: str) -> dict[str, object]:
    match = JOB_CREATED.search(stdout)
    assert match, stdout
    response = httpx.get(
        f"{server.url}/api/learning/jobs/{match.group(1)}",
        headers={"Authorization": f"Bearer {server.settings.key}"},
        trust_env=False,
    )
    body: dict[str, object] = response.json()
    return body


def test_real_cli_trains_the_stand_in_to_succeeded(tmp_path: Path) -> None:
    work, config, data = _work(tmp_path)
    stand_ins = parse_stand_ins(["Qwen/Qwen3-0.6B=sft-studio/tiny-qwen3"])
    with LiveServer(tmp_path / "data", stand_ins=stand_ins) as server:
        proc = run_reference_cli(config, data, work, server.url, api_key=server.settings.key, poll_interval=0.5)
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        assert "Final status: succeeded" in proc.stdout, proc.stdout
        job = _job(server, proc.stdout)
    assert job["status"] == "succeeded"
    assert job["fine_tuned_model"] == f"peft:sft-studio/tiny-qwen3:{job['job_id']}"
    assert job["hyperparameters"]["parallelism"]["bf16"] is True  # type: ignore[index]
    assert "sft.stand_in" in proc.stdout  # the warning event is shown by the CLI's stream
    sent = json.loads(json.dumps(job["metadata"]))
    assert sent["effective_config"]["compute"]["gpu_type"] == "H100"


def test_real_cli_sees_a_base_model_that_cannot_be_loaded_fail(tmp_path: Path) -> None:
    work, config, data = _work(tmp_path)
    with LiveServer(tmp_path / "data") as server:
        proc = run_reference_cli(config, data, work, server.url, api_key=server.settings.key, poll_interval=0.5)
        assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"  # the CLI exits 0 on failure
        assert "Final status: failed" in proc.stdout, proc.stdout
        job = _job(server, proc.stdout)
        assert "not in the local Hugging Face cache" in str(job["error"])
        assert httpx.get(f"{server.url}/api/health", trust_env=False).status_code == 200


def test_real_cli_with_a_wrong_key_is_refused(tmp_path: Path) -> None:
    work, config, data = _work(tmp_path)
    with LiveServer(tmp_path / "data") as server:
        proc = run_reference_cli(config, data, work, server.url, api_key="sk-wrong-key-000000000000")
    assert proc.returncode == 1  # a 401 on upload ends the CLI
    assert server.settings.key not in proc.stdout + proc.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("services.training.trainer_main") is None
    or importlib.util.find_spec("services.training.tiny_qwen3") is None,
    reason="this build has no trainer yet (services/training/trainer_main.py and tiny_qwen3.py)",
)
def test_real_trainer_trains_the_stand_in_for_the_real_cli(tmp_path: Path) -> None:
    from services.training.server.base_models import build_tiny_in_child

    work, config, data = _work(tmp_path)
    stand_ins = parse_stand_ins(["Qwen/Qwen3-0.6B=sft-studio/tiny-qwen3"])
    with LiveServer(
        tmp_path / "data",
        stand_ins=stand_ins,
        trainer_command=None,
        tiny_builder=build_tiny_in_child,
        trainer_env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    ) as server:
        proc = run_reference_cli(
            config, data, work, server.url, api_key=server.settings.key, poll_interval=1.0, timeout=300
        )
        job = _job(server, proc.stdout)
    assert job["status"] == "succeeded", (job, proc.stdout)
    assert job["fine_tuned_model"] == f"peft:sft-studio/tiny-qwen3:{job['job_id']}"

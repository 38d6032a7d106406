"""The synth-ai 0.2.23 reference harness works: its payload builder in batch, and its real CLI against the stub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.reference_cli import DUMMY_API_KEY, RefCase, RefOutcome, reference_build, run_reference_cli
from tests.support.reference_tools import ReferenceUnavailable, reference_unavailable
from tests.support.stub_backend import StubBackend

pytestmark = [pytest.mark.network, pytest.mark.slow]

VALID = """\
[algorithm]
type = "offline"
method = "sft"
variety = "{variety}"

[job]
model = "Qwen/Qwen3-0.6B"

[compute]
gpu_type = "H100"
gpu_count = 1
nodes = 1

[training]
mode = "lora"
use_qlora = true

[training.validation]
enabled = true
eval_steps = 50

[hyperparameters]
n_epochs = 1
train_kind = "peft"
per_device_batch = 2
gradient_accumulation_steps = 32
sequence_length = 4096
learning_rate = 5e-6
warmup_ratio = 0.03

[hyperparameters.parallelism]
use_deepspeed = true
deepspeed_stage = 2
fsdp = false
bf16 = true
fp16 = false
activation_checkpointing = true
"""

ROW = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}


def _layout(root: Path) -> tuple[Path, Path, Path]:
    """A working folder with ``sft.toml`` (variety lora), ``qlora.toml`` (variety qlora) and ``data.jsonl``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sft.toml").write_text(VALID.format(variety="lora"), encoding="utf-8")
    (root / "qlora.toml").write_text(VALID.format(variety="qlora"), encoding="utf-8")
    (root / "data.jsonl").write_text(json.dumps(ROW) + "\n", encoding="utf-8")
    return root / "sft.toml", root / "qlora.toml", root / "data.jsonl"


def _key_order(value: Any) -> Any:
    """Keys in order at every level (json.dumps without sort_keys compares values and order at once)."""
    if isinstance(value, dict):
        return [(k, _key_order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_order(v) for v in value]
    return value


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[RefOutcome]]:
    root = tmp_path_factory.mktemp("ref_build")
    valid, qlora, data = _layout(root)
    try:
        outcomes = reference_build(
            [RefCase(config=valid, dataset=data, cwd=root), RefCase(config=qlora, dataset=data, cwd=root)]
        )
    except ReferenceUnavailable as exc:
        reference_unavailable(f"synth-ai 0.2.23 unavailable: {exc}")
    return root, outcomes


def test_reference_build_accepts_a_valid_config(built: tuple[Path, list[RefOutcome]]) -> None:
    ok = built[1][0]
    assert ok.ok, (ok.error, ok.output)
    assert ok.error is None
    assert ok.payload is not None
    assert ok.payload["model"] == "Qwen/Qwen3-0.6B"
    assert ok.payload["training_type"] == "sft_offline"
    assert "training_file_id" in ok.payload and ok.payload["training_file_id"] is None
    assert ok.payload["hyperparameters"]["parallelism"]["deepspeed_stage"] == 2


def test_reference_build_reports_a_rejection(built: tuple[Path, list[RefOutcome]]) -> None:
    bad = built[1][1]
    assert not bad.ok
    assert bad.payload is None
    assert bad.error is not None and "Unsupported algorithm configuration" in bad.error


def test_real_cli_posts_the_built_payload_to_the_stub(built: tuple[Path, list[RefOutcome]], tmp_path: Path) -> None:
    expected = built[1][0].payload
    assert expected is not None
    valid, _, data = _layout(tmp_path / "work")
    with StubBackend() as backend:
        proc = run_reference_cli(valid, data, tmp_path / "work", backend.base_url)
        requests = backend.requests
        payloads = backend.job_payloads
        uploads = backend.uploads
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert len(payloads) == 1, [(r.method, r.path) for r in requests]
    assert len(uploads) == 1 and uploads[0].content == data.read_bytes()
    sent = payloads[0]
    want = dict(expected)
    want["training_file_id"] = uploads[0].file_id  # the only key the CLI fills in after building
    assert json.dumps(sent) == json.dumps(want)
    assert _key_order(sent) == _key_order(want)
    job_post = next(r for r in requests if r.path == "/api/learning/jobs")
    assert job_post.header("Authorization") == f"Bearer {DUMMY_API_KEY}"
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "/api/files"),
        ("GET", f"/api/files/{uploads[0].file_id}"),
        ("POST", "/api/learning/jobs"),
        ("POST", "/api/learning/jobs/job_stub_1/start"),
    ]
    assert not (tmp_path / "work" / ".env").exists()  # the key file the CLI writes is cleaned up

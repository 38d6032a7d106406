"""The accept/reject table: each case's expected outcome is taken from synth_backend_api.md (§2, §3 and
"Observed behaviour of the 0.2.23 CLI on edge cases"), message for message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.sft_config_check import Level, Source, check_text
from services.sft_payload import job_payload

ROOT = Path(__file__).resolve().parents[1]
LORA = ROOT / "configs" / "crafter_lora_qwen0p6b.toml"
FFT = ROOT / "configs" / "crafter_fft_qwen0p6b.toml"

HEAD = """[algorithm]
type = "offline"
method = "sft"
variety = "lora"

[job]
model = "Qwen/Qwen3-0.6B"

[compute]
gpu_type = "H100"
gpu_count = 1
"""


def cfg(hyper: str = "n_epochs = 1", extra: str = "", head: str = HEAD) -> str:
    return f"{head}\n{extra}\n[hyperparameters]\n{hyper}\n"


# (id, toml text, expected: None = accepted, else a substring of the CLI's error)
CASES: list[tuple[str, str, str | None]] = [
    ("lora-shipped", LORA.read_text(), None),
    ("fft-shipped", FFT.read_text(), None),
    ("variety-qlora", cfg(head=HEAD.replace('"lora"', '"qlora"')), "Unsupported algorithm configuration:"),
    ("variety-peft", cfg(head=HEAD.replace('"lora"', '"peft"')), "variety='peft'"),
    ("algorithm-case-and-spaces", cfg(head=HEAD.replace('"offline"', '" OFFLINE "')), None),
    (
        "supervised-finetune-fft",
        cfg(head=HEAD.replace('"sft"', '"supervised_finetune"').replace('"lora"', '"fft"')),
        None,
    ),
    (
        "rl-algorithm",
        cfg(
            head=HEAD.replace('"offline"', '"online"').replace('"sft"', '"policy_gradient"').replace('"lora"', '"gspo"')
        ),
        "but the current command expects SFT",
    ),
    (
        "no-algorithm-sft-mode",
        cfg(head=HEAD.split("[job]")[1].join(["[job]", ""]), extra='[training]\nmode = "sft_offline"'),
        "Missing required [algorithm] section in config.",
    ),
    ("no-algorithm-nothing", cfg(head="[job]" + HEAD.split("[job]")[1]), "is missing algorithm.type/method metadata"),
    ("model-lowercase", cfg(head=HEAD.replace("Qwen/Qwen3-0.6B", "qwen/qwen3-0.6b")), None),
    ("model-unknown", cfg(head=HEAD.replace("Qwen/Qwen3-0.6B", "meta/llama")), "Model 'meta/llama' is not supported."),
    ("model-finetuned", cfg(head=HEAD.replace("Qwen/Qwen3-0.6B", "peft:Qwen/Qwen3-0.6B:job_1")), "is not supported"),
    (
        "model-experimental",
        cfg(head=HEAD.replace("Qwen/Qwen3-0.6B", "Qwen/Qwen3-4B-Thinking-2507")),
        "is experimental and disabled",
    ),
    (
        "model-empty-top-level",
        'model = "Qwen/Qwen3-1.7B"\n' + cfg(head=HEAD.replace('model = "Qwen/Qwen3-0.6B"', 'model = ""')),
        None,
    ),
    (
        "model-missing-top-level",
        'model = "Qwen/Qwen3-1.7B"\n' + cfg(head=HEAD.replace('model = "Qwen/Qwen3-0.6B"', 'data = "x"')),
        "job.model: Field required",
    ),
    ("n_epochs-true", cfg("n_epochs = true"), None),
    ("n_epochs-false", cfg("n_epochs = false"), "hyperparameters.n_epochs must be an integer greater than zero"),
    ("n_epochs-zero", cfg("n_epochs = 0"), "hyperparameters.n_epochs must be an integer greater than zero"),
    (
        "n_epochs-fraction",
        cfg("n_epochs = 1.5"),
        "hyperparameters.n_epochs: Input should be a valid integer, got a number with a fractional part",
    ),
    ("n_epochs-string", cfg('n_epochs = "2"'), None),
    (
        "batch-string-word",
        cfg('per_device_batch = "two"'),
        "hyperparameters.per_device_batch: Input should be a valid integer",
    ),
    ("lr-string", cfg('learning_rate = "2e-5"'), None),
    ("lr-zero", cfg("learning_rate = 0"), "hyperparameters.learning_rate must be greater than zero"),
    ("lr-negative", cfg("learning_rate = -1e-5"), "must be a float greater than or equal to zero"),
    ("warmup-two", cfg("warmup_ratio = 2"), "hyperparameters.warmup_ratio must be between 0 and 1 inclusive"),
    ("warmup-zero", cfg("warmup_ratio = 0"), None),
    ("seq-len-padded-string", cfg('sequence_length = " 1024 "'), None),
    ("train-kind-banana", cfg('train_kind = "banana"'), None),
    ("use-qlora-one", cfg(extra='[training]\nmode = "lora"\nuse_qlora = 1'), None),
    ("weight-decay-word", cfg('weight_decay = "abc"'), "hyperparameters.weight_decay: Input should be a valid number"),
    ("weight-decay-ok", cfg("weight_decay = 0.01"), None),
    (
        "lora-target-string",
        cfg(extra='[training.lora]\ntarget_modules = "all-linear"'),
        "training.lora.target_modules: Input should be a valid list",
    ),
    ("lora-rank", cfg(extra="[training.lora]\nr = 8\nalpha = 16"), None),
    ("compute-no-gpu-type", cfg(head=HEAD.replace('gpu_type = "H100"\n', "")), "compute.gpu_type: Field required"),
    ("no-compute", cfg(head=HEAD.split("[compute]")[0]), None),
    ("gpu-count-zero", cfg(head=HEAD.replace("gpu_count = 1", "gpu_count = 0")), None),
    (
        "parallelism-extra",
        cfg(
            extra="", hyper='n_epochs = 1\n[hyperparameters.parallelism]\nfsdp_sharding_strategy = "full"\nbf16 = true'
        ),
        None,
    ),
    ("policy-half", cfg(extra='[policy]\nmodel_name = "Qwen/Qwen3-0.6B"'), "policy.trainer_mode: Field required"),
    ("unknown-section", cfg(extra="[bogus]\nx = 1"), None),
    ("invalid-toml", "[job\nmodel = 1\n", "Failed to parse TOML"),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_accept_reject_table(text: str, expected: str | None, tmp_path: Path) -> None:
    report = check_text(text, tmp_path / "c.toml", cwd=tmp_path)
    if expected is None:
        assert report.cli_error is None, report.cli_error
        assert report.payload is not None
    else:
        assert report.cli_error is not None and expected in report.cli_error
        assert report.payload is None or report.cli_error
        assert any(f.level is Level.ERROR for f in report.findings)


def _payload(text: str, tmp_path: Path) -> dict[str, Any]:
    report = check_text(text, tmp_path / "c.toml", cwd=tmp_path)
    assert report.payload is not None, report.cli_error
    return report.payload


def test_coercions_reach_the_payload_as_the_cli_sends_them(tmp_path: Path) -> None:
    hp = _payload(cfg('n_epochs = true\nper_device_batch = "2"\nlearning_rate = "2e-5"\nwarmup_ratio = 0'), tmp_path)
    assert hp["hyperparameters"] == {"n_epochs": 1, "per_device_batch": 2, "learning_rate": 2e-05, "warmup_ratio": 0.0}
    assert isinstance(hp["hyperparameters"]["warmup_ratio"], float)
    assert _payload(cfg('sequence_length = " 1024 "'), tmp_path)["hyperparameters"]["sequence_length"] == 1024
    training = _payload(cfg(extra='[training]\nmode = "lora"\nuse_qlora = "yes"'), tmp_path)
    assert training["metadata"]["effective_config"]["training"] == {"mode": "lora", "use_qlora": True}
    assert (
        _payload(cfg(head=HEAD.replace("Qwen/Qwen3-0.6B", "qwen/qwen3-0.6b")), tmp_path)["model"] == "Qwen/Qwen3-0.6B"
    )


def test_payload_key_order_is_the_builders_not_the_files(tmp_path: Path) -> None:
    text = cfg('train_kind = "peft"\nwarmup_ratio = 0.1\nlearning_rate = 1e-5\nn_epochs = 2\nper_device_batch = 1')
    assert list(_payload(text, tmp_path)["hyperparameters"]) == [
        "n_epochs",
        "per_device_batch",
        "learning_rate",
        "warmup_ratio",
        "train_kind",
    ]
    extra = cfg(hyper='n_epochs = 1\n[hyperparameters.parallelism]\nfsdp_sharding_strategy = "full"\nbf16 = true')
    assert list(_payload(extra, tmp_path)["hyperparameters"]["parallelism"]) == ["bf16", "fsdp_sharding_strategy"]


def test_dropped_keys_warn_and_lora_extras_are_ours_only(tmp_path: Path) -> None:
    report = check_text(
        cfg("n_epochs = 1\nweight_decay = 0.01", extra="[training.lora]\nr = 8\nalpha = 16"), tmp_path / "c.toml"
    )
    assert report.payload is not None and "lora_rank" not in report.payload["hyperparameters"]
    assert "weight_decay" not in report.payload["hyperparameters"]
    assert report.extras == {"lora_rank": 8, "lora_alpha": 16}
    assert job_payload(report)["hyperparameters"]["lora_rank"] == 8
    assert "lora_rank" not in job_payload(report, cli_exact=True)["hyperparameters"]
    warned = {f.path for f in report.warnings}
    assert {"hyperparameters.weight_decay", "training.lora.r", "training.lora.alpha"} <= warned


def test_no_compute_is_accepted_by_the_cli_but_not_submittable(tmp_path: Path) -> None:
    report = check_text(cfg(head=HEAD.split("[compute]")[0]), tmp_path / "c.toml")
    assert report.cli_accepts and not report.submittable
    backend = [f for f in report.errors if f.source is Source.BACKEND]
    assert backend and "missing_gpu_type" in backend[0].message
    assert report.payload is not None and report.payload["metadata"]["effective_config"]["compute"] == {}


def test_gpu_count_zero_is_sent_as_written_but_flagged(tmp_path: Path) -> None:
    report = check_text(cfg(head=HEAD.replace("gpu_count = 1", "gpu_count = 0")), tmp_path / "c.toml")
    assert report.cli_accepts and report.payload is not None
    assert report.payload["metadata"]["effective_config"]["compute"]["gpu_count"] == 0
    assert any(f.path == "compute.gpu_count" for f in report.errors)


def test_dataset_rules(tmp_path: Path) -> None:
    text = cfg()
    missing = check_text(text, tmp_path / "c.toml", cwd=tmp_path, require_dataset=True)
    assert missing.cli_error == "Dataset not specified; pass --dataset or set [job].data"
    absent = check_text(text, tmp_path / "c.toml", cwd=tmp_path, dataset=Path("nope.jsonl"))
    assert absent.cli_error == f"Dataset not found: {(tmp_path / 'nope.jsonl').resolve()}"
    # [job].data resolves from the current directory, not from the config's folder.
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jsonl").write_text('{"messages": [{"role": "user", "content": "x"}]}\n')
    with_data = cfg(head=HEAD.replace('model = "Qwen/Qwen3-0.6B"', 'model = "Qwen/Qwen3-0.6B"\ndata = "d.jsonl"'))
    from_sub = check_text(with_data, tmp_path / "sub" / "c.toml", cwd=tmp_path, require_dataset=True)
    assert from_sub.cli_error is not None and "Dataset not found" in from_sub.cli_error
    from_cwd = check_text(with_data, tmp_path / "c.toml", cwd=tmp_path / "sub", require_dataset=True)
    assert from_cwd.cli_error is None


def test_missing_validation_file_warns_and_is_not_sent(tmp_path: Path) -> None:
    report = check_text(cfg(extra='[data]\nvalidation_path = "val.jsonl"'), tmp_path / "c.toml", cwd=tmp_path)
    assert report.cli_accepts and report.validation_file is None
    assert any("Validation dataset" in f.message and "missing" in f.message for f in report.warnings)
    assert "validation_files" not in job_payload(report)["metadata"]["effective_config"]["data"]


def test_invalid_toml_finding_has_line_and_column(tmp_path: Path) -> None:
    report = check_text("[job]\nmodel = \n", tmp_path / "c.toml")
    finding = report.errors[0]
    assert finding.source is Source.TOML and finding.line == 2
    assert "Invalid TOML at line 2, column" in finding.message


def test_finding_lines_point_at_the_key(tmp_path: Path) -> None:
    text = cfg("n_epochs = 1\nwarmup_ratio = 2")
    report = check_text(text, tmp_path / "c.toml")
    finding = next(f for f in report.findings if f.path == "hyperparameters.warmup_ratio")
    assert text.splitlines()[finding.line - 1] == "warmup_ratio = 2"  # type: ignore[operator]


# The payload of synth_backend_api.md §3, verified against the real CLI for the shipped LoRA config.
DOC_EXAMPLE = """{
  "model": "Qwen/Qwen3-0.6B",
  "hyperparameters": {
    "n_epochs": 1, "per_device_batch": 2, "gradient_accumulation_steps": 32,
    "sequence_length": 4096, "learning_rate": 5e-06, "warmup_ratio": 0.03, "train_kind": "peft",
    "parallelism": {"use_deepspeed": true, "deepspeed_stage": 2, "fsdp": false,
                    "bf16": true, "fp16": false, "activation_checkpointing": true},
    "evaluation_strategy": "steps", "eval_steps": 50, "save_best_model_at_end": true,
    "metric_for_best_model": "val.loss", "greater_is_better": false
  },
  "training_type": "sft_offline",
  "metadata": {"effective_config": {
    "compute": {"gpu_type": "H100", "gpu_count": 1, "nodes": 1},
    "data": {"topology": {}, "validation_files": ["file_…"]},
    "training": {"mode": "lora", "use_qlora": true, "validation": {"enabled": true}}}},
  "training_file_id": "file_…"
}"""


def test_shipped_lora_payload_equals_the_reference_example(tmp_path: Path) -> None:
    report = check_text(LORA.read_text(), LORA)
    body = job_payload(report, training_file_id="file_…", validation_file_id="file_…", cli_exact=True)
    # Same values and the same key order at every level.
    assert json.dumps(body) == json.dumps(json.loads(DOC_EXAMPLE))
    assert job_payload(report, training_file_id="file_…", validation_file_id="file_…") == body  # no extras set

"""The accept/reject table for SFT configs, each verdict taken from synth_backend_api.md (§2, §3, §14 and
"Observed behaviour of the 0.2.23 CLI on edge cases", which wins where they disagree).

Every case runs through ``check_text`` exactly as ``sft-studio config validate --dataset`` does (the CLI
always needs a dataset, so ``require_dataset=True``). The layout of each case mirrors a real run: the
current directory holds ``train.jsonl``, the config sits one folder below it (``conf/config.toml``), so a
relative ``[job].data`` that resolves from the config's folder instead of the CWD fails.

One parity test sends the whole table through synth-ai 0.2.23's own payload builder
(``tests.support.reference_cli.reference_build``) and requires the same verdicts, the same error texts and the
same payloads, key order included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.configs.check import check_text
from services.configs.payload import job_payload
from services.configs.report import ConfigReport, Level, Source
from tests.support.paths import ROOT

LORA = ROOT / "configs" / "crafter_lora_qwen0p6b.toml"
FFT = ROOT / "configs" / "crafter_fft_qwen0p6b.toml"

ALGO = 'type = "offline"\nmethod = "sft"\nvariety = "lora"'
JOB = 'model = "Qwen/Qwen3-0.6B"'
COMPUTE = 'gpu_type = "H100"\ngpu_count = 1'


def cfg(
    hyper: str | None = "n_epochs = 1",
    *,
    algorithm: str | None = ALGO,
    job: str | None = JOB,
    compute: str | None = COMPUTE,
    extra: str = "",
    top: str = "",
) -> str:
    """A small config; ``None`` leaves a section out, ``extra`` is appended after [hyperparameters]."""
    parts = [top] if top else []
    for name, body in (("algorithm", algorithm), ("job", job), ("compute", compute), ("hyperparameters", hyper)):
        if body is not None:
            parts.append(f"[{name}]\n{body}\n")
    if extra:
        parts.append(extra + "\n")
    return "\n".join(parts)


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    error: str | None = None  # None = the CLI accepts; else a substring of its error message
    dataset: str = "given"  # "given": --dataset <cwd>/train.jsonl; "none": no --dataset; "missing": a path that isn't
    allow_experimental: bool | None = None  # not None: our own option, no reference counterpart (left out of parity)
    payload: dict[str, Any] = field(default_factory=dict)  # dotted path in the payload → value (type-checked too)
    absent: tuple[str, ...] = ()  # dotted paths the payload must not have
    warning: str | None = None  # a substring of some warning's message
    extras: dict[str, Any] | None = None  # report.extras, exactly
    submittable: bool | None = None  # checked when set (default: same as the CLI verdict)


UNSUPPORTED = "Unsupported algorithm configuration"
INT_GT0 = "must be an integer greater than zero"

CASES: list[Case] = [
    # --- the shipped configs
    Case(
        "shipped-lora",
        LORA.read_text(encoding="utf-8"),
        payload={
            "model": "Qwen/Qwen3-0.6B",
            "hyperparameters.train_kind": "peft",
            "hyperparameters.learning_rate": 5e-06,
            "metadata.effective_config.training.use_qlora": True,
        },
    ),
    Case(
        "shipped-fft",
        FFT.read_text(encoding="utf-8"),
        payload={"hyperparameters.train_kind": "fft", "metadata.effective_config.training.mode": "sft_offline"},
        absent=("hyperparameters.weight_decay",),
        warning="weight_decay never reaches the backend",
    ),
    # --- [algorithm]
    Case("variety-qlora", cfg(algorithm=ALGO.replace('"lora"', '"qlora"')), f"{UNSUPPORTED}:"),
    Case("variety-peft", cfg(algorithm=ALGO.replace('"lora"', '"peft"')), "variety='peft'"),
    Case(
        "no-algorithm-sft-mode",
        cfg(algorithm=None, extra='[training]\nmode = "sft_offline"'),
        "Missing required [algorithm] section in config.",
    ),
    Case("no-algorithm-nothing-sft-like", cfg(algorithm=None), "missing algorithm.type/method metadata"),
    Case(
        "algorithm-case-and-whitespace",
        cfg(algorithm='type = " Offline "\nmethod = "SFT"\nvariety = " LoRA "'),
        payload={"training_type": "sft_offline"},
    ),
    Case("supervised-finetune-fft", cfg(algorithm='type = "offline"\nmethod = "supervised_finetune"\nvariety = "fft"')),
    # --- [job].model
    Case("model-lowercase", cfg(job='model = "qwen/qwen3-0.6b"'), payload={"model": "Qwen/Qwen3-0.6B"}),
    Case("model-unknown", cfg(job='model = "meta-llama/Llama-3.1-8B"'), "is not supported"),
    Case("model-ft-prefix", cfg(job='model = "ft:Qwen/Qwen3-0.6B:job_123"'), "is not supported"),
    Case("model-peft-prefix", cfg(job='model = "peft:Qwen/Qwen3-0.6B:job_123"'), "is not supported"),
    Case(
        "model-experimental",
        cfg(job='model = "Qwen/Qwen3-4B-Thinking-2507"'),
        "Model 'Qwen/Qwen3-4B-Thinking-2507' is experimental and disabled",
    ),
    Case(
        "model-experimental-allowed",
        cfg(job='model = "qwen/qwen3-4b-thinking-2507"'),
        allow_experimental=True,
        payload={"model": "Qwen/Qwen3-4B-Thinking-2507"},
    ),
    Case(
        "model-empty-uses-top-level",
        cfg(job='model = ""', top='model = "Qwen/Qwen3-1.7B"\n'),
        payload={"model": "Qwen/Qwen3-1.7B"},
    ),
    Case(
        "model-missing-top-level-ignored",
        cfg(job='data_path = ""', top='model = "Qwen/Qwen3-1.7B"\n'),
        "job.model: Field required",
    ),
    # --- [hyperparameters]: pydantic's lax coercion first, then the builder's range checks
    Case("n_epochs-true", cfg("n_epochs = true"), payload={"hyperparameters.n_epochs": 1}),
    Case("n_epochs-false", cfg("n_epochs = false"), f"hyperparameters.n_epochs {INT_GT0}"),
    Case("n_epochs-zero", cfg("n_epochs = 0"), f"hyperparameters.n_epochs {INT_GT0}"),
    Case(
        "n_epochs-fraction",
        cfg("n_epochs = 1.5"),
        "hyperparameters.n_epochs: Input should be a valid integer, got a number with a fractional part",
    ),
    Case("n_epochs-string", cfg('n_epochs = "2"'), payload={"hyperparameters.n_epochs": 2}),
    Case("per-device-batch-string", cfg('per_device_batch = "2"'), payload={"hyperparameters.per_device_batch": 2}),
    Case(
        "per-device-batch-word",
        cfg('per_device_batch = "two"'),
        "hyperparameters.per_device_batch: Input should be a valid integer",
    ),
    Case("learning-rate-string", cfg('learning_rate = "2e-5"'), payload={"hyperparameters.learning_rate": 2e-05}),
    Case("learning-rate-zero", cfg("learning_rate = 0"), "hyperparameters.learning_rate must be greater than zero"),
    Case(
        "learning-rate-negative",
        cfg("learning_rate = -1"),
        "hyperparameters.learning_rate must be a float greater than or equal to zero",
    ),
    Case("warmup-two", cfg("warmup_ratio = 2"), "hyperparameters.warmup_ratio must be between 0 and 1 inclusive"),
    Case("warmup-zero-is-float", cfg("warmup_ratio = 0"), payload={"hyperparameters.warmup_ratio": 0.0}),
    Case(
        "sequence-length-padded-string",
        cfg('sequence_length = " 1024 "'),
        payload={"hyperparameters.sequence_length": 1024},
    ),
    Case(
        "train-kind-banana",
        cfg('train_kind = "banana"'),
        payload={"hyperparameters.train_kind": "banana"},
        warning='train_kind = "banana" is sent as-is',
    ),
    Case(
        "use-qlora-one",
        cfg(extra='[training]\nmode = "lora"\nuse_qlora = 1'),
        payload={"metadata.effective_config.training.use_qlora": True},
    ),
    Case(
        "use-qlora-yes",
        cfg(extra='[training]\nmode = "lora"\nuse_qlora = "yes"'),
        payload={"metadata.effective_config.training.use_qlora": True},
    ),
    Case(
        "weight-decay-word",
        cfg('n_epochs = 1\nweight_decay = "abc"'),
        "hyperparameters.weight_decay: Input should be a valid number",
    ),
    Case(
        "weight-decay-dropped",
        cfg("n_epochs = 1\nweight_decay = 0.01"),
        absent=("hyperparameters.weight_decay",),
        warning="weight_decay never reaches the backend",
    ),
    # --- [training.lora]: type-checked, dropped by the CLI, sent by us as beyond-CLI extras
    Case(
        "lora-target-modules-string",
        cfg(extra='[training.lora]\ntarget_modules = "all-linear"'),
        "training.lora.target_modules: Input should be a valid list",
    ),
    Case(
        "lora-rank-dropped-by-cli",
        cfg('n_epochs = 1\ntrain_kind = "peft"', extra="[training.lora]\nr = 8"),
        absent=("hyperparameters.lora_rank",),
        extras={"lora_rank": 8},
        warning="dropped by synth-ai 0.2.23",
    ),
    # --- [compute]
    Case("compute-without-gpu-type", cfg(compute="gpu_count = 1"), "compute.gpu_type: Field required"),
    Case(
        "no-compute",
        cfg(compute=None),
        payload={"metadata.effective_config.compute": {}},
        submittable=False,
    ),
    Case(
        "gpu-count-zero",
        cfg(compute='gpu_type = "H100"\ngpu_count = 0'),
        payload={"metadata.effective_config.compute.gpu_count": 0},
        submittable=False,
    ),
    # --- pass-through, ignored and validated-but-unused sections
    Case(
        "parallelism-extra-key",
        cfg(
            'n_epochs = 1\n\n[hyperparameters.parallelism]\nfsdp_sharding_strategy = "full"\nbf16 = true\nfsdp = false'
        ),
        payload={"hyperparameters.parallelism": {"fsdp": False, "bf16": True, "fsdp_sharding_strategy": "full"}},
    ),
    Case(
        "policy-half-filled",
        cfg(extra='[policy]\nmodel_name = "Qwen/Qwen3-0.6B"'),
        "policy.trainer_mode: Field required",
    ),
    Case(
        "unknown-section-and-key",
        cfg("n_epochs = 1\nmystery_knob = 3", extra="[bogus]\nx = 1"),
        absent=("hyperparameters.mystery_knob",),
        warning="Unknown section bogus",
    ),
    # --- datasets: --dataset > [job].data > [job].data_path, relative to the CWD
    Case("dataset-missing", cfg(), "Dataset not found: ", dataset="missing"),
    Case("dataset-not-given", cfg(), "Dataset not specified; pass --dataset or set [job].data", dataset="none"),
    Case("job-data-relative-to-cwd", cfg(job=JOB + '\ndata = "train.jsonl"'), dataset="none"),
    Case("job-data-path-alias", cfg(job=JOB + '\ndata_path = "train.jsonl"'), dataset="none"),
    Case(
        "validation-path-missing",
        cfg(extra='[data]\nvalidation_path = "val.jsonl"'),
        absent=("metadata.effective_config.data.validation_files",),
        warning="missing; continuing without validation",
    ),
    Case(
        "validation-section-defaults",
        cfg(extra="[training]\n\n[training.validation]\nenabled = false"),
        payload={
            "hyperparameters.eval_steps": 0,
            "hyperparameters.metric_for_best_model": "val.loss",
            "metadata.effective_config.training.validation": {"enabled": False},
        },
    ),
    # --- not TOML at all
    Case("invalid-toml", '[algorithm]\ntype = "offline"\nmethod = sft\n', "Failed to parse TOML"),
]


def _get(payload: dict[str, Any], dotted: str) -> Any:
    node: Any = payload
    for part in dotted.split("."):
        assert isinstance(node, dict) and part in node, f"payload has no {dotted}"
        node = node[part]
    return node


def _has(payload: dict[str, Any], dotted: str) -> bool:
    node: Any = payload
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@dataclass(frozen=True)
class Layout:
    config: Path
    dataset: Path | None
    cwd: Path


def materialise(case: Case, root: Path) -> Layout:
    cwd = root / case.id
    (cwd / "conf").mkdir(parents=True)
    (cwd / "train.jsonl").write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}) + "\n",
        encoding="utf-8",
    )
    config = cwd / "conf" / "config.toml"
    config.write_text(case.text, encoding="utf-8")
    dataset = {"given": cwd / "train.jsonl", "none": None, "missing": cwd / "absent.jsonl"}[case.dataset]
    return Layout(config, dataset, cwd)


def run(case: Case, layout: Layout) -> ConfigReport:
    return check_text(
        case.text,
        layout.config,
        dataset=layout.dataset,
        cwd=layout.cwd,
        require_dataset=True,
        allow_experimental=case.allow_experimental,
    )


@pytest.fixture(autouse=True)
def _no_experimental_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDK_EXPERIMENTAL", raising=False)
    monkeypatch.delenv("SDK_EXPERIMENTAL_MODELS", raising=False)


def test_table_is_the_promised_size() -> None:
    assert len(CASES) >= 35
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_accept_reject_table(case: Case, tmp_path: Path) -> None:
    layout = materialise(case, tmp_path)
    report = run(case, layout)
    if case.error is None:
        assert report.cli_error is None, report.cli_error
        assert report.cli_accepts
        assert report.payload is not None
        assert list(report.payload) == ["model", "hyperparameters", "training_type", "metadata", "training_file_id"]
        assert report.payload["training_file_id"] is None
        for dotted, expected in case.payload.items():
            got = _get(report.payload, dotted)
            assert got == expected, dotted
            assert type(got) is type(expected), f"{dotted}: {got!r} is {type(got).__name__}"
        for dotted in case.absent:
            assert not _has(report.payload, dotted), dotted
        # The CLI-exact body never carries sft-studio's extras.
        exact = job_payload(report, cli_exact=True)["hyperparameters"]
        assert not any(key.startswith("lora_") for key in exact)
    else:
        assert report.cli_error is not None, "the CLI would accept this"
        assert case.error in report.cli_error, report.cli_error
        assert not report.cli_accepts and not report.submittable
        assert report.payload is None
        assert report.errors, "a refusal always comes with an error finding"
    if case.warning is not None:
        assert any(case.warning in f.message for f in report.warnings), [f.message for f in report.findings]
    if case.extras is not None:
        assert report.extras == case.extras
    expected_submittable = case.submittable if case.submittable is not None else case.error is None
    assert report.submittable is expected_submittable, [f.message for f in report.errors]


def test_experimental_model_also_passes_with_sdk_experimental(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = cfg(job='model = "Qwen/Qwen3-4B-Thinking-2507"')
    assert check_text(text, tmp_path / "c.toml").cli_error is not None
    monkeypatch.setenv("SDK_EXPERIMENTAL", "1")
    report = check_text(text, tmp_path / "c.toml")
    assert report.cli_error is None and report.payload is not None
    assert check_text(text, tmp_path / "c.toml", allow_experimental=False).cli_error is not None


def test_algorithm_messages_in_full(tmp_path: Path) -> None:
    qlora = check_text(cfg(algorithm=ALGO.replace('"lora"', '"qlora"')), tmp_path / "c.toml")
    assert qlora.cli_error is not None
    assert qlora.cli_error.startswith(
        "Unsupported algorithm configuration:\n  type='offline', method='sft', variety='qlora'"
    )
    assert "type='offline', method='sft', variety='lora'" in qlora.cli_error  # the supported list
    # sft-studio explains the fix (QLoRA = variety "lora" + use_qlora).
    assert any(f.source is Source.STUDIO and "use_qlora = true" in f.message for f in qlora.findings)
    nothing = check_text(cfg(algorithm=None), tmp_path / "c.toml")
    assert nothing.cli_error == (
        f"Config {(tmp_path / 'c.toml').resolve()} is missing algorithm.type/method metadata. "
        "Add type = 'rl', 'sft', or 'prompt_learning'."
    )


def test_dataset_not_found_names_the_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    report = check_text(cfg(), tmp_path / "conf" / "c.toml", cwd=tmp_path, dataset=Path("nope/d.jsonl"))
    assert report.cli_error == f"Dataset not found: {(tmp_path / 'nope' / 'd.jsonl').resolve()}"


def test_relative_job_data_resolves_from_the_cwd_not_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "d.jsonl").write_text("{}\n")
    text = cfg(job=JOB + '\ndata = "d.jsonl"')
    # The file next to the config is not found: the CLI looks in the CWD.
    beside = check_text(text, tmp_path / "conf" / "c.toml", cwd=tmp_path, require_dataset=True)
    assert beside.cli_error == f"Dataset not found: {(tmp_path / 'd.jsonl').resolve()}"
    inside = check_text(text, tmp_path / "conf" / "c.toml", cwd=tmp_path / "conf", require_dataset=True)
    assert inside.cli_error is None
    assert inside.train_file == str((tmp_path / "conf" / "d.jsonl").resolve())
    # --dataset wins over [job].data.
    (tmp_path / "other.jsonl").write_text("{}\n")
    override = check_text(text, tmp_path / "conf" / "c.toml", cwd=tmp_path, dataset=Path("other.jsonl"))
    assert override.train_file == str((tmp_path / "other.jsonl").resolve())


def test_existing_validation_file_is_recorded(tmp_path: Path) -> None:
    (tmp_path / "val.jsonl").write_text("{}\n")
    report = check_text(cfg(extra='[data]\nvalidation_path = "val.jsonl"'), tmp_path / "c.toml", cwd=tmp_path)
    assert report.validation_file == str((tmp_path / "val.jsonl").resolve())
    # The CLI's pre-upload payload never has validation_files; they appear once a file id exists.
    assert report.payload is not None
    assert "validation_files" not in report.payload["metadata"]["effective_config"]["data"]
    body = job_payload(report, training_file_id="file_t", validation_file_id="file_v")
    assert body["metadata"]["effective_config"]["data"]["validation_files"] == ["file_v"]


def test_no_compute_finding_names_missing_gpu_type(tmp_path: Path) -> None:
    report = check_text(cfg(compute=None), tmp_path / "c.toml")
    assert report.cli_accepts and not report.submittable
    backend = [f for f in report.errors if f.source is Source.BACKEND]
    assert len(backend) == 1 and "missing_gpu_type" in backend[0].message
    assert backend[0].path == "compute"


def test_lora_rank_is_reported_as_an_extra(tmp_path: Path) -> None:
    report = check_text(cfg('n_epochs = 1\ntrain_kind = "peft"', extra="[training.lora]\nr = 8"), tmp_path / "c.toml")
    assert report.payload is not None and "lora_rank" not in report.payload["hyperparameters"]
    assert report.extras == {"lora_rank": 8}
    assert job_payload(report)["hyperparameters"]["lora_rank"] == 8
    assert "lora_rank" not in job_payload(report, cli_exact=True)["hyperparameters"]
    warning = next(f for f in report.warnings if f.path == "training.lora.r")
    assert "dropped" in warning.message and "lora_rank" in warning.message


def test_parallelism_extra_keys_follow_the_known_ones(tmp_path: Path) -> None:
    text = cfg('n_epochs = 1\n\n[hyperparameters.parallelism]\nzeta = 1\nfsdp_sharding_strategy = "full"\nbf16 = true')
    report = check_text(text, tmp_path / "c.toml")
    assert report.payload is not None
    assert list(report.payload["hyperparameters"]["parallelism"]) == ["bf16", "zeta", "fsdp_sharding_strategy"]


def test_hyperparameter_key_order_is_the_builders(tmp_path: Path) -> None:
    text = cfg(
        'train_kind = "peft"\nwarmup_ratio = 0.1\nlearning_rate = 1e-5\nsequence_length = 512\n'
        "gradient_accumulation_steps = 4\nper_device_batch = 1\nglobal_batch = 4\nbatch_size = 4\nn_epochs = 2"
    )
    report = check_text(text, tmp_path / "c.toml")
    assert report.payload is not None
    assert list(report.payload["hyperparameters"]) == [
        "n_epochs",
        "batch_size",
        "global_batch",
        "per_device_batch",
        "gradient_accumulation_steps",
        "sequence_length",
        "learning_rate",
        "warmup_ratio",
        "train_kind",
    ]


def test_every_range_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    """The CLI stops at n_epochs; the user also learns about warmup_ratio and learning_rate at once."""
    report = check_text(cfg("n_epochs = 0\nlearning_rate = 0\nwarmup_ratio = 2"), tmp_path / "c.toml")
    assert report.cli_error == "hyperparameters.n_epochs must be an integer greater than zero"  # the CLI's verdict
    cli = {f.path: f.message for f in report.errors if f.source is Source.CLI}
    assert cli == {
        "hyperparameters.n_epochs": "hyperparameters.n_epochs must be an integer greater than zero",
        "hyperparameters.learning_rate": "hyperparameters.learning_rate must be greater than zero",
        "hyperparameters.warmup_ratio": "hyperparameters.warmup_ratio must be between 0 and 1 inclusive",
    }
    assert report.payload is None


def test_range_problems_are_reported_beside_type_errors(tmp_path: Path) -> None:
    report = check_text(cfg('n_epochs = 0\nlearning_rate = "fast"\nwarmup_ratio = 2'), tmp_path / "c.toml")
    assert report.cli_error is not None and report.cli_error.startswith("Config validation failed")
    paths = sorted(f.path for f in report.errors if f.source is Source.CLI)
    # learning_rate once (its type error), not again as a range error
    assert paths == ["hyperparameters.learning_rate", "hyperparameters.n_epochs", "hyperparameters.warmup_ratio"]


@pytest.mark.parametrize(
    ("line", "path", "sent", "wording"),
    [
        (
            "per_device_batch = true",
            "hyperparameters.per_device_batch",
            1,
            "a boolean: synth-ai 0.2.23 converts it and sends 1",
        ),
        (
            'per_device_batch = "2"',
            "hyperparameters.per_device_batch",
            2,
            "a string: synth-ai 0.2.23 converts it and sends 2",
        ),
        (
            "sequence_length = 4096.0",
            "hyperparameters.sequence_length",
            4096,
            "a float: synth-ai 0.2.23 converts it and sends 4096",
        ),
        (
            'learning_rate = "2e-5"',
            "hyperparameters.learning_rate",
            2e-05,
            "a string: synth-ai 0.2.23 converts it and sends 2e-05",
        ),
    ],
)
def test_converted_values_are_accepted_and_said(tmp_path: Path, line: str, path: str, sent: Any, wording: str) -> None:
    """Parity: the CLI accepts and converts these (pydantic lax mode); we accept them too, and warn."""
    report = check_text(cfg(f"n_epochs = 1\ngradient_accumulation_steps = 4\n{line}"), tmp_path / "c.toml")
    assert report.cli_accepts and report.payload is not None
    assert report.payload["hyperparameters"][path.split(".")[1]] == sent
    warning = next(f for f in report.warnings if f.path == path)
    assert wording in warning.message


def test_boolean_written_as_a_number_is_said(tmp_path: Path) -> None:
    report = check_text(cfg(extra='[training]\nmode = "lora"\nuse_qlora = 1'), tmp_path / "c.toml")
    assert report.payload is not None
    assert report.payload["metadata"]["effective_config"]["training"]["use_qlora"] is True
    warning = next(f for f in report.warnings if f.path == "training.use_qlora")
    assert "an integer: synth-ai 0.2.23 converts it and sends true. Write use_qlora = true." in warning.message


def test_global_batch_uses_the_values_sent(tmp_path: Path) -> None:
    report = check_text(
        cfg("n_epochs = 1\nper_device_batch = true\ngradient_accumulation_steps = 8"), tmp_path / "c.toml"
    )
    assert report.global_batch == 8
    info = next(f for f in report.findings if f.path == "hyperparameters.gradient_accumulation_steps")
    assert info.message == "Global batch 8 = per-device 1 × accumulation 8 × GPUs 1."


# ---------------------------------------------------------------------------------------- line numbers


def _line_of(report: ConfigReport, path: str, text: str) -> str:
    finding = next(f for f in report.findings if f.path == path)
    assert finding.line is not None, finding
    return text.splitlines()[finding.line - 1]


def test_finding_lines_point_at_the_offending_key(tmp_path: Path) -> None:
    text = cfg("n_epochs = 1\nwarmup_ratio = 2")
    assert _line_of(check_text(text, tmp_path / "c.toml"), "hyperparameters.warmup_ratio", text) == "warmup_ratio = 2"
    text = cfg("n_epochs = 1\nweight_decay = 0.01", extra="[bogus]\nx = 1")
    report = check_text(text, tmp_path / "c.toml")
    assert _line_of(report, "hyperparameters.weight_decay", text) == "weight_decay = 0.01"
    assert _line_of(report, "bogus", text) == "[bogus]"
    text = cfg(compute="gpu_count = 1")
    # A missing key points at its table's header.
    assert _line_of(check_text(text, tmp_path / "c.toml"), "compute.gpu_type", text) == "[compute]"
    text = cfg(algorithm=ALGO.replace('"lora"', '"qlora"'))
    assert _line_of(check_text(text, tmp_path / "c.toml"), "algorithm.variety", text) == 'variety = "qlora"'


def test_shipped_fft_weight_decay_warning_line() -> None:
    text = FFT.read_text(encoding="utf-8")
    report = check_text(text, FFT)
    assert _line_of(report, "hyperparameters.weight_decay", text) == "weight_decay = 0.01"


def test_invalid_toml_reports_line_and_column(tmp_path: Path) -> None:
    text = '[algorithm]\ntype = "offline"\nmethod = sft\n'
    report = check_text(text, tmp_path / "c.toml")
    assert report.cli_error is not None and report.cli_error.startswith("Failed to parse TOML")
    assert report.payload is None
    (finding,) = report.errors
    assert finding.source is Source.TOML and finding.level is Level.ERROR
    assert finding.line == 3
    assert finding.message.startswith("Invalid TOML at line 3, column 10")
    eof = check_text("[job]\nmodel = ", tmp_path / "c.toml")
    assert eof.cli_error is not None and eof.errors


# ---------------------------------------------------------------------------------------- §3 example

# synth_backend_api.md §3, verified against the real CLI for the shipped LoRA config ("file_…" ids).
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


def test_shipped_lora_payload_equals_the_documented_example() -> None:
    report = check_text(LORA.read_text(encoding="utf-8"), LORA)
    expected = json.loads(DOC_EXAMPLE)
    for cli_exact in (True, False):  # the shipped file sets no LoRA extras, so both bodies agree
        body = job_payload(report, training_file_id="file_…", validation_file_id="file_…", cli_exact=cli_exact)
        assert json.dumps(body) == json.dumps(expected)  # values and key order at every level


# ---------------------------------------------------------------------------------------- parity


@pytest.mark.network
@pytest.mark.slow
def test_table_matches_the_real_cli(tmp_path: Path) -> None:
    """Every table case through synth-ai 0.2.23's own config finder and payload builder, in one batch."""
    from tests.support.reference_cli import RefCase, reference_build
    from tests.support.reference_tools import ReferenceUnavailable, reference_unavailable

    # allow_experimental is a per-call option of ours; the reference run reads it from the environment only.
    cases = [case for case in CASES if case.allow_experimental is None]
    layouts = [materialise(case, tmp_path) for case in cases]
    try:
        outcomes = reference_build([RefCase(config=lay.config, dataset=lay.dataset, cwd=lay.cwd) for lay in layouts])
    except ReferenceUnavailable as exc:
        reference_unavailable(f"synth-ai 0.2.23 unavailable: {exc}")
    assert len(outcomes) == len(cases)
    mismatches: list[str] = []
    for case, layout, ref in zip(cases, layouts, outcomes, strict=True):
        ours = run(case, layout)
        if ref.ok != ours.cli_accepts:
            mismatches.append(f"{case.id}: reference ok={ref.ok} ({ref.error!r}), ours {ours.cli_error!r}")
        elif ref.ok:
            if json.dumps(ref.payload) != json.dumps(ours.payload):
                mismatches.append(
                    f"{case.id}: payload\n  ref:  {json.dumps(ref.payload)}\n  ours: {json.dumps(ours.payload)}"
                )
        elif ref.error != ours.cli_error:
            # Exact for every stage, TOML errors included: the config finder raises "Failed to parse TOML: <path>\n
            # <tomllib message>" (the `synth-ai train` entry point then also dumps a traceback, which we do not).
            mismatches.append(f"{case.id}: message\n  ref:  {ref.error!r}\n  ours: {ours.cli_error!r}")
        # Warnings the CLI echoes (a missing validation file) are ours word for word.
        for finding in ours.warnings:
            if finding.source is Source.CLI and f"[WARN] {finding.message}" not in ref.output:
                mismatches.append(f"{case.id}: warning {finding.message!r} not in the reference output {ref.output!r}")
    assert not mismatches, "\n".join(mismatches)

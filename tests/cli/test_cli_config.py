"""`sft-studio config validate | payload | sweep`, driven through ``tui.cli.dispatch.main`` as a user would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.configs.check import check_file
from services.configs.payload import preview_payload
from tests.support.paths import ROOT
from tui.cli import main

LORA_NAME = "crafter_lora_qwen0p6b"
FFT_NAME = "crafter_fft_qwen0p6b"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at 80 columns otherwise, splitting paths and messages
    monkeypatch.delenv("SDK_EXPERIMENTAL", raising=False)


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in (LORA_NAME, FFT_NAME):
        shutil.copy(ROOT / "configs" / f"{name}.toml", folder / f"{name}.toml")
    return folder


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}))
    return path


def _variant(configs: Path, name: str, old: str, new: str) -> Path:
    text = (configs / f"{LORA_NAME}.toml").read_text(encoding="utf-8")
    assert old in text
    path = configs / f"{name}.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "sft-studio failed" not in text


# ------------------------------------------------------------------------------------ validate


def test_validate_shipped_configs_exit_0(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(configs / f"{LORA_NAME}.toml"), str(configs / f"{FFT_NAME}.toml")]
    assert main(["config", "validate", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == 2
    assert "hyperparameters.weight_decay" in out  # the FFT config's dropped key is still mentioned
    assert main(["config", "validate", "--quiet", *files]) == 0
    assert "weight_decay" not in capsys.readouterr().out  # --quiet: errors only


def test_validate_refused_by_the_cli_exit_1(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _variant(configs, "qlora", 'variety = "lora"', 'variety = "qlora"')
    assert main(["config", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "refused (synth-ai 0.2.23 would stop here)" in out
    assert "Unsupported algorithm configuration:" in out
    assert "use_qlora = true" in out  # sft-studio's fix-it advice
    _no_traceback(out)


def test_validate_refused_by_the_backend_exit_1(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_compute = _variant(configs, "nocompute", '[compute]\ngpu_type = "H100"\ngpu_count = 1\nnodes = 1\n', "")
    assert main(["config", "validate", str(no_compute)]) == 1
    out = capsys.readouterr().out
    assert "synth-ai accepts it; the backend or sft-studio would not" in out
    assert "missing_gpu_type" in out


def test_validate_one_bad_file_among_good_ones(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _variant(configs, "zero", "n_epochs = 1", "n_epochs = 0")
    assert main(["config", "validate", str(configs / f"{FFT_NAME}.toml"), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{FFT_NAME}.toml: ok" in out
    assert "zero.toml: refused" in out and "hyperparameters.n_epochs must be an integer greater than zero" in out


def test_validate_invalid_toml_shows_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[algorithm]\ntype = "offline"\nmethod = sft\n')
    assert main(["config", "validate", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "Invalid TOML at line 3, column 10" in captured.out
    assert "(line 3)" in captured.out
    _no_traceback(captured.out, captured.err)


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
def test_validate_unreadable_file_is_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    target = {"missing": tmp_path / "missing.toml", "folder": tmp_path, "binary": tmp_path / "bin.toml"}[kind]
    if kind == "binary":
        target.write_bytes(b"\xff\xfe\x00 = 1")
    assert main(["config", "validate", str(target)]) == 1
    captured = capsys.readouterr()
    expected = {"missing": f"Config not found: {target.resolve()}", "folder": "Cannot read", "binary": "Cannot read"}
    assert expected[kind] in captured.out
    _no_traceback(captured.out, captured.err)


def test_validate_with_dataset(
    configs: Path, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lora = str(configs / f"{LORA_NAME}.toml")
    assert main(["config", "validate", lora, "--dataset", str(dataset)]) == 0
    capsys.readouterr()
    assert main(["config", "validate", lora, "--dataset", str(tmp_path / "nope.jsonl")]) == 1
    assert f"Dataset not found: {(tmp_path / 'nope.jsonl').resolve()}" in capsys.readouterr().out


def test_validate_json(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[job\n")
    good = configs / f"{FFT_NAME}.toml"
    assert main(["config", "validate", "--json", str(good), str(bad)]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in results] == [str(good), str(bad)]
    ok, broken = results
    assert ok["cli_accepts"] is True and ok["submittable"] is True and ok["cli_error"] is None
    assert any(f["path"] == "hyperparameters.weight_decay" and f["level"] == "warning" for f in ok["findings"])
    assert broken["cli_accepts"] is False and broken["submittable"] is False
    assert broken["cli_error"].startswith("Failed to parse TOML")
    (finding,) = broken["findings"]
    assert finding["level"] == "error" and finding["source"] == "toml" and finding["line"] == 1
    assert set(finding) == {"level", "source", "path", "message", "line"}
    assert main(["config", "validate", "--json", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["submittable"] is True


# ------------------------------------------------------------------------------------ payload


def test_payload_is_exactly_the_preview(configs: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lora = configs / f"{LORA_NAME}.toml"
    assert main(["config", "payload", str(lora), "--dataset", str(dataset)]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)  # stdout is nothing but the JSON
    expected = preview_payload(check_file(lora, dataset=dataset, require_dataset=True))
    assert json.dumps(body) == json.dumps(expected)  # same values, same key order
    assert body["training_file_id"] == "file_<training>"
    assert "validation_files" not in body["metadata"]["effective_config"]["data"]
    assert not any(key.startswith("lora_") for key in body["hyperparameters"])
    assert captured.err == ""  # no extras to announce


def test_payload_extras_and_cli_exact(configs: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lora = _variant(
        configs,
        "rank",
        "# [training.lora]\n# r = 16\n# alpha = 32",
        "[training.lora]\nr = 16\nalpha = 32",
    )
    assert main(["config", "payload", str(lora), "--dataset", str(dataset)]) == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert body["hyperparameters"]["lora_rank"] == 16 and body["hyperparameters"]["lora_alpha"] == 32
    assert list(body["hyperparameters"])[-2:] == ["lora_rank", "lora_alpha"]  # extras after the CLI's keys
    assert "beyond the CLI" in captured.err and "hyperparameters.lora_rank" in captured.err
    assert json.dumps(body) == json.dumps(preview_payload(check_file(lora, dataset=dataset, require_dataset=True)))

    assert main(["config", "payload", str(lora), "--dataset", str(dataset), "--cli-exact"]) == 0
    exact = json.loads(capsys.readouterr().out)
    assert not any(key.startswith("lora_") for key in exact["hyperparameters"])
    report = check_file(lora, dataset=dataset, require_dataset=True)
    assert json.dumps(exact) == json.dumps(preview_payload(report, cli_exact=True))
    assert report.payload is not None
    assert exact["hyperparameters"] == report.payload["hyperparameters"]


def test_payload_with_validation_file(configs: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    val = dataset.with_name("val.jsonl")
    val.write_text(dataset.read_text())
    config = _variant(
        configs, "val", '# validation_path = "ft_data/crafter_sft.val.jsonl"', f'validation_path = "{val}"'
    )
    assert main(["config", "payload", str(config), "--dataset", str(dataset)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["metadata"]["effective_config"]["data"] == {"topology": {}, "validation_files": ["file_<validation>"]}


def test_payload_needs_a_dataset(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "payload", str(configs / f"{LORA_NAME}.toml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "No payload:" in captured.err and "Dataset not specified; pass --dataset or set [job].data" in captured.err


def test_payload_of_a_refused_config_prints_no_json(
    configs: Path, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qlora = _variant(configs, "qlora", 'variety = "lora"', 'variety = "qlora"')
    assert main(["config", "payload", str(qlora), "--dataset", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "No payload:" in captured.err and "Unsupported algorithm configuration" in captured.err
    assert main(["config", "payload", str(tmp_path / "missing.toml"), "--dataset", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Config not found" in captured.err
    _no_traceback(captured.out, captured.err)


def test_payload_of_a_backend_refused_config_exits_1(
    configs: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_compute = _variant(configs, "nocompute", '[compute]\ngpu_type = "H100"\ngpu_count = 1\nnodes = 1\n', "")
    assert main(["config", "payload", str(no_compute), "--dataset", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["metadata"]["effective_config"]["compute"] == {}  # what synth-ai would send
    assert "missing_gpu_type" in captured.err


# ------------------------------------------------------------------------------------ sweep


def test_sweep_dry_run_writes_nothing(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in configs.rglob("*"))
    args = ["config", "sweep", str(configs / f"{LORA_NAME}.toml"), "--axis", "lora_rank", "--values", "4,8"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{LORA_NAME}-lora_rank-4.toml" in out and f"{LORA_NAME}-lora_rank-8.toml" in out
    assert "nothing written" in out
    assert sorted(p.name for p in configs.rglob("*")) == before


def test_sweep_writes_files(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "cells"
    args = ["config", "sweep", str(configs / f"{LORA_NAME}.toml"), "--axis", "per_device_batch", "--values", "1,4"]
    args += ["--hold-global-batch", "--out", str(out_dir)]
    assert main(args) == 0
    assert "Wrote 2 configs and sweep.json" in capsys.readouterr().out
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(
        [f"{LORA_NAME}-per_device_batch-1.toml", f"{LORA_NAME}-per_device_batch-4.toml", "sweep.json"]
    )
    manifest = json.loads((out_dir / "sweep.json").read_text())
    assert [c["gradient_accumulation_steps"] for c in manifest["cells"]] == [64, 16]
    for cell in manifest["cells"]:
        assert main(["config", "validate", str(out_dir / cell["file"])]) == 0
    capsys.readouterr()
    # A second run refuses to overwrite, --overwrite replaces.
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "Nothing written:" in captured.err and "already exists" in captured.err
    assert main([*args, "--overwrite"]) == 0


def test_sweep_default_folder(configs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["config", "sweep", str(configs / f"{LORA_NAME}.toml"), "--axis", "method", "--values", "lora,fft"]) == 0
    )
    folder = configs / "sweeps" / f"{LORA_NAME}-method"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{LORA_NAME}-method-lora.toml", f"{LORA_NAME}-method-fft.toml", "sweep.json"]
    )


def test_sweep_refusals(configs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fft = str(configs / f"{FFT_NAME}.toml")
    assert main(["config", "sweep", fft, "--axis", "lora_rank", "--values", "8"]) == 1
    assert "Sweep refused:" in capsys.readouterr().err
    assert main(["config", "sweep", fft, "--axis", "n_epochs", "--values", "0"]) == 1
    assert "Sweep refused:" in capsys.readouterr().err
    out_dir = tmp_path / "cells"
    impossible = ["config", "sweep", fft, "--axis", "per_device_batch", "--values", "1,3", "--hold-global-batch"]
    impossible += ["--out", str(out_dir)]
    assert main([*impossible, "--dry-run"]) == 1
    assert "cannot be held" in capsys.readouterr().out
    assert main(impossible) == 1
    captured = capsys.readouterr()
    assert "Nothing written:" in captured.err and "cannot be held" in captured.err
    assert not out_dir.exists()
    with pytest.raises(SystemExit) as exit_info:
        main(["config", "sweep", fft, "--axis", "bogus", "--values", "1"])
    assert exit_info.value.code == 2
    _no_traceback(captured.out, captured.err)


# ------------------------------------------------------------------------------------- config set


def test_set_edits_values_keeps_layout_and_backs_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fft.toml"
    original = (ROOT / "configs" / "crafter_fft_qwen0p6b.toml").read_text()
    target.write_text(original)
    rc = main(
        [
            "config",
            "set",
            str(target),
            "hyperparameters.learning_rate=2e-5",
            "compute.gpu_type=H200",
            "hyperparameters.weight_decay=",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "+learning_rate = 2e-5" in out and "Saved" in out
    text = target.read_text()
    assert (
        'gpu_type = "H200"' in text and "learning_rate = 2e-5\n" in text and "weight_decay" not in text.split("#")[-1]
    )
    assert text.count("\n") == original.count("\n") - 1  # one line removed, nothing else moved
    assert (tmp_path / "fft.toml.bak").read_text() == original


def test_set_dry_run_and_bad_values_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "fft.toml"
    original = (ROOT / "configs" / "crafter_fft_qwen0p6b.toml").read_text()
    target.write_text(original)
    assert main(["config", "set", str(target), "hyperparameters.n_epochs=3", "--dry-run"]) == 0
    assert target.read_text() == original
    assert main(["config", "set", str(target), "hyperparameters.learning_rate=["]) == 1
    assert "learning_rate must be a number ('[' is not one)" in capsys.readouterr().err
    assert main(["config", "set", str(target), "no-equals-sign"]) == 1
    assert main(["config", "set", str(tmp_path / "missing.toml"), "a=1"]) == 1
    assert target.read_text() == original and not (tmp_path / "fft.toml.bak").exists()


def test_set_reports_a_result_that_would_be_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "lora.toml"
    target.write_text((ROOT / "configs" / "crafter_lora_qwen0p6b.toml").read_text())
    original = target.read_text()
    assert main(["config", "set", str(target), "hyperparameters.warmup_ratio=2"]) == 1
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())  # Rich wraps at the console width
    assert "warmup_ratio must be between 0 and 1" in out and "--force" in " ".join(captured.err.split())
    assert target.read_text() == original  # refused: nothing written
    assert main(["config", "set", str(target), "hyperparameters.warmup_ratio=2", "--force"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "would be refused at submit time" in out and "warmup_ratio = 2" in target.read_text()


def test_set_refuses_what_the_form_refuses_and_unknown_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10 item 9: a non-number for a number, a misspelled key: refused, exit 1, nothing written."""
    target = tmp_path / "lora.toml"
    original = (ROOT / "configs" / "crafter_lora_qwen0p6b.toml").read_text()
    target.write_text(original)
    assert main(["config", "set", str(target), "hyperparameters.learning_rate=abc"]) == 1
    assert "learning_rate must be a number ('abc' is not one)" in capsys.readouterr().err
    assert main(["config", "set", str(target), "hyperparameters.n_epochs=1.5"]) == 1
    assert "n_epochs must be a whole number" in capsys.readouterr().err
    assert main(["config", "set", str(target), "training.use_qlora=yes"]) == 1
    assert "use_qlora must be true or false" in capsys.readouterr().err
    assert main(["config", "set", str(target), "hyperparameters.learnin_rate=1e-5"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "Did you mean hyperparameters.learning_rate?" in err and "--allow-new-key" in err
    assert target.read_text() == original and not (tmp_path / "lora.toml.bak").exists()
    # Known keys take bare words as the form does; a new key is added when asked for.
    assert main(["config", "set", str(target), "compute.gpu_type=H200", "tags.team=research"]) == 0
    assert main(["config", "set", str(target), "hyperparameters.my_knob=3", "--allow-new-key"]) == 0
    text = target.read_text()
    assert 'gpu_type = "H200"' in text and 'team = "research"' in text and "my_knob = 3" in text


def test_set_puts_a_key_without_a_section_before_the_first_table_not_in_the_header(tmp_path: Path) -> None:
    target = tmp_path / "c.toml"
    body = (ROOT / "configs" / "crafter_lora_qwen0p6b.toml").read_text()
    last_header_line = "# Every key is explained in configs/README.md.\n"
    for text in (body, body.replace(last_header_line + "\n", last_header_line)):  # with and without a blank line
        target.write_text(text)
        assert main(["config", "set", str(target), "model=Qwen/Qwen3-0.6B"]) == 0
        assert last_header_line + '\nmodel = "Qwen/Qwen3-0.6B"\n\n[algorithm]\n' in target.read_text()

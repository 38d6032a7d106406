"""Sweeps: one config per axis value, named after it, each validated, written atomically with a manifest."""

from __future__ import annotations

import json
import shutil
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from services.configs import document as config_document
from services.configs.check import check_text
from services.configs.sweeps import Axis, SweepError, plan_sweep, slug, write_sweep
from tests.support.paths import ROOT

LORA_NAME = "crafter_lora_qwen0p6b"
FFT_NAME = "crafter_fft_qwen0p6b"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in (LORA_NAME, FFT_NAME):
        shutil.copy(ROOT / "configs" / f"{name}.toml", folder / f"{name}.toml")
    return folder


@pytest.fixture
def lora(configs: Path) -> Path:
    return configs / f"{LORA_NAME}.toml"


@pytest.fixture
def fft(configs: Path) -> Path:
    return configs / f"{FFT_NAME}.toml"


def parsed(text: str) -> dict[str, Any]:
    return tomllib.loads(text)


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


# ------------------------------------------------------------------------------------ naming


def test_names_run_names_and_tags(lora: Path) -> None:
    plan = plan_sweep(lora, "n_epochs", "1,2,3")
    assert plan.axis is Axis.N_EPOCHS
    assert plan.out_dir == lora.parent / "sweeps" / f"{LORA_NAME}-n_epochs"
    assert [c.path.name for c in plan.cells] == [f"{LORA_NAME}-n_epochs-{n}.toml" for n in (1, 2, 3)]
    for cell, n in zip(plan.cells, (1, 2, 3), strict=True):
        assert cell.path.parent == plan.out_dir
        assert cell.run_name == f"{LORA_NAME}-n_epochs-{n}" == cell.path.stem
        data = parsed(cell.text)
        assert data["tags"] == {
            "sweep": f"{LORA_NAME}-n_epochs",
            "axis": "n_epochs",
            "value": str(n),
            "run_name": cell.run_name,
        }
        assert data["hyperparameters"]["n_epochs"] == n
        assert not cell.problems and not cell.errors and not cell.exists


def test_existing_tags_are_kept(tmp_path: Path) -> None:
    base = tmp_path / "mine.toml"
    text = (ROOT / "configs" / f"{LORA_NAME}.toml").read_text(encoding="utf-8")
    base.write_text(text + '\n[tags]\nowner = "ana"  # who\n', encoding="utf-8")
    (cell,) = plan_sweep(base, "sequence_length", "2048", out_dir=tmp_path / "out").cells
    assert cell.path == tmp_path / "out" / "mine-sequence_length-2048.toml"
    assert parsed(cell.text)["tags"]["owner"] == "ana"
    assert 'owner = "ana"  # who' in cell.text
    assert parsed(cell.text)["tags"]["run_name"] == "mine-sequence_length-2048"


def test_slugs_are_readable_file_names() -> None:
    assert slug("1e-5") == "1e-5"
    assert slug("ft_data/top10.jsonl") == "top10"
    assert slug("a b/c d.jsonl") == "c_d"
    assert slug("qlora") == "qlora"
    assert slug("///") == "value"


@pytest.mark.parametrize(
    ("axis", "values", "match"),
    [
        ("lora_rank", "8,8", "repeat"),
        ("lora_rank", "0", "≥ 1"),
        ("lora_rank", "eight", "whole numbers"),
        ("n_epochs", " , ", "at least one value"),
        ("method", "lora,peft", "lora, qlora, fft"),
        ("learning_rate", "fast", "must be numbers"),
        ("learning_rate", "0", "positive"),
        ("learning_rate", "-1e-5", "positive"),
        ("dataset", "a/top.jsonl,b/top.jsonl", "same file name"),
    ],
)
def test_bad_values_are_refused(lora: Path, axis: str, values: str, match: str) -> None:
    with pytest.raises(SweepError, match=match):
        plan_sweep(lora, axis, values)
    assert not (lora.parent / "sweeps").exists()


def test_unreadable_base_is_a_sweep_error(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="does not exist"):
        plan_sweep(tmp_path / "nope.toml", "n_epochs", "1")
    (tmp_path / "bad.toml").write_text("[job\n")
    with pytest.raises(SweepError, match="Invalid TOML at line 1"):
        plan_sweep(tmp_path / "bad.toml", "n_epochs", "1")


# ------------------------------------------------------------------------------------ axes


def test_lora_rank_sweep_creates_the_lora_table_and_validates(lora: Path) -> None:
    plan = plan_sweep(lora, "lora_rank", "4,8,16,64")
    for cell, rank in zip(plan.cells, (4, 8, 16, 64), strict=True):
        assert parsed(cell.text)["training"]["lora"] == {"r": rank}
        assert "[training.lora]\nr = " in cell.text
        report = check_text(cell.text, cell.path)
        assert report.cli_accepts and report.submittable, [f.message for f in report.errors]
        assert report.extras == {"lora_rank": rank}
        assert report.payload is not None and "lora_rank" not in report.payload["hyperparameters"]
        assert not cell.errors


def test_lora_rank_on_the_fft_config_is_refused(fft: Path) -> None:
    with pytest.raises(SweepError, match='full finetune \\(train_kind = "fft"\\)'):
        plan_sweep(fft, "lora_rank", "8,16")
    assert not (fft.parent / "sweeps").exists()


@pytest.mark.parametrize("base_name", [LORA_NAME, FFT_NAME])
def test_method_sweep_switches_every_flag_and_each_cell_validates(configs: Path, base_name: str) -> None:
    plan = plan_sweep(configs / f"{base_name}.toml", "method", "lora,qlora,fft")
    expected = {
        "lora": ("lora", "lora", False, "peft"),
        "qlora": ("lora", "lora", True, "peft"),
        "fft": ("fft", "sft_offline", False, "fft"),
    }
    assert [c.value for c in plan.cells] == ["lora", "qlora", "fft"]
    for cell in plan.cells:
        data = parsed(cell.text)
        got = (
            data["algorithm"]["variety"],
            data["training"]["mode"],
            data["training"]["use_qlora"],
            data["hyperparameters"]["train_kind"],
        )
        assert got == expected[cell.value]
        report = check_text(cell.text, cell.path)
        assert report.cli_accepts and report.submittable, [f.message for f in report.errors]
        assert report.payload is not None
        assert report.payload["hyperparameters"]["train_kind"] == expected[cell.value][3]
        assert report.payload["metadata"]["effective_config"]["training"]["use_qlora"] is expected[cell.value][2]
        # No consistency warnings: every switch agrees with the others.
        assert not [f for f in report.warnings if f.path in ("training.mode", "training.use_qlora")]
        assert not cell.errors


def test_learning_rate_keeps_its_literal_spelling(lora: Path) -> None:
    plan = plan_sweep(lora, "learning_rate", "1e-5,2E-5,0.0001,1")
    lines = [next(line for line in c.text.splitlines() if line.startswith("learning_rate")) for c in plan.cells]
    assert lines == ["learning_rate = 1e-5", "learning_rate = 2E-5", "learning_rate = 0.0001", "learning_rate = 1.0"]
    assert [c.path.name.removeprefix(f"{LORA_NAME}-learning_rate-") for c in plan.cells] == [
        "1e-5.toml",
        "2E-5.toml",
        "0.0001.toml",
        "1.toml",
    ]
    values = [check_text(c.text, c.path).payload["hyperparameters"]["learning_rate"] for c in plan.cells]  # type: ignore[index]
    assert values == [1e-5, 2e-5, 0.0001, 1.0]


def test_hold_global_batch_per_device_batch(lora: Path) -> None:
    # The LoRA base: per-device 2 × accumulation 32 × 1 GPU = 64.
    plan = plan_sweep(lora, "per_device_batch", "1,2,4,8,64", hold_global_batch=True)
    assert plan.base_global_batch == 64 and plan.writable
    assert [(c.global_batch, c.gradient_accumulation_steps) for c in plan.cells] == [
        (64, 64),
        (64, 32),
        (64, 16),
        (64, 8),
        (64, 1),
    ]
    for cell in plan.cells:
        hp = parsed(cell.text)["hyperparameters"]
        assert hp["per_device_batch"] * hp["gradient_accumulation_steps"] == 64
        assert check_text(cell.text, cell.path).global_batch == 64


def test_hold_global_batch_gpu_count(lora: Path) -> None:
    plan = plan_sweep(lora, "gpu_count", "1,2,4,8", hold_global_batch=True)
    assert [c.gradient_accumulation_steps for c in plan.cells] == [32, 16, 8, 4]
    for cell, gpus in zip(plan.cells, (1, 2, 4, 8), strict=True):
        data = parsed(cell.text)
        assert data["compute"]["gpu_count"] == gpus
        assert 2 * data["hyperparameters"]["gradient_accumulation_steps"] * gpus == 64
        assert cell.global_batch == 64


def test_without_hold_the_global_batch_moves(lora: Path) -> None:
    plan = plan_sweep(lora, "per_device_batch", "4")
    assert plan.cells[0].global_batch == 128 and plan.cells[0].gradient_accumulation_steps == 32
    assert parsed(plan.cells[0].text)["hyperparameters"]["gradient_accumulation_steps"] == 32


@pytest.mark.parametrize(("axis", "values", "bad"), [("per_device_batch", "2,3", "3"), ("gpu_count", "1,3,128", "3")])
def test_impossible_cell_is_reported_and_nothing_is_written(
    lora: Path, tmp_path: Path, axis: str, values: str, bad: str
) -> None:
    out = tmp_path / "out"
    plan = plan_sweep(lora, axis, values, hold_global_batch=True, out_dir=out)
    assert not plan.writable
    broken = {c.value: c.problems for c in plan.cells if c.problems}
    assert bad in broken and "global batch 64 cannot be held" in broken[bad][0]
    assert not plan.cells[0].problems
    with pytest.raises(SweepError, match="cannot be held"):
        write_sweep(plan)
    with pytest.raises(SweepError, match="cannot be held"):
        write_sweep(plan, overwrite=True)
    assert not out.exists()


def test_hold_global_batch_needs_a_batch_in_the_base(tmp_path: Path) -> None:
    base = tmp_path / "b.toml"
    base.write_text(
        '[algorithm]\ntype = "offline"\nmethod = "sft"\nvariety = "lora"\n[job]\nmodel = "Qwen/Qwen3-0.6B"\n'
    )
    with pytest.raises(SweepError, match="needs per_device_batch"):
        plan_sweep(base, "gpu_count", "1,2", hold_global_batch=True)


def test_examples_axis_records_examples_in_manifest_and_tags(lora: Path, tmp_path: Path) -> None:
    base_text = lora.read_text(encoding="utf-8")
    plan = plan_sweep(lora, "examples", "500,1000,5000", out_dir=tmp_path / "out")
    assert [c.examples for c in plan.cells] == [500, 1000, 5000]
    for cell in plan.cells:
        data = parsed(cell.text)
        assert data["tags"]["examples"] == cell.examples
        # Apart from the tags, the cell is the base config.
        assert {k: v for k, v in data.items() if k != "tags"} == parsed(base_text)
    written = write_sweep(plan)
    manifest = json.loads(written[-1].read_text(encoding="utf-8"))
    assert [c["examples"] for c in manifest["cells"]] == [500, 1000, 5000]
    assert [c["file"] for c in manifest["cells"]] == [f"{LORA_NAME}-examples-{n}.toml" for n in (500, 1000, 5000)]


def test_dataset_axis_sets_job_data(lora: Path, tmp_path: Path) -> None:
    (tmp_path / "ft_data").mkdir()
    for name in ("top10", "all"):
        (tmp_path / "ft_data" / f"{name}.jsonl").write_text('{"messages": []}\n')
    plan = plan_sweep(lora, "dataset", "ft_data/top10.jsonl,ft_data/all.jsonl", cwd=tmp_path)
    assert [c.path.name for c in plan.cells] == [f"{LORA_NAME}-dataset-top10.toml", f"{LORA_NAME}-dataset-all.toml"]
    for cell, data_path in zip(plan.cells, ("ft_data/top10.jsonl", "ft_data/all.jsonl"), strict=True):
        assert parsed(cell.text)["job"]["data"] == data_path
        assert cell.dataset == data_path
        report = check_text(cell.text, cell.path, cwd=tmp_path, require_dataset=True)
        assert report.cli_accepts and report.train_file == str((tmp_path / data_path).resolve())
    # The key lands in [job], after the base's comment about it.
    assert '# data = "ft_data/crafter_sft.jsonl"\ndata = "ft_data/top10.jsonl"\n' in plan.cells[0].text


@pytest.mark.parametrize(
    ("axis", "values"),
    [
        ("lora_rank", "8,16"),
        ("learning_rate", "1e-5"),
        ("method", "lora,qlora,fft"),
        ("sequence_length", "2048"),
        ("per_device_batch", "1,4"),
        ("gpu_count", "2"),
        ("n_epochs", "3"),
        ("examples", "100"),
        ("dataset", "ft_data/x.jsonl"),
    ],
)
def test_base_comments_survive_in_every_cell(lora: Path, axis: str, values: str) -> None:
    base_text = lora.read_text(encoding="utf-8")
    plan = plan_sweep(lora, axis, values, hold_global_batch=axis in ("per_device_batch", "gpu_count"))
    for cell in plan.cells:
        assert comments(cell.text) == comments(base_text)
        assert cell.text.startswith(base_text.splitlines()[0] + "\n")


# ------------------------------------------------------------------------------------ writing


def test_write_sweep_writes_cells_and_manifest(lora: Path) -> None:
    plan = plan_sweep(lora, "lora_rank", "4,8", hold_global_batch=False)
    written = write_sweep(plan)
    assert [p.name for p in written] == [f"{LORA_NAME}-lora_rank-4.toml", f"{LORA_NAME}-lora_rank-8.toml", "sweep.json"]
    assert all(p.parent == plan.out_dir for p in written)
    for cell, path in zip(plan.cells, written, strict=False):
        assert path.read_text(encoding="utf-8") == cell.text
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in plan.out_dir.iterdir()) == sorted(p.name for p in written)  # no temp files
    manifest = json.loads((plan.out_dir / "sweep.json").read_text(encoding="utf-8"))
    assert manifest == {
        "base": str(lora),
        "axis": "lora_rank",
        "hold_global_batch": False,
        "base_global_batch": 64,
        "cells": [
            {
                "file": f"{LORA_NAME}-lora_rank-{r}.toml",
                "value": str(r),
                "run_name": f"{LORA_NAME}-lora_rank-{r}",
                "global_batch": 64,
                "gradient_accumulation_steps": 32,
                "examples": None,
                "dataset": None,
            }
            for r in (4, 8)
        ],
    }


def test_write_sweep_refuses_existing_files_without_overwrite(lora: Path) -> None:
    first = write_sweep(plan_sweep(lora, "lora_rank", "4,8"))
    before = {p: p.read_bytes() for p in first}
    again = plan_sweep(lora, "lora_rank", "8,16")
    assert [c.exists for c in again.cells] == [True, False]
    with pytest.raises(SweepError, match="already exists"):
        write_sweep(again)
    assert {p: p.read_bytes() for p in first} == before  # nothing touched
    assert not (again.out_dir / f"{LORA_NAME}-lora_rank-16.toml").exists()
    written = write_sweep(again, overwrite=True)
    assert [p.name for p in written[:-1]] == [f"{LORA_NAME}-lora_rank-8.toml", f"{LORA_NAME}-lora_rank-16.toml"]
    assert [c["value"] for c in json.loads(written[-1].read_text())["cells"]] == ["8", "16"]
    assert not list(again.out_dir.glob("*.bak"))  # cells are regenerated, not backed up


def test_write_failure_is_a_sweep_error_without_temp_files(
    lora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_sweep(lora, "n_epochs", "1,2", out_dir=tmp_path / "out")

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_document.os, "replace", boom)
    with pytest.raises(SweepError, match="No space left on device"):
        write_sweep(plan)
    assert list((tmp_path / "out").iterdir()) == []


def test_cells_that_would_be_refused_are_not_written(lora: Path, tmp_path: Path) -> None:
    # A base without [compute]: every cell would be refused by the backend (missing_gpu_type).
    base = tmp_path / "no_compute.toml"
    text = lora.read_text()
    start = text.index("[compute]")
    base.write_text(text[:start] + text[text.index("[data]") :])
    plan = plan_sweep(base, "learning_rate", "1e-5,2e-5", out_dir=tmp_path / "out")
    assert all(cell.errors and not cell.problems for cell in plan.cells)
    assert not plan.writable
    with pytest.raises(SweepError, match="would be refused"):
        write_sweep(plan)
    assert not (tmp_path / "out").exists()


def test_cells_end_with_one_newline(lora: Path) -> None:
    for cell in plan_sweep(lora, "lora_rank", "8").cells:
        assert cell.text.endswith("\n") and not cell.text.endswith("\n\n")
        assert "[training.lora]\nr = 8\n\n" in cell.text  # a new sub-table still ends with a blank line


def test_a_failed_write_removes_the_cells_it_created(
    lora: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = plan_sweep(lora, "lora_rank", "4,8,16", out_dir=tmp_path / "out")
    real = config_document.atomic_write
    calls = {"n": 0}

    def flaky(path: Path, text: str, *, backup: bool = True) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise config_document.ConfigFileError(f"Cannot save {path}: disk full")
        real(path, text, backup=backup)

    import services.configs.sweeps as sweep_mod

    monkeypatch.setattr(sweep_mod, "atomic_write", flaky)
    with pytest.raises(SweepError, match="removed again"):
        write_sweep(plan)
    assert list((tmp_path / "out").iterdir()) == []

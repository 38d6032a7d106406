"""`sft-studio backend export-model ID DIR`: a LoRA job merged into its base, a full fine-tune copied,
and the refusals (unknown id, a folder in the way) said in one line with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.training.server.settings import DB_FILE, backend_dir
from services.training.server.store import Store
from tui.cli import main


def _register(data_dir: Path, model_id: str, path: Path, kind: str) -> None:
    store = Store(backend_dir(data_dir) / DB_FILE)
    try:
        store.add_model(
            model_id=model_id, base_model="sft-studio/tiny-qwen3", job_id="job_x", train_kind=kind, path=str(path)
        )
    finally:
        store.close()


def test_lora_model_is_merged_into_a_standalone_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    from services.training.trainer_main import run_job
    from tests.services.training.trainer_support import make_job

    torch.set_num_threads(1)
    job_dir = tmp_path / "job"
    job = make_job(job_dir, train_kind="peft", hyperparameters={"lora_rank": 4, "learning_rate": 5e-3})
    assert run_job(job, job_dir, lambda line: None).ok
    data_dir = tmp_path / "data"
    model_id = "peft:sft-studio/tiny-qwen3:job_x"
    _register(data_dir, model_id, job_dir / "output", "peft")

    dest = tmp_path / "export" / "merged"
    assert main(["backend", "export-model", model_id, str(dest), "--data-dir", str(data_dir)]) == 0
    assert "LoRA adapter merged into its base" in capsys.readouterr().out
    assert (dest / "model.safetensors").is_file() and not (dest / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(dest, local_files_only=True)
    adapted = AutoPeftModelForCausalLM.from_pretrained(str(job_dir / "output"), local_files_only=True)
    ids = torch.tensor([[1, 5, 9, 300, 42]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)
    assert [p.name for p in dest.parent.iterdir()] == ["merged"]  # no temp folder left


def test_full_fine_tune_is_copied_and_refusals_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    out = tmp_path / "job" / "output"
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}", encoding="utf-8")
    (out / "model.safetensors").write_bytes(b"weights")
    model_id = "fft:sft-studio/tiny-qwen3:job_y"
    _register(data_dir, model_id, out, "fft")

    dest = tmp_path / "copy"
    assert main(["backend", "export-model", model_id, str(dest), "--data-dir", str(data_dir)]) == 0
    assert "full weights copied" in capsys.readouterr().out
    assert (dest / "model.safetensors").read_bytes() == b"weights"

    # the same folder again: refused, untouched
    assert main(["backend", "export-model", model_id, str(dest), "--data-dir", str(data_dir)]) != 0
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "Traceback" not in err
    # an unknown id names the known ones
    assert main(["backend", "export-model", "fft:nope:job_z", str(tmp_path / "n"), "--data-dir", str(data_dir)]) != 0
    err = capsys.readouterr().err
    assert "has no model 'fft:nope:job_z'" in err and model_id in err
    assert not (tmp_path / "n").exists()
    # a data dir whose backend never ran
    assert main(["backend", "export-model", model_id, str(tmp_path / "m"), "--data-dir", str(tmp_path / "empty")]) != 0
    assert "has trained no model yet" in capsys.readouterr().err

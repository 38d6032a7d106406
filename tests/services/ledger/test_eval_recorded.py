"""Issue 14's "results remembered in the local run store, linked to the job and dataset": a saved
eval lands in the ledger, and a fine-tuned model's eval links to its job and dataset."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from services.evals.launcher import run_eval
from services.evals.results import EvalResult, result_from_run, save_result
from services.evals.settings import build_settings
from services.jobs.store import JobRecord
from services.ledger.lineage import lineage
from services.ledger.store import Ledger


@pytest.fixture(scope="module")
def teacher_result() -> EvalResult:
    return result_from_run(run_eval(build_settings({"policy": "teacher", "seeds": [10000, 10001], "max_turns": 3})))


def test_saved_eval_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teacher_result: EvalResult) -> None:
    ledger_file = tmp_path / "team" / "ledger.db"
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(ledger_file))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    folder = save_result(teacher_result, root=tmp_path / "data")
    with Ledger() as ledger:
        assert ledger.path == ledger_file
        info = ledger.eval(teacher_result.eval_id)
        assert info is not None and info.model_id == teacher_result.model and info.seeds == [10000, 10001]
        assert info.crafter_score == teacher_result.aggregate.crafter_score
        assert (info.crafter_score_low, info.crafter_score_high) == tuple(teacher_result.aggregate.crafter_score_ci)
        assert info.result_path == str(folder / "result.json")
        model = ledger.model(teacher_result.model)
        assert model is not None and model.kind == "policy" and model.job_id is None
        assert [e.eval_id for e in lineage(ledger, teacher_result.model).evals] == [teacher_result.eval_id]


def test_fine_tuned_eval_links_to_job_and_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teacher_result: EvalResult
) -> None:
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": []}\n')
    import hashlib

    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest = tmp_path / "train.manifest.json"
    manifest.write_text(
        json.dumps({"file": "train.jsonl", "sha256": sha, "source_db": {"path": "/x.db", "sha256": "d" * 64},
                    "filter": {"min_unique": 3}, "counts": {"examples": 1, "sessions": 1}, "token_estimate": 7})
    )  # fmt: skip
    model = "peft:Qwen/Qwen3-0.6B:job_abc"
    with Ledger() as ledger:
        ledger.record_submission(
            JobRecord(backend="local", base_url="http://127.0.0.1:1", job_id="job_abc", config_path=str(data),
                      config_sha256="c" * 64, dataset_path=str(data), dataset_sha256=sha, payload={"model": "m"})
        )  # fmt: skip
        ledger.record_job_end("job_abc", status="succeeded", fine_tuned_model=model, final_loss=0.5)
    tuned = teacher_result.model_copy(update={"eval_id": "e_tuned", "model": model, "policy": "openai"})
    save_result(tuned, root=tmp_path / "data")
    with Ledger() as ledger:
        info = ledger.eval("e_tuned")
        assert info is not None and info.job_id == "job_abc"
        found = lineage(ledger, "e_tuned")
    assert found.model is not None and found.model.kind == "peft" and found.model.base == "Qwen/Qwen3-0.6B"
    assert found.dataset is not None and found.dataset.filter == {"min_unique": 3} and found.dataset.tokens == 7
    assert found.dataset_check is not None and found.dataset_check.state == "matches"
    assert found.facts is not None and found.facts.final_loss == 0.5


def test_a_broken_ledger_never_fails_the_eval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teacher_result: EvalResult, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "ledger.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(bad))
    with caplog.at_level(logging.WARNING, logger="sft_studio.ledger"):
        folder = save_result(teacher_result, root=tmp_path / "data")
    assert (folder / "result.json").is_file()
    assert str(bad) in caplog.text and "did not record" in caplog.text
    assert bad.read_bytes() == b"this is not sqlite" * 100

"""Seed leakage: model → backend job → training file → export manifest → trace DB sessions → seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evals.lineage import check_leakage, model_lineage, seed_check
from services.rollouts.collector import CollectSpec, collect
from services.training.server.settings import DB_FILE, backend_dir
from services.training.server.store import Store

MODEL = "fft:sft-studio/tiny-qwen3:job_{}"


@pytest.fixture(scope="module")
def trace_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("lineage") / "traces.db"
    collect(CollectSpec(db=db, policy="teacher", seeds=(3, 6), max_turns=3, concurrency=2))
    return db


def _setup(tmp_path: Path, trace_db: Path, *, manifest_sha: str = "abc123") -> str:
    root, workspace = tmp_path / "data", tmp_path / "ws"
    store = Store(backend_dir(root) / DB_FILE)
    file = store.add_file(
        sha256="abc123", purpose="fine-tune", size=10, filename="train.jsonl", status="ready", reasons=[], examples=9
    )
    job = store.create_job(
        payload={}, model="sft-studio/tiny-qwen3", training_type="sft_offline", hyperparameters={}, metadata={},
        training_file_id=file["id"], validation_file_id=None, train_kind="fft",
    )  # fmt: skip
    model = MODEL.format(job.id.removeprefix("job_"))
    store.add_model(model_id=model, base_model="sft-studio/tiny-qwen3", job_id=job.id, train_kind="fft", path="x")
    store.close()
    (workspace / "ft_data").mkdir(parents=True)
    manifest = {"file": "train.jsonl", "sha256": manifest_sha, "source_db": {"path": str(trace_db)}, "filter": {}}
    (workspace / "ft_data" / "train.manifest.json").write_text(json.dumps(manifest))
    return model


def test_overlap_is_found_and_counted(tmp_path: Path, trace_db: Path) -> None:
    model = _setup(tmp_path, trace_db)
    lineage = model_lineage(model, root=tmp_path / "data", workspace=tmp_path / "ws")
    assert lineage is not None and lineage.seeds == [3, 4, 5, 6] and lineage.sessions == 4
    report = check_leakage(model, [1, 2, 4, 5, 99], root=tmp_path / "data", workspace=tmp_path / "ws")
    assert report is not None and report.overlap == [4, 5]
    assert report.message.startswith(f"2 eval seed(s) appear in {model}'s training data (4, 5)")
    assert "trained on train.jsonl" in report.message and "choose disjoint --seeds" in report.message


def test_disjoint_seeds_give_no_warning(tmp_path: Path, trace_db: Path) -> None:
    model = _setup(tmp_path, trace_db)
    assert check_leakage(model, [10000, 10001], root=tmp_path / "data", workspace=tmp_path / "ws") is None
    passed = seed_check(model, [10000, 10001], root=tmp_path / "data", workspace=tmp_path / "ws")
    assert passed is not None and passed.overlap == []  # checked and passed: not the same as unknown
    assert passed.passed_message.startswith(f"none of the eval seeds is among the 4 training seed(s) of {model}")


def test_unknown_lineage_is_none_not_a_guess(tmp_path: Path, trace_db: Path) -> None:
    assert check_leakage("qwen/qwen3-32b", [3], root=tmp_path / "nothing", workspace=tmp_path) is None
    model = _setup(tmp_path, trace_db, manifest_sha="other")  # no manifest for the training file
    assert check_leakage(model, [3], root=tmp_path / "data", workspace=tmp_path / "ws") is None
    assert check_leakage("sft-studio/tiny-qwen3", [3], root=tmp_path / "data", workspace=tmp_path / "ws") is None
    assert seed_check("qwen/qwen3-32b", [3], root=tmp_path / "nothing", workspace=tmp_path) is None

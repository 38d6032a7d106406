"""One lineage chain end to end on a small DB: export → job on the real local backend (fake trainer)
→ eval of the fine-tuned id on 3 seeds → ``lineage`` from the model id back to the trace DB; then
reproduce rebuilds the dataset and checks its sha256, and a changed file is flagged."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from services.datasets.export import export_sft
from services.datasets.filter_spec import FilterSpec
from services.evals.launcher import run_eval
from services.evals.results import result_from_run, save_result
from services.evals.settings import build_settings
from services.jobs.backends import open_client, resolve_backend
from services.jobs.poller import watch
from services.jobs.submit import plan_submission, submit
from services.ledger.compare import compare_runs
from services.ledger.lineage import lineage
from services.ledger.reproduce import reproduce
from services.ledger.store import Ledger, sha256_file
from services.rollouts.collector import CollectSpec, collect
from services.traces.db import TraceDB
from services.training.inference.routes import make_inference_router
from tests.services.jobs.support import fake_model, local_backend, write_config
from tests.services.training.inference_tiny_model import build_tiny_model

SEEDS = [10000, 10001, 10002]


@contextmanager
def serving(model_id: str, folder: Path) -> Iterator[str]:
    """An OpenAI-compatible loopback server answering as ``model_id`` with a tiny random Qwen3 (the
    fake trainer writes no weights; the eval plumbing is what this test follows)."""
    models = {model_id: build_tiny_model(folder)}
    app = FastAPI()
    app.include_router(make_inference_router(models.get, lambda: list(models)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.slow
def test_export_job_eval_one_lineage_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir, ledger_file = tmp_path / "data", tmp_path / "repo" / "runs-ledger.db"
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(ledger_file))
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    traces = tmp_path / "traces.db"
    collect(CollectSpec(db=traces, policy="teacher", seeds=(1, 4), max_turns=3, concurrency=2))

    # 1. export (recorded by the export itself)
    spec = FilterSpec(min_unique=0, limit=8)
    db = TraceDB(traces)
    try:
        exported = export_sft(db, spec, tmp_path / "ws" / "ft_data" / "train.jsonl", workers=0)
    finally:
        db.close()
    with Ledger() as ledger:
        recorded = ledger.find_dataset(exported.sha256)
    assert recorded is not None and recorded.db_path == str(traces.resolve()) and recorded.examples == exported.examples

    # 2. job on the real local backend: submit records config + dataset, the watch records the model
    with local_backend(data_dir):
        choice = resolve_backend("local", cwd=tmp_path, environ={})
        client = open_client(choice)
        try:
            config = write_config(tmp_path, model=str(fake_model(tmp_path)))
            plan = plan_submission(config, exported.output, choice=choice, client=client, cwd=tmp_path)
            job = submit(plan, client, None)
            result = watch(client, job.job_id, poll_interval=0.2, poll_timeout=60)
        finally:
            client.close()
    assert result.snapshot is not None and result.snapshot.succeeded, result
    model = result.snapshot.fine_tuned_model
    assert model is not None

    # 3. eval the fine-tuned id on 3 seeds, and the random policy on the same seeds
    with serving(model, tmp_path / "tiny") as url:
        settings = build_settings(
            {"model": model, "inference_url": url, "api_key_env": None, "seeds": SEEDS, "max_turns": 2}
        )
        tuned = result_from_run(run_eval(settings))
    save_result(tuned)
    rand = result_from_run(run_eval(build_settings({"policy": "random", "seeds": SEEDS, "max_turns": 2})))
    save_result(rand)

    # 4. one chain: eval → model → job → config + payload → dataset (sha256) → filter → trace DB
    with Ledger() as ledger:
        for run_id in (model, job.job_id, tuned.eval_id):
            lin = lineage(ledger, run_id)
            assert [e.eval_id for e in lin.evals] == [tuned.eval_id]
            assert lin.model is not None and lin.model.model_id == model and lin.model.job_id == job.job_id
            assert lin.job is not None and lin.job.payload["training_file_id"] == job.training_file.file_id
            assert lin.config is not None and lin.config.path == str(config) and lin.config.text == config.read_text()
            assert lin.dataset is not None and lin.dataset.sha256 == exported.sha256
            assert lin.dataset.filter["limit"] == 8
            assert lin.dataset.db_path == str(traces.resolve()) and lin.dataset.db_sha256 == sha256_file(traces)
            assert lin.dataset_check is not None and lin.dataset_check.state == "matches"
            assert lin.facts is not None and lin.facts.final_loss is not None and lin.facts.tokens_per_s == 1234.5
            assert lin.evals[0].seeds == SEEDS and lin.evals[0].crafter_score == tuned.aggregate.crafter_score

        # 5. reproduce: the dataset rebuilt byte for byte, and the commands that made the run
        report = reproduce(lineage(ledger, model))
        assert report.match is True and report.rebuilt_sha256 == exported.sha256
        assert report.commands[0].startswith(f"sft-studio export --db {traces.resolve()} --limit 8 --output ")
        assert report.commands[1].startswith(f"sft-studio train --type sft --config {config} --dataset ")
        assert report.commands[2].startswith(f"sft-studio eval --model {model} --inference-url ")
        assert "--seeds 10000-10002" in report.commands[2]

        comparison = compare_runs([lineage(ledger, rand.model), lineage(ledger, model)])
        assert comparison.scores[0].paired_seeds == 3 and comparison.scores[0].diff_ci is not None
        assert len(comparison.axes) > 1 and "one axis at a time" in comparison.warnings[0]

        # 6. the dataset file changed since: flagged, not trusted
        exported.output.write_text(exported.output.read_text() + "\n")
        changed = lineage(ledger, model)
        assert changed.dataset_check is not None and changed.dataset_check.state == "changed"
        assert any("no longer matches" in w for w in changed.warnings)

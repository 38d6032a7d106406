"""A runs ledger whose datasets are real exports of a small generated trace DB, so the link from an
eval back to the data (``services.ledger.achievement_data``) can be counted and checked.

Two exports of one ``tracegen`` DB (every session, and sessions with at least 6 unique
achievements), an FFT job and model on each, and saved evals on four fixed seeds of both models and
of their base, with chosen achievements per episode (so the per-achievement deltas are known).
Written explicitly, as the ledger's hooks would (the suite's automatic recording is off).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from services.datasets.export import export_sft
from services.datasets.filter_spec import FilterSpec
from services.jobs.store import JobRecord
from services.ledger.store import Ledger
from services.traces.db import TraceDB
from tests.support.tracegen import build_db

BASE = "sft-studio/tiny-qwen3"
GOOD = f"fft:{BASE}:job_good"
ALL = f"fft:{BASE}:job_all"
SEEDS = [10000, 10001, 10002, 10003]
#: Achievements per seed (in SEEDS order) of each model's episodes.
EPISODES: dict[str, list[list[str]]] = {
    BASE: [["collect_wood"], ["collect_wood", "collect_drink"], ["collect_wood"], []],
    GOOD: [["collect_wood", "place_table"], ["collect_wood", "place_table"], ["collect_wood", "collect_sapling"], []],
    ALL: [["collect_wood"], [], ["collect_wood"], ["collect_drink"]],
}


@dataclass
class Linked:
    ledger: Path
    db: Path
    data: dict[str, Path]  # model id -> its exported JSONL


def save_eval(root: Path, ledger: Ledger, model: str, achievements: list[list[str]]) -> None:
    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalRun
    from services.evals.results import result_from_run, save_result
    from services.evals.settings import build_settings

    episodes = [
        EpisodeResult(seed=seed, achievements=got, decisions=50, steps=100, total_tokens=4000, policy_s=5.0,
                      mean_latency_ms=100.0, total_reward=float(len(got)))
        for seed, got in zip(SEEDS, achievements, strict=True)
    ]  # fmt: skip
    spec = {"model": model, "backend": "local", "seeds": SEEDS, "max_turns": 50}
    eval_id = "20261201-1200-" + model.rsplit(":", 1)[-1].replace("/", "-")
    run = EvalRun(eval_id=eval_id, settings=build_settings(spec), episodes=episodes, wall_s=10.0,
                  started_at="2026-12-01T12:00:00+00:00")  # fmt: skip
    result = result_from_run(run)
    result.finished_at = "2026-12-01T12:10:00+00:00"
    folder = save_result(result, root / "data")
    ledger.record_eval(result, result.aggregate, folder / "result.json")


def build_linked_ledger(root: Path) -> Linked:
    db_path = build_db(root / "traces.db", sessions=30, decisions=5, seed=7)
    data = {GOOD: root / "ft_data" / "good.jsonl", ALL: root / "ft_data" / "all.jsonl"}
    with TraceDB(db_path) as db:
        good = export_sft(db, FilterSpec(min_unique=6), data[GOOD], workers=0, record=False)
        every = export_sft(db, FilterSpec(), data[ALL], workers=0, record=False)
    path = root / "runs.db"
    with Ledger(path) as ledger:
        for model, exported in ((GOOD, good), (ALL, every)):
            ledger.record_manifest(exported.manifest)
            job_id = model.rsplit(":", 1)[-1]
            ledger.record_submission(
                JobRecord(backend="local", base_url="http://127.0.0.1:8765", job_id=job_id, base_model=BASE,
                          submitted_at="2026-12-01T11:00:00+00:00", dataset_path=str(exported.output),
                          dataset_sha256=exported.sha256, last_status="succeeded",
                          payload={"model": BASE, "training_type": "sft_offline",
                                   "hyperparameters": {"n_epochs": 3, "learning_rate": 1e-4}})
            )  # fmt: skip
            ledger.record_job_end(job_id, status="succeeded", fine_tuned_model=model, final_loss=0.5)
        for model, got in EPISODES.items():
            save_eval(root, ledger, model, got)
    return Linked(path, db_path, data)


def expected_counts(db_path: Path, jsonl: Path) -> dict[str, tuple[int, int]]:
    """Achievement -> (examples, sessions) counted another way: the sessions the JSONL's examples
    name (``metadata.session_id``), and each session's unique set read by the exporter's readers."""
    from services.datasets.selection import RewardFacts, read_achievements, read_outcomes

    per_session = Counter(json.loads(line)["metadata"]["session_id"] for line in jsonl.read_text().splitlines())
    facts = RewardFacts()
    with TraceDB(db_path) as db, db.connect() as conn:
        raw = conn.connection.driver_connection
        read_achievements(db, raw.execute, facts, None)  # type: ignore[union-attr]
        read_outcomes(raw, db.schema, facts)  # type: ignore[arg-type]
    out: dict[str, tuple[int, int]] = {}
    for sid, n in per_session.items():
        for name in facts.unique.get(sid, ()):
            examples, sessions = out.get(name, (0, 0))
            out[name] = (examples + n, sessions + 1)
    return out

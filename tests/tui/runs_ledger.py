"""A small runs ledger filled the way the app fills it, with fixed figures (Runs pane tests and snapshots).

Two exported datasets from one trace DB (teacher sessions with ``min_unique`` 4, and every session),
three jobs on ``sft-studio/tiny-qwen3`` (FFT on each dataset at the same learning rate: one axis
differs; LoRA rank 16 at twice the rate on the filtered one: several axes differ), their models, and
saved evals of each model, the base and the random policy on the same ten seeds (fixed episodes, so
the bootstrap CIs are the same in every run). Nothing depends on the clock or the folder.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from services.jobs.store import JobRecord
from services.ledger.store import Ledger

BASE = "sft-studio/tiny-qwen3"
FILTERED = f"fft:{BASE}:job_filtered"
UNFILTERED = f"fft:{BASE}:job_all"
LORA = f"peft:{BASE}:job_lora16"
EARLY = (
    "collect_wood", "collect_sapling", "place_sapling", "collect_drink", "wake_up",
    "place_table", "make_wood_pickaxe", "collect_stone", "eat_cow", "defeat_zombie",
)  # fmt: skip


def _dataset(root: Path, name: str, lines: int, filter_spec: dict[str, object]) -> tuple[Path, str]:
    data = root / "ft_data" / f"{name}.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"{name} {i}"}]}) + "\n"
                            for i in range(lines)))  # fmt: skip
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    manifest = data.with_name(f"{name}.manifest.json")
    manifest.write_text(json.dumps({
        "file": data.name, "sha256": sha, "counts": {"examples": lines, "sessions": lines // 10},
        "token_estimate": lines * 410, "filter": filter_spec, "created_at": "2026-12-01T10:00:00+00:00",
        "source_db": {"path": "traces/v3/synth_ai.db", "sha256": "ab" * 32},
    }))  # fmt: skip
    return manifest, sha


def _eval(root: Path, ledger: Ledger, eval_id: str, model: str, skill: int, policy: str = "openai") -> None:
    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalRun
    from services.evals.results import result_from_run, save_result
    from services.evals.settings import build_settings

    rng = random.Random(skill)
    seeds = list(range(10000, 10010))
    episodes = [
        EpisodeResult(seed=seed, achievements=[a for a in EARLY if rng.random() < skill / len(EARLY)], decisions=50,
                      steps=100, total_tokens=4000, policy_s=5.0, mean_latency_ms=100.0)
        for seed in seeds
    ]  # fmt: skip
    for e in episodes:
        e.total_reward = float(len(e.achievements))
    spec = {"model": model, "backend": "local", "inference_url": None, "seeds": seeds, "max_turns": 50}
    if policy != "openai":
        spec = {"policy": policy, "seeds": seeds, "max_turns": 50}
    run = EvalRun(eval_id=eval_id, settings=build_settings(spec), episodes=episodes, wall_s=25.0,
                  started_at="2026-12-01T12:00:00+00:00")  # fmt: skip
    result = result_from_run(run)
    result.finished_at = f"2026-12-01T12:{skill:02d}:00+00:00"
    folder = save_result(result, root / "data")
    ledger.record_eval(result, result.aggregate, folder / "result.json")


def fill_ledger(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ledger ``root/runs.db`` (the automatic recording is off while filling: every row here is
    written explicitly, as the hooks would)."""
    monkeypatch.setenv("SFT_STUDIO_LEDGER", "off")
    path = root / "runs.db"
    filtered, f_sha = _dataset(root, "teacher_min4", 120, {"policies": ["teacher"], "min_unique": 4})
    everything, a_sha = _dataset(root, "all_sessions", 300, {})
    with Ledger(path) as ledger:
        for manifest in (filtered, everything):
            ledger.record_manifest(manifest)
        jobs = (
            ("job_filtered", filtered, f_sha, "fft", {"learning_rate": 1e-4, "n_epochs": 3}, 0.42, 0.55, 5),
            ("job_all", everything, a_sha, "fft", {"learning_rate": 1e-4, "n_epochs": 3}, 0.61, 0.70, 3),
            ("job_lora16", filtered, f_sha, "peft", {"learning_rate": 2e-4, "n_epochs": 3, "lora_rank": 16,
                                                     "train_kind": "peft"}, 0.50, None, 4),
        )  # fmt: skip
        for job_id, manifest, sha, kind, hp, loss, val, skill in jobs:
            data = manifest.with_name(manifest.name.replace(".manifest.json", ".jsonl"))
            ledger.record_submission(
                JobRecord(backend="local", base_url="http://127.0.0.1:8765", job_id=job_id, base_model=BASE,
                          submitted_at="2026-12-01T11:00:00+00:00", dataset_path=str(data), dataset_sha256=sha,
                          payload={"model": BASE, "training_type": "sft_offline", "hyperparameters": hp},
                          last_status="succeeded")
            )  # fmt: skip
            points = [(s, round(2.5 * (loss / 2.5) ** (s / 40) + 0.02 * (s % 3), 4)) for s in range(0, 41, 2)]
            ledger.record_job_end(
                job_id, status="succeeded", fine_tuned_model=f"{kind}:{BASE}:{job_id}", final_loss=loss,
                final_val_loss=val, tokens_per_s=1800.0 + 100 * skill, started_at="2026-12-01T11:00:00+00:00",
                finished_at="2026-12-01T11:20:00+00:00", loss_points=points,
            )  # fmt: skip
            _eval(root, ledger, f"20261201-12{skill:02d}00-{job_id}", f"{kind}:{BASE}:{job_id}", skill)
        _eval(root, ledger, "20261201-120100-base", BASE, 1)
        _eval(root, ledger, "20261201-120200-random", "random", 2, policy="random")
    return path

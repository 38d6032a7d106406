"""A cell the runs ledger already ran is skipped (not trained again) with the ledger's run id, and only
when the dataset, the config and the eval's seeds and turns all match; a stop asked for mid-run ends
the run after the current step, leaves the cell resumable, and a later run finishes it.

The ledger is filled the way a finished run fills it (the export's own hook, then the submission, the
job's end and the saved eval), without a backend: a skipped cell never opens one."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from services.jobs.backends import resolve_backend
from services.jobs.store import JobRecord
from services.ledger.store import Ledger
from services.sweeps.ledger_match import find_in_ledger
from services.sweeps.plan import Cell, SweepPlan, load_plan
from services.sweeps.runner import STOPPED_BY_USER, planned_actions, run_sweep
from services.sweeps.state import load_state, sweep_status
from tests.services.sweeps.support import plan_text, workspace, write_plan

SEEDS = [10000, 10001]
EVAL = 'policy = "model"\nseeds = "10000-10001"\nmax_turns = 2\nconcurrency = 2'


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    workspace(tmp_path)
    return tmp_path


def _export(plan: SweepPlan, cell: Cell) -> str:
    """The cell's export, written as the runner writes it (the ledger records it through its hook)."""
    import json

    from services.datasets.export import export_sft
    from services.datasets.export_targets import manifest_path
    from services.traces.db import TraceDB

    cell.export_path.parent.mkdir(parents=True, exist_ok=True)
    db = TraceDB(plan.db)
    try:
        export_sft(db, cell.filter, cell.export_path, sizes=[], workers=0)
    finally:
        db.close()
    return str(json.loads(manifest_path(cell.dataset_path).read_text())["sha256"])


def _ran_before(
    ws: Path,
    cell: Cell,
    dataset_sha: str,
    *,
    job: str,
    seeds: list[int] = SEEDS,
    max_turns: int = 2,
    dataset: Path | None = None,
) -> str:
    """Record in the ledger a finished run of ``cell`` (config by content, job, model, eval); its model id."""
    from services.evals.episode import EpisodeResult
    from services.evals.launcher import EvalRun
    from services.evals.results import result_from_run
    from services.evals.settings import build_settings

    config = ws / "elsewhere" / f"{job}.toml"  # the same text, another file: matched by content
    config.parent.mkdir(exist_ok=True)
    config.write_text(cell.config_text, encoding="utf-8")
    model = f"peft:sft-studio/tiny-qwen3:{job}"
    episodes = [EpisodeResult(seed=s, achievements=["collect_wood"], decisions=2, steps=2) for s in seeds]
    settings = build_settings({"model": model, "backend": "local", "seeds": seeds, "max_turns": max_turns})
    result = result_from_run(
        EvalRun(eval_id=f"eval-{job}", settings=settings, episodes=episodes, wall_s=1.0, started_at="2026-12-01")
    )
    with Ledger() as ledger:
        ledger.record_submission(
            JobRecord(
                backend="local", base_url="http://127.0.0.1:9", job_id=job, base_model="sft-studio/tiny-qwen3",
                submitted_at="2026-12-01T11:00:00+00:00", dataset_path=str(dataset or cell.dataset_path),
                dataset_sha256=dataset_sha, config_path=str(config),
                config_sha256=hashlib.sha256(config.read_bytes()).hexdigest(), last_status="succeeded",
            )
        )  # fmt: skip
        ledger.record_job_end(job, status="succeeded", fine_tuned_model=model)
        ledger.record_eval(result, result.aggregate, None)
    return model


def test_a_cell_in_the_ledger_is_skipped_after_the_state_file_is_gone(ws: Path) -> None:
    plan_path = write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    cell = plan.cells[0]
    sha = _export(plan, cell)
    model = _ran_before(ws, cell, sha, job="job_before")
    assert not plan.state_path.exists()  # no state: only the ledger knows the cell ran

    seen: list[tuple[str, str, str]] = []
    choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")  # never opened: nothing trains
    summary = run_sweep(plan, choice, on_event=lambda *e: seen.append(e))
    assert summary.ok and summary.skipped == [cell.name] and not summary.done
    assert not any(step in ("config", "submit", "eval") for _, step, _ in seen), seen
    assert any(step == "skip" and model in text for _, step, text in seen)
    assert not cell.config_path.exists()  # not even its config was written

    rec = load_state(plan.state_path, plan.path).cells[cell.settings_hash]
    assert rec.state == "skipped" and rec.ledger_run == model and rec.job_id == "job_before"
    assert rec.eval_id == "eval-job_before" and rec.crafter_score is not None and rec.seeds == 2
    [status] = sweep_status(plan_path)
    assert status.state == "skipped" and status.ledger_run == model and status.crafter_score == rec.crafter_score
    assert [a for _, a in planned_actions(plan)] == [f"skip (in the runs ledger: {model})"]
    again = run_sweep(plan, choice)  # a skipped cell stays skipped
    assert again.skipped == [cell.name]


@pytest.mark.parametrize(
    ("what", "differs"),
    [
        ("seeds", {"seeds": [10000, 10002]}),
        ("max turns", {"max_turns": 50}),
        ("config", {"config": True}),
        ("dataset", {"dataset": True}),
    ],
)
def test_only_the_identical_run_matches(ws: Path, what: str, differs: dict[str, object]) -> None:
    plan = load_plan(write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL)), backend="local")
    cell, other = plan.cells
    sha = _export(plan, cell)
    assert find_in_ledger(cell, sha, plan.eval) is None  # an empty ledger
    seeds = differs.get("seeds", SEEDS)
    turns = differs.get("max_turns", 2)
    trained = other if differs.get("config") else cell  # rank 8's config, not rank 4's
    assert isinstance(seeds, list) and isinstance(turns, int)
    if differs.get("dataset"):  # another file (another filter, another DB)
        _ran_before(ws, trained, "0" * 64, job="job_x", dataset=ws / "other.jsonl")
    else:
        _ran_before(ws, trained, sha, job="job_x", seeds=seeds, max_turns=turns)
    assert find_in_ledger(cell, sha, plan.eval) is None, what
    # and the identical run, recorded next to it, does match
    _ran_before(ws, cell, sha, job="job_same")
    found = find_in_ledger(cell, sha, plan.eval)
    assert found is not None and found.job_id == "job_same" and found.seeds == 2


def test_the_ledger_off_or_unreadable_matches_nothing(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = load_plan(write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL)), backend="local")
    cell = plan.cells[0]
    sha = _export(plan, cell)
    _ran_before(ws, cell, sha, job="job_before")
    assert find_in_ledger(cell, sha, plan.eval) is not None
    monkeypatch.setenv("SFT_STUDIO_LEDGER", "off")
    assert find_in_ledger(cell, sha, plan.eval) is None
    broken = ws / "broken.db"
    broken.write_text("not a database")
    assert find_in_ledger(cell, sha, plan.eval, ledger=broken) is None


def test_a_stop_ends_the_run_after_the_current_step(ws: Path) -> None:
    """Stop asked during the first cell's export: the export finishes, nothing is trained, the cell is
    ``stopped`` (resumable), the second cell never starts; a stop set before the run runs nothing."""
    plan_path = write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
    stop = threading.Event()
    stop.set()
    early = run_sweep(plan, choice, stop=stop)
    assert early.stopped and STOPPED_BY_USER in early.stopped and not early.done and not early.failed
    assert [c.state for c in sweep_status(plan_path)] == ["pending", "pending"]

    stop.clear()
    seen: list[tuple[str, str, str]] = []

    def on_event(name: str, step: str, text: str) -> None:
        seen.append((name, step, text))
        if step == "export":
            stop.set()  # pressed while the export runs

    summary = run_sweep(plan, choice, on_event=on_event, stop=stop)
    assert summary.stopped is not None and "run the sweep again" in summary.stopped
    assert not summary.failed and not summary.done
    assert not any(step in ("config", "submit") for _, step, _ in seen), seen
    first, second = sweep_status(plan_path)
    assert first.state == "stopped" and first.error and "after the export" in first.error
    assert second.state == "pending"
    assert (plan.data_dir / "data.jsonl").is_file()  # the step that was running finished
    assert planned_actions(plan)[0][1].startswith("resume from stopped")

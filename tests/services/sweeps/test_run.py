"""A sweep on the real local backend (fake trainer): 2 cells, export → config → job → eval (random
policy, 2 seeds × 2 turns); a killed run resumes without redoing a finished cell or submitting a
job twice; a backend that goes down mid-way marks the cell failed and a later run resumes it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from services.jobs.backends import open_client, resolve_backend
from services.sweeps.plan import PlanError, load_plan
from services.sweeps.runner import OnEvent, planned_actions, run_sweep
from services.sweeps.state import StateError, known_sweeps, load_state, sweep_status
from tests.services.jobs.support import local_backend
from tests.services.sweeps.support import plan_text, workspace, write_plan

EVAL = 'policy = "random"\nseeds = "10000-10001"\nmax_turns = 2\nconcurrency = 2'


class Killed(BaseException):
    """Stands in for Ctrl-C / SIGKILL at a chosen point of the run."""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    workspace(tmp_path)
    return tmp_path


def _events() -> tuple[list[tuple[str, str, str]], OnEvent]:
    seen: list[tuple[str, str, str]] = []
    return seen, lambda name, step, text: seen.append((name, step, text))


@pytest.mark.slow
def test_two_cells_run_and_a_killed_run_resumes(ws: Path) -> None:
    plan_path = write_plan(ws, plan_text("lora_rank = [4, 8]\nexamples = [3]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    with local_backend(ws / "data"):
        choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
        client = open_client(choice)
        try:
            # 1. killed just after the second cell's job was submitted
            def kill_at_second_submit(name: str, step: str, text: str) -> None:
                if name == plan.cells[1].name and step == "submit":
                    raise Killed

            with pytest.raises(Killed):
                run_sweep(plan, choice, client, on_event=kill_at_second_submit, poll_interval=0.2, poll_timeout=60)
            state = load_state(plan.state_path, plan.path)
            first, second = (state.cells[c.settings_hash] for c in plan.cells)
            assert first.state == "done" and first.eval_id and first.crafter_score is not None
            assert second.state == "training" and second.job_id and second.model is None
            killed_job = second.job_id
            assert [a for _, a in planned_actions(plan)] == [
                "skip (done)",
                f"resume: watch job {killed_job}, then eval",
            ]

            # 2. the resumed run skips the finished cell and watches the submitted job (no second job)
            seen, record = _events()
            summary = run_sweep(plan, choice, client, on_event=record, poll_interval=0.2, poll_timeout=60)
            assert summary.ok and summary.skipped == [plan.cells[0].name] and summary.done == [plan.cells[1].name]
            assert not any(step in ("export", "submit") for _, step, _ in seen), seen
            assert any(step == "watch" and killed_job in text for _, step, text in seen)
            jobs = client.list_jobs()
        finally:
            client.close()
    ids = [j.job_id for j in jobs]
    assert len(ids) == 2 and killed_job in ids

    assert known_sweeps() == [plan_path.resolve()]

    # 3. the files: one export with its subset, two configs with their tags, nothing else
    cells = sweep_status(plan_path)
    assert [c.state for c in cells] == ["done", "done"]
    for cell in cells:
        assert cell.crafter_score is not None and cell.crafter_score_ci is not None and cell.seeds == 2
        assert cell.examples == 3 and cell.model and cell.job_id
    exported = sorted(p.name for p in (ws / "ft_data" / "sweeps" / "demo").iterdir())
    assert exported == ["data.jsonl", "data.manifest.json", "data.n3.jsonl", "data.n3.manifest.json"]
    configs = sorted((ws / "configs" / "sweeps" / "demo").glob("*.toml"))
    assert [tomllib.loads(p.read_text())["training"]["lora"]["r"] for p in configs] == [4, 8]
    # the ledger now knows the throughput: the plan's time estimate is measured, not unknown
    again = load_plan(plan_path, backend="local")
    assert again.cells[0].estimate is not None and again.cells[0].estimate.seconds is not None
    assert "earlier job" in again.cells[0].estimate.throughput

    # 4. the state file deleted: the runs ledger knows both cells, so nothing is trained again
    models = [c.model for c in cells]
    plan.state_path.unlink()
    seen, record = _events()
    rerun = run_sweep(plan, choice, on_event=record)  # no backend runs: a skipped cell never opens one
    assert rerun.ok and rerun.skipped == [c.name for c in plan.cells] and not rerun.done
    assert not any(step in ("config", "submit", "eval") for _, step, _ in seen), seen
    after = sweep_status(plan_path)
    assert [c.state for c in after] == ["skipped", "skipped"] and [c.ledger_run for c in after] == models


@pytest.mark.slow
def test_backend_down_mid_way_marks_the_cell_and_resumes(ws: Path) -> None:
    from services.training.server.lifecycle import stop_server

    plan_path = write_plan(ws, plan_text("learning_rate = [1e-4, 2e-4]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    data = ws / "data"
    with local_backend(data):
        choice = resolve_backend("local", cwd=ws, environ={}, data_dir=data)
        client = open_client(choice)

        def stop_after_first(name: str, step: str, text: str) -> None:
            if name == plan.cells[0].name and step == "done":
                stop_server(data)

        try:
            summary = run_sweep(plan, choice, client, on_event=stop_after_first, poll_interval=0.2, poll_timeout=60)
        finally:
            client.close()
    assert summary.done == [plan.cells[0].name] and summary.failed == [plan.cells[1].name]
    assert summary.stopped is not None and "run the sweep again" in summary.stopped
    cells = sweep_status(plan_path)
    assert [c.state for c in cells] == ["done", "failed"] and cells[1].error

    with local_backend(data):
        client = open_client(choice)
        try:
            _, record = _events()
            again = run_sweep(plan, choice, client, on_event=record, poll_interval=0.2, poll_timeout=60)
        finally:
            client.close()
    assert again.ok and again.skipped == [plan.cells[0].name] and again.done == [plan.cells[1].name]
    assert [c.state for c in sweep_status(plan_path)] == ["done", "done"]


@pytest.mark.slow
def test_a_stop_while_training_leaves_the_job_running_and_a_later_run_watches_it(ws: Path) -> None:
    import threading

    plan_path = write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    stop = threading.Event()

    def stop_at_submit(name: str, step: str, text: str) -> None:
        if step == "submit":
            stop.set()

    with local_backend(ws / "data"):
        choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
        client = open_client(choice)
        try:
            summary = run_sweep(plan, choice, client, on_event=stop_at_submit, poll_interval=0.2, stop=stop)
            [cell] = sweep_status(plan_path)
            assert summary.stopped and not summary.failed and cell.state == "stopped" and cell.job_id
            assert "watching job" in (cell.error or "")
            seen, record = _events()
            again = run_sweep(plan, choice, client, on_event=record, poll_interval=0.2, poll_timeout=60)
            jobs = client.list_jobs()
        finally:
            client.close()
    assert again.ok and again.done == [plan.cells[0].name]
    assert any(step == "watch" and cell.job_id in text for _, step, text in seen)
    assert [j.job_id for j in jobs] == [cell.job_id]  # watched again, not submitted twice


def test_nothing_is_overwritten_silently(ws: Path) -> None:
    """A cell config that exists with other content fails the cell before any job; the run goes on."""
    plan_path = write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    plan.cells[0].config_path.parent.mkdir(parents=True)
    plan.cells[0].config_path.write_text("# mine\n")
    choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
    summary = run_sweep(plan, choice, on_event=None)
    assert summary.failed == [plan.cells[0].name]
    assert plan.cells[0].config_path.read_text() == "# mine\n"
    assert "overwrites nothing" in (sweep_status(plan_path)[0].error or "")


def test_impossible_plan_and_model_eval_off_local_are_refused_before_running(ws: Path) -> None:
    plan = load_plan(write_plan(ws, plan_text("min_unique = [99]", eval_=EVAL)), backend="local")
    choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
    with pytest.raises(PlanError, match="selects nothing"):
        run_sweep(plan, choice)
    hosted = load_plan(write_plan(ws, plan_text("lora_rank = [4]"), "p2.toml"))
    with pytest.raises(PlanError, match="--backend local"):
        run_sweep(hosted, resolve_backend("http://127.0.0.1:9", cwd=ws, environ={}))
    assert not plan.state_path.exists() and not hosted.state_path.exists()


def test_a_damaged_state_file_is_a_clear_refusal(ws: Path) -> None:
    plan_path = write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL))
    plan = load_plan(plan_path, backend="local")
    plan.state_path.parent.mkdir(parents=True)
    plan.state_path.write_text("{not json")
    with pytest.raises(StateError, match="cannot be read"):
        sweep_status(plan_path)
    plan.state_path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(StateError, match="not a sft-studio-sweep-state/1 file"):
        sweep_status(plan_path)


def test_one_run_per_sweep_at_a_time(ws: Path) -> None:
    import os
    import subprocess
    import sys

    plan = load_plan(write_plan(ws, plan_text("lora_rank = [4]", eval_=EVAL)), backend="local")
    choice = resolve_backend("local", cwd=ws, environ={}, data_dir=ws / "data")
    lock = plan.out_dir / ".sweep-run.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(str(os.getpid()))  # a live process holds it
    with pytest.raises(PlanError, match=f"another `sweep run` \\(pid {os.getpid()}\\)"):
        run_sweep(plan, choice)
    assert not plan.state_path.exists()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(gone.stdout.strip())  # a killed run's lock is taken over
    plan.cells[0].config_path.write_text("# mine\n")  # (the cell then fails before any job)
    assert run_sweep(plan, choice).failed == [plan.cells[0].name]
    assert not lock.exists()

"""`sft-studio sweep plan|run|status`: the plan's cells with estimates, refusals (exit 1, nothing
written), a dry run that writes nothing, a real run of 2 cells on the local backend (fake trainer),
and status with scores and CIs; a second run redoes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.services.jobs.support import local_backend
from tests.services.sweeps.support import plan_text, workspace, write_plan
from tui.cli import main

EVAL = 'policy = "random"\nseeds = [10000, 10001]\nmax_turns = 2\nconcurrency = 2'


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.delenv("SFT_STUDIO_BACKEND_KEY", raising=False)
    workspace(tmp_path)
    return tmp_path


def test_plan_shows_cells_and_estimates(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(ws, plan_text("lora_rank = [4, 8]\nexamples = [2, 3]", extra='backend = "local"'))
    assert main(["sweep", "plan", str(plan)]) == 0
    out = capsys.readouterr().out
    assert "4 cell(s)" in out and "lora_rank=8 examples=3" in out
    assert "unknown (no earlier runs in the ledger)" in out
    assert main(["sweep", "plan", str(plan), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["refused"] is None and [c["estimate"]["examples"] for c in doc["cells"]] == [2, 3, 2, 3]


def test_refusals_exit_1_before_anything_runs(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = write_plan(ws, plan_text("dropout = [0.1]"), "a.toml")
    assert main(["sweep", "plan", str(unknown)]) == 1
    assert "unknown axis dropout" in capsys.readouterr().err
    impossible = write_plan(
        ws, plan_text("train_kind = ['lora', 'fft']\nlora_rank = [4]", extra='backend = "local"'), "b.toml"
    )
    assert main(["sweep", "run", str(impossible)]) == 1
    err = capsys.readouterr().err
    assert "Sweep refused" in err and "LoRA rank on a full-finetune cell" in err and "Traceback" not in err
    assert main(["sweep", "status", str(ws / "missing.toml")]) == 1
    assert not (ws / "configs" / "sweeps").exists() and not (ws / "ft_data" / "sweeps").exists()


def test_dry_run_writes_nothing(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL))
    assert main(["sweep", "run", str(plan), "--backend", "local", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "run: export → config → job → eval" in captured.out and "Dry run" in captured.err
    assert not (ws / "configs" / "sweeps").exists() and not (ws / "data" / "backend").exists()


@pytest.mark.slow
def test_run_then_status(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(ws, plan_text("learning_rate = [1e-4, 2e-4]", eval_=EVAL))
    with local_backend(ws / "data"):
        assert main(["sweep", "run", str(plan), "--backend", "local", "--poll-interval", "0.2"]) == 0
        first = capsys.readouterr()
        assert "2 done, 0 done before, 0 failed" in first.err
        assert main(["sweep", "run", str(plan), "--backend", "local", "--poll-interval", "0.2"]) == 0
        again = capsys.readouterr()
        assert "0 done, 2 done before, 0 failed" in again.err and "job " not in again.err
    assert main(["sweep", "status", str(plan), "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert [c["state"] for c in cells] == ["done", "done"]
    assert all(c["crafter_score_ci"] is not None and c["model"] for c in cells)
    assert main(["sweep", "status", str(plan)]) == 0
    out = capsys.readouterr().out
    assert out.count("done") >= 2 and "learning_rate=0.0002" in out


@pytest.mark.slow
def test_sigkilled_run_resumes_without_redoing_a_cell(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real thing: `sweep run` in a child process, SIGKILLed while the second cell's job runs;
    the next run skips the first cell and watches the second cell's job instead of submitting again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from services.sweeps.state import sweep_status

    plan = write_plan(ws, plan_text("lora_rank = [4, 8]", eval_=EVAL))
    with local_backend(ws / "data"):
        child = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "sweep", "run", str(plan), "--backend", "local", "--poll-interval", "1"],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and child.poll() is None:
                try:
                    cells = sweep_status(plan)
                except Exception:  # the state file is being written for the first time
                    cells = []
                if len(cells) == 2 and cells[0].state == "done" and cells[1].state == "training" and cells[1].job_id:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the child never reached the second cell's job")
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        killed = sweep_status(plan)
        assert [c.state for c in killed] == ["done", "training"]
        capsys.readouterr()
        assert main(["sweep", "run", str(plan), "--backend", "local", "--poll-interval", "0.2"]) == 0
        err = capsys.readouterr().err
    assert "1 done, 1 done before, 0 failed" in err
    assert f"watching job {killed[1].job_id} again" in err and "exporting" not in err
    after = sweep_status(plan)
    assert [c.state for c in after] == ["done", "done"] and after[0].job_id == killed[0].job_id
    assert after[1].job_id == killed[1].job_id

"""`sft-studio eval`: the --json document, the table, saved results, compare, and every bad input as a
clear message with the right exit code (never a traceback); Ctrl-C keeps finished episodes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fake_inference import FakeInferenceServer
from tests.support.paths import ROOT
from tui.cli import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(folder))
    monkeypatch.setenv("COLUMNS", "100")
    return folder


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["eval", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_json_document(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    doc = _json(capsys, "--policy", "teacher", "--seeds", "0-2", "--max-turns", "10")
    episodes = doc["episodes"]
    assert isinstance(episodes, list) and [e["seed"] for e in episodes] == [0, 1, 2]
    for e in episodes:
        assert {"seed", "achievements", "decisions", "steps", "died", "tool_call_failures"} <= set(e)
        assert all(isinstance(a, str) for a in e["achievements"]) and e["decisions"] == 10
    agg = doc["aggregate"]
    assert isinstance(agg, dict)
    low, high = agg["crafter_score_ci"]
    assert 0 <= low <= high and len(agg["mean_unique_ci"]) == 2
    assert len(agg["success_rates"]) == 22 and agg["mean_unique"] > 0
    saved = Path(str(doc["result_dir"]))
    assert saved.parent == data_dir / "evals" and (saved / "manifest.json").is_file()


def test_table_and_compare_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    teacher = _json(capsys, "--policy", "teacher", "--seeds", "0-5", "--max-turns", "30")
    rand = _json(capsys, "--policy", "random", "--seeds", "0-5", "--max-turns", "30")
    assert main(["eval", "compare", str(teacher["eval_id"]), str(rand["eval_id"])]) == 0
    out = capsys.readouterr().out
    assert "sft-studio/teacher is better than sft-studio/random at 6 seeds" in out
    assert "collect_wood" in out
    assert main(["eval", "compare", str(teacher["result_dir"]), str(rand["eval_id"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "better"
    assert main(["eval", "--policy", "random", "--seeds", "3", "--max-turns", "3", "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "Crafter score" in out and "saved:" not in out


def test_toml_file_with_cli_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "eval.toml"
    toml.write_text('policy_name = "random"\nnum_episodes = 4\nmax_turns = 3\nshiny = true\n', encoding="utf-8")
    assert main(["eval", "--toml", str(toml), "--max-turns", "2", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert [e["seed"] for e in doc["episodes"]] == [1, 2, 3, 4]
    assert all(e["decisions"] == 2 for e in doc["episodes"])
    assert "unknown key shiny ignored" in captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "teacher", "--seeds", "5-2"], "The range 5-2 is empty"),
        (["--policy", "teacher", "--seeds", "a-b"], "Seeds must look like START-END"),
        (["--policy", "teacher", "--concurrency", "0"], "concurrency must be at least 1 (got 0)"),
        (["--policy", "teacher", "--max-turns", "0"], "max turns must be at least 1"),
        ([], "Say what to evaluate"),
        (["--inference-url", "http://127.0.0.1:9"], "Name the model"),
        (["--policy", "teacher", "--backend", "local"], "--backend local serves models"),
        (["bogus"], "unknown eval action 'bogus'"),
        (["compare", "a"], "takes two evals"),
    ],
)
def test_bad_input_is_a_usage_error(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", *args])
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert code == (1 if "--backend" in args else 2)
    assert "Traceback" not in err


def test_toml_with_wrong_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "eval.toml"
    toml.write_text('model = "m"\nconcurrency = "eight"\n', encoding="utf-8")
    assert main(["eval", "--toml", str(toml)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert '`concurrency` must be an integer, not string "eight"' in err and "Traceback" not in err


def test_unreachable_url_and_unknown_model(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    with FakeInferenceServer(models=["real-model"]) as srv:
        url = srv.base_url
        assert main(["eval", "--model", "ghost", "--inference-url", url, "--seeds", "1"]) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert "not served" in err and "real-model" in err and "Traceback" not in err
    assert main(["eval", "--model", "real-model", "--inference-url", url, "--seeds", "1"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "Cannot reach inference server" in err and "Traceback" not in err
    assert not (data_dir / "evals").exists()


def test_compare_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "compare", "nope", "nada"]) == 1
    assert "No eval result 'nope'" in capsys.readouterr().err


def test_model_that_never_calls_the_tool(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeInferenceServer(models=["m"], mode="no_tool") as srv:
        doc = _json(capsys, "--model", "m", "--inference-url", srv.base_url, "--seeds", "1-2", "--max-turns", "3")
    assert [e["tool_call_failures"] for e in doc["episodes"]] == [3, 3]  # type: ignore[union-attr]
    assert doc["aggregate"]["tool_call_failure_rate"] == 1.0  # type: ignore[index]


@pytest.mark.slow
def test_ctrl_c_keeps_finished_episodes(tmp_path: Path, data_dir: Path) -> None:
    env = {**os.environ, "SFT_STUDIO_DATA_DIR": str(data_dir)}
    with FakeInferenceServer(models=["m"], delay_ms=100) as srv:
        cmd = [sys.executable, "-m", "tui.cli", "eval", "--model", "m", "--inference-url", srv.base_url,
               "--seeds", "0-39", "--max-turns", "5", "--concurrency", "2", "--json"]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while srv.chat_count < 25:  # a few episodes done (5 calls each, 2 at a time)
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    doc = json.loads(out)
    kept = len(doc["episodes"])
    assert 1 <= kept < 40
    assert f"Interrupted: {kept} finished episode(s) kept" in " ".join(err.split())
    saved = json.loads((Path(doc["result_dir"]) / "result.json").read_text())
    assert len(saved["episodes"]) == kept and saved["stopped"] == "interrupted"

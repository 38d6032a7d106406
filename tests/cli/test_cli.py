"""The headless CLI: stats text and JSON, discovery, clear errors and exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tui.cli import main


def test_stats_text(app_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--db", str(app_db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Trace DB: {app_db}")
    assert "achievement keys=task-app" in out
    assert "Model usage (by LLM calls):" in out and "Achievement stats by model:" in out


def test_stats_json(app_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--json", "--db", str(app_db)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["header"]["sessions"] == 46
    assert {m["model_name"] for m in data["model_usage"]} >= {"qwen/qwen3-32b", "gpt-4o-mini"}


def test_global_db_flag_also_works(app_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", str(app_db), "stats"]) == 0
    assert "sessions=46" in capsys.readouterr().out


def test_discovers_db_upward(app_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    target = tmp_path / "traces" / "v3" / "synth_ai.db"
    target.parent.mkdir(parents=True)
    target.write_bytes(app_db.read_bytes())
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["stats"]) == 0
    assert "sessions=46" in capsys.readouterr().out


def test_no_db_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["stats"]) == 1
    err = capsys.readouterr().err
    assert "No trace DB found" in err and "traces/v3/synth_ai.db" in err


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p / "missing.db", "Database not found"),
        (lambda p: (p / "x.db").write_bytes(b"\x00garbage" * 999) and p / "x.db", "not an SQLite database"),
        (lambda p: p, "not a sqld trace DB"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tui.cli", "stats", "--db", str(path)], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "sft-studio" in capsys.readouterr().out

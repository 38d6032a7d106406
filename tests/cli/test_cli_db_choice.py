"""One DB rule for the app and every command (issue 10 items 1 and 2): --db, then synth-ai's locations,
then sft-studio's demo DB; the rule that chose it said on stderr; the same "nothing found" lines
everywhere, naming `sft-studio demo`; `collect` never silently creates ./traces/v3/synth_ai.db."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.rollouts.demo import demo_db_path
from services.traces.discovery import (
    RULE_DEMO,
    RULE_FLAG,
    RULE_NONE,
    RULE_SYNTH_DEMO,
    RULE_UPWARD,
    find_trace_db,
)
from tests.support.tracegen import build_db
from tui.cli import main


@pytest.fixture
def empty_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no trace DB anywhere: own HOME and data dir, nothing upward."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    return work


def _sessions(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM session_traces").fetchone()[0])


def test_rules_in_order(tmp_path: Path) -> None:
    home, cwd, demo = tmp_path / "home", tmp_path / "a" / "b", tmp_path / "demo.db"
    cwd.mkdir(parents=True)
    home.mkdir()
    none = find_trace_db(None, demo=demo, cwd=cwd, home=home)
    assert none.path is None and none.rule == RULE_NONE and none.looked[-1] == demo
    assert tmp_path / "a" / "traces/v3/synth_ai.db" in none.looked
    demo.write_bytes(b"")
    assert find_trace_db(None, demo=demo, cwd=cwd, home=home).rule == RULE_DEMO
    upward = tmp_path / "a" / "traces" / "v3" / "synth_ai.db"
    upward.parent.mkdir(parents=True)
    upward.write_bytes(b"")
    assert find_trace_db(None, demo=demo, cwd=cwd, home=home).path == upward
    assert find_trace_db(None, demo=demo, cwd=cwd, home=home).rule == RULE_UPWARD
    (home / ".synth-ai").mkdir()
    (home / ".synth-ai" / "demo.json").write_text(f'{{"DEMO_DIR": "{tmp_path / "s"}"}}')
    (tmp_path / "s" / "traces" / "v3").mkdir(parents=True)
    (tmp_path / "s" / "traces" / "v3" / "synth_ai.db").write_bytes(b"")
    assert find_trace_db(None, demo=demo, cwd=cwd, home=home).rule == RULE_SYNTH_DEMO
    assert find_trace_db("x.db", demo=demo, cwd=cwd, home=home).rule == RULE_FLAG


@pytest.mark.parametrize(
    "argv",
    [["stats"], ["stats", "--json"], ["count"], ["export", "--output", "out.jsonl"]],
    ids=["stats", "stats-json", "count", "export"],
)
def test_every_command_opens_the_demo_db_the_app_built(
    argv: list[str], empty_place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = build_db(demo_db_path(), sessions=4, decisions=2)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"Using trace DB {demo} (sft-studio's demo DB: no synth-ai trace DB was found)." in err


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["stats"], 1), (["count"], 1), (["export"], 1), (["collect", "--policy", "random", "--seeds", "0-0"], 2)],
    ids=["stats", "count", "export", "collect"],
)
def test_nothing_found_is_said_the_same_way_everywhere(
    argv: list[str], code: int, empty_place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    err = capsys.readouterr().err
    looked = err[err.index("Looked for:") :]
    assert f"  {empty_place / 'traces/v3/synth_ai.db'}\n" in looked
    assert f"  {demo_db_path()}\n" in looked  # the demo DB is the last place looked at
    assert "Build sft-studio's demo DB with `sft-studio demo`, or pass one with --db PATH." in looked
    assert "No trace DB" in err
    assert not (empty_place / "traces").exists()  # collect created nothing here


def test_explicit_db_prints_no_rule(app_db: Path, empty_place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--db", str(app_db)]) == 0
    assert "Using trace DB" not in capsys.readouterr().err


@pytest.mark.slow
def test_collect_appends_to_the_db_the_app_would_open(empty_place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo = build_db(demo_db_path(), sessions=3, decisions=2)
    before = _sessions(demo)
    assert main(["collect", "--policy", "random", "--seeds", "0-0", "--max-turns", "2", "--concurrency", "1"]) == 0
    assert _sessions(demo) == before + 1
    assert "Using trace DB" in capsys.readouterr().err
    assert not (empty_place / "traces").exists()

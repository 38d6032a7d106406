"""Clear messages for bad DBs and values (issue 11 item 13 parts): an empty file is called empty, a
wrong-schema DB is "not a trace DB" in every command (count suggested dropping a filter never given),
and --busy-timeout takes only a finite number of seconds >= 0."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.traces.db import TraceDB, TraceDBError
from tui.cli import main


@pytest.fixture
def wrong_schema(tmp_path: Path) -> Path:
    """Tables named like a trace DB's, but none of their columns."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE session_traces (x)")
        conn.execute("CREATE TABLE events (y)")
    return path


@pytest.mark.parametrize("command", ["stats", "count", "export"])
def test_an_empty_file_is_called_empty(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "synth_ai.db"
    empty.touch()
    assert main([command, "--db", str(empty)]) == 1
    err = capsys.readouterr().err
    assert f"{empty} is an empty file (0 bytes), not a trace DB." in err
    assert "is an SQLite database" not in err and empty.stat().st_size == 0


@pytest.mark.parametrize("command", ["stats", "count", "export"])
def test_a_wrong_schema_db_is_not_a_trace_db(
    command: str, wrong_schema: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "--db", str(wrong_schema)]) == 1
    err = capsys.readouterr().err
    assert "is an SQLite database but not a synth-ai trace DB" in err
    assert "session_traces.session_id" in err and "drop that filter" not in err


@pytest.mark.parametrize("value", ["-3", "nan", "inf", "-inf", "abc"])
def test_busy_timeout_must_be_finite_and_not_negative(
    value: str, app_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["stats", "--db", str(app_db), "--busy-timeout", value])
    assert info.value.code == 2
    assert "--busy-timeout" in capsys.readouterr().err


@pytest.mark.parametrize("value", [-3.0, float("nan"), float("inf")])
def test_trace_db_refuses_a_bad_busy_timeout(value: float, app_db: Path) -> None:
    with pytest.raises(TraceDBError, match="finite number of seconds"):
        TraceDB(app_db, busy_timeout_s=value)

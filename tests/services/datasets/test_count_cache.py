"""`count` keeps its answer per filter between runs while the DB is unchanged (issue 10 item 23): the
same filter again is answered without the index, and any change to the DB or the filter is counted
afresh."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services.traces.test_stats_snapshot import append_session
from tests.support.tracegen import build_db, settle
from tui.cli import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "traces"
    folder.mkdir()
    return settle(build_db(folder / "synth_ai.db", sessions=8, decisions=3, quirks=False))


def count(capsys: pytest.CaptureFixture[str], db: Path, *flags: str) -> tuple[dict[str, Any], str]:
    assert main(["count", "--db", str(db), "--json", *flags]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def figures(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("index_cached", "answer_cached")}


def test_the_same_filter_is_answered_from_the_cache(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder_before = sorted(os.listdir(db_path.parent))
    first, _ = count(capsys, db_path)
    second, _ = count(capsys, db_path)
    assert (first["answer_cached"], second["answer_cached"]) == (False, True)
    assert figures(first) == figures(second)
    other, _ = count(capsys, db_path, "--min-unique", "1")
    assert not other["answer_cached"] and other["index_cached"]  # a new filter: counted on the kept index
    assert sorted(os.listdir(db_path.parent)) == folder_before  # nothing written beside the DB


def test_warnings_are_printed_again_from_the_cache(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, err_first = count(capsys, db_path, "--model", "no-such-model")
    second, err_second = count(capsys, db_path, "--model", "no-such-model")
    assert second["answer_cached"] and "not a model of this DB" in err_first
    assert err_second == err_first and second["warnings"] == first["warnings"]


def test_a_commit_or_a_wal_only_append_is_counted_afresh(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, _ = count(capsys, db_path)
    append_session(db_path, 0)
    after, _ = count(capsys, db_path)
    assert not after["answer_cached"] and after["sessions_in_db"] == first["sessions_in_db"] + 1
    assert not count(capsys, db_path)[0]["answer_cached"]  # just written: nothing was kept
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    settle(db_path)
    count(capsys, db_path)
    assert count(capsys, db_path)[0]["answer_cached"]
    # A reader's open transaction (as the app's, mid-read) keeps the commit in the -wal: no checkpoint
    # can copy it into the main file, which keeps its size and mtime, and no close can remove the -wal.
    reader = sqlite3.connect(db_path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM session_traces").fetchone()
        main_file = os.stat(db_path)
        append_session(db_path, 1)
        assert os.stat(db_path).st_mtime_ns == main_file.st_mtime_ns
        settle(db_path)
        wal, _ = count(capsys, db_path)
        assert not wal["answer_cached"] and not wal["index_cached"]
        assert wal["sessions_in_db"] == first["sessions_in_db"] + 2
        assert count(capsys, db_path)[0]["answer_cached"]
    finally:
        reader.close()


def test_a_changed_preset_is_counted_afresh(db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n[filter]\nmin_unique = 0\n')
    assert count(capsys, db_path, "--preset", str(preset))[0]["eligible_sessions"] > 0
    assert count(capsys, db_path, "--preset", str(preset))[0]["answer_cached"]
    preset.write_text('name = "p"\n[filter]\nmin_unique = 99\n')
    changed, _ = count(capsys, db_path, "--preset", str(preset))
    assert not changed["answer_cached"] and changed["eligible_sessions"] == 0


def test_a_bad_filter_is_refused_every_time(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        assert main(["count", "--db", str(db_path), "--limit", "0", "--json"]) == 1
        assert "Invalid filter: limit must be 1 or more" in capsys.readouterr().err


def test_text_output_says_the_counts_came_from_the_cache(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--db", str(db_path)]) == 0
    first = capsys.readouterr().out
    assert main(["count", "--db", str(db_path)]) == 0
    second = capsys.readouterr().out
    assert "Counts read from the cache" in second and "Counts read from the cache" not in first
    assert first.split("Tokens:")[0] == second.split("Tokens:")[0]  # the same counts table


def test_a_cached_count_imports_no_heavy_library(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from tui.cli import main\n"
        f"assert main(['count', '--db', {str(db_path)!r}, '--json']) == 0\n"
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'pydantic', 'textual') if m in sys.modules))\n"
    )
    run = [sys.executable, "-c", code]
    subprocess.run(run, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=True)
    proc = subprocess.run(run, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"

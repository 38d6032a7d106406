"""`count` keeps its session index between runs while the DB is unchanged (issue 10 item 23)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from services.datasets.filter_spec import FilterSpec
from services.datasets.index_cache import cache_file, cached_index
from services.datasets.preview import preview
from services.traces.db import TraceDB
from tests.services.traces.test_stats_snapshot import append_session
from tests.support.tracegen import build_db, settle
from tui.cli import main


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    return settle(build_db(tmp_path / "synth_ai.db", sessions=8, decisions=3, quirks=False))


def test_reused_while_unchanged_rebuilt_after_a_write(db_path: Path) -> None:
    with TraceDB(db_path) as db:
        first, cached = cached_index(db)
        assert not cached and cache_file(db).is_file()
        again, cached = cached_index(db)
        assert cached
        assert preview(again, FilterSpec()).model_dump(exclude={"elapsed_ms"}) == preview(
            first, FilterSpec()
        ).model_dump(exclude={"elapsed_ms"})
    append_session(db_path, 0)
    with TraceDB(db_path) as db:
        fresh, cached = cached_index(db)
        assert not cached and fresh.sessions_total == first.sessions_total + 1


def test_a_damaged_cache_file_is_rebuilt(db_path: Path) -> None:
    with TraceDB(db_path) as db:
        cached_index(db)
        cache_file(db).write_bytes(b"not a pickle")
        _, cached = cached_index(db)
        assert not cached


def test_count_says_when_it_used_the_cache(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--db", str(db_path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["count", "--db", str(db_path), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["index_cached"], second["index_cached"]) == (False, True)
    assert first["examples"] == second["examples"] and first["eligible_sessions"] == second["eligible_sessions"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM session_traces").fetchone()[0] == first["sessions_in_db"]


def test_a_file_written_by_other_index_code_is_not_read(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is keyed on the code that builds an index, not only on a hand-bumped number."""
    from services.datasets import index_cache

    with TraceDB(db_path) as db:
        cached_index(db)
        monkeypatch.setattr(index_cache, "_code_stamp", lambda: "other code")
        _, cached = cached_index(db)
        assert not cached

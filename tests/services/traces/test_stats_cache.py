"""`stats` and the Traces pane answer an unchanged DB from the stats cache (issue 10 item 23), and any
change to the DB (a rollback-journal commit, a WAL-only append, a commit that keeps the file's size
and mtime) gives a fresh answer. DBs are ``settle``d: nothing is kept for a DB written within the last
second."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.traces import stats_cache
from services.traces.db import TraceDB
from services.traces.stats import compute_stats
from services.traces.stats_cache import cache_file, cached_stats
from services.traces.stats_models import TraceStats
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


def same_figures(a: TraceStats, b: TraceStats) -> bool:
    def plain(s: TraceStats) -> dict[str, Any]:
        return s.model_dump(mode="json", exclude={"header": {"elapsed_s"}})

    return plain(a) == plain(b)


def fresh(path: Path) -> TraceStats:
    with TraceDB(path) as db:
        return compute_stats(db)


def test_an_unchanged_db_is_answered_from_the_cache(db_path: Path) -> None:
    folder_before = sorted(os.listdir(db_path.parent))
    first, cached = cached_stats(db_path)
    assert not cached
    assert cache_file(db_path.resolve()).is_file()
    again, cached = cached_stats(db_path)
    assert cached
    assert same_figures(first, again) and same_figures(again, fresh(db_path))
    # Nothing is ever written beside the DB: the cache lives in the data dir.
    assert sorted(os.listdir(db_path.parent)) == folder_before


def test_a_commit_gives_a_fresh_answer(db_path: Path) -> None:
    first, _ = cached_stats(db_path)
    append_session(db_path, 0)
    after, cached = cached_stats(db_path)
    assert not cached
    assert after.header.sessions == first.header.sessions + 1
    assert same_figures(after, fresh(db_path))
    # Just written: a second write in the same timestamp tick would not show, so nothing was kept.
    assert not cached_stats(db_path)[1]
    settle(db_path)
    assert not cached_stats(db_path)[1]
    assert cached_stats(db_path)[1]


def test_a_wal_only_append_gives_a_fresh_answer(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    settle(db_path)
    first, _ = cached_stats(db_path)
    assert cached_stats(db_path)[1]
    main_file = os.stat(db_path)
    # A reader's open transaction (as the app's, mid-read) keeps the commit in the -wal: no checkpoint
    # can copy it into the main file, which keeps its size and mtime, and no close can remove the -wal.
    reader = sqlite3.connect(db_path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM session_traces").fetchone()
        append_session(db_path, 1)
        now = os.stat(db_path)
        assert (now.st_size, now.st_mtime_ns) == (main_file.st_size, main_file.st_mtime_ns)
        after, cached = cached_stats(db_path)
        assert not cached
        assert after.header.sessions == first.header.sessions + 1
        settle(db_path)
        assert not cached_stats(db_path)[1]
        assert cached_stats(db_path)[1]
    finally:
        reader.close()


def test_a_commit_that_keeps_size_and_mtime_gives_a_fresh_answer(db_path: Path) -> None:
    """An in-place commit whose file keeps its size, with the mtime set back (``touch -d``): the
    ctime, which nothing can set back, still tells."""
    first, _ = cached_stats(db_path)
    before = os.stat(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE outcome_rewards SET total_reward = total_reward + 1000")
    os.utime(db_path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(db_path).st_size == before.st_size
    after, cached = cached_stats(db_path)
    assert not cached
    assert after.outcome is not None and first.outcome is not None
    assert after.outcome.total_reward > first.outcome.total_reward


def test_other_code_or_a_damaged_file_is_not_read(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached_stats(db_path)
    cache_file(db_path.resolve()).write_bytes(b"{not json")
    assert not cached_stats(db_path)[1]
    assert cached_stats(db_path)[1]
    monkeypatch.setattr(stats_cache, "_code_stamp", lambda: "other code")
    assert not cached_stats(db_path)[1]


def test_the_call_s_own_values_are_filled_in(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path as given is this call's, not the one the cache was written for."""
    cached_stats(db_path)
    monkeypatch.chdir(db_path.parent)
    again, cached = cached_stats(Path(db_path.name))
    assert cached
    assert again.header.path == db_path.name
    assert again.header.resolved_path == str(db_path.resolve())


def test_stats_command_output_is_the_same_from_the_cache(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--db", str(db_path)]) == 0
    first = capsys.readouterr().out
    assert main(["stats", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out == first


def test_a_cached_stats_run_imports_no_sqlalchemy(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from tui.cli import main\n"
        f"assert main(['stats', '--db', {str(db_path)!r}]) == 0\n"
        "print(sorted(m for m in ('sqlalchemy', 'numpy', 'textual') if m in sys.modules))\n"
    )
    env = {**os.environ}
    run = [sys.executable, "-c", code]
    subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)  # fills the cache
    proc = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"

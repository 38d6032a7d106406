"""Opening trace DBs: discovery, sqld layout, flavours, read-only guarantees, bad input."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.traces.achievement_keys import KeyStyle
from services.traces.db import (
    DBLockedError,
    DBNotFoundError,
    NotATraceDBError,
    NotSQLiteError,
    TraceDB,
    TraceDBError,
    discovery_candidates,
    locate_db,
)
from services.traces.schema import Flavour
from services.traces.stats import compute_stats
from tests.support.paths import ROOT
from tests.support.tracegen import build_db, make_episode


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# ---------------------------------------------------------------- discovery


def test_locate_prefers_explicit_path(tmp_path: Path) -> None:
    assert locate_db(tmp_path / "x.db", cwd=tmp_path, home=tmp_path) == tmp_path / "x.db"


def test_locate_walks_up_from_cwd(tmp_path: Path) -> None:
    db = tmp_path / "proj" / "traces" / "v3" / "synth_ai.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    deep = tmp_path / "proj" / "a" / "b"
    deep.mkdir(parents=True)
    assert locate_db(None, cwd=deep, home=tmp_path / "home") == db


def test_locate_reads_synth_demo_dir_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    demo = tmp_path / "demo"
    (home / ".synth-ai").mkdir(parents=True)
    (home / ".synth-ai" / "demo.json").write_text(json.dumps({"DEMO_DIR": str(demo)}))
    (demo / "traces" / "v3").mkdir(parents=True)
    (demo / "traces" / "v3" / "synth_ai.db").write_bytes(b"")
    assert discovery_candidates(cwd=tmp_path, home=home)[0] == demo / "traces/v3/synth_ai.db"
    assert locate_db(None, cwd=tmp_path, home=home) == demo / "traces/v3/synth_ai.db"


def test_locate_returns_none_when_nothing_found(tmp_path: Path) -> None:
    assert locate_db(None, cwd=tmp_path, home=tmp_path / "home") is None


def test_sqld_directory_layout(tmp_path: Path) -> None:
    sqld = tmp_path / "synth_ai.db"
    build_db(sqld / "dbs" / "default" / "data", sessions=3, decisions=2, quirks=False)
    with TraceDB(sqld) as db:
        assert db.path == sqld / "dbs" / "default" / "data"
        assert compute_stats(db).header.sessions == 3


# ---------------------------------------------------------------- bad input


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DBNotFoundError, match="Database not found"):
        TraceDB(tmp_path / "nope.db")


def test_directory_without_sqld_data(tmp_path: Path) -> None:
    with pytest.raises(DBNotFoundError, match=r"dbs/default/data is missing"):
        TraceDB(tmp_path)


def test_not_sqlite(tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(random.Random(0).randbytes(8192))
    with pytest.raises(NotSQLiteError, match="not an SQLite database"):
        TraceDB(bad)


def test_sqlite_without_trace_tables(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(NotATraceDBError, match="session_traces, events missing"):
        TraceDB(other)


def test_locked_by_writer(tmp_path: Path) -> None:
    path = build_db(tmp_path / "t.db", sessions=2, decisions=2, quirks=False)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DBLockedError, match="locked by another process"), TraceDB(path, busy_timeout_s=0.1) as db:
            compute_stats(db)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    with TraceDB(path) as db:  # and fine once the writer is done
        assert compute_stats(db).header.sessions == 2


def test_errors_have_no_traceback_text(tmp_path: Path) -> None:
    for exc in (DBNotFoundError, NotSQLiteError, NotATraceDBError, DBLockedError):
        assert issubclass(exc, TraceDBError)
    with pytest.raises(TraceDBError) as info:
        TraceDB(tmp_path / "missing.db")
    assert "Traceback" not in str(info.value)


# ---------------------------------------------------------------- flavours


@pytest.mark.parametrize("flavour", list(Flavour))
def test_flavour_detected_by_columns(tmp_path: Path, flavour: Flavour) -> None:
    path = build_db(tmp_path / "f.db", sessions=4, decisions=3, flavour=flavour)
    with TraceDB(path) as db:
        assert db.schema.flavour is flavour
        stats = compute_stats(db)
    assert stats.header.sessions == 4 + 6  # plus the quirky sessions
    if flavour is Flavour.V0_2_3:
        assert stats.outcome is None and stats.reward_types is None
        assert "outcome_rewards" in stats.unavailable["outcome"]
        assert "event_rewards" in stats.unavailable["reward_types"]
        assert stats.model_usage  # the rest still works
    elif flavour is Flavour.V0_2_6:
        assert "outcome_rewards.reward_metadata" in stats.unavailable["outcome_achievements"]
        assert stats.outcome is not None and stats.achievements.name_counts
    else:
        assert not stats.unavailable


# ---------------------------------------------------------------- read-only


def test_every_operation_leaves_the_file_unchanged(app_db: Path) -> None:
    before = _fingerprint(app_db)
    with TraceDB(app_db) as db:
        compute_stats(db)
        db.size_bytes()
    subprocess.run([sys.executable, "-m", "tui.cli", "stats", "--db", str(app_db)], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "tui.cli", "stats", "--json", "--db", str(app_db)], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    assert _fingerprint(app_db) == before


def test_wal_flavour_main_file_unchanged(tmp_path: Path) -> None:
    path = build_db(tmp_path / "wal.db", sessions=3, decisions=2, flavour=Flavour.V0_2_8)
    before = _fingerprint(path)
    with TraceDB(path) as db:
        assert db.schema.journal_mode == "wal"
        compute_stats(db)
    assert _fingerprint(path) == before


def test_connection_refuses_writes(app_db: Path) -> None:
    with TraceDB(app_db) as db, pytest.raises(TraceDBError, match="readonly"), db.connect() as conn:
        conn.exec_driver_sql("DELETE FROM session_traces")


def test_reads_while_another_process_appends(tmp_path: Path) -> None:
    path = build_db(tmp_path / "live.db", sessions=5, decisions=3, quirks=False)
    appender = textwrap.dedent(
        f"""
        import random, sys
        sys.path.insert(0, {str(ROOT)!r})
        from services.traces.achievement_keys import KeyStyle
        from services.traces.writer import TraceWriter
        from tests.support.tracegen import make_episode
        rng = random.Random(7)
        with TraceWriter({str(path)!r}) as w:
            for i in range(60):
                w.write([make_episode(rng, 1000 + i, decisions=4, style=KeyStyle.TASK_APP)])
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", appender])
    seen = []
    try:
        while proc.poll() is None:
            with TraceDB(path) as db:
                seen.append(compute_stats(db).header.sessions)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0
    with TraceDB(path) as db:
        final = compute_stats(db).header.sessions
    assert final == 65
    assert seen == sorted(seen) and all(5 <= s <= 65 for s in seen)


def test_writer_only_appends(tmp_path: Path) -> None:
    """The trace writer issues no UPDATE or DELETE, and earlier rows survive later writes intact."""
    from sqlalchemy import event

    from services.traces.writer import TraceWriter

    path = build_db(tmp_path / "a.db", sessions=3, decisions=2, quirks=False)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    statements: list[str] = []
    with TraceWriter(path) as writer:
        event.listen(writer._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        writer.write([make_episode(random.Random(3), 50, decisions=3, style=KeyStyle.TASK_APP)])
    verbs = {s.split()[0].upper() for s in statements}
    assert verbs <= {"INSERT", "SELECT", "PRAGMA"}, verbs
    with sqlite3.connect(path) as conn:
        after = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    assert after[: len(before)] == before and len(after) > len(before)

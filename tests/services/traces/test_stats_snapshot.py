"""Every figure of one stats call comes from one read transaction (issue 10 item 16): a collector that
commits between two of its queries must not make the header disagree with the sections ("202 of 201
sessions", "Episodes 202" beside "201 sessions")."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import services.traces.stats as stats_module
from services.traces.db import TraceDB
from services.traces.stats import TraceStats, compute_stats
from tests.support.tracegen import build_db


def _copy_row(conn: sqlite3.Connection, table: str, replace: dict[str, str], where: str) -> None:
    """Append a copy of one row of ``table`` with the columns in ``replace`` set (id left to SQLite)."""
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    chosen = ", ".join(replace.get(c, c) for c in cols)
    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {chosen} FROM {table} WHERE {where} LIMIT 1")


def append_session(path: Path, n: int) -> None:
    """What a collector's commit adds: a session, an LM event and its outcome row, in one transaction."""
    sid = f"'appended-{n}'"
    with sqlite3.connect(path, timeout=10) as conn:
        _copy_row(conn, "session_traces", {"session_id": sid}, "1")
        _copy_row(conn, "events", {"session_id": sid}, "event_type = 'cais' AND model_name IS NOT NULL")
        _copy_row(conn, "outcome_rewards", {"session_id": sid}, "1")


def figures(s: TraceStats) -> dict[str, Any]:
    assert s.outcome is not None
    return {
        "sessions": s.header.sessions,
        "lm_calls": s.header.lm_calls,
        "episodes": s.outcome.episodes,
        "model_calls": sum(m.calls for m in s.model_usage),
        "dominant_sessions": sum(m.sessions for m in s.per_model),
    }


@pytest.mark.parametrize("hook", ["_outcomes", "_event_rewards", "_lm_usage"])
def test_a_commit_between_queries_changes_no_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hook: str) -> None:
    db_path = build_db(tmp_path / "synth_ai.db", sessions=12, decisions=3, quirks=False)
    with sqlite3.connect(db_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    with TraceDB(db_path) as db:
        assert db.schema.journal_mode == "wal"  # the collector's mode: its commits do not wait for readers
        before = figures(compute_stats(db))
    original = getattr(stats_module, hook)
    commits = iter(range(100))

    def commit_then_read(*args: Any, **kwargs: Any) -> Any:
        append_session(db_path, next(commits))
        return original(*args, **kwargs)

    monkeypatch.setattr(stats_module, hook, commit_then_read)
    with TraceDB(db_path) as db:
        during = figures(compute_stats(db))
    monkeypatch.setattr(stats_module, hook, original)
    with TraceDB(db_path) as db:
        after = figures(compute_stats(db))
    assert during == before  # one snapshot: the state when the read began
    assert after["sessions"] == before["sessions"] + 1 and after["episodes"] == before["episodes"] + 1

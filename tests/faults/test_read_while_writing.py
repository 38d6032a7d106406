"""Reading while a collector writes (issue 11 item 1): every export of a DB that a writer is appending
to succeeds and describes the one snapshot it read.

The writer is a separate process (as ``collect`` is), appending whole episodes in a loop with the
TraceWriter; the exports run in this process, with and without the part worker process.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.datasets.export import export_sft, manifest_path
from services.datasets.export_part import rows_query
from services.datasets.filter_spec import FilterSpec
from services.datasets.selection import raw_connection, select_sessions
from services.traces.achievement_keys import KeyStyle
from services.traces.db import TraceDB
from services.traces.schema import Flavour
from services.traces.snapshot import take_snapshot
from services.traces.writer import TraceWriter
from tests.support.paths import ROOT
from tests.support.tracegen import build_db, make_episode

_WRITER = """
import random, sys, time
from pathlib import Path
from services.traces.achievement_keys import KeyStyle
from services.traces.schema import Flavour
from services.traces.writer import TraceWriter
from tests.support.tracegen import make_episode
path, flavour, start = Path(sys.argv[1]), Flavour(sys.argv[2]), int(sys.argv[3])
with TraceWriter(path, flavour=flavour) as writer:
    i = start
    while True:
        writer.write([make_episode(random.Random(i), i, decisions=6, style=KeyStyle.REFERENCE)])
        i += 1
"""

EXPORTS = 24


def _sessions(db: Path) -> int:
    with TraceDB(db) as trace_db, trace_db.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM session_traces").scalar() or 0)


@pytest.mark.slow
@pytest.mark.parametrize("flavour", [Flavour.V0_2_10, Flavour.V0_2_8], ids=["rollback-journal", "wal"])
def test_exports_while_a_writer_appends_all_succeed(tmp_path: Path, flavour: Flavour) -> None:
    db = build_db(tmp_path / "t.db", sessions=60, decisions=6, flavour=flavour, quirks=False)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), flavour.value, "1000"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    failures: list[str] = []
    snapshots: list[dict[str, int]] = []
    try:
        before = _sessions(db)
        for i in range(EXPORTS):
            assert writer.poll() is None, writer.stderr.read().decode() if writer.stderr else ""
            out = tmp_path / f"out{i}.jsonl"
            try:
                with TraceDB(db) as trace_db:
                    result = export_sft(trace_db, FilterSpec(), out, workers=1 if i % 2 else 0)
            except Exception as exc:  # every failure is counted and shown
                failures.append(f"export {i}: {type(exc).__name__}: {exc}")
                continue
            manifest = json.loads(manifest_path(out).read_text(encoding="utf-8"))
            snapshot = manifest["source_db"]["snapshot"]
            snapshots.append(snapshot)
            sessions_in_file = {json.loads(line)["metadata"]["session_id"] for line in out.read_text().splitlines()}
            assert len(sessions_in_file) == result.sessions <= snapshot["sessions"]
        after = _sessions(db)
    finally:
        writer.kill()
        writer.wait()
    assert failures == [], "\n".join(failures)
    assert after > before, "the writer appended nothing during the exports"
    assert [s["sessions"] for s in snapshots] == sorted(s["sessions"] for s in snapshots)
    assert snapshots[-1]["last_event_id"] >= snapshots[0]["last_event_id"]


def test_a_snapshot_pins_what_every_reader_sees(tmp_path: Path) -> None:
    """Rows appended after the snapshot are invisible to the selection and to both parts."""
    db = build_db(tmp_path / "t.db", sessions=6, decisions=3, quirks=False)
    with TraceDB(db) as trace_db, raw_connection(trace_db) as conn:
        snapshot = take_snapshot(conn, trace_db.schema)
    with TraceWriter(db) as writer:
        writer.write([make_episode(random.Random(i), i, decisions=3, style=KeyStyle.REFERENCE) for i in range(50, 53)])
    with TraceDB(db) as trace_db:
        pinned = select_sessions(trace_db, FilterSpec(), snapshot)
        now = select_sessions(trace_db, FilterSpec())
    assert len(now.sessions) == len(pinned.sessions) + 3
    assert snapshot.manifest() == {"sessions": 6, "last_event_id": snapshot.last_event_id}
    query = rows_query(None, [], snapshot.last_event_id)
    with sqlite3.connect(db) as conn:
        assert {row[0] for row in query(conn)} == pinned.sessions

"""Our 0.2.10 DDL is synth-ai 0.2.10's, statement for statement (checked against the real wheel)."""

from __future__ import annotations

import ast
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest

from services.traces.schema import Flavour, schema_statements
from tests.support.reference_tools import ReferenceUnavailable, cache_dir, reference_script, reference_unavailable
from tests.support.tracegen import build_db


def _norm(sql: str) -> str:
    sql = re.sub(r"\s+", " ", sql).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", sql).replace("IF NOT EXISTS ", "")


def _wheel_statements() -> set[str]:
    try:
        reference_script("analyze_trace_db.py")  # ensures the wheel is cached
    except ReferenceUnavailable as exc:
        reference_unavailable(f"synth-ai 0.2.10 wheel not available (registry unreachable): {exc}")
    wheel = next(cache_dir().glob("synth_ai-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        sources = [
            zf.read("synth_ai/tracing_v3/turso/native_manager.py").decode(),
            zf.read("synth_ai/tracing_v3/turso/models.py").decode(),
        ]
    found: set[str] = set()
    for src in sources:  # read the string constants, never run the code
        for node in ast.walk(ast.parse(src)):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and node.value.strip().startswith("CREATE "):
                found.add(_norm(node.value))
    return found


@pytest.mark.network
def test_ddl_matches_synth_ai_0_2_10() -> None:
    ours = {_norm(s) for s in schema_statements(Flavour.V0_2_10)}
    theirs = _wheel_statements()
    assert len(ours) == 10 + 27 + 3
    assert ours <= theirs, sorted(ours - theirs)
    tables_and_indexes = {s for s in theirs if not s.startswith("CREATE VIEW")}
    assert {s for s in ours if not s.startswith("CREATE VIEW")} == tables_and_indexes


def test_fresh_db_has_the_documented_objects(tmp_path: Path) -> None:
    path = build_db(tmp_path / "x.db", sessions=1, decisions=1, quirks=False)
    with sqlite3.connect(path) as conn:
        objects = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%'"))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sum(t == "table" for t in objects.values()) == 11  # 10 + sqlite_sequence
    assert sum(t == "index" for t in objects.values()) == 27
    assert {n for n, t in objects.items() if t == "view"} == {
        "model_usage_stats",
        "session_summary",
        "experiment_overview",
    }

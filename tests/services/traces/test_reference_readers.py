"""synth-ai's own readers accept what our collector writes (the 0.2.10 wheel's scripts, run as is)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.rollouts.collector import CollectSpec, collect
from services.traces.achievement_keys import KeyStyle
from tests.support.reference_tools import ReferenceUnavailable, reference_script, reference_unavailable

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def scripts() -> dict[str, Path]:
    try:
        return {name: reference_script(name) for name in ("analyze_trace_db.py", "export_trace_sft.py")}
    except ReferenceUnavailable as exc:
        reference_unavailable(f"reference scripts unavailable (PyPI unreachable, nothing cached): {exc}")


def _collect(tmp_path: Path, style: KeyStyle) -> tuple[Path, list[str]]:
    db = tmp_path / f"{style.value}.db"
    teacher = collect(CollectSpec(db=db, policy="teacher", seeds=(0, 2), max_turns=15, key_style=style))
    rand = collect(CollectSpec(db=db, policy="random", seeds=(0, 1), max_turns=15, key_style=style))
    return db, teacher.session_ids + rand.session_ids


def _decisions(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE event_type = 'cais'").fetchone()[0])


def _final_achievements(db: Path) -> dict[str, set[str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT session_id, reward_metadata FROM outcome_rewards").fetchall()
    out = {}
    for sid, meta in rows:
        data = json.loads(meta)
        out[sid] = set(data.get("achievements", data.get("final_achievements", [])))
    return out


def _export(script: Path, db: Path, out: Path) -> list[dict]:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, str(script), "--db", str(db), "--output", str(out)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_reference_readers_on_reference_keys(tmp_path: Path, scripts: dict[str, Path]) -> None:
    db, sessions = _collect(tmp_path, KeyStyle.REFERENCE)
    report = subprocess.run([sys.executable, str(scripts["analyze_trace_db.py"]), "--db", str(db)],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "sft-studio/teacher" in report and "sft-studio/random" in report
    finals = _final_achievements(db)
    assert "(none recorded)" not in report
    for name in {a for s in finals.values() for a in s}:
        count = sum(name in s for s in finals.values())
        assert f"  {name:25} -> {count}" in report
    examples = _export(scripts["export_trace_sft.py"], db, tmp_path / "ref.jsonl")
    assert len(examples) == _decisions(db)
    assert {e["metadata"]["session_id"] for e in examples} == set(sessions)
    for sid, final in finals.items():
        unlocked = [a for e in examples if e["metadata"]["session_id"] == sid
                    for a in e["metadata"]["achievements"]["new_unique"]]  # fmt: skip
        assert set(unlocked) == final and len(unlocked) == len(final)
    first = examples[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[2]["tool_calls"][0]["function"]["name"] == "interact_many"


def test_reference_readers_on_task_app_keys(tmp_path: Path, scripts: dict[str, Path]) -> None:
    """They read the sessions and examples, but (their known defect) none of the task app's achievements."""
    db, sessions = _collect(tmp_path, KeyStyle.TASK_APP)
    report = subprocess.run([sys.executable, str(scripts["analyze_trace_db.py"]), "--db", str(db)],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "Unique achievements unlocked:\n  (none recorded)" in report
    examples = _export(scripts["export_trace_sft.py"], db, tmp_path / "app.jsonl")
    assert len(examples) == _decisions(db)
    assert {e["metadata"]["session_id"] for e in examples} == set(sessions)
    assert all(e["metadata"]["achievements"]["new_unique"] == [] for e in examples)

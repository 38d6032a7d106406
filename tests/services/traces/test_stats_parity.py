"""Parity with synth-ai 0.2.10's analyze_trace_db.py, run from the real wheel on our fixture DBs."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.traces.db import TraceDB
from services.traces.stats import compute_stats
from services.traces.stats_report import reference_sections
from tests.support.parity import canonical, count_runs_are_sorted, run_reference_stats
from tests.support.reference_tools import ReferenceUnavailable, reference_script, reference_unavailable

pytestmark = pytest.mark.network


@pytest.fixture(scope="module", autouse=True)
def _reference_available() -> None:
    try:
        reference_script("analyze_trace_db.py")
    except ReferenceUnavailable as exc:
        reference_unavailable(f"reference script unavailable (PyPI unreachable, nothing cached): {exc}")


def _ours(db: Path) -> str:
    with TraceDB(db) as trace_db:
        return reference_sections(compute_stats(trace_db))


def test_reference_key_db_matches_reference(ref_db: Path) -> None:
    ours, theirs = _ours(ref_db), run_reference_stats(ref_db)
    assert count_runs_are_sorted(ours)
    assert canonical(ours) == canonical(theirs)
    assert "(none recorded)" not in theirs  # the fixture really exercises the achievement sections


def test_task_app_key_db_equals_reference_on_renamed_keys(app_db: Path, ref_db: Path) -> None:
    """ref_db is app_db with the keys renamed (same seed); our figures on app_db are the reference's on ref_db."""
    assert canonical(_ours(app_db)) == canonical(run_reference_stats(ref_db))


def test_reference_sees_no_achievements_on_task_app_keys(app_db: Path) -> None:
    """The defect we do not copy: on task-app keys the reference reports nothing unlocked."""
    theirs = run_reference_stats(app_db)
    assert "Unique achievements unlocked:\n  (none recorded)" in theirs
    assert "Unique achievements unlocked:\n  (none recorded)" not in _ours(app_db)

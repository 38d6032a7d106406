"""One reader of rewards (services/traces/rewards.py): the live preview and the export never disagree,
whatever ``outcome_rewards.total_reward`` holds.

The DB holds every kind of value: NULL, text float() refuses ('abc', '0x10', 'NULL'), numbers as text
(' 3 ', '2.5', '-1e3', 'inf', 'nan', '1_0', an Arabic-Indic digit), a blob b'4', '' and real numbers,
plus the quirky sessions without an outcome row and with two (the last wins). The export reads each
as export_trace_sft.py does (``float(v or 0.0)``) and counts the values float() refuses; the preview's
counts (sessions, examples, skipped rows) must be the export's for every outcome-reward filter.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.datasets.export import ExportError, export_sft
from services.datasets.filter_spec import FilterSpec
from services.datasets.preview import preview
from services.datasets.selection import select_sessions
from services.datasets.session_index import SessionIndex
from services.traces.db import TraceDB
from services.traces.rewards import NOT_A_NUMBER, total_reward
from tests.support.tracegen import ODD_TOTAL_REWARDS, build_db, set_total_rewards

#: Thresholds at and around the values the DB holds (as numbers), and beyond them.
BOUNDS = (-math.inf, -1e9, -1000.0, -1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 4.0, 7.0, 10.0, 11.0, 1e9, math.inf)


@pytest.fixture(scope="module")
def odd_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_db(tmp_path_factory.mktemp("odd") / "odd.db", sessions=24, decisions=3)
    set_total_rewards(path, ODD_TOTAL_REWARDS)
    return path


@pytest.fixture(scope="module")
def odd_index(odd_db: Path) -> SessionIndex:
    with TraceDB(odd_db) as db:
        return SessionIndex.build(db)


def _not_numbers(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        values = [v for (v,) in conn.execute("SELECT total_reward FROM outcome_rewards")]
    conn.close()
    return sum(1 for v in values if total_reward(v) is None)


def test_the_db_holds_every_kind_of_value(odd_db: Path) -> None:
    with sqlite3.connect(f"file:{odd_db}?mode=ro", uri=True) as conn:
        kinds = {t for (t,) in conn.execute("SELECT DISTINCT typeof(total_reward) FROM outcome_rewards")}
    conn.close()
    assert kinds == {"null", "text", "blob", "integer", "real"}
    assert _not_numbers(odd_db) >= 3


def test_the_reader_follows_the_reference_rule() -> None:
    assert [total_reward(v) for v in (None, "", 0, "2.5", " 3 ", b"4", "\u0661", "1_0", 7, "-1e3")] == [
        0.0, 0.0, 0.0, 2.5, 3.0, 4.0, 1.0, 10.0, 7.0, -1000.0,
    ]  # fmt: skip
    assert math.isnan(total_reward("nan") or 0.0) and total_reward("inf") == math.inf
    assert [total_reward(v) for v in ("abc", "0x10", "NULL", b"x")] == [None] * 4


SPECS = [
    FilterSpec(),
    *(FilterSpec(min_outcome_reward=b) for b in BOUNDS[1:-1]),
    *(FilterSpec(max_outcome_reward=b) for b in BOUNDS[1:-1]),
    FilterSpec(min_outcome_reward=0.0, max_outcome_reward=0.0),
    FilterSpec(min_outcome_reward=2.5, max_outcome_reward=4.0),
    FilterSpec(min_outcome_reward=-1000.0, max_outcome_reward=-1000.0),
    FilterSpec(min_outcome_reward=0.5, limit=7),
    FilterSpec(max_outcome_reward=0.0, models=["qwen/qwen3-32b"]),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"min={s.min_outcome_reward},max={s.max_outcome_reward}")
def test_preview_counts_are_the_exports(
    odd_db: Path, odd_index: SessionIndex, tmp_path: Path, spec: FilterSpec
) -> None:
    shown = preview(odd_index, spec)
    with TraceDB(odd_db) as db:
        eligible = select_sessions(db, spec).sessions
        try:
            result = export_sft(db, spec, tmp_path / "d.jsonl")
        except ExportError as exc:
            assert shown.export_error == str(exc)
            assert shown.eligible_sessions == len(eligible)
            return
    assert shown.export_error is None
    assert (shown.eligible_sessions, shown.sessions_written, shown.examples) == (
        len(eligible), result.sessions, result.examples,
    )  # fmt: skip
    assert odd_index.rows_skipped[NOT_A_NUMBER] == result.skipped[NOT_A_NUMBER] == _not_numbers(odd_db)


def test_some_filter_keeps_and_some_removes_the_sessions_with_odd_values(odd_index: SessionIndex) -> None:
    """The table above is not vacuous: the odd values move sessions in and out."""
    counts = {preview(odd_index, spec).eligible_sessions for spec in SPECS}
    assert len(counts) >= 6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lo=st.none() | st.sampled_from(BOUNDS) | st.floats(allow_nan=False),
    hi=st.none() | st.sampled_from(BOUNDS) | st.floats(allow_nan=False),
)
def test_eligible_sessions_never_disagree(
    odd_db: Path, odd_index: SessionIndex, lo: float | None, hi: float | None
) -> None:
    spec = FilterSpec(min_outcome_reward=lo, max_outcome_reward=hi)
    with TraceDB(odd_db) as db:
        expected = select_sessions(db, spec).sessions
    assert set(odd_index.eligible(spec)) == expected

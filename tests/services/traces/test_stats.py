"""Stats service: header figures, both key styles, malformed rows, quirks of real DBs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle
from services.traces.db import TraceDB
from services.traces.stats import compute_stats
from services.traces.stats_report import full_report
from tests.support.tracegen import build_db, set_total_rewards


def _stats(path: Path):  # type: ignore[no-untyped-def]
    with TraceDB(path) as db:
        return compute_stats(db)


def test_header_counts(app_db: Path) -> None:
    s = _stats(app_db)
    h = s.header
    assert h.sessions == 46
    assert h.events == h.events_by_type["cais"] + h.events_by_type["environment"]
    assert h.lm_calls == h.events_by_type["cais"] == sum(m.calls for m in s.model_usage)
    assert h.flavour == "0.2.10-0.3.5" and h.read_mode == "read-only"
    assert h.first_session_at == "2025-10-18T02:00:00+00:00"
    assert h.size_bytes == app_db.stat().st_size


def test_key_styles_detected(app_db: Path, ref_db: Path) -> None:
    app, ref = _stats(app_db), _stats(ref_db)
    assert app.header.key_style is KeyStyle.TASK_APP
    assert ref.header.key_style is KeyStyle.REFERENCE
    assert any("task app's keys" in n for n in app.notes)
    # Same episodes, keys renamed: identical figures either way.
    assert app.achievements == ref.achievements
    assert app.per_model == ref.per_model


def test_malformed_rows_are_skipped_and_counted(app_db: Path) -> None:
    m = _stats(app_db).header.malformed
    with sqlite3.connect(f"file:{app_db}?mode=ro", uri=True) as conn:
        # every unique-delta row whose env event carries the broken metadata is skipped
        rows_on_broken_event = conn.execute(
            "SELECT COUNT(*) FROM event_rewards er JOIN events ev ON er.event_id = ev.id "
            "WHERE ev.metadata = '{\"turn\": 1,' AND er.reward_type = 'unique_achievement_delta' "
            "AND er.reward_value > 0 AND er.annotation != '{not json'"
        ).fetchone()[0]
    assert rows_on_broken_event >= 1
    assert (m.event_reward_annotation, m.event_metadata, m.outcome_reward_metadata) == (1, rows_on_broken_event, 1)
    assert m.total == 2 + rows_on_broken_event


def test_no_outcome_rows_and_two_outcome_rows(tmp_path: Path) -> None:
    s = _stats(build_db(tmp_path / "q.db", sessions=0, decisions=4))
    # quirky sessions only: #1 has 2 outcome rows (one malformed), #2 none, #3 two, #6 one
    assert s.outcome is not None and s.outcome.episodes == 2 + 0 + 2 + 1 + 1 + 1
    # session 3's retry row unions collect_diamond into its set
    assert s.achievements.count_of("collect_diamond") >= 1


def test_dominant_model_tie_goes_to_first_model(tmp_path: Path) -> None:
    s = _stats(build_db(tmp_path / "tie.db", sessions=0, decisions=4))
    names = [m.model_name for m in s.per_model]
    assert "alpha-model" in names and "zeta-model" not in names


def test_all_22_achievements_listed(app_db: Path) -> None:
    rows = _stats(app_db).achievements.all_crafter()
    assert [n for n, _ in rows[:22]] == list(ACHIEVEMENTS)


def test_empty_trace_db(tmp_path: Path) -> None:
    s = _stats(build_db(tmp_path / "e.db", sessions=0, quirks=False))
    assert s.header.sessions == 0 and s.model_usage == [] and s.header.key_style is KeyStyle.NONE
    report = full_report(s)
    assert "No model usage recorded." in report and "(no outcome rewards recorded)" in report


def test_json_round_trip(app_db: Path) -> None:
    s = _stats(app_db)
    again = type(s).model_validate(json.loads(s.model_dump_json()))
    assert again == s


def test_a_total_reward_that_is_not_a_number_is_skipped_and_counted_as_the_export_does(tmp_path: Path) -> None:
    """The reference crashes here (float('abc')); stats reads total_reward with the export's one reader:
    NULL is 0.0, numbers as text or blob are numbers, text float() refuses reads 0.0 and is counted."""
    path = build_db(tmp_path / "odd.db", sessions=6, decisions=2, quirks=False)
    set_total_rewards(path, (None, "abc", "2.5", " 4 ", 7, "0x10"))
    s = _stats(path)
    assert s.outcome is not None and s.outcome.episodes == 6
    assert s.header.malformed.outcome_total_reward == 2 and s.header.malformed.total == 2
    assert s.outcome.total_reward == 13.5 and s.outcome.avg_reward == 13.5 / 6
    assert (s.outcome.min_reward, s.outcome.max_reward) == (0.0, 7.0)
    assert "outcome reward not a number=2" in full_report(s)

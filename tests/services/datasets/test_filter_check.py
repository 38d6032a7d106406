"""The shared filter validator (issue 10 #14): one judgement, one wording, for the pane and the CLI."""

from __future__ import annotations

from pathlib import Path

from services.datasets.filter_check import FilterVocabulary, by_field, check_filter, needs, read_vocabulary
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.traces.db import TraceDB


def _vocabulary(db: Path) -> FilterVocabulary:
    with TraceDB(db) as trace_db:
        return read_vocabulary(trace_db)


def test_vocabulary_is_what_the_db_holds(ref_db: Path) -> None:
    vocabulary = _vocabulary(ref_db)
    assert vocabulary.models and vocabulary.providers
    assert {"unique_achievement_delta", "achievement_delta"} <= (vocabulary.reward_types or set())
    with TraceDB(ref_db) as trace_db:
        assert read_vocabulary(trace_db, needs(FilterSpec(min_unique=2))) == FilterVocabulary()  # nothing to check


def test_errors_and_warnings(ref_db: Path) -> None:
    vocabulary = _vocabulary(ref_db)
    model = sorted(vocabulary.models or [])[0]
    spec = FilterSpec(
        models=[model, "nope"],
        exclude_achievements=["colect_wood"],
        event_rewards=[EventRewardFilter(reward_type="x", min_total=1), EventRewardFilter(reward_type="uniq")],
        limit=0,
    )
    issues = check_filter(spec, vocabulary)
    errors, warnings = by_field(issues, "error"), by_field(issues, "warning")
    assert errors == {"limit": "must be 1 or more (the reference writes 1 example for 0 or less; we refuse)"}
    assert warnings["models"].startswith("not a model of this DB: nope (known: ")
    assert warnings["exclude_achievements"] == (
        "not a Crafter achievement: 'colect_wood' (did you mean collect_wood?); excluding it changes nothing"
    )
    x, uniq = warnings["event_rewards"].split("; ")
    assert x.startswith("no event reward of type 'x' in this DB (known: ") and x.endswith("x:1 removes every session")
    assert uniq.endswith("uniq:0 keeps every session")
    assert next(i.cli_line() for i in issues if i.field == "models").startswith("Warning: --model: not a model")


def test_nothing_is_checked_without_the_db_part() -> None:
    spec = FilterSpec(models=["nope"], providers=["x"], event_rewards=[EventRewardFilter(reward_type="x")])
    assert check_filter(spec) == []

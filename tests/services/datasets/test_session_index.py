"""The session index: each eligibility rule of export_trace_sft.py (§8.2) on the quirky fixtures, in
both key styles, plus build mechanics (worker processes, progress, stop, old schemas, staleness).

The quirky sessions (tests/support/tracegen.py) are rollout-000040 (malformed JSON; a last outcome row
'oops'), -041 (no outcome row), -042 (two outcome rows), -043 (turns only in step_id), -044 (no LM
calls) and -045 (dominant-model tie alpha-model/vllm vs zeta-model/NULL).
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.datasets.examples import ExampleCounters, _example
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.datasets.selection import select_sessions
from services.datasets.session_index import IndexBuildStopped, SessionIndex
from services.datasets.session_index_scan import _common_shape, example_chars
from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle
from services.traces.db import TraceDB, TraceDBError
from services.traces.schema import Flavour
from services.traces.writer import TraceWriter
from tests.support.tracegen import build_db, make_episode

QUIRK_BAD_JSON, QUIRK_NO_OUTCOME, QUIRK_TWO_OUTCOMES, QUIRK_STEP_ID, QUIRK_NO_LM, QUIRK_TIE = (
    f"rollout-{i:06d}" for i in range(40, 46)
)


@pytest.fixture(scope="module", params=["ref", "app"])
def db_path(request: pytest.FixtureRequest) -> Path:
    path: Path = request.getfixturevalue(f"{request.param}_db")
    return path


@pytest.fixture(scope="module")
def index(db_path: Path) -> SessionIndex:
    with TraceDB(db_path) as db:
        return SessionIndex.build(db)


def lm_events(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE event_type = 'cais'").fetchone()[0])


def elig(index: SessionIndex, **kw: object) -> list[str]:
    return index.eligible(FilterSpec.model_validate(kw))


def row(index: SessionIndex, sid: str) -> int:
    return index.session_ids.index(sid)


def names(index: SessionIndex, mask: np.ndarray) -> set[str]:
    return {index.achievement_names[j] for j in np.flatnonzero(mask)}


# ------------------------------------------------------------------------------------------ candidates


def test_candidates_are_sessions_with_a_dominant_model_in_export_order(index: SessionIndex) -> None:
    assert index.sessions_total == 46
    assert QUIRK_NO_LM not in index.session_ids
    assert index.candidates == 45
    assert index.session_ids == sorted(index.session_ids)
    assert elig(index) == index.session_ids


def test_dominant_model_tie_goes_to_the_first_model_in_sql_order(index: SessionIndex) -> None:
    i = row(index, QUIRK_TIE)
    assert index.models[index.sess_model[i]] == "alpha-model"
    assert index.providers[index.sess_provider[i]] == "vllm"


# ------------------------------------------------------------------------------------ one rule at a time


def test_model_rule_uses_the_dominant_model_and_drops_other_models_events(index: SessionIndex) -> None:
    assert elig(index, models=["zeta-model"]) == []
    assert elig(index, models=["alpha-model"]) == [QUIRK_TIE]
    sel = index.select(FilterSpec(models=["alpha-model"]))
    assert len(sel.examples) == 3  # the tie session's 3 zeta-model calls are dropped
    assert len(index.select(FilterSpec()).examples) == 270
    qwen = elig(index, models=["qwen/qwen3-32b"])
    assert qwen and all(index.models[index.sess_model[row(index, s)]] == "qwen/qwen3-32b" for s in qwen)


def test_provider_rule_reads_null_as_unknown_for_the_dominant_pair_only(index: SessionIndex) -> None:
    assert elig(index, providers=["unknown"]) == []  # zeta-model's NULL provider is not dominant
    assert elig(index, providers=["vllm"]) == [QUIRK_TIE]
    groq = set(elig(index, providers=["groq"]))
    assert {QUIRK_NO_OUTCOME, QUIRK_STEP_ID} <= groq


def test_unique_set_unions_turned_deltas_and_every_outcome_row(index: SessionIndex) -> None:
    # Malformed annotation / event metadata rows add nothing (no eat_cow from the broken row).
    assert names(index, index.unique[row(index, QUIRK_BAD_JSON)]) == {
        "collect_wood", "defeat_skeleton", "place_stone", "place_table"
    }  # fmt: skip
    # Both outcome rows count for the unique set.
    assert {"collect_diamond", "collect_drink", "place_furnace"} <= names(
        index, index.unique[row(index, QUIRK_TWO_OUTCOMES)]
    )
    # Deltas whose event has no metadata.turn are skipped: only the outcome's list is left.
    i = row(index, QUIRK_STEP_ID)
    assert np.array_equal(index.unique[i], index.outcome_achieved[i])


@pytest.mark.parametrize("k", [0, 4, 5, 6, 8, 12])
def test_min_and_max_unique(index: SessionIndex, k: int) -> None:
    counts = dict(zip(index.session_ids, index.unique_count, strict=True))
    assert elig(index, min_unique=k) == [s for s in index.session_ids if counts[s] >= k]
    assert elig(index, max_unique=k) == [s for s in index.session_ids if counts[s] <= k]


def test_excluded_achievements_only_change_the_unique_count(index: SessionIndex) -> None:
    excl = ["collect_wood", "collect_sapling"]
    counts = {
        s: len(names(index, index.unique[row(index, s)]) - set(excl)) for s in index.session_ids
    }  # fmt: skip
    assert elig(index, min_unique=5, exclude_achievements=excl) == [s for s in index.session_ids if counts[s] >= 5]
    assert elig(index, exclude_achievements=excl) == index.session_ids  # no min/max: no effect


def test_outcome_reward_uses_the_last_row_and_zero_without_one(index: SessionIndex) -> None:
    assert index.outcome_total[row(index, QUIRK_BAD_JSON)] == 0.0  # last row: total 0, metadata 'oops'
    assert index.outcome_total[row(index, QUIRK_NO_OUTCOME)] == 0.0
    assert index.outcome_total[row(index, QUIRK_TWO_OUTCOMES)] == 2.0  # the retry row wins
    low = set(elig(index, max_outcome_reward=0.0))
    assert {QUIRK_BAD_JSON, QUIRK_NO_OUTCOME} <= low
    assert QUIRK_TWO_OUTCOMES in elig(index, min_outcome_reward=2.0, max_outcome_reward=2.0)
    totals = dict(zip(index.session_ids, index.outcome_total, strict=True))
    assert elig(index, min_outcome_reward=4) == [s for s in index.session_ids if totals[s] >= 4]


def test_required_achievements_come_from_the_last_outcome_row(index: SessionIndex) -> None:
    diamond = elig(index, require_achievements=["collect_diamond"])
    assert QUIRK_TWO_OUTCOMES in diamond
    # place_furnace is in the first outcome row only: the last row decides.
    assert QUIRK_TWO_OUTCOMES not in elig(index, require_achievements=["place_furnace"])
    # A last row that does not parse, or has no list, holds nothing.
    assert QUIRK_BAD_JSON not in elig(index, require_achievements=["collect_wood"])
    assert QUIRK_TIE not in elig(index, require_achievements=["collect_drink"])
    assert elig(index, require_achievements=["no_such_achievement"]) == []
    both = set(elig(index, require_achievements=["place_table", "make_wood_pickaxe"]))
    assert both == set(elig(index, require_achievements=["place_table"])) & set(
        elig(index, require_achievements=["make_wood_pickaxe"])
    )


def test_event_reward_filters_sum_each_type(index: SessionIndex) -> None:
    j = index.reward_types.index("unique_achievement_delta")
    totals = dict(zip(index.session_ids, index.reward_totals[:, j], strict=True))
    spec = FilterSpec(event_rewards=[EventRewardFilter(reward_type="unique_achievement_delta", min_total=6)])
    assert index.eligible(spec) == [s for s in index.session_ids if totals[s] >= 6]
    # A missing type sums to 0.0: MIN 0 keeps everyone, anything above keeps no one.
    assert index.eligible(FilterSpec(event_rewards=[EventRewardFilter(reward_type="bogus")])) == index.session_ids
    assert index.eligible(FilterSpec(event_rewards=[EventRewardFilter(reward_type="bogus", min_total=0.5)])) == []


def test_limit_cuts_examples_in_session_then_event_order(index: SessionIndex) -> None:
    everything = index.select(FilterSpec()).examples
    for limit in (1, 7, 500):
        sel = index.select(FilterSpec(limit=limit))
        assert list(sel.examples) == list(everything[:limit])
        assert sel.examples_before_limit == len(everything)
    assert np.all(np.diff(index.ex_session) >= 0)


def test_turns_from_step_id_still_export(index: SessionIndex) -> None:
    i = row(index, QUIRK_STEP_ID)
    assert int(np.count_nonzero(index.ex_session == i)) == 6


# ------------------------------------------------------------------------- same as our exporter's selection


@st.composite
def specs(draw: st.DrawFn) -> FilterSpec:
    lo = draw(st.integers(0, 9))
    return FilterSpec(
        models=draw(st.lists(st.sampled_from(["qwen/qwen3-32b", "gpt-4o-mini", "Qwen/Qwen3-0.6B", "alpha-model",
                                               "zeta-model", "nope"]), max_size=2, unique=True)),
        providers=draw(st.lists(st.sampled_from(["groq", "openai", "custom", "vllm", "unknown"]), max_size=2)),
        min_unique=lo,
        max_unique=draw(st.none() | st.integers(lo, 12)),
        exclude_achievements=draw(st.lists(st.sampled_from(ACHIEVEMENTS), max_size=3)),
        require_achievements=draw(st.lists(st.sampled_from(ACHIEVEMENTS[:8]), max_size=2)),
        min_outcome_reward=draw(st.none() | st.integers(0, 7).map(float)),
        event_rewards=draw(st.lists(st.builds(EventRewardFilter,
                                              reward_type=st.sampled_from(["unique_achievement_delta", "sparse", "x"]),
                                              min_total=st.integers(0, 7).map(float)), max_size=2)),
    )  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specs())
def test_eligible_equals_the_exporters_selection(db_path: Path, index: SessionIndex, spec: FilterSpec) -> None:
    with TraceDB(db_path) as db:
        expected = select_sessions(db, spec).sessions
    got = index.eligible(spec)
    assert set(got) == expected
    assert got == sorted(got)


# ------------------------------------------------------------------------------------------- building


def test_worker_processes_give_the_same_index(db_path: Path, index: SessionIndex) -> None:
    seen: list[tuple[int, int]] = []
    with TraceDB(db_path) as db:
        parallel = SessionIndex.build(db, lambda done, total: seen.append((done, total)), workers=2)
    assert parallel.session_ids == index.session_ids
    for name in ("sess_model", "sess_provider", "unique", "outcome_achieved", "outcome_total", "reward_totals",
                 "ex_session", "ex_model", "ex_chars", "ex_flags"):  # fmt: skip
        assert np.array_equal(getattr(parallel, name), getattr(index, name)), name
    assert seen and seen[-1][0] == seen[-1][1] == lm_events(db_path)


def test_progress_and_stop(ref_db: Path) -> None:
    seen: list[tuple[int, int]] = []
    with TraceDB(ref_db) as db:
        SessionIndex.build(db, lambda d, t: seen.append((d, t)))
        assert seen[-1] == (lm_events(ref_db), lm_events(ref_db))
        with pytest.raises(IndexBuildStopped):
            SessionIndex.build(db, should_stop=lambda: True)
        with pytest.raises(IndexBuildStopped):
            SessionIndex.build(db, should_stop=lambda: True, workers=2)


def test_example_characters_match_the_exporters_token_estimate(index: SessionIndex) -> None:
    assert int(index.ex_chars.min()) > 0
    assert np.array_equal(index.ex_tokens, -(-index.ex_chars // 4))
    assert index.nbytes() < 1_000_000


def test_old_schema_is_a_plain_error(tmp_path: Path) -> None:
    path = build_db(tmp_path / "old.db", sessions=3, decisions=2, flavour=Flavour.V0_2_3)
    with TraceDB(path) as db, pytest.raises(TraceDBError, match=r"needs events\.call_records"):
        SessionIndex.build(db)


def test_db_without_reward_metadata_serves_every_filter_but_required_achievements(tmp_path: Path) -> None:
    path = build_db(tmp_path / "v026.db", sessions=6, decisions=3, flavour=Flavour.V0_2_6)
    with TraceDB(path) as db:
        idx = SessionIndex.build(db)
        assert set(idx.unavailable) == {"require_achievements"}
        assert any("reward_metadata" in note for note in idx.schema_notes)
        for spec in (FilterSpec(), FilterSpec(min_unique=2), FilterSpec(min_outcome_reward=1.0)):
            assert set(idx.eligible(spec)) == select_sessions(db, spec).sessions


def test_empty_db_gives_an_empty_index(tmp_path: Path) -> None:
    path = build_db(tmp_path / "empty.db", sessions=0, quirks=False)
    with TraceDB(path) as db:
        idx = SessionIndex.build(db)
    assert idx.candidates == 0 and idx.examples_total == 0
    assert idx.eligible(FilterSpec(min_unique=2, models=["m"], providers=["p"])) == []


def test_staleness_follows_the_file(tmp_path: Path) -> None:
    path = build_db(tmp_path / "grow.db", sessions=3, decisions=2, quirks=False)
    with TraceDB(path) as db:
        idx = SessionIndex.build(db)
        assert idx.is_current(db)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE session_traces SET num_events = num_events + 1")
        assert not idx.is_current(db)


def test_is_current_sees_rows_a_wal_writer_appended(tmp_path: Path) -> None:
    """A live collector on a WAL-mode DB appends to ``-wal``; the main file changes only at checkpoints.
    Size and mtime of the main file alone would call the index current (the Filters pane's old check)."""
    path = build_db(tmp_path / "wal.db", sessions=3, decisions=2, flavour=Flavour.V0_2_8, quirks=False)
    keeper = sqlite3.connect(path)  # another connection keeps the WAL from being checkpointed on close
    try:
        keeper.execute("SELECT COUNT(*) FROM session_traces").fetchone()
        with TraceDB(path) as db:
            idx = SessionIndex.build(db)
            assert idx.is_current(db)
            before = path.stat()
            with TraceWriter(path) as writer:
                writer.write([make_episode(random.Random(5), 77, decisions=2, style=KeyStyle.TASK_APP)])
            after = path.stat()
            assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)  # only -wal grew
            assert not idx.is_current(db)
            assert SessionIndex.build(db).sessions_total == idx.sessions_total + 1
    finally:
        keeper.close()


def test_objective_key_db_reads_reward_objective_only(tmp_path: Path) -> None:
    path = build_db(tmp_path / "obj.db", sessions=6, decisions=3, flavour=Flavour.V0_4_7)
    with TraceDB(path) as db:
        idx = SessionIndex.build(db)
        assert set(idx.eligible(FilterSpec(min_unique=2))) == select_sessions(db, FilterSpec(min_unique=2)).sessions


# ----------------------------------------------------------------------------- the scan's fast path


_junk = st.one_of(st.none(), st.integers(0, 2), st.just(""), st.just([]), st.just({}), st.text(max_size=3))
#: Ways a record can leave the common shape (or stay in it), applied to a typical record.
_MUTATIONS: list[tuple[str, object]] = [
    ("none", None),
    ("input_messages", "junk"),
    ("message", "junk"),
    ("parts", "junk"),
    ("part_type", "image"),
    ("part_image", {"type": "image", "uri": "data:image/png;base64,AA"}),
    ("extra_part", {"type": "text", "text": "more"}),
    ("text", "junk"),
    ("output_text", "junk"),
    ("output_text", "{not json"),
    ("output_text", "42"),
    ("output_text", "NaN"),
    ("choices", "junk"),
    ("choice", "junk"),
    ("choice_message", "junk"),
    ("content", ["a list"]),
    ("content", 7),
    ("tool_calls", "junk"),
    ("call", "junk"),
    ("function", "junk"),
    ("arguments", {"a": [1]}),
    ("arguments", None),
]


@st.composite
def call_records(draw: st.DrawFn) -> object:
    """A typical task-app record, often with one part bent out of shape."""
    texts = draw(st.lists(st.text(max_size=4), min_size=1, max_size=3))
    messages: list[object] = [{"role": r, "parts": [{"type": "text", "text": t}]} for r, t in zip(
        ["system", "user", "user"], texts, strict=False)]  # fmt: skip
    calls: list[object] = [
        {"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": draw(st.text(max_size=5))}}
        for i in range(draw(st.sampled_from([1, 1, 2, 0])))
    ]
    message: dict[str, object] = {"content": draw(st.none() | st.text(max_size=4)), "tool_calls": calls}
    choice: dict[str, object] = {"message": message}
    output: dict[str, object] = {"choices": [choice]}
    tool_calls = [{"name": "t", "arguments_json": '{"a": 1}', "call_id": "x"}]
    record: dict[str, object] = {"input_messages": messages, "output_text": "", "output_tool_calls": tool_calls}
    what, value = draw(st.just(_MUTATIONS[0]) | st.sampled_from(_MUTATIONS))
    junk = draw(_junk) if value == "junk" else value
    first_parts = messages[0]["parts"] if messages and isinstance(messages[0], dict) else None  # type: ignore[index]
    if what == "input_messages":
        record["input_messages"] = junk
    elif what == "message" and messages:
        messages[0] = junk
    elif what == "parts" and messages:
        messages[0]["parts"] = junk  # type: ignore[index]
    elif what in ("part_type", "text") and first_parts:
        first_parts[0]["type" if what == "part_type" else "text"] = junk
    elif what in ("part_image", "extra_part") and first_parts is not None:
        first_parts.append(junk)
    elif what == "choices":
        output["choices"] = junk
    elif what == "choice":
        output["choices"] = [junk]
    elif what == "choice_message":
        choice["message"] = junk
    elif what in ("content", "tool_calls"):
        message[what] = junk
    elif what == "call" and calls:
        calls[0] = junk
    elif what == "function" and calls:
        calls[0]["function"] = junk  # type: ignore[index]
    elif what == "arguments" and calls:
        calls[0]["function"]["arguments"] = junk  # type: ignore[index]
    record["output_text"] = junk if what == "output_text" else json.dumps(output)
    return record


@settings(max_examples=500, deadline=None)
@given(record=call_records())
def test_fast_path_agrees_with_the_exporters_example_builder(record: object) -> None:
    """Where the scan's shortcut answers, the exporter's own _example gives the same example."""
    fast = _common_shape(record)
    example = _example(record, ExampleCounters())
    if fast is not None:
        assert example is not None
        assert example_chars(example[0]) == (fast, 0)
        assert not example[1] and not example[2]


def test_fast_path_is_taken_on_task_app_records(index: SessionIndex, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        text = conn.execute("SELECT call_records FROM events WHERE event_type = 'cais' LIMIT 1").fetchone()[0]
    record = json.loads(text)[0]
    example = _example(record, ExampleCounters())
    assert example is not None and _common_shape(record) == example_chars(example[0])[0]

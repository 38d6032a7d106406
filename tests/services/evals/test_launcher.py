"""The launcher: reproducible local policies, an OpenAI-compatible model (loopback fake server),
preflight before any episode, tool-call failures counted, stop keeps finished episodes, tracing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from services.evals.launcher import EvalProgress, run_eval
from services.evals.scoring import aggregate
from services.evals.settings import EvalError, build_settings
from tests.support.fake_inference import FakeInferenceServer


def _score(policy: str, seeds: list[int], turns: int = 20) -> tuple[Any, Any]:
    run = run_eval(build_settings({"policy": policy, "seeds": seeds, "max_turns": turns, "concurrency": 3}))
    return run, aggregate(run.episodes, run.wall_s)


@pytest.mark.parametrize("policy", ["teacher", "random"])
def test_same_seeds_same_score_twice(policy: str) -> None:
    first_run, first = _score(policy, [0, 1, 2, 3])
    second_run, second = _score(policy, [0, 1, 2, 3])
    assert [e.seed for e in first_run.episodes] == [0, 1, 2, 3]
    assert [e.achievements for e in first_run.episodes] == [e.achievements for e in second_run.episodes]
    assert [e.steps for e in first_run.episodes] == [e.steps for e in second_run.episodes]
    assert first.crafter_score == second.crafter_score
    assert first.crafter_score_ci == second.crafter_score_ci
    assert all(e.decisions == 20 or e.died for e in first_run.episodes)


def test_teacher_beats_random_on_the_same_seeds() -> None:
    _, teacher = _score("teacher", [0, 1, 2], turns=40)
    _, rand = _score("random", [0, 1, 2], turns=40)
    assert teacher.mean_unique > rand.mean_unique + 3


def test_openai_model_through_the_fake_server() -> None:
    with FakeInferenceServer(models=["fake-model"]) as srv:
        settings = build_settings(
            {"model": "fake-model", "inference_url": srv.base_url, "seeds": [5, 6], "max_turns": 4, "api_key_env": None}
        )
        run = run_eval(settings)
        assert srv.chat_count == 8
    assert [e.seed for e in run.episodes] == [5, 6]
    for e in run.episodes:
        assert e.decisions == 4 and e.tool_call_failures == 0
        assert e.total_tokens == 4 * 135 and e.input_tokens == 4 * 120
    agg = aggregate(run.episodes, run.wall_s)
    assert agg.total_tokens == 8 * 135 and agg.tokens_per_s > 0


def test_model_that_never_calls_the_tool_counts_failures_and_plays_on() -> None:
    with FakeInferenceServer(models=["m"], mode="no_tool", text="Nice weather today.") as srv:
        run = run_eval(build_settings({"model": "m", "inference_url": srv.base_url, "seeds": [1], "max_turns": 5}))
    (episode,) = run.episodes
    assert episode.decisions == 5 and episode.tool_call_failures == 5
    assert aggregate(run.episodes).tool_call_failure_rate == 1.0


def test_unreachable_url_fails_before_any_episode() -> None:
    with FakeInferenceServer(models=["m"]) as srv:
        url = srv.base_url
    progress: list[EvalProgress] = []
    with pytest.raises(EvalError, match="Cannot reach inference server"):
        run_eval(build_settings({"model": "m", "inference_url": url, "seeds": [1, 2]}), progress.append)
    assert progress == []


def test_unknown_model_fails_before_any_episode() -> None:
    with FakeInferenceServer(models=["served-model"]) as srv:
        with pytest.raises(EvalError, match=r"not served .*available: served-model"):
            run_eval(build_settings({"model": "other", "inference_url": srv.base_url, "seeds": [1]}))
        assert srv.chat_count == 0


def test_missing_api_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_EVAL_KEY", raising=False)
    with pytest.raises(EvalError, match="MY_EVAL_KEY is not set"):
        run_eval(build_settings({"model": "m", "inference_url": "http://127.0.0.1:9", "api_key_env": "MY_EVAL_KEY"}))


def test_stop_keeps_finished_episodes() -> None:
    seen: list[int] = []

    def stop() -> bool:
        return len(seen) >= 2

    settings = build_settings({"policy": "random", "seeds": list(range(8)), "max_turns": 5, "concurrency": 1})
    run = run_eval(settings, should_stop=stop, on_episode=lambda e: seen.append(e.seed))
    assert run.stopped == "stopped on request"
    assert [e.seed for e in run.episodes] == [0, 1]


def test_progress_reports_achievements_so_far() -> None:
    updates: list[EvalProgress] = []
    run_eval(build_settings({"policy": "teacher", "seeds": [0, 1], "max_turns": 30}), updates.append)
    last = updates[-1]
    assert last.episodes_done == 2 and last.decisions == 60
    assert last.achievements and last.decisions_per_s > 0 and last.mean_unique > 0


def test_trace_db_records_every_episode_as_a_session(tmp_path: Path) -> None:
    db = tmp_path / "eval_traces.db"
    run = run_eval(build_settings({"policy": "teacher", "seeds": [3, 4], "max_turns": 6, "trace_db": db}), eval_id="t1")
    assert [e.session_id for e in run.episodes] == ["eval-t1-seed00003", "eval-t1-seed00004"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT session_id, metadata FROM session_traces ORDER BY session_id").fetchall()
        lm_events = conn.execute("SELECT COUNT(*) FROM events WHERE event_type = 'cais'").fetchone()[0]
    assert [r[0] for r in rows] == ["eval-t1-seed00003", "eval-t1-seed00004"]
    assert json.loads(rows[0][1])["seed"] == 3
    assert lm_events == 12

"""Acceptance against synth-ai 0.2.10 itself (separate venv from PyPI, never a dependency):

(a) 0.2.10's own ``run_eval.py --toml … --use-rollout`` runs against ``sft-studio task-app serve`` and reports the
    episodes our server played (and our server traced them);
(b) our client plays on 0.2.10's real grpo-crafter task app with a loopback OpenAI-compatible model and reports the
    episodes that app played — past its hidden 10-decision cap, with the achievements its final observation loses.

Offline these skip with the reason; under ``CI`` they fail instead (tests/support/reference_tools.py).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from services.evals.task_app.client import TaskAppError, check_task_app, run_rollout
from tests.services.evals.task_app import reference_taskapp as ref
from tests.support.fake_inference import FakeInferenceServer
from tests.support.reference_tools import ReferenceUnavailable, reference_unavailable

pytestmark = pytest.mark.slow

KEY = "envkey-parity-0123456789abcdef"


def _python() -> Path:
    try:
        return ref.reference_python()
    except ReferenceUnavailable as exc:
        reference_unavailable(str(exc))


def _json_document(stdout: str) -> dict[str, Any]:
    """run_eval.py prints two header lines, then one JSON document."""
    start = stdout.index("{")
    document = json.loads(stdout[start:])
    assert isinstance(document, dict)
    return document


def test_reference_run_eval_against_our_task_app(tmp_path: Path) -> None:
    python = _python()
    trace_db = tmp_path / "ours.db"
    with FakeInferenceServer(actions=["move_left", "do"]) as fake, ref.our_task_app(tmp_path, KEY, trace_db) as url:
        toml = tmp_path / "eval.toml"
        toml.write_text(
            f'task_app_url = "{url}"\nmodel = "fake-model"\ninference_url = "{fake.base_url}"\n'
            "num_episodes = 3\nmax_turns = 6\nconcurrency = 2\ntemperature = 0.3\nmax_tokens = 128\n",
            encoding="utf-8",
        )
        proc = ref.run_reference_eval(python, toml, KEY, tmp_path)
        chats = fake.chat_count
        sent = fake.chat_bodies
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Task App: {url}" in proc.stdout
    assert "Model: fake-model Episodes: 3 Max turns: 6 Concurrency: 2" in proc.stdout
    report = _json_document(proc.stdout)
    episodes = sorted(report["episodes"], key=lambda e: e["seed"])
    assert [e["seed"] for e in episodes] == [1, 2, 3]  # run_eval's seeds are always 1..num_episodes
    assert all("error" not in e for e in episodes)
    assert [e["turns"] for e in episodes] == [6, 6, 6]
    assert chats == 18 and all(b["temperature"] == 0.3 and b["max_tokens"] == 128 for b in sent)
    assert report["aggregate"]["completed"] == 3 and report["aggregate"]["avg_turns"] == 6.0
    # The episodes our server played: its trace DB has one session per rollout, with the same achievements.
    with sqlite3.connect(trace_db) as conn:
        rows = conn.execute(
            "SELECT s.session_id, COUNT(t.id) FROM session_traces s "
            "JOIN session_timesteps t ON t.session_id = s.session_id GROUP BY s.session_id ORDER BY s.session_id"
        ).fetchall()
        outcomes = dict(
            conn.execute("SELECT session_id, reward_metadata FROM outcome_rewards ORDER BY session_id").fetchall()
        )
    assert rows == [("eval-1", 6), ("eval-2", 6), ("eval-3", 6)]
    for episode in episodes:
        traced = json.loads(outcomes[f"eval-{episode['seed']}"])["final_achievements"]
        assert sorted(episode["achievements"]) == sorted(traced)  # ours keeps them in the final observation
    freq = report["aggregate"]["achievements_freq"]
    assert sum(freq.values()) == sum(len(e["achievements"]) for e in episodes)


def test_our_client_on_the_reference_task_app(tmp_path: Path) -> None:
    _python()
    turns = 12  # more than 0.2.10's hidden default of 10 decisions
    with FakeInferenceServer(actions=["move_left", "do"]) as fake, ref.reference_task_app(tmp_path, KEY) as (url, db):
        info = check_task_app(url, KEY, seed=3)
        assert info.task_id == "crafter_classic" and info.seed_info is not None
        with pytest.raises(TaskAppError) as wrong:
            check_task_app(url, "not-the-key-0000000000")
        assert wrong.value.kind == "bad_key" and wrong.value.status == 400
        with pytest.raises(TaskAppError) as missing:
            check_task_app(url, None)
        assert missing.value.kind == "missing_key"
        result = run_rollout(
            url, seed=3, model="fake-model", inference_url=fake.base_url, max_turns=turns, api_key=KEY, timeout_s=300
        )
        chats = fake.chat_count
    assert result.error is None and not result.partial, result
    assert result.decisions == turns and chats == turns
    assert result.steps == 2 * turns  # two actions per decision, nobody dies in 24 steps
    assert not result.died and result.tool_call_failures == 0
    # The same seed and actions on our deterministic env unlock the same achievements.
    from services.crafter.env import CrafterTextEnv

    env = CrafterTextEnv(3)
    for _ in range(turns):
        env.step(["move_left", "do"])
    assert result.achievements == env.state.achievements
    assert result.total_reward == len(result.achievements)
    assert db.is_file()  # the reference traced it server-side


def test_our_client_reports_the_reference_partial_rollout(tmp_path: Path) -> None:
    _python()
    with FakeInferenceServer(mode="no_tool") as fake, ref.reference_task_app(tmp_path, KEY) as (url, _db):
        result = run_rollout(
            url, seed=1, model="fake-model", inference_url=fake.base_url, max_turns=5, api_key=KEY, timeout_s=300
        )
    assert result.partial and result.status == "partial_no_tool_calls"
    assert result.decisions == 1 and result.tool_call_failures == 1 and result.error is None

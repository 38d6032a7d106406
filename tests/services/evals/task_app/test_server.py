"""Our task app's grpo-crafter contract: every route, the auth answers, caps, partial rollouts, tracing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.evals.task_app.app import create_app
from services.evals.task_app.rollout import RolloutRunner, RolloutSettings
from services.evals.task_app.serve import open_tracer
from tests.support.fake_inference import FakeInferenceServer

KEY = "sk-env-test-0123456789abcdef"
H = {"X-API-Key": KEY}
FAST = RolloutSettings(inference_retries=1, inference_backoff_s=0.01, inference_timeout_s=10)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ENVIRONMENT_API_KEY",
        "DEV_ENVIRONMENT_API_KEY",
        "dev_environment_api_key",
        "ENVIRONMENT_API_KEY_ALIASES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    for name in ("OPENAI_API_KEY", "SYNTH_API_KEY", "SFT_STUDIO_INFERENCE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(RolloutRunner(FAST))) as c:
        yield c


def body(seed: int = 3, turns: int = 5, policy: str = "teacher", **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = dict(extra.pop("policy_config", {}))
    env_config: dict[str, Any] = dict(extra.pop("env_config", {}))
    return {
        "run_id": extra.pop("run_id", f"eval-{seed}"),
        "env": {"env_name": "crafter", "seed": seed, "config": env_config},
        "policy": {"policy_name": policy, "config": config},
        "ops": ["agent", "env"] * turns,
        "on_done": "terminate",
        **extra,
    }


# ------------------------------------------------------------------------------------------------ routes and auth


def test_root_needs_no_key(client: TestClient) -> None:
    assert client.get("/").json() == {"status": "ok", "service": "grpo-crafter"}
    assert client.head("/").status_code == 200


def test_health_with_the_key(client: TestClient) -> None:
    data = client.get("/health", headers=H).json()
    assert data["healthy"] is True
    assert data["auth"]["required"] is True
    assert KEY not in str(data) and data["auth"]["expected_prefix"].startswith("sk-en")


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong-key-000000000"}, {"Authorization": "Basic " + KEY}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_wrong_or_missing_key_is_400_unauthorised(client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/health", "/info", "/task_info"):
        response = client.get(path, headers=headers)
        assert response.status_code == 400, path
        assert response.json()["detail"]["error"]["code"] == "unauthorised"
        assert KEY[:8] not in response.text  # no part of the server key is shown
    assert client.post("/rollout", json=body(), headers=headers).status_code == 400


def test_other_header_forms_are_accepted(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/health", headers={"X-API-Keys": f"nope,{KEY}"}).status_code == 200
    assert client.get("/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    monkeypatch.setenv("ENVIRONMENT_API_KEY_ALIASES", "alias-key-1, alias-key-2")
    assert client.get("/info", headers={"X-API-Key": "alias-key-2"}).status_code == 200


def test_rollout_legacy_check_answers_401(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bearer passes the app-wide check, but /rollout's own check wants X-API-Key (0.2.10: 401)."""
    response = client.post("/rollout", json=body(), headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 401
    monkeypatch.setenv("ENVIRONMENT_API_KEY_ALIASES", "alias-key-1")
    assert client.post("/rollout", json=body(), headers={"X-API-Key": "alias-key-1"}).status_code == 401


def test_no_server_key_is_503(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT_API_KEY")
    response = client.get("/health", headers=H)
    assert response.status_code == 503
    assert response.json()["detail"]["error"]["code"] == "missing_environment_api_key"


def test_dev_key_fallback(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT_API_KEY")
    monkeypatch.setenv("DEV_ENVIRONMENT_API_KEY", "dev-key-abcdefghijkl")
    assert client.get("/health", headers={"X-API-Key": "dev-key-abcdefghijkl"}).status_code == 200


def test_info(client: TestClient) -> None:
    info = client.get("/info", headers=H).json()
    assert info["service"]["task"]["id"] == "crafter_classic"
    assert info["dataset"]["splits"] == ["train"]
    assert info["dataset"]["seed_range"] == [0, 2**31 - 1]
    assert info["dataset"]["default_seed"] == 42
    assert "base_url" not in info["inference"]
    assert info["limits"] == {"max_ops": 100000, "max_time_s": 3600}
    assert info["capabilities"]["supports_rollout"] is True


def test_task_info(client: TestClient) -> None:
    taskset = client.get("/task_info", headers=H).json()["taskset"]
    assert taskset["config"] == {"area": [64, 64], "length": 10000}
    one = client.get("/task_info?seed=7", headers=H).json()
    assert one["observation"]["seed"] == 7
    assert set(one["observation"]["traits"]) == {"trees", "cows", "hostiles"}
    assert one["observation"]["inventory"]["health"] == 9
    assert one["dataset"]["seed"] == 7 and one["dataset"]["difficulty"] in ("easy", "medium", "hard", "custom")
    assert one["dataset"]["config"] == {"seed": 7, "area": [64, 64], "length": 10000}
    two = client.get("/task_info?seed=7&seed=8", headers=H).json()
    assert [t["observation"]["seed"] for t in two] == [7, 8]
    assert client.get("/task_info?seed=-1", headers=H).status_code == 422
    assert client.get("/task_info?seed=abc", headers=H).status_code == 422


def test_done(client: TestClient) -> None:
    assert client.post("/done", headers=H).json() == {"ok": True, "service": "grpo-crafter"}


def test_env_and_policy_families_are_not_served(client: TestClient) -> None:
    assert client.post("/env/CrafterClassic/initialize", json={}, headers=H).status_code == 404
    assert client.post("/policy/create", json={}, headers=H).status_code == 404


# ------------------------------------------------------------------------------------------------ rollouts


def test_teacher_rollout_shape_and_determinism(client: TestClient) -> None:
    first = client.post("/rollout", json=body(seed=3, turns=6), headers=H)
    assert first.status_code == 200
    data = first.json()
    assert data["run_id"] == "eval-3" and data["aborted"] is False and data["ops_executed"] == 12
    traj = data["trajectories"][0]
    assert traj["length"] == 6 == len(traj["steps"])
    assert "decision_samples" not in traj  # 0.2.10: absent unless step rewards are on
    step = traj["steps"][0]
    assert step["obs"]["text"].startswith("=== CRAFTER GAME STATE ===")
    assert step["tool_calls"][0]["tool_name"] == "interact_many"
    assert 1 <= len(step["tool_calls"][0]["arguments"]["actions"]) <= 8
    assert set(step["info"]) >= {"achievements_added", "meta", "steps_executed"}
    added = {a for s in traj["steps"] for a in s["info"]["achievements_added"]}
    rewards = [s["reward"] for s in traj["steps"]]
    assert all(r is None or r >= 1 for r in rewards)
    assert data["metrics"]["mean_return"] == len(added) == sum(r or 0 for r in rewards)
    final = traj["final"]["observation"]
    assert "text" in final and {k for k, v in final["achievements_status"].items() if v} >= added
    again = client.post("/rollout", json=body(seed=3, turns=6), headers=H).json()
    same = [(s["obs"], s["tool_calls"], s["info"]["achievements_added"]) for s in again["trajectories"][0]["steps"]]
    assert same == [(s["obs"], s["tool_calls"], s["info"]["achievements_added"]) for s in traj["steps"]]


def test_default_cap_is_ten_decisions(client: TestClient) -> None:
    data = client.post("/rollout", json=body(turns=30), headers=H).json()
    assert data["trajectories"][0]["length"] == 10


def test_both_caps_are_honoured(client: TestClient) -> None:
    raised = body(
        turns=30, policy_config={"max_llm_calls": 25}, env_config={"env_params": {"max_steps_per_episode": 25}}
    )
    assert client.post("/rollout", json=raised, headers=H).json()["trajectories"][0]["length"] == 25
    llm_only = body(turns=30, policy_config={"max_llm_calls": 12})
    assert client.post("/rollout", json=llm_only, headers=H).json()["trajectories"][0]["length"] == 12
    env_lower = body(
        turns=30, policy_config={"max_llm_calls": 25}, env_config={"env_params": {"max_steps_per_episode": 4}}
    )
    assert client.post("/rollout", json=env_lower, headers=H).json()["trajectories"][0]["length"] == 4
    fewer_ops = body(turns=3, policy_config={"max_llm_calls": 25})
    assert client.post("/rollout", json=fewer_ops, headers=H).json()["trajectories"][0]["length"] == 3


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"env_config": {"env_params": {"max_steps_per_episode": 0}}}, "max_steps_per_episode"),
        ({"env_config": {"env_params": {"max_steps_per_episode": "many"}}}, "max_steps_per_episode"),
        ({"policy_config": {"max_llm_calls": -3}}, "max_llm_calls"),
        ({"policy": "crafter-react"}, "model"),
        ({"policy": "crafter-react", "policy_config": {"model": "m"}}, "inference_url"),
        ({"policy": "alphago"}, "Unknown policy_name"),
        ({"ops": ["agent", "fly"]}, "Unsupported op"),
        ({"on_done": "explode"}, "on_done"),
    ],
)
def test_bad_requests_are_422_with_a_message(client: TestClient, change: dict[str, Any], needle: str) -> None:
    request = body(**{k: v for k, v in change.items() if k in ("env_config", "policy_config", "policy")})
    request.update({k: v for k, v in change.items() if k in ("ops", "on_done")})
    response = client.post("/rollout", json=request, headers=H)
    assert response.status_code == 422, response.text
    assert needle in response.json()["detail"]["message"]


def test_malformed_body_is_422(client: TestClient) -> None:
    assert client.post("/rollout", json={"run_id": "x"}, headers=H).status_code == 422


def test_unknown_env_id_is_404(client: TestClient) -> None:
    request = body()
    request["env"]["env_id"] = "env-123"
    assert client.post("/rollout", json=request, headers=H).status_code == 404


def test_ops_aliases_and_seed_from_run_id(client: TestClient) -> None:
    request = body(turns=0)
    request["ops"] = ["policy", {"type": "step"}, "model", "environment"]
    del request["env"]["seed"]
    data = client.post("/rollout", json=request, headers=H).json()
    assert data["trajectories"][0]["length"] == 2


def test_on_done_terminate_stops_and_reset_plays_on(client: TestClient) -> None:
    """Random play on seed 4 dies after 47 decisions: terminate ends there, reset restarts the world."""
    request = body(seed=4, turns=80, policy="random", policy_config={"max_llm_calls": 80})
    ended = client.post("/rollout", json=request, headers=H).json()["trajectories"][0]
    assert ended["length"] < 80 and ended["steps"][-1]["done"] is True
    assert "Health: 0" in ended["final"]["observation"]["text"]
    request["on_done"] = "reset"
    steps = client.post("/rollout", json=request, headers=H).json()["trajectories"][0]["steps"]
    assert len(steps) == 80
    died_at = next(i for i, s in enumerate(steps) if s["done"])
    assert died_at == ended["length"] - 1
    assert "Step: 0/" in steps[died_at + 1]["obs"]["text"]  # a fresh episode of the same seed


def test_stepwise_rewards(client: TestClient) -> None:
    request = body(
        seed=3,
        turns=8,
        env_config={"step_rewards": {"enabled": True, "mode": "decision_stepwise", "indicator_lambda": 1.0}},
    )
    traj = client.post("/rollout", json=request, headers=H).json()["trajectories"][0]
    assert len(traj["decision_samples"]) == 8
    for step in traj["steps"]:
        assert step["info"]["stepwise"]["indicator"] == (1 if step["info"]["achievements_added"] else 0)
        assert "decision_rewards" in step["info"]["meta"]


def test_return_trace_compact(client: TestClient) -> None:
    request = body(seed=3, turns=4, record={"return_trace": True, "trace_format": "compact"})
    data = client.post("/rollout", json=request, headers=H).json()
    trace = data["trace"]
    assert trace["metadata"]["seed"] == 3 and trace["metadata"]["run_id"] == "eval-3"
    assert len(trace["lm_calls"]) == 4 and len(trace["decision_rewards"]) == 4
    added = {a for s in data["trajectories"][0]["steps"] for a in s["info"]["achievements_added"]}
    assert set(trace["metadata"]["final_achievements"]) == added


# ------------------------------------------------------------------------------------------------ LLM policy


def llm_body(url: str, model: str = "fake-model", turns: int = 4, **config: Any) -> dict[str, Any]:
    cfg = {"model": model, "inference_url": url, "max_llm_calls": turns, **config}
    return body(policy="crafter-react", turns=turns, policy_config=cfg)


def test_llm_rollout_asks_the_inference_server(client: TestClient) -> None:
    with FakeInferenceServer(actions=["move_left", "do"]) as fake:
        data = client.post("/rollout", json=llm_body(fake.base_url, temperature=0.7, max_tokens=99), headers=H).json()
    traj = data["trajectories"][0]
    assert traj["length"] == 4 and fake.chat_count == 4
    sent = fake.chat_bodies[0]
    assert sent["model"] == "fake-model" and sent["temperature"] == 0.7 and sent["max_tokens"] == 99
    assert sent["tools"][0]["function"]["name"] == "interact_many"
    assert "Authorization" not in fake.requests[0].headers  # no key configured: none sent
    assert all(s["tool_calls"][0]["arguments"]["actions"] == ["move_left", "do"] for s in traj["steps"])
    assert traj["steps"][0]["info"]["meta"]["tool_call_ok"] is True


def test_full_chat_url_is_accepted(client: TestClient) -> None:
    with FakeInferenceServer() as fake:
        data = client.post("/rollout", json=llm_body(fake.base_url + "/v1/chat/completions"), headers=H).json()
    assert data["trajectories"][0]["length"] == 4


def test_no_tool_call_ends_partial(client: TestClient) -> None:
    with FakeInferenceServer(mode="no_tool", text="I would rather look around.") as fake:
        data = client.post("/rollout", json=llm_body(fake.base_url), headers=H).json()
    traj = data["trajectories"][0]
    assert traj["length"] == 1
    assert traj["steps"][0]["tool_calls"] == [] and traj["steps"][0]["done"] is True
    final = traj["final"]
    assert final["rollout_status"] == "partial_no_tool_calls" and "error" not in final
    assert "achievements_status" in final["observation"] and "inventory" in final["observation"]


def test_actions_read_from_text_go_on(client: TestClient) -> None:
    with FakeInferenceServer(mode="no_tool", text='{"actions": ["move_up", "do"]}') as fake:
        data = client.post("/rollout", json=llm_body(fake.base_url), headers=H).json()
    traj = data["trajectories"][0]
    assert traj["length"] == 4 and "rollout_status" not in traj["final"]
    assert traj["steps"][0]["info"]["meta"]["tool_call_ok"] is False


def test_inference_500_ends_partial_policy_error(client: TestClient) -> None:
    with FakeInferenceServer(mode="always_500") as fake:
        response = client.post("/rollout", json=llm_body(fake.base_url), headers=H)
    assert response.status_code == 200
    final = response.json()["trajectories"][0]["final"]
    assert final["rollout_status"] == "partial_policy_error"
    assert "500" in final["error"] and final["at_op"] == "agent"


def test_unknown_model_ends_partial_policy_error(client: TestClient) -> None:
    with FakeInferenceServer(models=["other"]) as fake:
        final = client.post("/rollout", json=llm_body(fake.base_url), headers=H).json()["trajectories"][0]["final"]
    assert final["rollout_status"] == "partial_policy_error" and "fake-model" in final["error"]


def test_unexpected_failure_is_500(client: TestClient) -> None:
    runner: RolloutRunner = client.app.state.runner  # type: ignore[attr-defined]

    def broken(*_a: Any) -> Any:
        raise RuntimeError("boom")

    runner.policy_factory = broken
    response = client.post("/rollout", json=body(), headers=H)
    assert response.status_code == 500 and "boom" in response.json()["detail"]


# ------------------------------------------------------------------------------------------------ tracing


def _sessions(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT s.session_id, (SELECT COUNT(*) FROM session_timesteps t WHERE t.session_id = s.session_id) "
            "FROM session_traces s ORDER BY s.session_id"
        ).fetchall()


def test_rollouts_are_traced(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    with TestClient(create_app(RolloutRunner(FAST, open_tracer(db)))) as c:
        assert c.post("/rollout", json=body(seed=5, turns=3), headers=H).status_code == 200
        assert c.post("/rollout", json=body(seed=5, turns=3), headers=H).status_code == 200
        assert c.post("/rollout", json=body(seed=6, turns=2), headers=H).status_code == 200
    assert _sessions(db) == [("eval-5", 3), ("eval-5-2", 3), ("eval-6", 2)]
    with sqlite3.connect(db) as conn:
        rewards = conn.execute("SELECT total_reward, achievements_count FROM outcome_rewards").fetchall()
    assert len(rewards) == 3


def test_partial_llm_rollout_traced_with_its_decisions(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    with FakeInferenceServer(mode="no_tool") as fake, TestClient(create_app(RolloutRunner(FAST, open_tracer(db)))) as c:
        c.post("/rollout", json=llm_body(fake.base_url), headers=H)
    assert not db.exists() or _sessions(db) == []  # nothing played: nothing recorded

"""The task-app client: preflight cases told apart, rollouts reduced right, against our own server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.evals.task_app.app import create_app
from services.evals.task_app.client import (
    TaskAppError,
    acheck_task_app,
    arun_rollout,
    check_task_app,
    parse_rollout,
    rollout_request,
)
from services.evals.task_app.rollout import RolloutRunner, RolloutSettings
from tests.support.fake_inference import FakeInferenceServer

KEY = "sk-env-test-0123456789abcdef"
URL = "http://testserver"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEV_ENVIRONMENT_API_KEY", "dev_environment_api_key", "ENVIRONMENT_API_KEY_ALIASES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)
    for name in ("OPENAI_API_KEY", "SYNTH_API_KEY", "SFT_STUDIO_INFERENCE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    runner = RolloutRunner(RolloutSettings(inference_retries=1, inference_backoff_s=0.01))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runner))) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ preflight


async def test_preflight_ok(http: httpx.AsyncClient) -> None:
    info = await acheck_task_app(URL, KEY, seed=5, client=http)
    assert info.task_id == "crafter_classic"
    assert info.dataset["default_seed"] == 42
    assert info.seed_info is not None and info.seed_info["dataset"]["seed"] == 5
    assert info.expected_key_prefix and KEY not in info.expected_key_prefix


async def test_preflight_wrong_key_is_400(http: httpx.AsyncClient) -> None:
    with pytest.raises(TaskAppError) as caught:
        await acheck_task_app(URL, "sk-wrong-key-99999999999", client=http)
    assert caught.value.kind == "bad_key" and caught.value.status == 400
    assert "rejected the key" in caught.value.message and "sk-wrong-key-99999999999" not in caught.value.message


async def test_preflight_missing_key(http: httpx.AsyncClient) -> None:
    with pytest.raises(TaskAppError) as caught:
        await acheck_task_app(URL, None, client=http)
    assert caught.value.kind == "missing_key" and "ENVIRONMENT_API_KEY" in caught.value.message


async def test_preflight_server_without_key_is_503(http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVIRONMENT_API_KEY")
    with pytest.raises(TaskAppError) as caught:
        await acheck_task_app(URL, KEY, client=http)
    assert caught.value.kind == "server_key_unset" and caught.value.status == 503
    assert "no key of its own" in caught.value.message


async def test_preflight_unreachable() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(TaskAppError) as caught:
        await acheck_task_app(url, KEY, timeout_s=3)
    assert caught.value.kind == "unreachable" and "Cannot reach task app" in caught.value.message


def test_preflight_not_a_task_app() -> None:
    with FakeInferenceServer() as fake, pytest.raises(TaskAppError) as caught:
        check_task_app(fake.base_url, KEY)
    assert caught.value.kind == "not_a_task_app"


def test_bad_url() -> None:
    with pytest.raises(TaskAppError, match="http://"):
        check_task_app("localhost:8001", KEY)


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_old_hosted_app_authorized_false() -> None:
    async with _mock(lambda r: httpx.Response(200, json={"healthy": True, "authorized": False})) as client:
        with pytest.raises(TaskAppError) as caught:
            await acheck_task_app(URL, KEY, client=client)
    assert caught.value.kind == "bad_key" and "authorized=false" in caught.value.message


async def test_rollout_legacy_401_told_apart(http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT_API_KEY_ALIASES", "alias-key-abcdefghijk")
    await acheck_task_app(URL, "alias-key-abcdefghijk", client=http)  # the app-wide check takes aliases
    with pytest.raises(TaskAppError) as caught:
        await arun_rollout(
            URL, seed=1, model="m", inference_url="http://x", max_turns=2, api_key="alias-key-abcdefghijk", client=http
        )
    assert caught.value.status == 401 and "legacy" in caught.value.message


# ------------------------------------------------------------------------------------------------ rollouts


def test_request_sets_both_caps() -> None:
    body = rollout_request(
        seed=9, model="m", inference_url="http://h", max_turns=37, policy_config={"max_llm_calls": 3}
    )
    assert body["policy"]["config"]["max_llm_calls"] == 37
    assert body["env"]["config"]["env_params"]["max_steps_per_episode"] == 37
    assert body["ops"] == ["agent", "env"] * 37 and body["run_id"] == "eval-9"
    with pytest.raises(ValueError):
        rollout_request(seed=1, model="m", inference_url="u", max_turns=0)


async def test_rollout_against_our_server(http: httpx.AsyncClient) -> None:
    with FakeInferenceServer(actions=["move_left", "do"]) as fake:
        result = await arun_rollout(
            URL, seed=3, model="fake-model", inference_url=fake.base_url, max_turns=15, api_key=KEY, client=http
        )
        assert fake.chat_count == 15  # more than 0.2.10's default cap of 10
    assert result.decisions == 15 and not result.partial and result.error is None
    assert result.status == "complete" and result.tool_call_failures == 0
    assert 15 <= result.steps <= 30
    assert result.total_reward == len(result.achievements)


async def test_teacher_rollout_achievements_are_the_union(http: httpx.AsyncClient) -> None:
    result = await arun_rollout(
        URL, seed=3, model="sft-studio/teacher", inference_url="", max_turns=40, api_key=KEY, client=http
    )
    assert result.decisions == 40 and result.achievements  # the teacher unlocks some in 40 decisions
    raw = (
        await http.post(
            URL + "/rollout",
            json=rollout_request(seed=3, model="sft-studio/teacher", inference_url="", max_turns=40),
            headers={"X-API-Key": KEY},
        )
    ).json()
    added = {a for s in raw["trajectories"][0]["steps"] for a in s["info"]["achievements_added"]}
    assert set(result.achievements) == added


async def test_partial_rollout_reported(http: httpx.AsyncClient) -> None:
    with FakeInferenceServer(mode="no_tool") as fake:
        result = await arun_rollout(
            URL, seed=3, model="fake-model", inference_url=fake.base_url, max_turns=5, api_key=KEY, client=http
        )
    assert result.partial and result.status == "partial_no_tool_calls"
    assert result.tool_call_failures == 1 and result.decisions == 1


async def test_inference_500_reported_as_partial_policy_error(http: httpx.AsyncClient) -> None:
    with FakeInferenceServer(mode="always_500") as fake:
        result = await arun_rollout(
            URL, seed=3, model="fake-model", inference_url=fake.base_url, max_turns=5, api_key=KEY, client=http
        )
    assert result.partial and result.status == "partial_policy_error" and "500" in (result.error or "")


async def test_task_app_500_is_one_failed_episode() -> None:
    async with _mock(lambda r: httpx.Response(500, json={"detail": "Rollout failed: kaboom"})) as client:
        result = await arun_rollout(
            URL, seed=4, model="m", inference_url="http://h", max_turns=3, api_key=KEY, client=client
        )
    assert result.status == "failed" and result.partial and "HTTP 500" in (result.error or "")
    assert "kaboom" in (result.error or "") and result.seed == 4


async def test_task_app_422_raises() -> None:
    answer = {"detail": {"error": "invalid_env_params", "message": "bad max_steps"}}
    async with _mock(lambda r: httpx.Response(422, json=answer)) as client:
        with pytest.raises(TaskAppError) as caught:
            await arun_rollout(
                URL, seed=1, model="m", inference_url="http://h", max_turns=3, api_key=KEY, client=client
            )
    assert caught.value.kind == "rejected" and "bad max_steps" in caught.value.message


async def test_task_app_unreachable_raises() -> None:
    with pytest.raises(TaskAppError) as caught:
        await arun_rollout(
            f"http://127.0.0.1:{_free_port()}", seed=1, model="m", inference_url="http://h", max_turns=2, api_key=KEY
        )
    assert caught.value.kind == "unreachable"


async def test_timeout_is_one_failed_episode() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with _mock(slow) as client:
        result = await arun_rollout(URL, seed=2, model="m", inference_url="u", max_turns=1, api_key=KEY, client=client)
    assert result.status == "failed" and "did not answer" in (result.error or "")


# ------------------------------------------------------------------------------------------------ 0.2.10's shape


def _ref_answer(final_obs: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """A /rollout answer as synth-ai 0.2.10's grpo-crafter writes it (observed, trimmed)."""
    step: dict[str, Any] = {
        "obs": {"text": "=== CRAFTER GAME STATE ===\nStep: 0/10\nHealth: 9"},
        "tool_calls": [{"tool_name": "interact_many", "arguments": {"actions": ["move_left", "do", "do"]}}],
        "reward": 1,
        "done": False,
        "truncated": None,
        "info": {"achievements_added": ["collect_wood"], "meta": {"inference_ms": 12}},
    }
    second = {**step, "reward": None, "info": {"achievements_added": [], "meta": {}}}
    if status == "partial_no_tool_calls":  # 0.2.10 ends with a terminal step without tool calls
        second = {**second, "tool_calls": [], "done": True, "info": {"terminated": True, "reason": "no_tool_calls"}}
    final: dict[str, Any] = {"observation": final_obs}
    if status:
        final["rollout_status"] = status
    return {
        "run_id": "eval-1",
        "trajectories": [{"env_id": "e", "policy_id": "p", "steps": [step, second], "final": final, "length": 2}],
        "branches": {},
        "metrics": {"episode_returns": [1.0], "mean_return": 1.0, "num_steps": 2, "num_episodes": 1, "details": {}},
        "aborted": False,
        "ops_executed": 4,
        "trace": None,
    }


def test_parse_reference_shape_text_final() -> None:
    text = "=== CRAFTER GAME STATE ===\nStep: 6/10\nHealth: 0\nAchievements: collect_sapling, not_a_real_one"
    result = parse_rollout(_ref_answer({"text": text}), seed=1, run_id="eval-1")
    assert result.achievements == ["collect_sapling", "collect_wood"]
    assert result.decisions == 2 and result.steps == 6 and result.died
    assert result.total_reward == 1.0 and not result.partial and result.ops_executed == 4


def test_parse_reference_partial_raw_final() -> None:
    raw = {
        "inventory": {"health": 7, "wood": 1},
        "achievements_status": {"collect_wood": True, "place_table": True, "eat_cow": False},
        "num_steps_taken": 3,
    }
    result = parse_rollout(_ref_answer(raw, "partial_no_tool_calls"), seed=1, run_id="eval-1")
    assert result.achievements == ["collect_wood", "place_table"]
    assert result.partial and result.tool_call_failures == 1 and result.steps == 3 and not result.died


def test_parse_not_a_rollout() -> None:
    result = parse_rollout({"run_id": "x", "trajectories": []}, seed=2, run_id="eval-2")
    assert result.status == "failed" and result.error


# ------------------------------------------------------------------------------------------------ concurrency


async def test_concurrent_rollouts_on_one_pooled_client(http: httpx.AsyncClient) -> None:
    import asyncio

    with FakeInferenceServer(delay_ms=50) as fake:
        results = await asyncio.gather(
            *(
                arun_rollout(
                    URL, seed=s, model="fake-model", inference_url=fake.base_url, max_turns=6, api_key=KEY, client=http
                )
                for s in range(4)
            )
        )
        assert fake.max_in_flight >= 2  # the episodes overlapped on the server
    assert [r.seed for r in results] == [0, 1, 2, 3] and all(r.decisions == 6 for r in results)


async def test_the_loop_keeps_answering_during_a_rollout(http: httpx.AsyncClient) -> None:
    """World generation, env steps and the teacher run in threads: /health answers while a rollout plays."""
    import asyncio
    import time

    rollout = asyncio.create_task(
        arun_rollout(
            URL, seed=11, model="sft-studio/teacher", inference_url="", max_turns=400, api_key=KEY, client=http
        )
    )
    await asyncio.sleep(0.05)
    worst, checks = 0.0, 0
    while not rollout.done():
        checks += 1
        started = time.perf_counter()
        assert (await http.get(URL + "/health", headers={"X-API-Key": KEY})).status_code == 200
        worst = max(worst, time.perf_counter() - started)
        await asyncio.sleep(0.05)
    assert (await rollout).decisions > 0
    # How many checks fit depends on the machine's speed; what matters is that they were answered
    # while the rollout played, each promptly.
    assert checks >= 1, "the rollout held the event loop: /health could not be asked while it played"
    assert worst < 0.5, f"/health took {worst:.2f}s while a rollout played"

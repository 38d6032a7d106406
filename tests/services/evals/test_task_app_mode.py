"""`--task-app URL`: the launcher plays through a grpo-crafter task app (our own server, on loopback,
asking a fake OpenAI-compatible model), with the client's preflight and its per-episode failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

import services.evals.task_app_runner as task_app_runner
from services.evals.launcher import run_eval
from services.evals.scoring import aggregate
from services.evals.settings import EvalError, build_settings
from services.evals.task_app.app import create_app
from services.evals.task_app.client import TaskAppError, TaskAppRollout
from services.evals.task_app.rollout import RolloutRunner, RolloutSettings
from tests.support.fake_inference import FakeInferenceServer

KEY = "sk-env-eval-0123456789abcdef"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEV_ENVIRONMENT_API_KEY", "dev_environment_api_key", "ENVIRONMENT_API_KEY_ALIASES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT_API_KEY", KEY)


@pytest.fixture(scope="module")
def task_app() -> Iterator[str]:
    runner = RolloutRunner(RolloutSettings(inference_retries=1, inference_backoff_s=0.01))
    config = uvicorn.Config(create_app(runner), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(30)


def _settings(task_app: str, inference: str, **extra: Any) -> Any:
    values = {"model": "m", "inference_url": inference, "task_app_url": task_app, "seeds": [1, 2], "max_turns": 3}
    return build_settings({**values, **extra})


def test_plays_on_the_task_app(task_app: str) -> None:
    with FakeInferenceServer(models=["m"], actions=["move_left", "do", "noop"]) as model:
        run = run_eval(_settings(task_app, model.base_url, concurrency=2))
        assert model.chat_count == 6
    assert [e.seed for e in run.episodes] == [1, 2]
    assert all(e.decisions == 3 and e.steps == 9 and e.error is None for e in run.episodes)
    assert aggregate(run.episodes).episodes == 2


def test_wrong_key_stops_before_any_episode(task_app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Server and client share the process: the client reads its key from another variable here.
    monkeypatch.setattr(task_app_runner, "KEY_ENV", "EVAL_TEST_CLIENT_KEY")
    monkeypatch.setenv("EVAL_TEST_CLIENT_KEY", "sk-wrong-key-000000000000")
    with FakeInferenceServer(models=["m"]) as model:
        with pytest.raises(EvalError, match="rejected the key") as caught:
            run_eval(_settings(task_app, model.base_url))
        assert "sk-wrong-key-000000000000" not in str(caught.value)
        assert model.chat_count == 0


def test_unreachable_task_app_stops_before_any_episode() -> None:
    with FakeInferenceServer(models=["m"]) as model:
        with pytest.raises(EvalError, match="Cannot reach task app"):
            run_eval(_settings("http://127.0.0.1:9", model.base_url))
        assert model.chat_count == 0


def test_failed_and_partial_rollouts(task_app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_rollout(url: str, *, seed: int, **_: Any) -> TaskAppRollout:
        if seed == 2:
            return TaskAppRollout(seed=2, run_id="r", partial=True, status="failed", error="HTTP 500: boom")
        return TaskAppRollout(
            seed=seed, run_id="r", achievements=["collect_wood"], decisions=2, steps=5,
            partial=seed == 3, status="partial_no_tool_calls" if seed == 3 else "complete", tool_call_failures=1,
        )  # fmt: skip

    monkeypatch.setattr(task_app_runner, "arun_rollout", fake_rollout)
    run = run_eval(_settings(task_app, "http://127.0.0.1:1", seeds=[1, 2, 3]))
    by_seed = {e.seed: e for e in run.episodes}
    assert by_seed[2].error == "HTTP 500: boom" and by_seed[3].partial
    agg = aggregate(run.episodes)
    assert agg.episodes == 2 and agg.failed_episodes == 1 and agg.partial_episodes == 1
    assert agg.success_rates["collect_wood"] == 1.0


def test_an_error_for_every_episode_stops_and_keeps_finished(task_app: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_rollout(url: str, *, seed: int, **_: Any) -> TaskAppRollout:
        if seed >= 3:
            raise TaskAppError("Task app at x rejected the key.", "bad_key", 400)
        return TaskAppRollout(seed=seed, run_id="r", decisions=1, steps=1)

    monkeypatch.setattr(task_app_runner, "arun_rollout", fake_rollout)
    run = run_eval(_settings(task_app, "http://127.0.0.1:1", seeds=[1, 2, 3, 4], concurrency=1))
    assert [e.seed for e in run.episodes] == [1, 2]
    assert run.stopped == "Task app at x rejected the key."


def test_task_app_mode_needs_a_model_url_and_no_trace_db(task_app: str) -> None:
    with pytest.raises(EvalError, match="needs --inference-url"):
        run_eval(build_settings({"model": "m", "task_app_url": task_app, "seeds": [1]}))
    with pytest.raises(EvalError, match="trace on the server"):
        run_eval(_settings(task_app, "http://127.0.0.1:1", trace_db="x.db"))


def test_cli_task_app_json(task_app: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tui.cli import main

    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(__import__("tempfile").mkdtemp()))
    with FakeInferenceServer(models=["m"]) as model:
        args = ["eval", "--task-app", task_app, "--model", "m", "--inference-url", model.base_url,
                "--seeds", "4-5", "--max-turns", "2", "--json", "--no-save"]  # fmt: skip
        assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["seed"] for e in doc["episodes"]] == [4, 5]
    assert all(e["decisions"] == 2 for e in doc["episodes"])
    assert doc["mode"] == "task-app"

"""Playing eval episodes through a grpo-crafter task app (``--task-app URL``) instead of in-process.

The HTTP contract (``/health`` with its 400/401/503 cases, ``/rollout`` with both decision caps set,
``X-API-Key`` from ``ENVIRONMENT_API_KEY``, achievements from the union of ``achievements_added``) is
implemented once, in ``services/evals/task_app/client.py``; this adapter only turns its
``TaskAppRollout`` into the launcher's :class:`EpisodeResult`. The client is imported when a task
app is used, so in-process evals never load it.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from types import ModuleType
from typing import Any

from services.evals.episode import EpisodeResult
from services.evals.runners import DecisionHook
from services.evals.settings import EvalError, EvalSettings

CLIENT_MODULE = "services.evals.task_app.client"
KEY_ENV = "ENVIRONMENT_API_KEY"


def _client() -> ModuleType:
    try:
        return importlib.import_module(CLIENT_MODULE)
    except ImportError:
        raise EvalError("Task-app mode is not available in this build (no task-app client).") from None


def episode_from_rollout(rollout: Any) -> EpisodeResult:
    """A ``TaskAppRollout`` (seed, achievements, decisions, steps, died, tool_call_failures, partial,
    total_reward, error) as the launcher's episode."""
    return EpisodeResult(
        seed=int(rollout.seed),
        achievements=sorted(set(rollout.achievements)),
        total_reward=float(rollout.total_reward or 0.0),
        decisions=int(rollout.decisions),
        steps=int(rollout.steps),
        died=bool(rollout.died),
        tool_call_failures=int(rollout.tool_call_failures),
        partial=bool(rollout.partial),
        error=rollout.error,
    )


class TaskAppRunner:
    """One ``/rollout`` per seed (blocking client calls run in threads, ``concurrency`` at a time)."""

    def __init__(self, settings: EvalSettings, eval_id: str) -> None:
        if not settings.task_app_url:
            raise EvalError("Task-app mode needs --task-app URL.")
        if settings.policy != "openai":
            raise EvalError("Task-app mode plays a model: use --policy openai with --model and --inference-url.")
        if not settings.inference_url:
            raise EvalError("Task-app mode needs --inference-url: the task app asks that server for decisions.")
        self.settings = settings
        self.eval_id = eval_id
        self.url = settings.task_app_url.rstrip("/")
        self.api_key = os.environ.get(KEY_ENV) or None
        self.client = _client()

    async def preflight(self) -> None:
        check = getattr(self.client, "preflight", None)
        if check is None:
            return
        try:
            await asyncio.to_thread(check, self.url, api_key=self.api_key)
        except Exception as exc:  # the client's errors are worded for the user
            raise EvalError(str(exc)) from None

    def prepare(self, seeds: list[int]) -> None:
        return None

    async def run(self, seed: int, on_decision: DecisionHook) -> EpisodeResult:
        s = self.settings
        try:
            rollout = await asyncio.to_thread(
                self.client.run_rollout,
                self.url,
                seed=seed,
                model=s.model_name(),
                inference_url=s.inference_url,
                max_turns=s.max_turns,
                api_key=self.api_key,
            )
        except Exception as exc:  # one failed rollout (a 500) is that episode's error, not the eval's end
            return EpisodeResult(seed=seed, error=f"task app {self.url}, seed {seed}: {exc}")
        result = episode_from_rollout(rollout)
        for _ in range(result.decisions):
            on_decision(None)
        return result

    async def aclose(self) -> None:
        return None

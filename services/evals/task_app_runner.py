"""Playing eval episodes through a grpo-crafter task app (``--task-app URL``) instead of in-process.

The HTTP contract (``/health`` with its 400/401/503 cases, ``/rollout`` with both decision caps set,
``X-API-Key`` from ``ENVIRONMENT_API_KEY``, achievements from the union of ``achievements_added``,
partial rollouts) is implemented once, in ``services/evals/task_app/client.py``; this adapter runs
its preflight, plays one ``/rollout`` per seed on one pooled connection, and turns each
``TaskAppRollout`` into the launcher's :class:`EpisodeResult`. A problem that would hit every
episode (unreachable, key refused, no ``/rollout``) stops the eval, keeping finished episodes; one
episode's failure (an HTTP 500) is that episode's ``error``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from services.evals.episode import EpisodeResult
from services.evals.runners import DecisionHook
from services.evals.settings import EvalError, EvalSettings
from services.evals.task_app.client import (
    DEFAULT_TIMEOUT_S,
    TaskAppError,
    TaskAppRollout,
    acheck_task_app,
    arun_rollout,
)

KEY_ENV = "ENVIRONMENT_API_KEY"


def episode_from_rollout(rollout: TaskAppRollout) -> EpisodeResult:
    return EpisodeResult(
        seed=rollout.seed,
        achievements=sorted(set(rollout.achievements)),
        total_reward=rollout.total_reward,
        decisions=rollout.decisions,
        steps=rollout.steps,
        died=rollout.died,
        tool_call_failures=rollout.tool_call_failures,
        partial=rollout.partial,
        error=rollout.error,
    )


class TaskAppRunner:
    """One ``/rollout`` per seed, ``concurrency`` at a time on one pooled ``httpx.AsyncClient``."""

    def __init__(self, settings: EvalSettings, eval_id: str) -> None:
        if not settings.task_app_url:
            raise EvalError("Task-app mode needs --task-app URL.")
        if settings.policy != "openai":
            raise EvalError("Task-app mode plays a model: use --policy openai with --model and --inference-url.")
        if not settings.inference_url:
            raise EvalError("Task-app mode needs --inference-url: the task app asks that server for decisions.")
        if settings.trace_db is not None:
            raise EvalError(
                "--trace-db records in-process episodes; in task-app mode trace on the server "
                "(`sft-studio task-app serve --trace-db PATH`)."
            )
        self.settings = settings
        self.eval_id = eval_id
        self.url = settings.task_app_url
        self.api_key = os.environ.get(KEY_ENV) or None
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(DEFAULT_TIMEOUT_S, connect=10.0),
            limits=httpx.Limits(max_connections=max(8, settings.concurrency)),
        )

    async def preflight(self) -> None:
        try:
            await acheck_task_app(self.url, self.api_key, seed=self.settings.seeds[0], client=self.client)
        except TaskAppError as exc:
            raise EvalError(exc.message) from None

    def prepare(self, seeds: list[int]) -> None:
        return None

    def _policy_config(self) -> dict[str, Any]:
        s = self.settings
        config: dict[str, Any] = {}
        if s.top_p is not None:
            config["top_p"] = s.top_p
        if s.thinking_mode is not None:
            config["thinking_mode"] = s.thinking_mode
        if s.thinking_budget is not None:
            config["thinking_budget"] = s.thinking_budget
        return config

    async def run(self, seed: int, on_decision: DecisionHook) -> EpisodeResult:
        s = self.settings
        assert s.inference_url is not None  # checked in __init__
        try:
            rollout = await arun_rollout(
                self.url,
                seed=seed,
                model=s.model_name(),
                inference_url=s.inference_url,
                max_turns=s.max_turns,
                api_key=self.api_key,
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                run_id=f"eval-{self.eval_id}-{seed}",
                policy_name=s.task_policy_name,
                policy_config=self._policy_config(),
                client=self.client,
            )
        except TaskAppError as exc:
            raise EvalError(exc.message) from None
        result = episode_from_rollout(rollout)
        for _ in range(result.decisions):
            on_decision(None)
        return result

    async def aclose(self) -> None:
        await self.client.aclose()

"""How one eval episode is played: the seam between the launcher and where the game runs.

:class:`InProcessRunner` plays our deterministic env with a policy through the collector's
``play_episode`` (the same prompts, tool and trace rows as ``sft-studio collect``), so a traced eval
episode is an ordinary synth-ai session, exportable for the next round. A task-app runner
(``services/evals/task_app_runner.py``) plays through a grpo-crafter ``/rollout`` instead. Both
implement :class:`EpisodeRunner`; the launcher only sees that.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Protocol

from pydantic import SecretStr

from services.crafter.env import StepOutcome
from services.evals.episode import EpisodeResult
from services.evals.settings import EvalError, EvalSettings
from services.rollouts.collector import _WorldPrefetch, play_episode
from services.rollouts.policy import Policy, PolicyDecision, PolicyError
from services.traces.achievement_keys import KeyStyle
from services.traces.db import TraceDBError
from services.traces.writer import TraceWriter

#: Called once per decision (progress, and the place a stop request interrupts an episode).
DecisionHook = Callable[[PolicyDecision | None], None]


class EvalStopped(Exception):
    """The caller asked to stop; the episodes in flight are dropped."""


class EpisodeRunner(Protocol):
    """Plays seeded episodes for the launcher; raises EvalError (before any episode) in ``preflight``."""

    async def preflight(self) -> None: ...

    def prepare(self, seeds: list[int]) -> None:
        """Called once with every seed before the first episode (e.g. to build worlds ahead)."""

    async def run(self, seed: int, on_decision: DecisionHook) -> EpisodeResult: ...

    async def aclose(self) -> None: ...


class _EpisodeParams:
    """What ``play_episode`` reads of a run (its EpisodeParams protocol)."""

    def __init__(self, policy: str, max_turns: int) -> None:
        self.policy = policy
        self.max_turns = max_turns
        self.key_style = KeyStyle.TASK_APP


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "model"


def session_id_for(eval_id: str, seed: int) -> str:
    return f"eval-{_slug(eval_id)}-seed{seed:05d}"


class InProcessRunner:
    """Our deterministic Crafter env in this process; an HTTP policy is shared (pooled connections),
    the teacher and random policies are made per episode, seeded with the world's seed (the seeding
    ``bench/bench_env.py --quality`` uses, so a teacher eval reproduces bench/RESULTS.md)."""

    def __init__(self, settings: EvalSettings, eval_id: str, on_retry: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.eval_id = eval_id
        self.model = settings.model_name()
        self.params = _EpisodeParams(settings.policy, settings.max_turns)
        self.http: Policy | None = None
        self.writer: TraceWriter | None = None
        self.prefetch: _WorldPrefetch | None = None
        if settings.policy == "openai":
            from services.rollouts.openai_policy import OpenAIChatPolicy

            if not settings.inference_url:
                raise EvalError("Give the model's server with --inference-url URL (or --backend local).")
            key = settings.api_key.get_secret_value() if isinstance(settings.api_key, SecretStr) else None
            if key is None and settings.api_key_env:
                key = os.environ.get(settings.api_key_env)
                if not key:
                    raise EvalError(f"The API key variable {settings.api_key_env} is not set.")
            thinking = None if settings.thinking_mode is None else settings.thinking_mode != "no_think"
            try:
                self.http = OpenAIChatPolicy(
                    model=self.model,
                    inference_url=settings.inference_url,
                    api_key=key,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                    max_tokens=settings.max_tokens,
                    timeout_s=settings.timeout_s,
                    thinking=thinking,
                    on_retry=on_retry,
                )
            except ValueError as exc:
                raise EvalError(str(exc)) from None

    async def preflight(self) -> None:
        if self.http is not None:
            try:
                await self.http.preflight()
            except PolicyError as exc:
                raise EvalError(str(exc)) from None
        if self.settings.trace_db is not None:
            try:
                self.writer = TraceWriter(self.settings.trace_db)
            except TraceDBError as exc:
                raise EvalError(f"Cannot record the eval into {self.settings.trace_db}: {exc}") from None

    def prepare(self, seeds: list[int]) -> None:
        self.prefetch = _WorldPrefetch(seeds, workers=min(2, os.cpu_count() or 1))

    def _policy(self, seed: int) -> Policy:
        if self.http is not None:
            return self.http
        if self.settings.policy == "teacher":
            from services.rollouts.teacher import TeacherPolicy

            return TeacherPolicy(seed=seed, model_name=self.model)
        from services.rollouts.random_policy import RandomPolicy

        return RandomPolicy(seed=seed, model_name=self.model)

    async def run(self, seed: int, on_decision: DecisionHook) -> EpisodeResult:
        if self.prefetch is not None:
            await self.prefetch.ready(seed)
        result = EpisodeResult(seed=seed)

        def on_outcome(decision: PolicyDecision, outcome: StepOutcome) -> None:
            result.decisions += 1
            result.steps += outcome.steps_executed
            result.total_reward += outcome.reward
            result.died = outcome.state.health <= 0
            result.tool_call_failures += 0 if decision.tool_call_ok else 1
            result.input_tokens += decision.input_tokens or 0
            result.output_tokens += decision.output_tokens or 0
            result.total_tokens += decision.total_tokens or 0
            result.policy_s += decision.latency_ms / 1000.0

        sid = session_id_for(self.eval_id, seed)
        try:
            episode, final = await play_episode(self._policy(seed), self.params, seed, sid, on_decision, on_outcome)
        except PolicyError as exc:
            raise EvalError(str(exc)) from None
        result.achievements = sorted(final)
        result.mean_latency_ms = 1000.0 * result.policy_s / result.decisions if result.decisions else 0.0
        if self.writer is not None:
            try:
                self.writer.write([episode])  # one transaction per episode, as the collector does
            except TraceDBError as exc:
                raise EvalError(f"Recording episode of seed {seed} failed: {exc}") from None
            result.session_id = sid
        return result

    async def aclose(self) -> None:
        if self.prefetch is not None:
            self.prefetch.close()
        if self.writer is not None:
            self.writer.close()
        if self.http is not None:
            await self.http.aclose()

"""Running one ``POST /rollout``: our deterministic Crafter env, our policies, grpo-crafter's answer.

Semantics follow synth-ai 0.2.10's grpo-crafter app as observed (shared/reference/task_app_and_eval.md):

- **Decision cap.** ``ops`` are cut to 2 × the smaller of ``policy.config.max_llm_calls`` (default
  10, as 0.2.10) and ``env.config.env_params.max_steps_per_episode`` (when given; it must be a
  positive integer, else 422 ``invalid_env_params``). A client that sets both to N gets N decisions.
- **Partial rollouts** are HTTP 200 with ``final.rollout_status``: ``partial_no_tool_calls`` when the
  model's answer held no usable action (no tool call, nothing readable in its text: a terminal step
  with no tool calls, the raw observation as ``final.observation``, no ``error``);
  ``partial_policy_error`` when the inference server cannot be used (unreachable, 401, unknown model,
  5xx after retries); ``partial_invalid_action`` when the env refuses the actions. Anything else is 500.
- **Rewards.** A step's reward is the number of achievements unlocked for the first time in that
  decision, or null; the episode return is the number of unique achievements. Opt-in
  ``step_rewards`` (``decision_stepwise``) adds ``info.stepwise``, ``meta.decision_rewards`` and
  ``decision_samples``, read from the policy config first, then the env config.
- ``on_done``: ``reset`` (default: the same seed's world again, play goes on) or ``terminate``.

Where we differ on purpose: ``final.observation`` carries ``achievements_status`` next to ``text``
(0.2.10 loses them, so its own ``run_eval.py`` always reports none), steps carry
``info.steps_executed`` and ``info.meta.tool_call_ok``, and ``env_id``/``policy_id`` of an existing
env or policy are refused (404): we have no ``/env`` or ``/policy`` routes (neither has 0.2.10 where
its clients look for them).

The world generation and env steps run in worker threads, local policies too (they are CPU work),
so the event loop keeps answering other requests. Each rollout is traced, when the app has a trace
DB, as one session (id = ``run_id``, suffixed when taken) through the collector's trace writer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from services.common.secrets import mask_url
from services.crafter.env import VITALS, CrafterTextEnv, EnvState, StepOutcome
from services.crafter.observation import format_observation
from services.crafter.prompt import SYSTEM_PROMPT, TOOL_NAME, user_message
from services.evals.task_app.contract import RolloutRejected, RolloutRequest, normalise_op
from services.rollouts.policy import Policy, PolicyDecision, PolicyError
from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle
from services.traces.db import TraceDBError
from services.traces.records import achievement_rewards, env_event_metadata, episode_outcome, lm_event_metadata
from services.traces.writer import Decision, EnvStep, Episode, LMCall, TraceWriter

log = logging.getLogger(__name__)

DEFAULT_MAX_LLM_CALLS = 10
#: Crafter env steps shown as "Step: n/max" per decision (the collector's convention).
STEPS_PER_DECISION = 8
LLM_POLICY_NAMES = frozenset({"crafter-react", "crafter", "react", "crafter_react", "openai"})
PolicyKind = Literal["openai", "teacher", "random"]


class RolloutSettings(BaseModel):
    """Server-wide choices for the policies rollouts create."""

    #: Retries of a failed inference call before the rollout ends ``partial_policy_error``.
    inference_retries: int = 6
    inference_backoff_s: float = 0.5
    inference_timeout_s: float = 60.0


# ----------------------------------------------------------------------------------------------- tracing


class RolloutTracer:
    """The app's trace DB: one writer, writes serialised (SQLite has one writer at a time anyway)."""

    def __init__(self, writer: TraceWriter) -> None:
        self.writer = writer
        self._lock = threading.Lock()

    def write(self, episode: Episode) -> str:
        """Write ``episode`` (its id suffixed ``-2``, ``-3``… when already taken); return the id used."""
        with self._lock:
            taken = self.writer.existing_session_ids()
            base = episode.session_id
            sid, n = base, 1
            while sid in taken:
                n += 1
                sid = f"{base}-{n}"
            if sid != base:
                episode = episode.model_copy(update={"session_id": sid})
            self.writer.write([episode])
            return sid

    def close(self) -> None:
        self.writer.close()


# ----------------------------------------------------------------------------------------------- request reading


@dataclass
class _Plan:
    seed: int
    ops: list[str]
    cap: int
    kind: PolicyKind
    policy_name: str
    model: str
    inference_url: str | None
    config: dict[str, Any]
    stepwise: bool
    indicator_lambda: float
    on_done: str


def _positive_int(value: Any, what: str, code: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RolloutRejected(f"{what} must be a positive integer, got {value!r}", code=code) from None
    if isinstance(value, bool) or number < 1 or (isinstance(value, float) and value != number):
        raise RolloutRejected(f"{what} must be a positive integer, got {value!r}", code=code)
    return number


def _seed(request: RolloutRequest) -> int:
    if request.env.seed is not None:
        if request.env.seed < 0 or request.env.seed >= 2**32:
            raise RolloutRejected(f"env.seed must be between 0 and 2**32-1, got {request.env.seed}")
        return int(request.env.seed)
    return int(hashlib.sha256(request.run_id.encode("utf-8")).hexdigest()[:8], 16)


def _policy_kind(name: str, model: str) -> PolicyKind:
    lowered = name.strip().lower()
    if lowered in ("teacher", "sft-studio-teacher") or model == "sft-studio/teacher":
        return "teacher"
    if lowered in ("random", "sft-studio-random") or model == "sft-studio/random":
        return "random"
    if lowered in LLM_POLICY_NAMES or lowered.startswith("crafter"):
        return "openai"
    raise RolloutRejected(
        f"Unknown policy_name {name!r}: use crafter-react (an OpenAI-compatible model at "
        "policy.config.inference_url), teacher or random",
        code="unknown_policy",
    )


def plan_rollout(request: RolloutRequest) -> _Plan:
    """Check the request and work out what to play; :class:`RolloutRejected` (422/404) when it cannot run."""
    if request.env.env_id:
        raise RolloutRejected(f"Environment {request.env.env_id} not found", code="env_not_found", status=404)
    if request.policy.policy_id:
        raise RolloutRejected(f"Policy {request.policy.policy_id} not found", code="policy_not_found", status=404)
    env_name = (request.env.env_name or "").strip().lower()
    if not env_name:
        raise RolloutRejected("env.env_name is required (crafter)")
    if "crafter" not in env_name and not env_name.startswith("math"):
        raise RolloutRejected(f"Unknown env_name {request.env.env_name!r}: this task app serves crafter only")
    if request.on_done not in ("reset", "terminate"):
        raise RolloutRejected(f"on_done must be reset or terminate, got {request.on_done!r}")
    pcfg = dict(request.policy.config or {})
    ecfg = dict(request.env.config or {})
    raw_calls = pcfg.get("max_llm_calls")
    cap = DEFAULT_MAX_LLM_CALLS
    if raw_calls not in (None, 0, ""):
        cap = _positive_int(raw_calls, "policy.config.max_llm_calls", "invalid_policy_config")
    env_params = ecfg.get("env_params") or {}
    if not isinstance(env_params, dict):
        raise RolloutRejected("env.config.env_params must be an object", code="invalid_env_params")
    if env_params.get("max_steps_per_episode") is not None:
        steps = _positive_int(
            env_params["max_steps_per_episode"], "env.config.env_params.max_steps_per_episode", "invalid_env_params"
        )
        cap = min(cap, steps)
    ops = [normalise_op(op, i) for i, op in enumerate(request.ops)][: 2 * cap]
    name = (request.policy.policy_name or "").strip()
    if not name:
        raise RolloutRejected("policy.policy_name is required (crafter-react, teacher or random)")
    model = str(pcfg.get("model") or "").strip()
    kind = _policy_kind(name, model)
    url = pcfg.get("inference_url")
    if kind == "openai":
        if not model:
            raise RolloutRejected("policy.config.model is required for an LLM policy", code="invalid_policy_config")
        if not isinstance(url, str) or not url.strip():
            raise RolloutRejected(
                "policy.config.inference_url is required: the OpenAI-compatible base URL of the model "
                "(this app has no default inference server)",
                code="invalid_policy_config",
            )
    rewards = pcfg.get("step_rewards") or ecfg.get("step_rewards") or {}
    rewards = rewards if isinstance(rewards, dict) else {}
    stepwise = bool(rewards.get("enabled")) and str(rewards.get("mode") or "off").lower() == "decision_stepwise"
    try:
        indicator_lambda = float(rewards.get("indicator_lambda") or 0.0)
    except (TypeError, ValueError):
        indicator_lambda = 0.0
    return _Plan(
        seed=_seed(request),
        ops=ops,
        cap=cap,
        kind=kind,
        policy_name=name,
        model=model or f"sft-studio/{kind}",
        inference_url=url.strip() if isinstance(url, str) else None,
        config=pcfg,
        stepwise=stepwise,
        indicator_lambda=indicator_lambda,
        on_done=request.on_done,
    )


def _thinking(config: dict[str, Any]) -> bool | None:
    mode = str(config.get("thinking_mode") or "").lower()
    if mode in ("think", "thinking", "on", "true"):
        return True
    if mode in ("no_think", "off", "false", "none"):
        return False
    return None


def make_policy(plan: _Plan, settings: RolloutSettings) -> Policy:
    """The policy the request names: an OpenAI-compatible model, or our teacher / random policy."""
    if plan.kind == "teacher":
        from services.rollouts.teacher import TeacherPolicy

        return TeacherPolicy(seed=plan.seed, model_name=plan.model)
    if plan.kind == "random":
        from services.rollouts.random_policy import RandomPolicy

        return RandomPolicy(seed=plan.seed, model_name=plan.model)
    from services.rollouts.openai_policy import OpenAIChatPolicy

    cfg = plan.config

    def number(key: str, default: float | None) -> float | None:
        value = cfg.get(key)
        if value is None:
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise RolloutRejected(f"policy.config.{key} must be a number, got {value!r}") from None

    max_tokens = cfg.get("max_tokens") or cfg.get("max_completion_tokens") or 512
    assert plan.inference_url is not None
    try:
        return OpenAIChatPolicy(
            model=plan.model,
            inference_url=plan.inference_url,
            temperature=number("temperature", 0.2) or 0.0,
            top_p=number("top_p", None),
            max_tokens=_positive_int(max_tokens, "policy.config.max_tokens", "invalid_policy_config"),
            timeout_s=settings.inference_timeout_s,
            max_retries=settings.inference_retries,
            backoff_s=settings.inference_backoff_s,
            thinking=_thinking(cfg),
        )
    except ValueError as exc:
        raise RolloutRejected(f"policy.config: {exc}", code="invalid_policy_config") from None


# ----------------------------------------------------------------------------------------------- the game loop


def raw_observation(state: EnvState, max_steps: int) -> dict[str, Any]:
    """The env's observation as a dict (what partial rollouts put in ``final.observation``), no maps."""
    inventory = {name: getattr(state, name) for name in VITALS}
    inventory.update(state.inventory)
    unlocked = set(state.achievements)
    return {
        "inventory": inventory,
        "achievements_status": {name: name in unlocked for name in ACHIEVEMENTS},
        "player_position": list(state.position),
        "player_direction": list(state.facing),
        "num_steps_taken": state.step,
        "max_steps": max_steps,
        "health": state.health,
        "terminated": state.done,
        "truncated": False,
        "sleeping": state.sleeping,
        "daylight": state.daylight,
        "local_map": state.local_map,
        "text": format_observation(state, max_steps),
    }


def _unusable(decision: PolicyDecision) -> bool:
    """The answer held no action at all (no tool call, nothing readable in the text): 0.2.10 ends there."""
    return not decision.tool_call_ok and "read from the text" not in (decision.problem or "")


async def _decide(policy: Policy, kind: PolicyKind, user_text: str) -> PolicyDecision:
    if kind == "openai":
        return await policy.decide(SYSTEM_PROMPT, user_text)
    # Local policies compute (the teacher plans paths): keep that off the event loop.
    return await asyncio.to_thread(lambda: asyncio.run(policy.decide(SYSTEM_PROMPT, user_text)))


@dataclass
class _Game:
    plan: _Plan
    run_id: str
    shown_url: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    lm_calls: list[dict[str, Any]] = field(default_factory=list)
    decision_rewards: list[dict[str, Any]] = field(default_factory=list)
    decision_samples: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    total_reward: float = 0.0
    ops_executed: int = 0

    @property
    def policy_id(self) -> str:
        return f"{self.plan.kind}:{self.plan.model}"

    def record(
        self, turn: int, decision: PolicyDecision, started: float, before: str, outcome: StepOutcome, after: str
    ) -> dict[str, Any]:
        """Add one decision's trajectory step and trace rows; return the step."""
        new = list(outcome.new_achievements)
        reward = float(len(new)) if new else None
        meta: dict[str, Any] = {
            "inference_url": self.shown_url,
            "model": decision.model_name,
            "provider": decision.provider,
            "usage": {
                "prompt_tokens": decision.input_tokens,
                "completion_tokens": decision.output_tokens,
                "total_tokens": decision.total_tokens,
            },
            "inference_ms": decision.latency_ms,
            "turn_index": turn,
            "history_len": min(turn, 3),
            "tool_call_ok": decision.tool_call_ok,
            "problem": decision.problem,
        }
        info: dict[str, Any] = {"achievements_added": new, "steps_executed": outcome.steps_executed, "meta": meta}
        unique = sorted(set(outcome.turned_true) - self.seen)
        self.seen |= set(outcome.turned_true)
        if self.plan.stepwise:
            indicator = 1 if new else 0
            value = indicator * self.plan.indicator_lambda
            info["stepwise"] = {
                "decision_index": turn + 1,
                "indicator": indicator,
                "new_achievements": new,
                "reward": value,
            }
            meta["decision_rewards"] = {
                "turn": turn + 1,
                "ach_delta": len(outcome.turned_true),
                "unique_delta": len(unique),
                "all": list(outcome.turned_true),
                "unique": unique,
            }
            self.decision_samples.append(
                {
                    "decision_index": turn + 1,
                    "indicator": indicator,
                    "r_i": value,
                    "actions": [{"tool": TOOL_NAME, "args": {"actions": decision.actions}}],
                }
            )
        step = {
            "obs": {"text": before},
            "tool_calls": [{"tool_name": TOOL_NAME, "arguments": {"actions": list(decision.actions)}}],
            "reward": reward,
            "done": outcome.done,
            "truncated": None,
            "info": info,
        }
        self.steps.append(step)
        self.total_reward += reward or 0.0
        self.lm_calls.append(
            {
                "turn": turn,
                "model": decision.model_name,
                "provider": decision.provider,
                "total_tokens": decision.total_tokens,
                "input_tokens": decision.input_tokens,
                "output_tokens": decision.output_tokens,
                "latency_ms": decision.latency_ms,
                "tool_calls": [{"tool_name": TOOL_NAME, "arguments": {"actions": list(decision.actions)}}],
            }
        )
        self.decision_rewards.append(
            {
                "turn": turn,
                "ach_delta": len(outcome.turned_true),
                "unique_delta": len(unique),
                "achievements": list(outcome.turned_true),
                "unique_achievements": unique,
            }
        )
        self.decisions.append(self._trace_decision(turn, decision, started, before, outcome, after))
        return step

    def _trace_decision(
        self, turn: int, decision: PolicyDecision, started: float, before: str, outcome: StepOutcome, after: str
    ) -> Decision:
        lm_meta = lm_event_metadata(turn, self.run_id, self.policy_id)
        if not decision.tool_call_ok:
            lm_meta["tool_call_ok"] = False
            lm_meta["problem"] = decision.problem or "no usable tool call"
            lm_meta["executed_actions"] = decision.actions
        return Decision(
            turn=turn,
            lm=LMCall(
                model_name=decision.model_name,
                provider=decision.provider,
                input_tokens=decision.input_tokens,
                output_tokens=decision.output_tokens,
                total_tokens=decision.total_tokens,
                latency_ms=decision.latency_ms,
                system_instance_id="policy:crafter-react",
                call_records=[decision.call_record],
                metadata=lm_meta,
                event_time=started,
            ),
            env=EnvStep(
                reward=float(len(outcome.new_achievements)) or None,
                terminated=outcome.done,
                truncated=False,
                state_before={"text": before},
                state_after={"text": after},
                metadata=env_event_metadata(turn, self.run_id),
                event_time=time.time(),
            ),
            rewards=achievement_rewards(outcome.turned_true, outcome.new_achievements, KeyStyle.TASK_APP),
        )


class RolloutRunner:
    """Runs rollouts for the app: policies per request, one optional tracer for all."""

    def __init__(self, settings: RolloutSettings | None = None, tracer: RolloutTracer | None = None) -> None:
        self.settings = settings or RolloutSettings()
        self.tracer = tracer
        #: Made per request; tests swap it to inject a policy.
        self.policy_factory: Callable[[_Plan, RolloutSettings], Policy] = make_policy

    async def run(self, request: RolloutRequest) -> dict[str, Any]:
        """The rollout response; raises :class:`RolloutRejected` before playing when the request is bad."""
        plan = plan_rollout(request)
        policy = self.policy_factory(plan, self.settings)
        try:
            return await self._play(request, plan, policy)
        finally:
            await policy.aclose()

    async def _play(self, request: RolloutRequest, plan: _Plan, policy: Policy) -> dict[str, Any]:
        shown = mask_url(plan.inference_url) if plan.inference_url else None
        game = _Game(plan=plan, run_id=request.run_id, shown_url=shown)
        max_steps = plan.cap * STEPS_PER_DECISION
        env = await asyncio.to_thread(CrafterTextEnv, plan.seed)
        state = env.reset()
        obs_text = format_observation(state, max_steps)
        history: list[list[str]] = []
        pending: PolicyDecision | None = None
        pending_started = 0.0
        turn = 0
        final: dict[str, Any] | None = None
        started_at = datetime.now(UTC)
        deadline = time.monotonic() + request.safety.max_time_s
        for op in plan.ops:
            if game.ops_executed >= request.safety.max_ops or time.monotonic() > deadline:
                break
            if op == "agent":
                pending_started = time.time()
                try:
                    pending = await _decide(policy, plan.kind, user_message(obs_text, history))
                except PolicyError as exc:
                    final = {
                        "observation": raw_observation(env.state, max_steps),
                        "rollout_status": "partial_policy_error",
                        "error": str(exc),
                        "at_op": op,
                    }
                    break
                game.ops_executed += 1
                continue
            if pending is None or _unusable(pending):
                game.steps.append(
                    {
                        "obs": raw_observation(env.state, max_steps),
                        "tool_calls": [],
                        "reward": None,
                        "done": True,
                        "truncated": False,
                        "info": {
                            "terminated": True,
                            "reason": "no_tool_calls",
                            "meta": {"tool_call_ok": False, "problem": pending.problem if pending else None},
                        },
                    }
                )
                final = {
                    "observation": raw_observation(env.state, max_steps),
                    "rollout_status": "partial_no_tool_calls",
                    "at_op": op,
                }
                break
            decision = pending
            pending = None
            try:
                outcome = await asyncio.to_thread(env.step, decision.actions)
            except ValueError as exc:
                game.steps.append(
                    {
                        "obs": {"text": obs_text},
                        "tool_calls": [{"tool_name": TOOL_NAME, "arguments": {"actions": decision.actions}}],
                        "reward": None,
                        "done": True,
                        "truncated": False,
                        "info": {"terminated": True, "reason": "invalid_action", "error": str(exc)},
                    }
                )
                final = {
                    "observation": raw_observation(env.state, max_steps),
                    "rollout_status": "partial_invalid_action",
                    "error": str(exc),
                    "at_op": op,
                }
                break
            after = format_observation(outcome.state, max_steps)
            game.record(turn, decision, pending_started, obs_text, outcome, after)
            game.ops_executed += 1
            turn += 1
            history.append(list(decision.actions))
            obs_text = after
            if outcome.done:
                if plan.on_done == "terminate":
                    break
                state = await asyncio.to_thread(env.reset)
                obs_text = format_observation(state, max_steps)
                history = []
        if final is None:
            final = {
                "observation": {
                    "text": obs_text,
                    "achievements_status": raw_observation(env.state, max_steps)["achievements_status"],
                }
            }
        unique = sorted(game.seen & set(ACHIEVEMENTS))
        session_id = await self._trace(request, plan, game, unique)
        trajectory: dict[str, Any] = {
            "env_id": f"crafter-seed-{plan.seed}",
            "policy_id": game.policy_id,
            "steps": game.steps,
            "final": final,
            "length": len(game.steps),
        }
        if plan.stepwise:
            trajectory["decision_samples"] = game.decision_samples
        response: dict[str, Any] = {
            "run_id": request.run_id,
            "trajectories": [trajectory],
            "branches": {},
            "metrics": {
                "episode_returns": [game.total_reward],
                "mean_return": game.total_reward,
                "num_steps": len(game.steps),
                "num_episodes": 1,
                "outcome_score": None,
                "events_score": None,
                "details": {},
            },
            "aborted": False,
            "ops_executed": game.ops_executed,
            "trace": None,
        }
        if request.record.return_trace:
            response["trace"] = {
                "session_id": session_id or request.run_id,
                "created_at": started_at.isoformat(),
                "metadata": {
                    "run_id": request.run_id,
                    "policy_name": plan.policy_name,
                    "policy_id": game.policy_id,
                    "env_name": "crafter",
                    "env_id": trajectory["env_id"],
                    "seed": plan.seed,
                    "env_seed": plan.seed,
                    "training_session_id": request.training_session_id,
                    "synth_base_url": request.synth_base_url,
                    "final_achievements": unique,
                },
                "events_count": 2 * len(game.decisions),
                "messages_count": 0,
                "lm_calls": game.lm_calls,
                "decision_rewards": game.decision_rewards,
            }
        return response

    async def _trace(self, request: RolloutRequest, plan: _Plan, game: _Game, unique: list[str]) -> str | None:
        """Write the rollout as one session; a failure is logged, never the rollout's failure (as 0.2.10)."""
        tracer = self.tracer
        if tracer is None or not game.decisions:
            return None
        episode = Episode(
            session_id=request.run_id,
            metadata={
                "run_id": request.run_id,
                "policy_name": plan.policy_name,
                "policy_id": game.policy_id,
                "env_name": "crafter",
                "env_id": None,
                "seed": plan.seed,
                "training_session_id": request.training_session_id,
                "synth_base_url": request.synth_base_url,
                "collector": "sft-studio task-app",
                "policy_kind": plan.kind,
                "max_turns": plan.cap,
            },
            decisions=game.decisions,
            outcomes=[
                episode_outcome(
                    unique,
                    len(game.decisions),
                    env_id=f"crafter-seed-{plan.seed}",
                    policy_id=game.policy_id,
                    seed=plan.seed,
                    style=KeyStyle.TASK_APP,
                )
            ],
        )
        try:
            return await asyncio.to_thread(tracer.write, episode)
        except (TraceDBError, OSError) as exc:
            log.warning("could not trace rollout %s: %s", request.run_id, exc)
            return None

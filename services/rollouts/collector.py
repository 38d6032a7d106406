"""Collecting traced Crafter rollouts: policy plays, env answers, every episode lands in a trace DB.

Episodes run concurrently on one asyncio loop (an HTTP policy spends its time waiting, so
concurrency is what makes collection fast). Each finished episode is written by the trace writer in
one transaction, so an interrupt or a failure keeps every finished session and loses only the ones in
flight. Session ids are derived from (policy, model, seed, run), so a rerun of the same command skips
what is already recorded instead of duplicating it.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from services.crafter.env import CrafterTextEnv, EnvState, StepOutcome, remember_world, world_is_cached
from services.crafter.observation import format_observation
from services.crafter.prompt import SYSTEM_PROMPT, user_message
from services.crafter.world_worker import WorldWorker
from services.rollouts.policy import Policy, PolicyDecision, PolicyError
from services.traces.achievement_keys import KeyStyle
from services.traces.db import TraceDBError
from services.traces.records import achievement_rewards, env_event_metadata, episode_outcome, lm_event_metadata
from services.traces.writer import Decision, EnvStep, Episode, LMCall, TraceWriter

PolicyKind = Literal["teacher", "random", "openai"]
POLICY_NAME = "crafter-react"  # what synth-ai's task app records as the policy name


class CollectError(Exception):
    """Collection cannot start or had to stop; the message is for the user."""


class CollectSpec(BaseModel):
    """Everything one collection run needs; the CLI, the TUI and the demo build one of these."""

    db: Path
    policy: PolicyKind = "teacher"
    #: Model name recorded in the trace (and sent to the server for "openai").
    model: str | None = None
    inference_url: str | None = None
    seeds: tuple[int, int] = (0, 49)  # inclusive range; fixed default so reruns are comparable
    episodes: int | None = None  # default: one per seed in the range
    max_turns: int = 50
    concurrency: int = 4
    key_style: KeyStyle = KeyStyle.TASK_APP
    #: Extra tag in session ids, to record the same seeds again on purpose.
    tag: str = ""
    temperature: float = 0.2
    max_tokens: int = 512
    #: Seconds an inference call may take before it counts as failed (then retried).
    timeout_s: float = 60.0

    def plan(self) -> list[tuple[int, int]]:
        """(seed, run) per episode: the seed range in order, wrapping with run += 1 when exhausted."""
        start, end = self.seeds
        if end < start:
            raise CollectError(f"Seed range {start}-{end} is empty.")
        span = end - start + 1
        count = span if self.episodes is None else self.episodes
        return [(start + i % span, i // span) for i in range(count)]

    def model_name(self) -> str:
        if self.model:
            return self.model
        if self.policy == "openai":
            raise CollectError("--model is required with --policy openai.")
        return f"sft-studio/{self.policy}"


class CollectProgress(BaseModel):
    episodes_total: int
    episodes_done: int = 0
    episodes_skipped: int = 0  # already recorded by an earlier run
    decisions: int = 0
    tool_call_failures: int = 0
    #: Retries of failed inference calls so far, and the latest one in words (shown as it happens).
    server_retries: int = 0
    notice: str | None = None
    #: Episodes played but not recorded: none of their decisions got an answer from the model.
    episodes_unreached: int = 0
    achievements: dict[str, int] = Field(default_factory=dict)  # name -> episodes that unlocked it
    unique_sum: int = 0
    elapsed_s: float = 0.0

    @property
    def decisions_per_s(self) -> float:
        return self.decisions / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def mean_unique(self) -> float:
        return self.unique_sum / self.episodes_done if self.episodes_done else 0.0


class CollectResult(BaseModel):
    progress: CollectProgress
    db: Path
    session_ids: list[str]
    stopped: str | None = None  # why it stopped early, if it did


ProgressFn = Callable[[CollectProgress], None]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "model"


def session_id_for(spec: CollectSpec, seed: int, run: int) -> str:
    tag = f"-{_slug(spec.tag)}" if spec.tag else ""
    return f"{spec.policy}-{_slug(spec.model_name())}{tag}-seed{seed:05d}-run{run}"


def make_policy(spec: CollectSpec, seed: int, run: int) -> Policy:
    """A fresh policy for one episode (local policies keep per-episode memory)."""
    if spec.policy == "teacher":
        from services.rollouts.teacher import TeacherPolicy

        return TeacherPolicy(seed=seed * 1000 + run, model_name=spec.model_name())
    if spec.policy == "random":
        from services.rollouts.random_policy import RandomPolicy

        return RandomPolicy(seed=seed * 1000 + run, model_name=spec.model_name())
    raise CollectError(f"Unknown policy {spec.policy!r}: choose teacher, random or openai.")


class _WorldPrefetch:
    """Builds upcoming episodes' worlds in helper processes while episodes play.

    World generation is ~30 ms a seed (services/crafter/fast_worldgen.py; ~0.2 s, as long as a
    whole teacher episode, before that port); building the next worlds in parallel takes it off the
    collector's own core. Worlds
    come back pickled (~30 KB) into crafter_env's cache, so CrafterTextEnv(seed) finds them. The
    helpers are plain child processes that die with the collector (services/crafter/world_worker).
    """

    MIN_EPISODES = 6  # below this, starting the processes costs more than it saves

    def __init__(self, seeds: list[int], workers: int) -> None:
        self.futures: dict[int, Future[Any]] = {}
        self.workers: list[WorldWorker] = []
        todo = [s for s in dict.fromkeys(seeds) if not world_is_cached(s)]
        if len(todo) < self.MIN_EPISODES or workers < 1:
            return
        for index in range(workers):  # round robin: each helper builds every n-th upcoming world
            worker = WorldWorker(todo[index::workers])
            self.workers.append(worker)
            self.futures.update(worker.futures)

    async def ready(self, seed: int) -> None:
        future = self.futures.pop(seed, None)
        if future is None:
            return
        try:
            remember_world(seed, 10000, await asyncio.wrap_future(future))
        except Exception:
            return  # a failed helper only costs speed: the episode builds its own world

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


class _Shared:
    """One HTTP policy shared by all episodes (connection pooling); local ones are per episode."""

    def __init__(self, spec: CollectSpec, on_retry: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.http: Policy | None = None
        if spec.policy == "openai":
            from services.rollouts.openai_policy import OpenAIChatPolicy

            if not spec.inference_url:
                raise CollectError("--inference-url is required with --policy openai.")
            try:
                self.http = OpenAIChatPolicy(
                    model=spec.model_name(),
                    inference_url=spec.inference_url,
                    temperature=spec.temperature,
                    max_tokens=spec.max_tokens,
                    timeout_s=spec.timeout_s,
                    on_retry=on_retry,
                )
            except ValueError as exc:
                raise CollectError(str(exc)) from None
        elif spec.policy not in ("teacher", "random"):
            raise CollectError(f"Unknown policy {spec.policy!r}: choose teacher, random or openai.")

    def policy_for(self, seed: int, run: int) -> Policy:
        return self.http if self.http is not None else make_policy(self.spec, seed, run)


class EpisodeParams(Protocol):
    """What playing one episode reads of its run's settings: a CollectSpec, or the eval launcher's own."""

    @property
    def policy(self) -> str: ...

    @property
    def max_turns(self) -> int: ...

    @property
    def key_style(self) -> KeyStyle: ...


async def play_episode(
    policy: Policy,
    spec: EpisodeParams,
    seed: int,
    session_id: str,
    on_decision: Callable[[PolicyDecision], None],
    on_outcome: Callable[[PolicyDecision, StepOutcome], None] | None = None,
) -> tuple[Episode, list[str]]:
    """Play one seeded episode and build its trace rows (nothing is written here).

    ``on_outcome`` sees each decision with the env's answer to it (steps, reward, death): the eval
    launcher scores episodes from it, while the trace rows stay the one record of the play.
    """
    env = await asyncio.to_thread(CrafterTextEnv, seed)  # world generation is the slow part
    state: EnvState = env.reset()
    policy_id = f"{spec.policy}:{_slug(policy.model_name)}"
    max_steps = spec.max_turns * 8
    obs_text = format_observation(state, max_steps)
    history: list[list[str]] = []
    decisions: list[Decision] = []
    for turn in range(spec.max_turns):
        prompt = user_message(obs_text, history)
        started = time.time()
        decision = await policy.decide(SYSTEM_PROMPT, prompt)
        on_decision(decision)
        outcome = env.step(decision.actions)
        if on_outcome is not None:
            on_outcome(decision, outcome)
        after_text = format_observation(outcome.state, max_steps)
        lm_meta = lm_event_metadata(turn, session_id, policy_id)
        if not decision.reached_model:
            lm_meta["reached_model"] = False
        if not decision.tool_call_ok:
            lm_meta["tool_call_ok"] = False
            lm_meta["problem"] = decision.problem or "no usable tool call"
            lm_meta["executed_actions"] = decision.actions
        last = turn == spec.max_turns - 1
        decisions.append(
            Decision(
                turn=turn,
                lm=LMCall(
                    model_name=decision.model_name,
                    provider=decision.provider,
                    input_tokens=decision.input_tokens,
                    output_tokens=decision.output_tokens,
                    total_tokens=decision.total_tokens,
                    latency_ms=decision.latency_ms,
                    system_instance_id=f"policy:{POLICY_NAME}",
                    call_records=[decision.call_record],
                    metadata=lm_meta,
                    event_time=started,
                ),
                env=EnvStep(
                    reward=outcome.reward if outcome.reward > 0 else None,
                    terminated=outcome.done,
                    truncated=last and not outcome.done,
                    state_before={"text": obs_text},
                    state_after={"text": after_text},
                    metadata=env_event_metadata(turn, session_id),
                    event_time=time.time(),
                ),
                rewards=achievement_rewards(outcome.turned_true, outcome.new_achievements, spec.key_style),
            )
        )
        history.append(decision.actions)
        obs_text = after_text
        if outcome.done:
            break
    final = list(env.state.achievements)
    episode = Episode(
        session_id=session_id,
        metadata={
            "run_id": session_id,
            "policy_name": POLICY_NAME,
            "policy_id": policy_id,
            "env_name": "crafter",
            "env_id": None,
            "seed": seed,
            "training_session_id": None,
            "synth_base_url": None,
            "collector": "sft-studio",
            "policy_kind": spec.policy,
            "max_turns": spec.max_turns,
        },
        decisions=decisions,
        outcomes=[
            episode_outcome(
                final,
                len(decisions),
                env_id=f"crafter-seed-{seed}",
                policy_id=policy_id,
                seed=seed,
                style=spec.key_style,
            )
        ],
    )
    return episode, final


def _reached(decision: Decision) -> bool:
    """Whether the model answered this decision (play_episode marks the ones it did not)."""
    meta = decision.lm.metadata if decision.lm is not None else None
    return not (isinstance(meta, dict) and meta.get("reached_model") is False)


class CollectStopped(Exception):
    """The caller asked to stop (``should_stop`` returned True)."""


async def collect_async(
    spec: CollectSpec, on_progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None
) -> CollectResult:
    """Run the collection described by ``spec``; raises CollectError before any episode on bad input.

    ``should_stop`` is polled before every decision (a UI's cancel button): when it turns True, the
    episodes in flight are dropped, the finished ones stay, and the result says it stopped.
    """
    if spec.concurrency < 1:
        raise CollectError("--concurrency must be at least 1.")
    if spec.max_turns < 1:
        raise CollectError("--max-turns must be at least 1.")
    plan = spec.plan()
    started = time.perf_counter()
    progress = CollectProgress(episodes_total=len(plan))

    def report() -> None:
        progress.elapsed_s = time.perf_counter() - started
        if on_progress is not None:
            on_progress(progress)

    def on_retry(note: str) -> None:
        progress.server_retries += 1
        progress.notice = note
        report()  # at once: a retry is news (a failing server is otherwise minutes of silence)

    shared = _Shared(spec, on_retry)
    # Checks an existing DB (and that the folder can take a new one) now; a new DB file is only
    # created when the first episode is written, so a run that fails before one leaves nothing.
    writer = TraceWriter(spec.db)
    done_ids: list[str] = []
    stopped: str | None = None
    try:
        if shared.http is not None:
            await shared.http.preflight()  # PolicyError: unreachable, 401, unknown model
        existing = writer.existing_session_ids()
        todo = []
        for seed, run in plan:
            sid = session_id_for(spec, seed, run)
            if sid in existing:
                progress.episodes_skipped += 1
            else:
                todo.append((seed, run, sid))
        progress.episodes_total = len(todo)

        def on_decision(d: PolicyDecision) -> None:
            if should_stop is not None and should_stop():
                raise CollectStopped
            progress.decisions += 1
            progress.tool_call_failures += 0 if d.tool_call_ok else 1
            if d.reached_model:
                progress.notice = None  # the server answers again: the last retry note is old news
            if progress.decisions % 20 == 0:
                report()

        sem = asyncio.Semaphore(spec.concurrency)

        async def one(seed: int, run: int, sid: str) -> None:
            async with sem:
                await prefetch.ready(seed)
                episode, final = await play_episode(shared.policy_for(seed, run), spec, seed, sid, on_decision)
                if not any(_reached(d) for d in episode.decisions):
                    # Not the model's play: recording it would also block its seed from a rerun.
                    progress.episodes_unreached += 1
                    report()
                    return
                writer.write([episode])  # one transaction; raises TraceDBError (e.g. disk full)
                done_ids.append(sid)
                progress.episodes_done += 1
                progress.unique_sum += len(final)
                for name in final:
                    progress.achievements[name] = progress.achievements.get(name, 0) + 1
                report()

        report()
        prefetch = _WorldPrefetch([seed for seed, _run, _sid in todo], workers=min(2, os.cpu_count() or 1))
        tasks = [asyncio.create_task(one(seed, run, sid)) for seed, run, sid in todo]
        try:
            await asyncio.gather(*tasks)
        except CollectStopped:
            stopped = "stopped on request"
        finally:
            prefetch.close()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        report()
    except (PolicyError, CollectError, TraceDBError) as exc:
        if not done_ids:
            raise CollectError(str(exc)) from None
        stopped = str(exc)
    finally:
        writer.close()
        if shared.http is not None:
            await shared.http.aclose()
    return CollectResult(progress=progress, db=spec.db, session_ids=done_ids, stopped=stopped)


def collect(
    spec: CollectSpec, on_progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None
) -> CollectResult:
    """Blocking wrapper for threads and the CLI."""
    return asyncio.run(collect_async(spec, on_progress, should_stop))

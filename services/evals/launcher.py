"""The eval launcher: play a policy over fixed seeds, concurrently, and score the episodes.

Episodes run on one asyncio loop (an HTTP model spends its time waiting; a semaphore keeps
``concurrency`` in flight). Preflight runs before any episode, so an unreachable server or an
unknown model is one clear message and no half-run. A stop request (``should_stop``, polled at every
decision) or Ctrl-C drops only the episodes in flight: the finished ones are returned and scored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from services.evals.episode import EpisodeResult
from services.evals.runners import EpisodeRunner, EvalStopped, InProcessRunner
from services.evals.settings import EvalError, EvalSettings
from services.rollouts.policy import PolicyDecision


class EvalProgress(BaseModel):
    episodes_total: int
    episodes_done: int = 0
    decisions: int = 0
    tool_call_failures: int = 0
    server_retries: int = 0
    notice: str | None = None
    achievements: dict[str, int] = Field(default_factory=dict)  # name -> episodes that unlocked it
    unique_sum: int = 0
    elapsed_s: float = 0.0

    @property
    def decisions_per_s(self) -> float:
        return self.decisions / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def mean_unique(self) -> float:
        return self.unique_sum / self.episodes_done if self.episodes_done else 0.0


class EvalRun(BaseModel):
    """The played episodes (by seed) and how the run went; scored by services.evals.scoring."""

    eval_id: str
    settings: EvalSettings
    episodes: list[EpisodeResult]
    wall_s: float
    started_at: str
    #: Why it stopped before every seed was played (None: complete).
    stopped: str | None = None


ProgressFn = Callable[[EvalProgress], None]


def new_eval_id(model: str, now: datetime | None = None) -> str:
    """``20261207-210501-<model slug>``: sortable by time, readable, unique enough per second and model."""
    from services.evals.runners import _slug

    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{_slug(model)[:40]}"


def make_runner(settings: EvalSettings, eval_id: str, on_retry: Callable[[str], None] | None) -> EpisodeRunner:
    """The runner the settings ask for: a task app when ``task_app_url`` is set, else in-process."""
    if settings.task_app_url:
        from services.evals.task_app_runner import TaskAppRunner

        return TaskAppRunner(settings, eval_id)
    return InProcessRunner(settings, eval_id, on_retry)


async def run_eval_async(
    settings: EvalSettings,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    eval_id: str | None = None,
    runner: EpisodeRunner | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> EvalRun:
    """Play every seed of ``settings``; EvalError before any episode when it cannot run at all."""
    eval_id = eval_id or new_eval_id(settings.model_name())
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    progress = EvalProgress(episodes_total=len(settings.seeds))
    started = time.perf_counter()
    done: list[EpisodeResult] = []
    stopped: str | None = None

    def report() -> None:
        progress.elapsed_s = time.perf_counter() - started
        if on_progress is not None:
            on_progress(progress)

    def on_retry(note: str) -> None:
        progress.server_retries += 1
        progress.notice = note
        report()

    runner = runner or make_runner(settings, eval_id, on_retry)
    try:
        await runner.preflight()

        def on_decision(d: PolicyDecision | None) -> None:
            if should_stop is not None and should_stop():
                raise EvalStopped
            progress.decisions += 1
            if d is not None:
                progress.tool_call_failures += 0 if d.tool_call_ok else 1
                if d.reached_model:
                    progress.notice = None
            if progress.decisions % 10 == 0:
                report()

        sem = asyncio.Semaphore(settings.concurrency)

        async def one(seed: int) -> None:
            async with sem:
                if should_stop is not None and should_stop():
                    raise EvalStopped
                result = await runner.run(seed, on_decision)
                done.append(result)
                progress.episodes_done += 1
                progress.unique_sum += result.unique
                progress.tool_call_failures = max(progress.tool_call_failures, sum(e.tool_call_failures for e in done))
                for name in result.achievements:
                    progress.achievements[name] = progress.achievements.get(name, 0) + 1
                if on_episode is not None:
                    on_episode(result)
                report()

        report()
        runner.prepare(list(settings.seeds))
        tasks = [asyncio.create_task(one(seed)) for seed in settings.seeds]
        try:
            await asyncio.gather(*tasks)
        except EvalStopped:
            stopped = "stopped on request"
        except EvalError as exc:
            if not done:
                raise
            stopped = str(exc)
        except asyncio.CancelledError:  # Ctrl-C under asyncio.run: keep what finished
            stopped = "interrupted"
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        report()
    finally:
        await runner.aclose()
    done.sort(key=lambda e: e.seed)
    return EvalRun(
        eval_id=eval_id,
        settings=settings,
        episodes=done,
        wall_s=time.perf_counter() - started,
        started_at=started_at,
        stopped=stopped,
    )


def run_eval(
    settings: EvalSettings,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    *,
    eval_id: str | None = None,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> EvalRun:
    """Blocking wrapper for threads and the CLI."""
    return asyncio.run(run_eval_async(settings, on_progress, should_stop, eval_id=eval_id, on_episode=on_episode))

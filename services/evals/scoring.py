"""Scoring a set of eval episodes: the official Crafter score with a bootstrap interval, and the rest.

Crafter score (danijar/crafter ``analysis/common.py``): ``exp(mean_i ln(1 + s_i)) - 1`` over all 22
achievements, ``s_i`` the percentage of episodes that unlocked achievement i (zeros included). Its
95 % interval resamples whole episodes (the unit that varies), vectorised in numpy so 2,000
resamples of 50 episodes take a few milliseconds; the generator is seeded, so the same episodes
always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from services.evals.episode import EpisodeResult
from services.evals.stats_math import mean_ci
from services.traces.achievement_keys import ACHIEVEMENTS

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def crafter_score(success_percent: Sequence[float]) -> float:
    """The Crafter score in percent from per-achievement success percentages (all 22, zeros included)."""
    if len(success_percent) == 0:
        return 0.0
    return math.exp(sum(math.log1p(s) for s in success_percent) / len(success_percent)) - 1.0


def unlock_matrix(episodes: Sequence[EpisodeResult]) -> NDArray[np.bool_]:
    """episodes × 22 booleans: did episode e unlock achievement i (unknown names are ignored)."""
    index = {name: i for i, name in enumerate(ACHIEVEMENTS)}
    matrix = np.zeros((len(episodes), len(ACHIEVEMENTS)), dtype=bool)
    for row, episode in enumerate(episodes):
        for name in episode.achievements:
            if name in index:
                matrix[row, index[name]] = True
    return matrix


def scores_of_rates(rates: NDArray[np.float64]) -> NDArray[np.float64]:
    """Crafter scores (percent) of rows of per-achievement success fractions (vectorised)."""
    result: NDArray[np.float64] = np.expm1(np.log1p(100.0 * rates).mean(axis=-1))
    return result


def bootstrap_indices(n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> NDArray[np.intp]:
    """resamples × n episode indices drawn with replacement (seeded: reproducible intervals)."""
    rng = np.random.default_rng(seed)
    out: NDArray[np.intp] = rng.integers(0, n, size=(resamples, n))
    return out


def bootstrap_score_ci(
    matrix: NDArray[np.bool_], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile 95 % interval of the Crafter score, resampling episodes (rows of ``matrix``)."""
    n = matrix.shape[0]
    if n == 0:
        return 0.0, 0.0
    idx = bootstrap_indices(n, resamples, seed)
    # One gather: a (resamples, n, 22) array is 2000×50×22 = 2.2 M floats, fine at eval sizes.
    counts = matrix.astype(np.float64)[idx].sum(axis=1)
    scores = scores_of_rates(counts / n)
    low, high = np.percentile(scores, [2.5, 97.5])
    return float(low), float(high)


def failed_before_playing(episode: EpisodeResult) -> bool:
    return episode.error is not None and episode.decisions == 0


class Aggregate(BaseModel):
    """The eval's figures; rates are fractions (0-1), the Crafter score is in percent."""

    episodes: int
    crafter_score: float
    crafter_score_ci: tuple[float, float]
    mean_unique: float
    mean_unique_ci: tuple[float, float]
    success_rates: dict[str, float]
    mean_return: float
    died: int
    decisions: int
    steps: int
    tool_call_failures: int
    tool_call_failure_rate: float
    total_tokens: int
    tokens_per_s: float
    decisions_per_s: float
    mean_latency_ms: float
    partial_episodes: int = 0
    failed_episodes: int = 0


def aggregate(episodes: Sequence[EpisodeResult], wall_s: float = 0.0) -> Aggregate:
    """Figures over ``episodes``; ``wall_s`` (the eval's wall time) gives decisions/s.

    tokens/s is per second of policy wait summed over decisions (what the server produced while it
    was being asked), not per wall second, so it does not grow with concurrency. An episode that
    failed before any decision (a task app's 500) is counted in ``failed_episodes`` and not scored:
    it says nothing about the model.
    """
    failed = sum(failed_before_playing(e) for e in episodes)
    episodes = [e for e in episodes if not failed_before_playing(e)]
    partial = sum(e.partial for e in episodes)
    n = len(episodes)
    matrix = unlock_matrix(episodes)
    rates = matrix.mean(axis=0) if n else np.zeros(len(ACHIEVEMENTS))
    score = crafter_score([100.0 * float(r) for r in rates])
    low, high = bootstrap_score_ci(matrix)
    mean, m_low, m_high = mean_ci([float(e.unique) for e in episodes])
    decisions = sum(e.decisions for e in episodes)
    failures = sum(e.tool_call_failures for e in episodes)
    tokens = sum(e.total_tokens for e in episodes)
    policy_s = sum(e.policy_s for e in episodes)
    latency = (1000.0 * policy_s / decisions) if decisions else 0.0
    return Aggregate(
        episodes=n,
        crafter_score=score,
        crafter_score_ci=(low, high),
        mean_unique=mean,
        mean_unique_ci=(m_low, m_high),
        success_rates={name: float(rates[i]) for i, name in enumerate(ACHIEVEMENTS)},
        mean_return=(sum(e.total_reward for e in episodes) / n) if n else 0.0,
        died=sum(e.died for e in episodes),
        decisions=decisions,
        steps=sum(e.steps for e in episodes),
        tool_call_failures=failures,
        tool_call_failure_rate=(failures / decisions) if decisions else 0.0,
        total_tokens=tokens,
        tokens_per_s=(tokens / policy_s) if policy_s > 0 else 0.0,
        decisions_per_s=(decisions / wall_s) if wall_s > 0 else 0.0,
        mean_latency_ms=latency,
        partial_episodes=partial,
        failed_episodes=failed,
    )

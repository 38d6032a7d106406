"""Scoring against hand-computed values: Crafter score, t intervals, paired test, bootstrap CI."""

from __future__ import annotations

import math
import time

import pytest

from services.evals.episode import EpisodeResult
from services.evals.scoring import aggregate, bootstrap_score_ci, crafter_score, unlock_matrix
from services.evals.stats_math import mean_ci, paired_t_test, t_cdf, t_quantile
from services.traces.achievement_keys import ACHIEVEMENTS


def test_crafter_score_by_hand() -> None:
    # 22 achievements; two at 100 %, one at 50 %, the rest 0: exp((2 ln 101 + ln 51) / 22) - 1.
    rates = [100.0, 100.0, 50.0] + [0.0] * 19
    expected = math.exp((2 * math.log(101) + math.log(51)) / 22) - 1
    assert crafter_score(rates) == pytest.approx(expected)
    assert crafter_score([0.0] * 22) == 0.0
    assert crafter_score([100.0] * 22) == pytest.approx(100.0)


def test_t_distribution_matches_tables() -> None:
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-3)
    assert t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)
    assert t_quantile(0.975, 49) == pytest.approx(2.0096, abs=1e-4)
    assert t_quantile(0.025, 49) == pytest.approx(-2.0096, abs=1e-4)
    assert t_cdf(0.0, 5) == pytest.approx(0.5)
    assert t_cdf(2.5706, 5) == pytest.approx(0.975, abs=1e-4)


def test_mean_ci_by_hand() -> None:
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0])
    # sd = sqrt(5/3), se = sd/2, t(0.975, 3) = 3.1824
    half = 3.182446 * math.sqrt(5 / 3) / 2
    assert mean == 2.5
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half), abs=1e-4)
    assert mean_ci([7.0]) == (7.0, 7.0, 7.0)


def test_paired_t_test_by_hand() -> None:
    # d = [1, 2, 3]: mean 2, sd 1, t = 2 / (1/sqrt 3) = 3.4641, df 2 -> p = 0.0742
    t, p = paired_t_test([1.0, 2.0, 3.0])
    assert t == pytest.approx(3.4641, abs=1e-4)
    assert p == pytest.approx(0.0742, abs=1e-3)
    assert paired_t_test([0.0, 0.0, 0.0]) == (0.0, 1.0)
    assert paired_t_test([1.0, 1.0])[1] == 0.0


def _episodes(rows: list[list[str]]) -> list[EpisodeResult]:
    return [EpisodeResult(seed=i, achievements=a, decisions=10) for i, a in enumerate(rows)]


def test_aggregate_by_hand() -> None:
    eps = _episodes([["collect_wood", "place_table"], ["collect_wood"], [], ["collect_wood", "eat_cow"]])
    eps[0].tool_call_failures = 2
    eps[1].died = True
    a = aggregate(eps, wall_s=2.0)
    assert a.episodes == 4
    assert a.success_rates["collect_wood"] == 0.75
    assert a.success_rates["place_table"] == 0.25
    assert a.success_rates["collect_diamond"] == 0.0
    assert set(a.success_rates) == set(ACHIEVEMENTS)
    expected = math.exp((math.log(76) + 2 * math.log(26)) / 22) - 1
    assert a.crafter_score == pytest.approx(expected)
    assert a.mean_unique == 1.25
    assert a.died == 1
    assert a.decisions == 40 and a.decisions_per_s == 20.0
    assert a.tool_call_failure_rate == pytest.approx(2 / 40)
    low, high = a.crafter_score_ci
    assert 0.0 <= low <= high


def test_failed_episodes_are_not_scored() -> None:
    eps = _episodes([["collect_wood"], ["collect_wood"]])
    eps.append(EpisodeResult(seed=9, error="task app answered 500"))
    a = aggregate(eps)
    assert a.episodes == 2 and a.failed_episodes == 1
    assert a.success_rates["collect_wood"] == 1.0


def test_bootstrap_is_reproducible_and_fast() -> None:
    rows = [list(ACHIEVEMENTS[: (i % 15) + 1]) for i in range(50)]
    matrix = unlock_matrix(_episodes(rows))
    first = bootstrap_score_ci(matrix)
    assert bootstrap_score_ci(matrix) == first
    started = time.perf_counter()
    bootstrap_score_ci(matrix)
    assert time.perf_counter() - started < 0.1
    point = aggregate(_episodes(rows)).crafter_score
    assert first[0] <= point <= first[1] + 1e-9


def test_bootstrap_of_identical_episodes_has_no_width() -> None:
    matrix = unlock_matrix(_episodes([["collect_wood"]] * 10))
    low, high = bootstrap_score_ci(matrix)
    assert low == pytest.approx(high)
    assert low == pytest.approx(math.exp(math.log(101) / 22) - 1)

"""Comparing two evals on the seeds they share: which model is better, and how sure that is.

Only common seeds count (the same worlds, so per-seed differences cancel world difficulty). The
test is a paired t test on unique achievements per seed; the Crafter score difference gets a paired
bootstrap interval (the same resampled seeds for both sides). The verdict follows the paired test
at the 5 % level and says how many seeds it rests on.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from services.evals.results import EvalResult
from services.evals.scoring import BOOTSTRAP_RESAMPLES, bootstrap_indices, scores_of_rates, unlock_matrix
from services.evals.settings import EvalError
from services.evals.stats_math import mean_ci, p_eq, paired_t_test
from services.traces.achievement_keys import ACHIEVEMENTS

ALPHA = 0.05


class AchievementDelta(BaseModel):
    name: str
    a: float  # success rate of A on the common seeds (0-1)
    b: float
    delta: float  # a - b


class Comparison(BaseModel):
    a_id: str
    b_id: str
    a_model: str
    b_model: str
    seeds: int  # seeds in common (what everything below is computed on)
    only_a: int
    only_b: int
    score_a: float
    score_b: float
    score_diff: float
    score_diff_ci: tuple[float, float]
    mean_unique_a: float
    mean_unique_b: float
    mean_diff: float
    mean_diff_ci: tuple[float, float]
    t: float
    p_value: float
    achievements: list[AchievementDelta]
    verdict: str  # "better" | "worse" | "no detectable difference"
    summary: str


def compare(a: EvalResult, b: EvalResult) -> Comparison:
    """A against B on their common seeds; EvalError when they share none."""
    by_a = {e.seed: e for e in a.episodes if not (e.error and e.decisions == 0)}
    by_b = {e.seed: e for e in b.episodes if not (e.error and e.decisions == 0)}
    common = sorted(set(by_a) & set(by_b))
    if not common:
        raise EvalError(
            f"{a.eval_id} and {b.eval_id} share no seeds: a comparison needs the same worlds (same --seeds)."
        )
    ea, eb = [by_a[s] for s in common], [by_b[s] for s in common]
    ma, mb = unlock_matrix(ea), unlock_matrix(eb)
    ra, rb = ma.mean(axis=0), mb.mean(axis=0)
    score_a, score_b = (float(scores_of_rates(r.astype(np.float64))) for r in (ra, rb))
    n = len(common)
    idx = bootstrap_indices(n, BOOTSTRAP_RESAMPLES)
    diffs = scores_of_rates(ma.astype(np.float64)[idx].mean(axis=1)) - scores_of_rates(
        mb.astype(np.float64)[idx].mean(axis=1)
    )
    low, high = np.percentile(diffs, [2.5, 97.5])
    per_seed = [float(x.unique - y.unique) for x, y in zip(ea, eb, strict=True)]
    mean_diff, d_low, d_high = mean_ci(per_seed)
    t, p = paired_t_test(per_seed)
    if p < ALPHA and mean_diff > 0:
        verdict = "better"
    elif p < ALPHA and mean_diff < 0:
        verdict = "worse"
    else:
        verdict = "no detectable difference"
    if verdict == "no detectable difference":
        summary = f"{a.model} vs {b.model}: no detectable difference at {n} seeds (paired t test p {p_eq(p)})."
    else:
        summary = (
            f"{a.model} is {verdict} than {b.model} at {n} seeds: {mean_diff:+.2f} unique achievements per "
            f"episode (95 % CI {d_low:+.2f} to {d_high:+.2f}, paired t test p {p_eq(p)}); Crafter score "
            f"{score_a - score_b:+.2f} points (95 % CI {low:+.2f} to {high:+.2f})."
        )
    return Comparison(
        a_id=a.eval_id,
        b_id=b.eval_id,
        a_model=a.model,
        b_model=b.model,
        seeds=n,
        only_a=len(set(by_a) - set(by_b)),
        only_b=len(set(by_b) - set(by_a)),
        score_a=score_a,
        score_b=score_b,
        score_diff=score_a - score_b,
        score_diff_ci=(float(low), float(high)),
        mean_unique_a=float(np.mean([e.unique for e in ea])),
        mean_unique_b=float(np.mean([e.unique for e in eb])),
        mean_diff=mean_diff,
        mean_diff_ci=(d_low, d_high),
        t=t,
        p_value=p,
        achievements=[
            AchievementDelta(name=name, a=float(ra[i]), b=float(rb[i]), delta=float(ra[i] - rb[i]))
            for i, name in enumerate(ACHIEVEMENTS)
        ],
        verdict=verdict,
        summary=summary,
    )

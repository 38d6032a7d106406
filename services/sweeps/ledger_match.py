"""A sweep cell that the runs ledger has already run: the same data, the same config, the same eval.

The state file is what a sweep remembers of itself; the ledger is what the workspace remembers of
every run. A plan re-run after its state file was deleted (or a cell someone ran by hand with
``sft-studio train`` and ``eval``) would otherwise train again what is known: here a cell is
recognised when the ledger holds a job trained on a dataset with the cell's sha256, with a config of
the cell's exact text (by sha256 of the file, or its stored text), whose model (or, for a baseline
policy, that policy) has an eval on the plan's seeds with the plan's max turns. The runner then marks
the cell ``skipped`` with that run's id and its scores, and trains nothing.

Read only, and best effort: a ledger that is off, missing or unreadable matches nothing (the cell
runs, as it would have without this check).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel

from services.sweeps.plan import Cell, EvalPlan


class LedgerMatch(BaseModel):
    """The ledger's run identical to a cell: its id (the model id, as the Runs table shows it) and result."""

    run_id: str
    job_id: str
    model: str
    eval_id: str
    crafter_score: float
    crafter_score_ci: tuple[float, float] | None = None
    mean_unique: float
    seeds: int


def _config_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_in_ledger(
    cell: Cell, dataset_sha256: str | None, plan_eval: EvalPlan, ledger: Path | None = None
) -> LedgerMatch | None:
    """The newest ledger run identical to ``cell`` trained on the file of ``dataset_sha256``, or None.

    ``ledger``: the file to read (default: the workspace's, unless recording is off)."""
    if not dataset_sha256:
        return None
    from services.ledger.hooks import enabled
    from services.ledger.open import ledger_path

    if ledger is None:
        if not enabled():
            return None
        ledger = ledger_path()
    if not ledger.is_file():
        return None  # looking is not recording: a missing ledger is not created
    try:
        return _find(ledger, cell, dataset_sha256, plan_eval)
    except Exception:  # an unreadable or newer ledger: no match, the cell runs
        return None


def _find(path: Path, cell: Cell, dataset_sha256: str, plan_eval: EvalPlan) -> LedgerMatch | None:
    from services.ledger.store import Ledger

    seeds = sorted(plan_eval.seeds)
    with Ledger(path) as ledger:
        models = ledger.trained_models(dataset_sha256, _config_sha(cell.config_text), cell.config_text)
        if not models:
            return None  # never trained, or the job produced no model (running, failed)
        if plan_eval.policy == "model":
            evals = [e for model in models for e in ledger.evals(model)]
        else:  # a baseline eval does not depend on the model: any eval of that policy on the seeds
            evals = [e for e in ledger.evals() if e.policy == plan_eval.policy]
    same = [
        e
        for e in evals
        if sorted(e.seeds) == seeds and e.settings.get("max_turns", plan_eval.max_turns) == plan_eval.max_turns
    ]
    if not same:
        return None
    best = max(same, key=lambda e: (e.created_at or "", e.eval_id))
    run_id = best.model_id if best.model_id in models else next(iter(models))
    ci = (
        (best.crafter_score_low, best.crafter_score_high)
        if best.crafter_score_low is not None and best.crafter_score_high is not None
        else None
    )
    return LedgerMatch(
        run_id=run_id,
        job_id=models[run_id],
        model=run_id,
        eval_id=best.eval_id,
        crafter_score=best.crafter_score,
        crafter_score_ci=ci,
        mean_unique=best.mean_unique,
        seeds=len(best.seeds),
    )

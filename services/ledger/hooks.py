"""The one-line calls export, submit, job completion and eval make to fill the ledger.

Best effort by design: the ledger is bookkeeping, so a ledger that cannot be opened or written never
fails an export, a submit or an eval. Each hook logs one warning (``sft_studio.ledger``; with no
logging set up, Python prints warnings to stderr) naming the ledger file and the reason, and returns
None. ``SFT_STUDIO_LEDGER=off`` turns recording off (the reproduce check's re-export uses that path
too, through ``record=False``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from services.ledger.open import ENV_VAR, OFF_VALUES, ledger_path

if TYPE_CHECKING:
    from services.jobs.store import JobRecord
    from services.ledger.store import Ledger

log = logging.getLogger("sft_studio.ledger")
T = TypeVar("T")


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() not in OFF_VALUES


def _best_effort(what: str, action: Callable[[Ledger], T]) -> T | None:
    if not enabled():
        return None
    path = ledger_path()
    try:
        from services.ledger.store import Ledger

        with Ledger(path) as ledger:
            return action(ledger)
    except Exception as exc:  # bookkeeping must never fail the work it records
        log.warning("Warning: the runs ledger %s did not record %s (%s: %s)", path, what, type(exc).__name__, exc)
        return None


def on_export(manifests: list[Path]) -> None:
    """After an export published its files: each manifest's dataset (the files were just hashed by
    the export itself, so they are not hashed again)."""

    def record(ledger: Ledger) -> None:
        for manifest in manifests:
            ledger.record_manifest(manifest, verify=False)

    _best_effort(f"the export {manifests[0].name if manifests else ''}", record)


def on_submit(record: JobRecord, examples: int | None = None) -> None:
    _best_effort(f"job {record.job_id}", lambda ledger: ledger.record_submission(record, examples=examples))


def on_job_end(job_id: str, snapshot: Any) -> None:
    """A terminal poll (``services.jobs.poller.JobSnapshot``): status, model, final loss, tokens/s."""

    def record(ledger: Ledger) -> None:
        curves: dict[str, list[tuple[int, float]]] = snapshot.curves or {}
        loss = curves.get("train.loss") or []
        val = curves.get("val.loss") or []
        job = snapshot.job
        ledger.record_job_end(
            job_id,
            status=job.status or None,
            fine_tuned_model=snapshot.fine_tuned_model,
            base_model=getattr(job, "base_model", None),
            final_loss=loss[-1][1] if loss else None,
            final_val_loss=val[-1][1] if val else None,
            tokens_per_s=snapshot.tokens_per_s,
            started_at=getattr(job, "started_at", None) or getattr(job, "created_at", None),
            finished_at=getattr(job, "finished_at", None) or getattr(job, "updated_at", None),
            error=snapshot.error,
            loss_points=loss,
        )

    _best_effort(f"the end of job {job_id}", record)


def on_job_status(job_id: str, status: str, finished_at: str | None = None) -> None:
    """A terminal status learnt without a poll (``jobs cancel`` answered ``cancelled``): the ledger
    must not go on calling the job ``queued``. Final figures come only from a poll (:func:`on_job_end`)."""
    _best_effort(
        f"the status of job {job_id}",
        lambda ledger: ledger.record_job_end(job_id, status=status, finished_at=finished_at),
    )


def on_eval_saved(result: Any, folder: Path) -> None:
    """A saved eval (``services.evals.results.EvalResult``), linked to its job and dataset when the
    ledger knows them or the local backend's store does (``services.evals.lineage``)."""

    def record(ledger: Ledger) -> None:
        from services.ledger.importing import local_backend_link

        job_id, dataset_id = local_backend_link(ledger, result.model, result.policy)
        ledger.record_eval(result, result.aggregate, folder / "result.json", job_id=job_id, dataset_id=dataset_id)

    _best_effort(f"eval {result.eval_id}", record)

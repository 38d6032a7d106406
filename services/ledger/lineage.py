"""``lineage(id)``: every row behind one run in one call, from its evals back to the trace DB.

An id is a model id, a job id or an eval id (a run is a model with its evals; a job is the run that
made the model). The dataset file is hashed again when asked (``verify``): a file whose bytes differ
from the sha256 its manifest recorded is flagged, never trusted.
"""

from __future__ import annotations

from pathlib import Path

from services.ledger.records import DatasetCheck, DatasetInfo, Lineage
from services.ledger.store import Ledger, sha256_file


class UnknownRun(LookupError):
    def __init__(self, run_id: str, ledger: Path) -> None:
        super().__init__(
            f"No run, model or eval {run_id!r} in the runs ledger {ledger}; `sft-studio runs list` shows the ids."
        )


def check_dataset(dataset: DatasetInfo) -> DatasetCheck:
    path = Path(dataset.path)
    if not path.is_file():
        return DatasetCheck(state="missing", message=f"{path} is missing; reproduce can rebuild it from the trace DB")
    now = sha256_file(path)
    if now != dataset.sha256:
        return DatasetCheck(
            state="changed",
            sha256_now=now,
            message=f"{path} no longer matches its manifest (sha256 now {now[:12]}, recorded "
            f"{dataset.sha256[:12]}): the file on disk is not the one trained on",
        )
    return DatasetCheck(state="matches", sha256_now=now, message=f"{path} matches its manifest")


def lineage(ledger: Ledger, run_id: str, *, verify: bool = True) -> Lineage:
    """The run's lineage; :class:`UnknownRun` when the ledger has no such id."""
    model = ledger.model(run_id)
    job_id: str | None = None
    if model is None:
        found = ledger.eval(run_id)
        if found is not None:
            model = ledger.model(found.model_id)
            job_id = found.job_id
    if model is None and job_id is None:
        model = ledger.model_of_job(run_id)
        if model is None and ledger.jobs.get(run_id) is None and ledger.facts(run_id) is None:
            raise UnknownRun(run_id, ledger.path)
        job_id = run_id
    if model is not None and model.job_id:
        job_id = model.job_id
    out = Lineage(id=run_id, model=model, evals=ledger.evals(model.model_id) if model else [])
    if job_id is not None:
        out.job = ledger.jobs.get(job_id)
        out.facts = ledger.facts(job_id)
    facts = out.facts
    if facts is not None:
        out.config = ledger.config(facts.config_id)
        out.dataset = ledger.dataset(facts.dataset_id)
        out.validation_dataset = ledger.dataset(facts.validation_dataset_id)
    if out.dataset is None:
        ids = {e.dataset_id for e in out.evals if e.dataset_id is not None}
        if ids:
            out.dataset = ledger.dataset(max(ids))
    if out.dataset is None and out.job is not None and out.job.dataset_path:
        out.dataset = ledger.find_dataset(out.job.dataset_sha256, out.job.dataset_path)
    if out.dataset is not None:
        if not out.dataset.file_ok:
            out.warnings.append(f"dataset not trusted: {out.dataset.problem}")
        if verify:
            out.dataset_check = check_dataset(out.dataset)
            if out.dataset_check.state != "matches":
                out.warnings.append(out.dataset_check.message)
    elif job_id is not None:
        out.warnings.append(f"job {job_id}'s dataset is not in the ledger (import its manifest: runs import)")
    return out

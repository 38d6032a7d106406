"""Filling the ledger from files that exist already (``sft-studio runs import PATH…``) and linking an
eval's model to the local backend's job when the ledger has not seen that job."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from services.common.data_dir import data_dir
from services.jobs.store import JobRecord
from services.ledger.open import LedgerError
from services.ledger.store import Ledger


class Imported(BaseModel):
    path: str
    kind: str  # "dataset" | "eval" | "skipped"
    id: str | None = None
    message: str


def local_backend_link(
    ledger: Ledger, model: str, policy: str, *, root: Path | None = None, workspace: Path | None = None
) -> tuple[str | None, int | None]:
    """(job id, dataset row id) of a local-backend fine-tuned model the ledger does not know yet:
    the backend's store names the job and its training file's sha256, the workspace's export
    manifest with that sha256 gives the dataset (recorded now). (None, None) when any link is
    missing: never a guess."""
    if policy != "openai":
        return None, None
    known = ledger.model(model)
    if known is not None and known.job_id:
        return known.job_id, None
    from services.evals.lineage import job_and_file, manifest_with

    found = job_and_file(model, root or data_dir())
    if found is None:
        return None, None
    job_id, _file_id, sha = found
    dataset = ledger.find_dataset(sha)
    if dataset is None:
        from services.common.workspace import ft_data_dir

        manifest = manifest_with(sha, ft_data_dir(workspace))
        if manifest is not None:
            dataset = ledger.record_manifest(manifest[0])
    if ledger.jobs.get(job_id) is None:
        ledger.jobs.add(JobRecord(backend="local", base_url="", job_id=job_id, fine_tuned_model=model))
    if dataset is not None:
        from sqlalchemy import select

        from services.ledger.tables import JobFactsRow

        with ledger._write() as s:
            facts = s.scalars(select(JobFactsRow).where(JobFactsRow.job_id == job_id)).first()
            if facts is None:
                s.add(JobFactsRow(backend="local", job_id=job_id, dataset_id=dataset.id, loss_points=[]))
            elif facts.dataset_id is None:
                facts.dataset_id = dataset.id
    return job_id, dataset.id if dataset is not None else None


def import_path(ledger: Ledger, path: Path) -> Imported:
    """One export manifest (``*.manifest.json``) or eval result (``result.json``, an eval folder, or
    ``eval --json`` output). LedgerError for a file that is neither."""
    if path.is_dir():
        path = path / "result.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerError(f"{path}: no such file.") from None
    except (OSError, ValueError) as exc:
        raise LedgerError(f"{path}: not readable JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise LedgerError(f"{path}: neither an export manifest nor an eval result.")
    if "episodes" in body and "aggregate" in body:
        from services.evals.results import load_result
        from services.evals.settings import EvalError

        try:
            result = load_result(path)
        except EvalError as exc:
            raise LedgerError(str(exc)) from None
        job_id, dataset_id = local_backend_link(ledger, result.model, result.policy)
        info = ledger.record_eval(result, result.aggregate, path.resolve(), job_id=job_id, dataset_id=dataset_id)
        return Imported(
            path=str(path), kind="eval", id=info.eval_id, message=f"eval {info.eval_id} of {info.model_id}: "
            f"Crafter score {info.score_text()}",
        )  # fmt: skip
    if "sha256" in body and "file" in body:
        dataset = ledger.record_manifest(path)
        note = f"dataset {dataset.path} ({dataset.examples} examples)"
        if not dataset.file_ok:
            note += f" — NOT TRUSTED: {dataset.problem}"
        return Imported(path=str(path), kind="dataset", id=str(dataset.id), message=note)
    raise LedgerError(f"{path}: neither an export manifest (file, sha256) nor an eval result (episodes, aggregate).")

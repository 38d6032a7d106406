"""The local backend's models as the Eval pane lists them: each id with its job and dataset when known.

The backend (started on demand by ``services.evals.local_backend``, which blocks for seconds) serves
``/v1/models``; the job that produced a fine-tuned id and the training file it read come from the
backend's own store, read only. Everything here blocks: the pane calls it from a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from services.common.endpoints import MODELS_PATH
from services.common.secrets import mask_url
from services.evals.settings import EvalError

#: Seconds the model list may take (the backend answers from its store: a slow answer is a stuck backend).
LIST_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LocalModel:
    """A model id the local backend serves; ``job_id`` and ``dataset`` are None for its base model."""

    id: str
    job_id: str | None = None
    dataset: str | None = None

    @property
    def label(self) -> str:
        parts = [self.id]
        if self.job_id:
            parts.append(f"job {self.job_id}")
        if self.dataset:
            parts.append(f"data {self.dataset}")
        if not self.job_id:
            parts.append("base model")
        return "  ·  ".join(parts)


def models_at(v1_url: str, key: str | None, *, timeout_s: float = LIST_TIMEOUT_S) -> list[str]:
    """The ids ``GET <v1_url>/models`` lists (``v1_url`` ends in ``/v1``); EvalError with a plain reason."""
    url = v1_url.rstrip("/").removesuffix("/v1") + MODELS_PATH
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    shown = mask_url(v1_url)
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EvalError(f"Cannot reach the local backend at {shown}: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise EvalError(f"The local backend at {shown} refused its key (HTTP {response.status_code}).")
    if response.status_code != 200:
        raise EvalError(f"The local backend at {shown} answered HTTP {response.status_code} on {MODELS_PATH}.")
    try:
        data = response.json().get("data")
        return [str(item["id"]) for item in data if isinstance(item, dict) and item.get("id")]
    except (ValueError, AttributeError, TypeError):
        raise EvalError(f"The local backend at {shown} did not answer a model list on {MODELS_PATH}.") from None


def annotate(ids: list[str], root: Path | None) -> list[LocalModel]:
    """Each id with the job that trained it and that job's training file name, from the backend's store."""
    from services.common.data_dir import data_dir
    from services.training.server.settings import DB_FILE, backend_dir

    db = backend_dir(root or data_dir()) / DB_FILE
    if not db.is_file():
        return [LocalModel(i) for i in ids]
    from services.training.server.store import Store

    store = Store(db)
    try:
        out = []
        for model_id in ids:
            found = store.get_model(model_id)
            job_id = str(found["job_id"]) if found and found.get("job_id") else None
            dataset = None
            if job_id is not None:
                job = store.get_job(job_id)
                row = store.get_file_row(job.training_file_id) if job is not None else None
                dataset = row.filename if row is not None else None
            out.append(LocalModel(model_id, job_id, dataset))
        return out
    finally:
        store.close()


def list_local_models(root: Path | None = None, *, start: bool = True) -> list[LocalModel] | None:
    """The models the data dir's local backend serves, base model first; ``start`` False: None when no
    backend runs (listing must not start one unasked), else it is started as ``--backend local`` does."""
    from services.evals.local_backend import local_backend_endpoint

    if not start:
        from services.common.data_dir import data_dir
        from services.training.server.lifecycle import running_server

        if running_server(root or data_dir()) is None:
            return None
    url, key = local_backend_endpoint(root)
    models = annotate(models_at(url, key), root)
    return sorted(models, key=lambda m: (m.job_id is not None, m.id))

"""Seed leakage: which eval seeds a local-backend model was trained on.

Evaluating on the worlds a model was fine-tuned on inflates its score. The lineage is followed as
far as it is recorded: the model id → its job in the local backend's store → the job's training
file (by sha256) → the export manifest in the workspace's ``ft_data/`` with that sha256 → the trace
DB and filter it was exported from → the sessions that filter selects → their seeds (session
metadata ``seed``). Any link missing means "lineage unknown" (None), never a guess. The sessions
counted are those the filter selects; a size-limited export may have used only the first of them,
so the overlap is an upper bound, and the warning says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.common.data_dir import data_dir


class Lineage(BaseModel):
    model: str
    job_id: str
    training_file_id: str
    #: The exported JSONL the job trained on (the manifest's ``file``) and its manifest's path.
    dataset_file: str
    manifest: str
    trace_db: str
    sessions: int
    seeds: list[int]


class LeakageReport(BaseModel):
    lineage: Lineage
    overlap: list[int]

    @property
    def passed_message(self) -> str:
        """What a check without overlap says (which lineage it read, so the user can judge it)."""
        return (
            f"none of the eval seeds is among the {len(self.lineage.seeds)} training seed(s) of "
            f"{self.lineage.model} (job {self.lineage.job_id}, {self.lineage.dataset_file}, "
            f"{self.lineage.sessions} session(s) of {self.lineage.trace_db})."
        )

    @property
    def message(self) -> str:
        n = len(self.overlap)
        shown = ", ".join(map(str, self.overlap[:10])) + (" …" if n > 10 else "")
        return (
            f"{n} eval seed(s) appear in {self.lineage.model}'s training data ({shown}): job "
            f"{self.lineage.job_id} trained on {self.lineage.dataset_file}, exported from "
            f"{self.lineage.sessions} session(s) of {self.lineage.trace_db} covering "
            f"{len(self.lineage.seeds)} seed(s). Scores on those worlds are inflated; choose disjoint --seeds."
        )


def job_and_file(model: str, root: Path) -> tuple[str, str, str] | None:
    """(job id, training file id, file sha256) of a fine-tuned model in the local backend, or None."""
    from services.training.server.settings import DB_FILE, backend_dir

    db = backend_dir(root) / DB_FILE
    if not db.is_file():
        return None
    from services.training.server.store import Store

    store = Store(db)
    try:
        found = store.get_model(model)
        job_id = str(found["job_id"]) if found and found.get("job_id") else None
        if job_id is None and ":job_" in model:
            job_id = "job_" + model.rsplit(":job_", 1)[1]
        if job_id is None:
            return None
        job = store.get_job(job_id)
        if job is None:
            return None
        file_row = store.get_file_row(job.training_file_id)
        if file_row is None:
            return None
        return job_id, file_row.id, file_row.sha256
    finally:
        store.close()


def manifest_with(sha256: str, ft_data: Path) -> tuple[Path, dict[str, Any]] | None:
    if not ft_data.is_dir():
        return None
    for path in sorted(ft_data.rglob("*.manifest.json")):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("sha256") == sha256:
            return path, manifest
    return None


def _seeds_of(db_path: Path, manifest: dict[str, Any]) -> tuple[int, list[int]] | None:
    """(sessions, sorted seeds) the manifest's filter selects in ``db_path``."""
    from services.datasets.filter_spec import FilterSpec
    from services.datasets.selection import raw_connection, select_sessions
    from services.traces.db import TraceDB
    from services.traces.db_errors import TraceDBError
    from services.traces.snapshot import Snapshot

    try:
        spec = FilterSpec.model_validate(manifest.get("filter") or {})
        pins = (manifest.get("source_db") or {}).get("snapshot") or {}
        snapshot = (
            Snapshot(sessions=int(pins.get("sessions") or 0), last_event_id=pins.get("last_event_id")) if pins else None
        )
        db = TraceDB(db_path)
    except (TraceDBError, ValueError, TypeError):
        return None
    try:
        sessions = select_sessions(db, spec, snapshot).sessions
        seeds: set[int] = set()
        with raw_connection(db) as conn:
            for sid, meta in conn.execute("SELECT session_id, metadata FROM session_traces"):
                if sid not in sessions or not meta:
                    continue
                try:
                    seed = json.loads(meta).get("seed")
                except (ValueError, AttributeError):
                    continue
                if isinstance(seed, int) and not isinstance(seed, bool):
                    seeds.add(seed)
        return len(sessions), sorted(seeds)
    except Exception:  # a DB that changed shape since the export: lineage unknown, not a crash
        return None
    finally:
        db.close()


def model_lineage(model: str, *, root: Path | None = None, workspace: Path | None = None) -> Lineage | None:
    """The training seeds of a local-backend model, when every link of its lineage is on disk."""
    from services.common.workspace import ft_data_dir

    found = job_and_file(model, root or data_dir())
    if found is None:
        return None
    job_id, file_id, sha = found
    manifest = manifest_with(sha, ft_data_dir(workspace))
    if manifest is None:
        return None
    manifest_path, body = manifest
    source = body.get("source_db") or {}
    db_path = source.get("path")
    if not isinstance(db_path, str) or not Path(db_path).exists():
        return None
    seeds = _seeds_of(Path(db_path), body)
    if seeds is None:
        return None
    return Lineage(
        model=model,
        job_id=job_id,
        training_file_id=file_id,
        dataset_file=str(body.get("file") or manifest_path.name),
        manifest=str(manifest_path),
        trace_db=db_path,
        sessions=seeds[0],
        seeds=seeds[1],
    )


def seed_check(
    model: str, eval_seeds: list[int], *, root: Path | None = None, workspace: Path | None = None
) -> LeakageReport | None:
    """The model's lineage with the eval seeds it trained on (maybe none), or None when the lineage
    is unknown (not a local-backend model, or a link is missing): "passed" and "could not check" are
    different answers, and the CLI says which."""
    lineage = model_lineage(model, root=root, workspace=workspace)
    if lineage is None:
        return None
    trained = set(lineage.seeds)
    return LeakageReport(lineage=lineage, overlap=sorted(s for s in eval_seeds if s in trained))


def check_leakage(
    model: str, eval_seeds: list[int], *, root: Path | None = None, workspace: Path | None = None
) -> LeakageReport | None:
    """A report when the model's lineage is known and some eval seeds are training seeds, else None."""
    report = seed_check(model, eval_seeds, root=root, workspace=workspace)
    return report if report is not None and report.overlap else None

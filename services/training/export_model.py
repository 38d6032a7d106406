"""``sft-studio backend export-model ID DIR``: a standalone copy of a model the local backend trained.

A LoRA job keeps only its adapter (small, quick to save); vLLM, the hosted world and plain
``transformers`` want one folder of full weights. This merges the adapter into its base (a full
fine-tune is copied as it is) in a child process, because merging needs torch and the CLI and the
app never import it. The model's folder comes from the backend's own database (read only here), so
an export works whether or not the server is running.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from services.common.child_process import child_env, die_with_parent
from services.common.data_dir import data_dir as default_data_dir
from services.training.server.settings import DB_FILE, backend_dir

EXPORT_MODULE = "services.training.export_main"
#: Merging a ~1 GB model on CPU takes about a minute; a hung child is not waited on forever.
EXPORT_TIMEOUT_S = 1800.0


class ExportError(Exception):
    """An export that cannot be done, said in one line (unknown id, folder in the way, disk full)."""


class ExportResult(BaseModel):
    model_id: str
    train_kind: str
    source: Path
    dest: Path
    merged: bool


def _model_row(data_dir: Path, model_id: str) -> tuple[str, str, list[str]]:
    """(path, train_kind) of ``model_id`` plus every known id, from the backend's database, read only."""
    db = backend_dir(data_dir) / DB_FILE
    if not db.is_file():
        raise ExportError(f"no local backend data in {data_dir}: it has trained no model yet")
    engine = create_engine(f"sqlite:///file:{db}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, path, train_kind FROM models ORDER BY created_at")).all()
    except SQLAlchemyError as exc:
        raise ExportError(f"cannot read the backend's database {db}: {getattr(exc, 'orig', None) or exc}") from None
    finally:
        engine.dispose()
    known = [str(r[0]) for r in rows]
    for model_id_, path, kind in rows:
        if model_id_ == model_id:
            return str(path), str(kind), known
    listed = ", ".join(known[-5:]) if known else "none yet"
    raise ExportError(f"the local backend has no model {model_id!r} (its models: {listed})")


def export_model(model_id: str, dest: Path, *, data_dir: Path | None = None) -> ExportResult:
    """Write ``model_id``'s standalone weights and tokenizer into ``dest`` (new or empty), atomically."""
    root = data_dir or default_data_dir()
    path, kind, _ = _model_row(root, model_id)
    source = Path(path)
    if not source.is_dir():
        raise ExportError(f"the weights of {model_id} are gone from {source}")
    dest = dest.expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"{dest} already exists and is not empty; choose a new folder")
    merged = (source / "adapter_config.json").is_file()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", EXPORT_MODULE, str(source), str(dest)],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=EXPORT_TIMEOUT_S,
            preexec_fn=die_with_parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExportError(f"the export did not finish in {EXPORT_TIMEOUT_S:.0f} s") from None
    answer = _last_json(proc.stdout)
    if proc.returncode != 0 or not answer.get("ok"):
        reason = answer.get("error") or _tail(proc.stderr) or f"exit code {proc.returncode}"
        raise ExportError(f"exporting {model_id} failed: {reason}")
    return ExportResult(model_id=model_id, train_kind=kind, source=source, dest=dest, merged=merged)


def _last_json(stdout: str) -> dict[str, object]:
    for line in reversed(stdout.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _tail(stderr: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in stderr.strip().splitlines()[-lines:])

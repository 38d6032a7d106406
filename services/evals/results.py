"""Eval results on disk: ``<data dir>/evals/<id>/result.json`` beside a small ``manifest.json``.

The result is the one document ``sft-studio eval --json`` prints (episodes + aggregate + settings);
the manifest says what was evaluated and with which code, small enough to list many evals quickly
(the Eval pane and the run store read manifests, and open a result only when it is shown). Both are
written atomically, result first: a manifest never names a missing result.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from services.common.atomic import write_atomic
from services.common.data_dir import data_dir
from services.common.secrets import mask_url
from services.evals.episode import EpisodeResult
from services.evals.launcher import EvalRun
from services.evals.scoring import Aggregate, aggregate
from services.evals.settings import EvalError, EvalSettings

FORMAT = "sft-studio-eval/1"
RESULT_FILE = "result.json"
MANIFEST_FILE = "manifest.json"
REPO_ROOT = Path(__file__).resolve().parents[2]


class LeakageNote(BaseModel):
    """Eval seeds found in the model's training data (services.evals.lineage)."""

    overlap: int
    training_seeds: int
    message: str


class EvalResult(BaseModel):
    format: str = FORMAT
    eval_id: str
    model: str
    policy: str
    backend: str
    mode: str
    seeds: list[int]
    settings: dict[str, Any]
    started_at: str
    finished_at: str
    wall_s: float
    stopped: str | None = None
    leakage: LeakageNote | None = None
    episodes: list[EpisodeResult]
    aggregate: Aggregate


def backend_label(run: EvalRun) -> str:
    s = run.settings
    if s.policy != "openai":
        return f"local policy ({s.policy})"
    if s.backend == "local":
        return "local backend"
    return mask_url(s.inference_url) if s.inference_url else "unknown"


def _shown_settings(settings: EvalSettings) -> dict[str, Any]:
    """The settings as saved and printed: no key (excluded), URLs with any userinfo or query masked."""
    shown = settings.model_dump(mode="json", exclude={"seeds"})
    for name in ("inference_url", "task_app_url"):
        if shown.get(name):
            shown[name] = mask_url(shown[name])
    return shown


def result_from_run(run: EvalRun, leakage: LeakageNote | None = None) -> EvalResult:
    s = run.settings
    return EvalResult(
        eval_id=run.eval_id,
        model=s.model_name(),
        policy=s.policy,
        backend=backend_label(run),
        mode=s.mode(),
        seeds=list(s.seeds),
        settings=_shown_settings(s),
        started_at=run.started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_s=run.wall_s,
        stopped=run.stopped,
        leakage=leakage,
        episodes=run.episodes,
        aggregate=aggregate(run.episodes, run.wall_s),
    )


def evals_dir(root: Path | None = None) -> Path:
    return (root or data_dir()) / "evals"


def code_version() -> dict[str, str | None]:
    """The package version and, in a git checkout, the commit (None elsewhere)."""
    from services.common.version import package_version

    commit: str | None = None
    if (REPO_ROOT / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
            )
            commit = done.stdout.strip() or None if done.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"package": package_version(), "git_commit": commit}


def seeds_text(seeds: list[int]) -> str:
    """``10000-10049`` for a contiguous run, else a comma list (for manifests and tables)."""
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ",".join(map(str, seeds))


def manifest_of(result: EvalResult) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "eval_id": result.eval_id,
        "model": result.model,
        "policy": result.policy,
        "backend": result.backend,
        "mode": result.mode,
        "seeds": seeds_text(result.seeds),
        "episodes": result.aggregate.episodes,
        "settings": result.settings,
        "crafter_score": result.aggregate.crafter_score,
        "mean_unique": result.aggregate.mean_unique,
        "stopped": result.stopped,
        "code_version": code_version(),
        "result_file": RESULT_FILE,
        "created_at": result.finished_at,
    }


def save_result(result: EvalResult, root: Path | None = None) -> Path:
    """Write result then manifest (atomically); returns the eval's folder."""
    folder = evals_dir(root) / result.eval_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / RESULT_FILE, (result.model_dump_json(indent=2) + "\n").encode())
        write_atomic(folder / MANIFEST_FILE, (json.dumps(manifest_of(result), indent=2) + "\n").encode())
    except OSError as exc:
        raise EvalError(f"Cannot save the eval results in {folder}: {exc}") from None
    from services.ledger.hooks import on_eval_saved

    on_eval_saved(result, folder)  # issue 15's runs ledger (best effort: a warning, never a failure)
    return folder


def load_result(ref: str | Path, root: Path | None = None) -> EvalResult:
    """A result by id (in the evals folder), by folder, or by JSON path (``eval --json`` output too)."""
    path = Path(ref)
    candidates = [path / RESULT_FILE if path.is_dir() else path, evals_dir(root) / str(ref) / RESULT_FILE]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise EvalError(f"No eval result {str(ref)!r}: give an eval id (see {evals_dir(root)}) or a result JSON file.")
    try:
        return EvalResult.model_validate_json(found.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EvalError(f"{found} is not an eval result ({where}: {first['msg']}).") from None
    except OSError as exc:
        raise EvalError(f"Cannot read {found}: {exc}") from None


def list_results(root: Path | None = None) -> list[dict[str, Any]]:
    """Every saved eval's manifest, newest first (unreadable ones skipped)."""
    out = []
    folder = evals_dir(root)
    if not folder.is_dir():
        return []
    for manifest in folder.glob(f"*/{MANIFEST_FILE}"):
        try:
            out.append(json.loads(manifest.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda m: str(m.get("eval_id", "")), reverse=True)

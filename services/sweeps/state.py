"""The sweep's state file: what each cell has done, keyed by its settings hash.

``configs/sweeps/<name>/sweep-state.json``, rewritten atomically after every step of every cell, so
a run killed at any point leaves a file that says what is finished: a resumed run skips ``done``
cells, reattaches to a job that was already submitted, and redoes only the step that was cut off.
A cell whose settings changed has a new hash, hence a fresh entry: old results are kept, never
reused for different settings. :func:`sweep_status` is what ``sweep status`` and the Runs pane show.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationError

from services.common.atomic import write_atomic

if TYPE_CHECKING:
    from services.sweeps.plan import SweepPlan

FORMAT = "sft-studio-sweep-state/1"
#: pending → exporting → training → evaluating → done; failed at any step, or stopped by the user
#: after a step (a later run resumes either); skipped: the runs ledger holds the identical run
#: (``ledger_run``), so nothing was trained.
State = Literal["pending", "exporting", "training", "evaluating", "done", "failed", "stopped", "skipped"]
#: The states a run never redoes.
FINISHED: tuple[State, ...] = ("done", "skipped")


class CellRecord(BaseModel):
    """One cell's progress and result, as stored."""

    name: str
    values: dict[str, str]
    state: State = "pending"
    dataset: str | None = None
    dataset_sha256: str | None = None
    examples: int | None = None
    config: str | None = None
    submission_id: str | None = None  # saved before the job is created: a resumed run finds the job by it
    job_id: str | None = None
    model: str | None = None
    eval_id: str | None = None
    crafter_score: float | None = None
    crafter_score_ci: tuple[float, float] | None = None
    mean_unique: float | None = None
    seeds: int | None = None
    leakage: str | None = None  # eval seeds that were training seeds (the seed-leakage check)
    ledger_run: str | None = None  # skipped: the runs ledger's identical run (its id, as the Runs table shows it)
    error: str | None = None
    attempts: int = 0
    updated_at: str | None = None


class ExportRecord(BaseModel):
    """An export this sweep wrote (one per distinct filter; its subsets beside it)."""

    path: str
    sha256: str | None = None
    done: bool = False


class SweepStateFile(BaseModel):
    format: str = FORMAT
    plan: str
    cells: dict[str, CellRecord] = Field(default_factory=dict)  # settings hash -> record
    exports: dict[str, ExportRecord] = Field(default_factory=dict)  # export path -> record


class StateError(ValueError):
    """The state file cannot be used (unreadable, another format); the message says what to do."""


def load_state(path: Path, plan_path: Path) -> SweepStateFile:
    if not path.exists():
        return SweepStateFile(plan=str(plan_path))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"the sweep state {path} cannot be read ({exc}); move it away to start afresh") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise StateError(f"the sweep state {path} is not a {FORMAT} file; nothing was changed")
    try:
        return SweepStateFile.model_validate(raw)
    except ValidationError as exc:
        raise StateError(f"the sweep state {path} is damaged ({exc.errors()[0]['msg']}); move it away") from None


def save_state(path: Path, state: SweepStateFile) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (state.model_dump_json(indent=2) + "\n").encode())


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class CellState(BaseModel):
    """A cell as ``sweep status`` and the Runs pane show it: the plan's cell with its recorded progress."""

    name: str
    values: dict[str, str]
    settings_hash: str
    state: State
    examples: int | None = None
    job_id: str | None = None
    model: str | None = None
    eval_id: str | None = None
    crafter_score: float | None = None
    crafter_score_ci: tuple[float, float] | None = None
    mean_unique: float | None = None
    seeds: int | None = None
    leakage: str | None = None
    ledger_run: str | None = None
    error: str | None = None
    problems: list[str] = Field(default_factory=list)  # why the plan refuses this cell now


def sweep_status(plan_path: Path) -> list[CellState]:
    """Every cell of the plan with its state (``pending`` when it never ran). Raises
    :class:`services.sweeps.plan.PlanError` or :class:`StateError` with a message for the user."""
    from services.sweeps.plan import load_plan

    plan = load_plan(plan_path, estimate=False)
    return cell_states(plan, load_state(plan.state_path, plan.path))


_SHOWN = {
    "state",
    "examples",
    "job_id",
    "model",
    "eval_id",
    "crafter_score",
    "crafter_score_ci",
    "mean_unique",
    "seeds",
    "leakage",
    "ledger_run",
    "error",
}


def cell_states(plan: SweepPlan, state: SweepStateFile) -> list[CellState]:
    """The plan's cells with what ``state`` recorded of each (no file read: the Runs pane calls it on
    every progress event of a run it watches)."""
    out: list[CellState] = []
    for cell in plan.cells:
        rec = state.cells.get(cell.settings_hash)
        base = CellState(
            name=cell.name,
            values=cell.values,
            settings_hash=cell.settings_hash,
            state="pending",
            problems=cell.problems,
        )
        out.append(base.model_copy(update=rec.model_dump(include=_SHOWN)) if rec is not None else base)
    return out


def known_sweeps(root: Path | None = None) -> list[Path]:
    """The plan files of the workspace's sweeps that have run (their state files under
    ``configs/sweeps/*/``), newest first; plans that moved away since are left out."""
    from services.common.workspace import configs_dir

    found: list[tuple[float, Path]] = []
    for state_file in (configs_dir(root) / "sweeps").glob("*/sweep-state.json"):
        try:
            plan = Path(json.loads(state_file.read_text(encoding="utf-8"))["plan"])
            found.append((state_file.stat().st_mtime, plan))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [plan for _, plan in sorted(found, reverse=True) if plan.is_file()]

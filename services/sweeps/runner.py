"""Running a sweep: per cell, export → config → job (submit and watch) → eval on the plan's seeds.

Every step is the one the single-run commands use (``export_sft``, ``plan_submission``/``submit``,
``watch``, ``run_eval``/``save_result``), so the runs ledger records each cell through its usual
hooks, and a cell's job carries the sweep's ``[tags]`` in its payload. The state file is rewritten
after each step (:mod:`services.sweeps.state`): a killed run resumes where it stopped (a submitted
job is watched again, not submitted twice; a finished cell is never redone).

A cell the runs ledger has already run (the same dataset sha256, the same config text, an eval on
the plan's seeds: :mod:`services.sweeps.ledger_match`) is exported (to learn its dataset's sha256)
but not trained again: it is marked ``skipped`` with the ledger's run id and result, so a plan re-run
after its state file was deleted retrains nothing.

A ``stop`` event (the Runs pane's stop key) ends the run after the current step: between cells and
between a cell's steps; a job being watched is left running on the backend (a later run watches it
again), an eval runs to its end. The cell is marked ``stopped`` and the run returns.

When the backend stops answering mid-way (submission fails on the network, or the watch fails
``backend_failures`` polls in a row) the current cell is marked ``failed`` with the reason and the
run stops: the remaining cells stay ``pending``, and ``sweep run`` again resumes them all.

Files are never overwritten silently: an export, subset or cell config that exists and was not
written by this sweep (for these settings) fails the cell with the path to move away.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.configs.document import ConfigFileError, atomic_write
from services.datasets.export_targets import export_targets, manifest_path
from services.jobs.errors import (
    BackendError,
    BackendNotFound,
    BackendServerError,
    BackendTimeout,
    BackendUnreachable,
    SubmissionRefused,
)
from services.sweeps.plan import Cell, PlanError, SweepPlan, refusal
from services.sweeps.state import FINISHED, CellRecord, ExportRecord, SweepStateFile, load_state, now, save_state

if TYPE_CHECKING:
    from services.jobs.backends import BackendChoice
    from services.jobs.client import LearningClient

#: ``on_event(cell name, step, text)``; steps: skip, export, config, submit, watch, eval, warn, done, failed, stopped.
OnEvent = Callable[[str, str, str], None]
_TRANSIENT = (BackendUnreachable, BackendTimeout, BackendServerError)


class CellFailed(Exception):
    """This cell cannot finish now; the next cell runs."""


class BackendDown(Exception):
    """The backend stopped answering: this cell is marked failed and the run stops (resumable)."""


class StoppedByUser(Exception):
    """The user asked the run to stop; raised between steps (the cell is resumable)."""

    def __init__(self, after: str) -> None:
        super().__init__(after)
        self.after = after


#: ``RunSummary.stopped`` and the cell's note when the user stopped the run.
STOPPED_BY_USER = "stopped by the user"


@dataclass
class RunSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the run stopped before the last cell

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None


def planned_actions(plan: SweepPlan) -> list[tuple[Cell, str]]:
    """What ``sweep run`` would do for each cell now (``--dry-run``): nothing is written."""
    from services.sweeps.state import load_state as _load

    state = _load(plan.state_path, plan.path)
    out: list[tuple[Cell, str]] = []
    for cell in plan.cells:
        rec = state.cells.get(cell.settings_hash)
        if rec is None or rec.state == "pending":
            action = "run: export → config → job → eval"
        elif rec.state == "done":
            action = "skip (done)"
        elif rec.state == "skipped":
            action = f"skip (in the runs ledger: {rec.ledger_run})"
        elif rec.model:
            action = f"resume: eval of {rec.model}"
        elif rec.job_id:
            action = f"resume: watch job {rec.job_id}, then eval"
        else:
            action = f"resume from {rec.state}" + (f" (last error: {rec.error})" if rec.error else "")
        out.append((cell, action))
    return out


def _transient(exc: BaseException) -> bool:
    cause = getattr(exc, "cause", None)
    return isinstance(exc, _TRANSIENT) or isinstance(cause, _TRANSIENT)


class _Run:
    def __init__(
        self,
        plan: SweepPlan,
        choice: BackendChoice,
        client: LearningClient | None,
        on_event: OnEvent,
        poll_interval: float | None,
        poll_timeout: float,
        backend_failures: int,
        stop: threading.Event | None = None,
    ) -> None:
        self.plan = plan
        self.choice = choice
        self._client = client
        self.opened = False  # this run opened the client (and closes it)
        self.event = on_event
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.backend_failures = backend_failures
        self.stop = stop or threading.Event()
        self.state: SweepStateFile = load_state(plan.state_path, plan.path)

    @property
    def client(self) -> LearningClient:
        """The backend's client, opened at the first job (a run whose cells are all done, or fail
        before their job, never starts a local backend)."""
        if self._client is None:
            from services.jobs.backends import open_client

            try:
                self._client = open_client(self.choice)
            except BackendError as exc:
                raise (BackendDown if _transient(exc) else CellFailed)(exc.message) from None
            self.opened = True
        return self._client

    def close(self) -> None:
        if self.opened and self._client is not None:
            self._client.close()

    def save(self) -> None:
        save_state(self.plan.state_path, self.state)

    def mark(self, rec: CellRecord, state: Any) -> None:
        rec.state = state
        rec.updated_at = now()
        self.save()

    def check_stop(self, after: str) -> None:
        """Between steps: the user's stop ends the run here."""
        if self.stop.is_set():
            raise StoppedByUser(after)

    # ------------------------------------------------------------------ export

    def export(self, cell: Cell, rec: CellRecord) -> None:
        self.mark(rec, "exporting")
        key = str(cell.export_path)
        known = self.state.exports.get(key)
        if not (known and known.done and cell.export_path.is_file()):
            sizes = sorted(
                {c.examples_limit for c in self.plan.cells if c.export_path == cell.export_path and c.examples_limit}
            )
            targets = export_targets(cell.export_path, sizes)
            existing = [t for t in targets if t.exists()]
            if existing and not self._ours(cell):
                raise CellFailed(
                    f"{existing[0]} exists and was not written by this sweep for this filter: move it away "
                    "(a sweep overwrites nothing)"
                )
            if not existing or not all(t.exists() for t in targets):
                if existing:  # a killed export of ours left a part: it is rebuilt from the same filter
                    raise CellFailed(
                        f"the export {cell.export_path} is incomplete ({len(existing)} of {len(targets)} files): "
                        "remove them to export again"
                    )
                self.event(cell.name, "export", f"exporting {cell.export_path.name} (subsets {sizes or 'none'})")
                self._export(cell, sizes)
            self.state.exports[key] = ExportRecord(path=key, sha256=self._sha(cell.export_path), done=True)
            self.save()
        if not cell.dataset_path.is_file():
            raise CellFailed(
                f"{cell.dataset_path} is missing: the export {cell.export_path.name} was made for other subset "
                "sizes; remove its files to export again"
            )
        rec.dataset = str(cell.dataset_path)
        rec.dataset_sha256 = self._sha(cell.dataset_path)
        rec.examples = self._examples(cell.dataset_path)

    def _ours(self, cell: Cell) -> bool:
        """An export whose manifest says it is this filter on this DB (a killed run of ours wrote it)."""
        try:
            manifest = json.loads(manifest_path(cell.export_path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return bool(
            manifest.get("filter") == cell.filter.model_dump(mode="json")
            and (manifest.get("source_db") or {}).get("path") == str(self.plan.db)
        )

    def _export(self, cell: Cell, sizes: list[int]) -> None:
        from services.datasets.export import ExportError, export_sft
        from services.traces.db import TraceDB

        cell.export_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = TraceDB(self.plan.db)
        except Exception as exc:  # an unreadable DB: the cell says why
            raise CellFailed(f"trace DB {self.plan.db} cannot be opened: {exc}") from None
        try:
            export_sft(db, cell.filter, cell.export_path, sizes=sizes, workers=0)
        except ExportError as exc:
            raise CellFailed(f"export failed: {exc}") from None
        except OSError as exc:
            raise CellFailed(f"export failed: {exc.strerror or exc}") from None
        finally:
            db.close()

    @staticmethod
    def _sha(path: Path) -> str | None:
        try:
            sha = json.loads(manifest_path(path).read_text(encoding="utf-8")).get("sha256")
        except (OSError, ValueError):
            return None
        return str(sha) if sha else None

    @staticmethod
    def _examples(path: Path) -> int | None:
        try:
            counts = json.loads(manifest_path(path).read_text(encoding="utf-8")).get("counts") or {}
        except (OSError, ValueError):
            return None
        value = counts.get("examples")
        return int(value) if isinstance(value, int) else None

    # ------------------------------------------------------------------ config

    def config(self, cell: Cell, rec: CellRecord) -> None:
        path = cell.config_path
        if path.exists():
            try:
                same = path.read_text(encoding="utf-8") == cell.config_text
            except (OSError, UnicodeDecodeError):
                same = False
            if not same:
                raise CellFailed(f"{path} exists with other settings: move it away (a sweep overwrites nothing)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                atomic_write(path, cell.config_text, backup=False)
            except ConfigFileError as exc:
                raise CellFailed(str(exc)) from None
            self.event(cell.name, "config", f"wrote {path.name}")
        rec.config = str(path)

    # ------------------------------------------------------------------ job

    def train(self, cell: Cell, rec: CellRecord) -> None:
        from services.jobs.poller import watch
        from services.jobs.submit import plan_submission, submit

        self.mark(rec, "training")
        if rec.job_id is None and rec.submission_id is not None:
            # killed between creating the job and saving its id: find it rather than submit twice
            try:
                found = self.client.find_submission(rec.submission_id)
            except BackendError as exc:
                raise (BackendDown if _transient(exc) else CellFailed)(exc.message) from None
            if found is not None:
                rec.job_id = found.job_id
                self.save()
        if rec.job_id is None:
            try:
                sub = plan_submission(
                    cell.config_path, cell.dataset_path, choice=self.choice, client=self.client, cwd=self.plan.out_dir
                )
            except SubmissionRefused as exc:
                raise CellFailed(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None
            except BackendError as exc:
                raise (BackendDown if _transient(exc) else CellFailed)(exc.message) from None
            rec.submission_id = sub.submission_id
            self.save()
            try:
                job = submit(sub, self.client, _job_store())
            except BackendError as exc:
                raise (BackendDown if _transient(exc) else CellFailed)(exc.message) from None
            finally:
                sub.cleanup()
            rec.job_id = job.job_id
            self.save()
            self.event(cell.name, "submit", f"job {job.job_id} started")
        else:
            self.event(cell.name, "watch", f"watching job {rec.job_id} again")
        failures = [0]
        stop = threading.Event()
        last_error: list[str] = []

        def on_error(exc: BackendError, delay: float) -> None:
            failures[0] += 1
            last_error[:] = [exc.message]
            if failures[0] >= self.backend_failures:
                stop.set()

        def on_snapshot(_snapshot: Any) -> None:
            failures[0] = 0
            if self.stop.is_set():  # the user's stop: leave the job running, a later run watches it again
                stop.set()

        job_id = rec.job_id
        try:
            result = watch(
                self.client,
                job_id,
                poll_interval=self.poll_interval,
                poll_timeout=self.poll_timeout,
                on_error=on_error,
                on_snapshot=on_snapshot,
                stop=stop,
            )
        except BackendNotFound:
            rec.job_id = rec.submission_id = None  # the backend forgot it: a resumed run submits again
            raise CellFailed(f"job {job_id} is not known to the backend any more") from None
        except BackendError as exc:
            raise CellFailed(exc.message) from None
        if result.outcome == "stopped" and self.stop.is_set() and failures[0] < self.backend_failures:
            raise StoppedByUser(f"watching job {job_id} (it goes on on the backend; a later run watches it again)")
        if result.outcome == "stopped":
            raise BackendDown(f"the backend stopped answering while job {job_id} ran ({last_error[0]})")
        if result.outcome == "timeout" or result.snapshot is None:
            raise CellFailed(f"job {job_id} did not end within {self.poll_timeout:g} s (a later run watches it again)")
        snap = result.snapshot
        if not snap.succeeded or not snap.fine_tuned_model:
            rec.job_id = rec.submission_id = None  # a failed job is not resumed: the next run submits again
            raise CellFailed(f"job {job_id} ended {snap.status or 'without a model'}: {snap.error or 'no model id'}")
        rec.model = snap.fine_tuned_model
        self.save()
        self.event(cell.name, "watch", f"job {job_id} succeeded: {rec.model}")

    # ------------------------------------------------------------------ eval

    def evaluate(self, cell: Cell, rec: CellRecord) -> None:
        from services.evals.launcher import run_eval
        from services.evals.local_backend import with_local_backend
        from services.evals.results import result_from_run, save_result
        from services.evals.settings import EvalError, build_settings

        self.mark(rec, "evaluating")
        ev = self.plan.eval
        values: dict[str, Any] = {"seeds": ev.seeds, "max_turns": ev.max_turns, "concurrency": ev.concurrency}
        if ev.policy == "model":
            values.update(model=rec.model, backend="local")
        else:
            values.update(policy=ev.policy)
        self.event(cell.name, "eval", f"eval of {values.get('model') or ev.policy} on {len(ev.seeds)} seeds")
        try:
            settings = with_local_backend(build_settings(values), self.choice.data_dir)
            run = run_eval(settings)
        except EvalError as exc:
            raise CellFailed(f"eval failed: {exc}") from None
        if run.stopped:
            raise CellFailed(f"eval stopped: {run.stopped}")
        result = result_from_run(run, self._leakage(cell, rec) if ev.policy == "model" else None)
        save_result(result)
        agg = result.aggregate
        rec.eval_id = result.eval_id
        rec.crafter_score = agg.crafter_score
        rec.crafter_score_ci = agg.crafter_score_ci
        rec.mean_unique = agg.mean_unique
        rec.seeds = len(result.seeds)

    def _leakage(self, cell: Cell, rec: CellRecord) -> Any:
        """The eval seeds found among the model's training seeds (as ``sft-studio eval`` checks),
        recorded in the result and the cell; the check is advice, so a lineage it cannot follow is none."""
        from services.evals.lineage import check_leakage
        from services.evals.results import LeakageNote

        try:
            report = check_leakage(rec.model or "", self.plan.eval.seeds, root=self.choice.data_dir)
        except Exception:  # an unreadable manifest or DB: no finding, the eval still runs
            return None
        if report is None:
            return None
        rec.leakage = report.message
        self.event(cell.name, "warn", f"seed leakage: {report.message}")
        trained = len(report.lineage.seeds)
        return LeakageNote(overlap=len(report.overlap), training_seeds=trained, message=report.message)

    # ------------------------------------------------------------------ the ledger

    def in_ledger(self, cell: Cell, rec: CellRecord) -> bool:
        """The ledger's identical run, when there is one: the cell is marked skipped with its result."""
        from services.sweeps.ledger_match import find_in_ledger

        found = find_in_ledger(cell, rec.dataset_sha256, self.plan.eval)
        if found is None:
            return False
        rec.ledger_run = found.run_id
        rec.job_id = found.job_id or None
        rec.model = found.model
        rec.eval_id = found.eval_id
        rec.crafter_score = found.crafter_score
        rec.crafter_score_ci = found.crafter_score_ci
        rec.mean_unique = found.mean_unique
        rec.seeds = found.seeds
        self.mark(rec, "skipped")
        self.event(cell.name, "skip", f"in the runs ledger already: {found.run_id} ({_result_text(rec)})")
        return True

    # ------------------------------------------------------------------ the loop

    def run(self) -> RunSummary:
        summary = RunSummary()
        for cell in self.plan.cells:
            rec = self.state.cells.get(cell.settings_hash)
            if rec is None:
                rec = self.state.cells[cell.settings_hash] = CellRecord(name=cell.name, values=cell.values)
            if rec.state in FINISHED:
                summary.skipped.append(cell.name)
                why = "done already" if rec.state == "done" else f"in the runs ledger already: {rec.ledger_run}"
                self.event(cell.name, "skip", why)
                continue
            if self.stop.is_set():
                summary.stopped = f"{STOPPED_BY_USER}; run the sweep again to resume"
                self.event(cell.name, "stopped", STOPPED_BY_USER)
                break
            rec.attempts += 1
            rec.error = None
            try:
                if rec.model is None:
                    if rec.job_id is None:
                        self.export(cell, rec)
                        if self.in_ledger(cell, rec):
                            summary.skipped.append(cell.name)
                            continue
                        self.check_stop("the export")
                        self.config(cell, rec)
                    self.train(cell, rec)
                    self.check_stop("the training")
                self.evaluate(cell, rec)
            except StoppedByUser as exc:
                rec.error = f"{STOPPED_BY_USER} after {exc.after}; run the sweep again to resume"
                self.mark(rec, "stopped")
                summary.stopped = f"{STOPPED_BY_USER}; run the sweep again to resume"
                self.event(cell.name, "stopped", rec.error)
                break
            except BackendDown as exc:
                rec.error = str(exc)
                self.mark(rec, "failed")
                summary.failed.append(cell.name)
                summary.stopped = f"{exc}; run the sweep again to resume"
                self.event(cell.name, "stopped", str(exc))
                break
            except CellFailed as exc:
                rec.error = str(exc)
                self.mark(rec, "failed")
                summary.failed.append(cell.name)
                self.event(cell.name, "failed", str(exc))
                continue
            self.mark(rec, "done")
            summary.done.append(cell.name)
            self.event(cell.name, "done", _result_text(rec))
        return summary


def _result_text(rec: CellRecord) -> str:
    if rec.crafter_score is None:
        return "no score"
    ci = rec.crafter_score_ci
    return f"Crafter score {rec.crafter_score:.1f}%" + (f" (95% CI {ci[0]:.1f}–{ci[1]:.1f})" if ci else "")


def _job_store() -> Any:
    """The local job store, or None when it cannot be opened (the job matters more than our record)."""
    try:
        from services.jobs.store import JobStore

        return JobStore()
    except Exception:
        return None


def run_sweep(
    plan: SweepPlan,
    choice: BackendChoice,
    client: LearningClient | None = None,
    *,
    on_event: OnEvent | None = None,
    poll_interval: float | None = None,
    poll_timeout: float = 3600.0,
    backend_failures: int = 3,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Run every cell not done yet; :class:`PlanError` (nothing run) when a cell is impossible or the
    eval cannot run on this backend. ``client``: an open client (else one is opened at the first job
    and closed at the end). ``stop``: set it (from any thread) to end the run after the current step."""
    if plan.eval.policy == "model" and choice.kind != "local":
        raise PlanError(
            '[eval] policy "model" evaluates the fine-tuned model on the local backend: run the sweep with '
            '--backend local, or choose policy = "teacher" or "random"'
        )
    problem = refusal(plan)
    if problem:
        raise PlanError(problem)
    with _run_lock(plan):
        runner = _Run(
            plan,
            choice,
            client,
            on_event or (lambda *_: None),
            poll_interval,
            poll_timeout,
            max(1, backend_failures),
            stop,
        )
        try:
            return runner.run()
        finally:
            runner.close()


@contextmanager
def _run_lock(plan: SweepPlan) -> Iterator[None]:
    """One ``sweep run`` per sweep at a time: two would submit the same cells twice. A lock left by a
    killed run (its process is gone) is taken over."""
    import os

    from services.common.atomic import _pid_alive

    plan.out_dir.mkdir(parents=True, exist_ok=True)
    lock = plan.out_dir / ".sweep-run.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="utf-8").strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid):
                raise PlanError(f"another `sweep run` (pid {pid}) is running sweep {plan.name}; wait for it") from None
            lock.unlink(missing_ok=True)  # a killed run's lock
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    else:
        raise PlanError(f"cannot take the lock {lock}; remove it if no sweep run is going on")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)

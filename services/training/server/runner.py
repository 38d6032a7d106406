"""The job runner: one background thread per server that trains one job at a time, in the order the
jobs were started (FIFO), each in its own trainer child process.

For each job it validates the files, prepares the job folder (``protocol.py``), resolves the base
model (stand-ins never silent), starts ``python -m services.training.trainer_main JOB_DIR`` (which
dies with the server; stderr goes to ``trainer.log``), turns the child's stdout lines into events,
metrics and statuses, and ends the job ``succeeded`` (model registered), ``failed`` (error and log
tail) or ``cancelled``. The child is started from this long-lived thread on purpose: Linux sends the
parent-death signal when the starting *thread* ends.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.common.atomic import write_atomic
from services.common.child_process import die_with_parent
from services.training import protocol
from services.training.server.base_models import BaseModelUnavailable, ResolvedBase, resolve_base
from services.training.server.settings import INSTALL_HINT, TRAIN_EXTRA_MODULES, TRAINER_MODULE, ServerSettings
from services.training.server.store import STOPPED_DURING_JOB, TERMINAL, Store

MAX_REASONS = 20
LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 4000
CANCEL_WAIT_S = 5.0
#: The most trainer lines stored in one transaction.
BATCH_LINES = 500


class JobFailed(Exception):
    """The job cannot go on; the message is its error."""

    def __init__(self, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.data = data or {}


def stored_file_path(backend_dir: Path, sha256: str) -> Path:
    """Uploads are stored once per content: ``backend/files/<sha256>.jsonl``."""
    return backend_dir / "files" / f"{sha256}.jsonl"


def job_dir(backend_dir: Path, job_id: str) -> Path:
    return backend_dir / "jobs" / job_id


def log_tail(path: Path, lines: int = LOG_TAIL_LINES, chars: int = LOG_TAIL_CHARS) -> str:
    """The last lines of the trainer's log (capped), for the failure event."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - chars * 2))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])[-chars:]


def missing_train_modules() -> list[str]:
    """The training packages that are not importable (checked without importing them)."""
    return [name for name in TRAIN_EXTRA_MODULES if importlib.util.find_spec(name) is None]


def _read_lines(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """The trainer's stdout, line by line, then None at its end."""
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            text = line.strip()
            if text:
                lines.put(text)
    finally:
        lines.put(None)


def _link_or_copy(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


class JobRunner:
    """Trains started jobs one at a time. ``start``/``stop`` with the server; ``wake`` after a
    ``/start``; ``cancel`` from the API."""

    def __init__(self, store: Store, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._current: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._cancelled: set[str] = set()
        self._finished = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="sft-studio-job-runner", daemon=True)

    # ---------------------------------------------------------------------------------- control

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; a job in training is killed and marked failed (the server stopped)."""
        self._stopping.set()
        self._wake.set()
        with self._lock:
            proc = self._proc
        if proc is not None:
            self._terminate(proc)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def cancel(self, job_id: str) -> None:
        """Cancel a job that is not finished: a queued one at once, a running one by ending its child
        (SIGTERM, SIGKILL after the grace period); waits up to 5 s for it to be marked cancelled."""
        with self._lock:
            if self._current != job_id:
                if self.store.set_status(job_id, "cancelled", message="cancelled before it ran"):
                    self.store.add_event(job_id, "sft.job.cancelled", "Job cancelled before it ran", level="warning")
                return
            self._cancelled.add(job_id)
            proc = self._proc
        if proc is not None:
            self._terminate(proc)
        deadline = CANCEL_WAIT_S
        with self._finished:
            self._finished.wait_for(lambda: self._is_finished(job_id), timeout=deadline)

    def _is_finished(self, job_id: str) -> bool:
        row = self.store.get_job(job_id)
        return row is None or row.status in TERMINAL

    def _terminate(self, proc: subprocess.Popen[str]) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            proc.send_signal(signal.SIGTERM)
        timer = threading.Timer(self.settings.cancel_grace_s, self._kill, args=(proc,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                proc.kill()

    # ------------------------------------------------------------------------------------- loop

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            job_id = self.store.next_started_job()
            if job_id is None:
                self._wake.wait(1.0)
                continue
            with self._lock:
                if self._stopping.is_set():
                    return
                if not self.store.set_status(job_id, "validating_files", message="checking the uploaded files"):
                    continue  # cancelled meanwhile
                self._current = job_id
            try:
                self._run(job_id)
            except JobFailed as exc:
                self._fail(job_id, str(exc), exc.data)
            except Exception as exc:  # the server stays up whatever one job does
                self._fail(job_id, f"internal error while running the job: {type(exc).__name__}: {exc}", {})
            finally:
                with self._lock:
                    self._current = None
                    self._proc = None
                    self._cancelled.discard(job_id)
                with self._finished:
                    self._finished.notify_all()

    def _fail(self, job_id: str, error: str, data: dict[str, Any]) -> None:
        if self.store.set_status(job_id, "failed", message=error.splitlines()[0][:200], error=error):
            self.store.add_event(job_id, "sft.job.failed", error, level="error", data={"error": error, **data})

    # -------------------------------------------------------------------------------- one job

    def _run(self, job_id: str) -> None:
        row = self.store.get_job(job_id)
        assert row is not None
        backend = self.settings.backend_dir
        self.store.add_event(job_id, "sft.status", "Validating files", data={"status": "validating_files"})
        train = self._ready_file(row.training_file_id, "training")
        validation = self._ready_file(row.validation_file_id, "validation") if row.validation_file_id else None

        if self.settings.trainer_command is None:
            missing = missing_train_modules()
            if missing:
                raise JobFailed(f"{INSTALL_HINT} (missing: {', '.join(missing)})")
            if importlib.util.find_spec(TRAINER_MODULE) is None:
                raise JobFailed(f"this sft-studio build has no trainer ({TRAINER_MODULE} is missing)")

        try:
            base = resolve_base(
                row.model,
                data_dir=self.settings.data_dir,
                stand_ins=self.settings.stand_ins,
                tiny_builder=self.settings.tiny_builder,
                hub_cache=self.settings.hub_cache,
            )
        except BaseModelUnavailable as exc:
            raise JobFailed(str(exc), {"base_model": row.model}) from exc
        self._record_base(job_id, row.job_metadata, base)

        folder = job_dir(backend, job_id)
        (folder / protocol.OUTPUT_DIR).mkdir(parents=True, exist_ok=True)
        _link_or_copy(stored_file_path(backend, train), folder / protocol.TRAIN_FILE)
        if validation is not None:
            _link_or_copy(stored_file_path(backend, validation), folder / protocol.VALIDATION_FILE)
        job = protocol.TrainerJob(
            job_id=job_id,
            payload=row.payload,
            requested_base=base.requested,
            base_model_path=str(base.path),
            effective_base=base.effective,
            stand_in=base.stand_in,
            train_kind="peft" if row.train_kind == "peft" else "fft",
            has_validation=validation is not None,
        )
        write_atomic(folder / protocol.JOB_FILE, job.model_dump_json(indent=2).encode())
        if not self.store.set_status(job_id, "running", message="starting the trainer"):
            return
        self.store.add_event(
            job_id,
            "sft.running",
            f"Starting the trainer for {base.effective}",
            data={"status": "running", "base_model": base.effective, "train_kind": job.train_kind},
        )
        self._train(job, folder)

    def _ready_file(self, file_id: str, role: str) -> str:
        """The stored content hash of a file the job needs, or JobFailed with its first reasons."""
        file_row = self.store.get_file_row(file_id)
        if file_row is None:
            raise JobFailed(f"the {role} file {file_id} does not exist")
        if file_row.status != "ready":
            reasons = file_row.reasons[:MAX_REASONS]
            text = "\n - ".join([f"the {role} file {file_id} ({file_row.filename}) failed validation:", *reasons])
            raise JobFailed(text, {"file_id": file_id, "reasons": reasons})
        return file_row.sha256

    def _record_base(self, job_id: str, metadata: dict[str, Any], base: ResolvedBase) -> None:
        """Name what is really trained in ``effective_config`` (and, for a stand-in, in a warning)."""
        meta = json.loads(json.dumps(metadata))
        effective = meta.setdefault("effective_config", {})
        if not isinstance(effective, dict):
            effective = meta["effective_config"] = {}
        effective["base_model"] = {"requested": base.requested, "trained": base.effective, "stand_in": base.stand_in}
        self.store.update_job(job_id, job_metadata=meta)
        if base.stand_in:
            self.store.add_event(
                job_id,
                "sft.stand_in",
                f"Training {base.effective} as a stand-in for {base.requested} (the server was started with "
                f"--stand-in {base.requested}={base.effective}); the model id names {base.effective}",
                level="warning",
                data={"requested": base.requested, "trained": base.effective},
            )

    def _train(self, job: protocol.TrainerJob, folder: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.settings.trainer_env}
        parent = os.getpid()
        with (folder / protocol.LOG_FILE).open("ab") as log:
            proc = subprocess.Popen(
                [*self.settings.command(), str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                preexec_fn=lambda: die_with_parent(parent),
            )
        with self._lock:
            self._proc = proc
            cancelled_early = job.job_id in self._cancelled or self._stopping.is_set()
        if cancelled_early:
            self._terminate(proc)
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(proc, lines), name=f"trainer-{job.job_id}", daemon=True)
        reader.start()
        result: protocol.Result | None = None
        stray: deque[str] = deque(maxlen=5)
        metric_names: set[str] = set()
        ended = False
        while not ended:
            batch = [lines.get()]
            while len(batch) < BATCH_LINES:
                try:
                    batch.append(lines.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is None:
                ended = True
            result = self._apply(job.job_id, [t for t in batch if t], stray, metric_names) or result
        code = proc.wait()
        reader.join(5)
        self._finish(job, folder, code, result, list(stray), metric_names)

    def _apply(
        self, job_id: str, texts: list[str], stray: deque[str], metric_names: set[str]
    ) -> protocol.Result | None:
        """Store a batch of the trainer's lines in one transaction; returns its result line, if any."""
        events: list[tuple[str, str, str, dict[str, Any]]] = []
        metrics: list[dict[str, Any]] = []
        statuses: list[str] = []
        progress: dict[str, Any] | None = None
        result: protocol.Result | None = None
        for text in texts:
            try:
                line = protocol.TrainerLine.model_validate_json(text)
            except ValidationError:
                stray.append(text[:500])
                continue
            if line.event is not None:
                ev = line.event
                events.append((ev.type, ev.level, ev.message, ev.data))
                if ev.type == "sft.progress":
                    keys = ("step", "total_steps", "epoch", "loss")
                    progress = {k: ev.data[k] for k in keys if k in ev.data}
            elif line.metric is not None:
                metric_names.add(line.metric.name)
                metrics.append(line.metric.model_dump())
            elif line.status is not None:
                statuses.append(line.status.status)
            elif line.result is not None:
                result = line.result
        if events or metrics or statuses or progress is not None:
            self.store.apply_trainer_batch(job_id, events=events, metrics=metrics, statuses=statuses, progress=progress)
        return result

    def _finish(
        self,
        job: protocol.TrainerJob,
        folder: Path,
        code: int,
        result: protocol.Result | None,
        stray: list[str],
        metric_names: set[str],
    ) -> None:
        job_id = job.job_id
        with self._lock:
            cancelled = job_id in self._cancelled
        if cancelled:
            if self.store.set_status(job_id, "cancelled", message="cancelled while training"):
                self.store.add_event(
                    job_id, "sft.job.cancelled", "Job cancelled; the trainer was stopped", level="warning"
                )
            return
        if self._stopping.is_set() and (result is None or not result.ok):
            raise JobFailed(STOPPED_DURING_JOB)
        tail = log_tail(folder / protocol.LOG_FILE)
        if result is None or not result.ok:
            if result is not None and result.error:
                error = result.error
            elif code < 0:
                error = f"the trainer was killed by signal {-code}" + (" (out of memory?)" if -code == 9 else "")
            else:
                error = f"the trainer exited with code {code} without a result"
            raise JobFailed(error, {"exit_code": code, "traceback": tail, "stdout_tail": stray})
        output = self._output_folder(folder, result)
        fine_tuned = protocol.model_id(job.train_kind, job.effective_base, job_id)
        throughput = dict(result.throughput)
        extra = [
            {"name": f"train.{key}", "value": value, "phase": "train", "data": {"final": True}}
            for key, value in throughput.items()
            if f"train.{key}" not in metric_names
        ]
        if extra:
            self.store.add_metrics(job_id, extra)
        if not self.store.set_status(job_id, "succeeded", message="training finished", fine_tuned_model=fine_tuned):
            return
        self.store.add_model(
            model_id=fine_tuned,
            base_model=job.effective_base,
            job_id=job_id,
            train_kind=job.train_kind,
            path=str(output),
        )
        self.store.add_event(
            job_id,
            "sft.job.completed",
            f"Training finished: {fine_tuned}",
            data={
                "fine_tuned_model": fine_tuned,
                "base_model": job.effective_base,
                "requested_base": job.requested_base,
                "stand_in": job.stand_in,
                "throughput": throughput,
                "final_loss": result.final_loss,
            },
        )

    @staticmethod
    def _output_folder(folder: Path, result: protocol.Result) -> Path:
        """The saved model, which must be a non-empty folder inside the job folder (a half-written or
        missing save is a failure, and nothing is registered)."""
        output = Path(result.output_dir) if result.output_dir else folder / protocol.OUTPUT_DIR
        if not output.is_absolute():
            output = folder / output
        output = output.resolve()
        if not output.is_relative_to(folder.resolve()) or not output.is_dir() or not any(output.iterdir()):
            raise JobFailed(f"the trainer reported success but saved no model in {output}")
        return output

"""Submitting an SFT job: plan (every check, nothing sent), then submit (upload, create, start).

:func:`plan_submission` runs exactly what ``sft-studio config validate`` and the Configs pane run
(``services.configs.check``; refused = not ``submittable``) and the upload validator of
``sft-studio validate`` (``services.datasets.validation``); if either refuses, it raises
:class:`SubmissionRefused` and nothing goes out. The base-model check follows the backend: the
hosted one takes synth-ai 0.2.23's catalogue, the local one what it can train (its built-in tiny
model and the ids it serves, a local model folder, a Hugging Face id in the local cache). The
payload is the Configs pane's (``services.configs.payload.job_payload``), plus one key of ours,
``metadata.submission_id``; a dry run prints that very body (with placeholder file ids) and stops
(§14 defect 3).

:func:`submit` uploads the training (and validation) file, waits for readiness, creates the job and
starts it. A create that fails on the network may still have created the job: before trying again we
look the submission id up in the job list, so a retry never makes a second job (defect 11). When the
upload worked but no job could be created, the error names the uploaded file ids.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.configs.base_models import ModelRefused
from services.configs.check import check_file
from services.configs.payload import TRAINING_PLACEHOLDER, VALIDATION_PLACEHOLDER, job_payload
from services.configs.report import ConfigReport, Level
from services.datasets.validation import validate_jsonl
from services.jobs.api_models import FileInfo, JobInfo
from services.jobs.backends import BackendChoice
from services.jobs.client import LearningClient
from services.jobs.errors import (
    BackendError,
    BackendServerError,
    BackendTimeout,
    BackendUnreachable,
    SubmissionRefused,
    UploadedButNotCreated,
)
from services.jobs.store import JobRecord, JobStore, new_submission_id

CREATE_ATTEMPTS = 3
#: A step of :func:`submit`: ``(name, text)``; names: upload, ready, create, retry, start, warn.
OnStep = Callable[[str, str], None]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------ the model check


def local_model_check(served: Collection[str] = ()) -> Callable[[str], str]:
    """The local backend's base-model check: ``served`` are the ids it answers for (``/v1/models``);
    a fine-tuned id (``peft:…``) is not a base. Raises :class:`ModelRefused` with what to do."""
    from services.training.protocol import TINY_QWEN3, parse_model_id
    from services.training.server.base_models import cached_snapshot

    bases = {TINY_QWEN3, *(m for m in served if parse_model_id(m) is None)}

    def check(model: str) -> str:
        name = model.strip()
        if not name:
            raise ModelRefused("Model identifier is empty")
        if parse_model_id(name) is not None:
            raise ModelRefused(f"{name} is a fine-tuned model id; SFT starts from a base model")
        if name in bases:
            return name
        folder = Path(name).expanduser()
        if folder.is_dir():
            if not (folder / "config.json").is_file():
                raise ModelRefused(f"base model folder {folder} has no config.json (not a transformers model)")
            return str(folder.resolve())
        if cached_snapshot(name, None) is not None:
            return name
        raise ModelRefused(
            f"The local backend cannot train {name!r}: it is not the built-in {TINY_QWEN3}, a local model folder, "
            f"or in the Hugging Face cache. Fetch it (`hf download {name}`), use a local folder, or set "
            f'[job].model = "{TINY_QWEN3}".'
        )

    return check


def model_check_for(choice: BackendChoice, client: LearningClient | None) -> Callable[[str], str] | None:
    """The check for ``choice``: None (the hosted catalogue) unless it is the local backend, whose
    served ids are asked from it when a client is open."""
    if choice.kind != "local":
        return None
    served: list[str] = []
    if client is not None:
        try:
            served = client.served_models()
        except BackendError:
            served = []
    return local_model_check(served)


def model_check_for_flag(backend: str | None) -> Callable[[str], str] | None:
    """``config validate --backend``'s check: the local backend's when ``backend`` is ``local`` (asking
    a running one for the ids it serves; none is started for a check), else the hosted catalogue."""
    if (backend or "").strip().lower() != "local":
        return None
    served: list[str] = []
    try:
        from services.jobs.backends import open_client, resolve_backend
        from services.training.server.lifecycle import running_server

        choice = resolve_backend("local")
        if running_server(choice.data_dir) is not None:
            with open_client(choice) as client:
                served = client.served_models()
    except (BackendError, OSError):
        served = []
    return local_model_check(served)


# ------------------------------------------------------------------------------------ the plan


@dataclass
class SubmissionPlan:
    """Everything a submission will do, decided before anything is sent."""

    choice: BackendChoice
    config_path: Path
    config_sha256: str
    dataset_path: Path  # as given (the --examples subset is upload_path)
    dataset_sha256: str  # of the uploaded file
    upload_path: Path
    upload_name: str
    examples: int  # examples in the uploaded file
    examples_limit: int | None
    validation_path: Path | None
    validation_sha256: str | None
    validation_examples: int | None
    report: ConfigReport
    submission_id: str
    warnings: list[str] = field(default_factory=list)
    temp_dir: Path | None = None

    def payload(
        self, training_file_id: str = TRAINING_PLACEHOLDER, validation_file_id: str | None = None
    ) -> dict[str, Any]:
        """The body POSTed to ``/learning/jobs``: the Configs pane's payload with these file ids,
        plus ``metadata.submission_id``."""
        if validation_file_id is None and self.validation_path is not None:
            validation_file_id = VALIDATION_PLACEHOLDER
        body = job_payload(self.report, training_file_id=training_file_id, validation_file_id=validation_file_id)
        body = copy.deepcopy(body)
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            metadata = body["metadata"] = {}
        metadata["submission_id"] = self.submission_id
        return body

    def describe(self) -> list[str]:
        """The dry run's lines: what would be uploaded, created and started, and the exact body."""
        lines = [
            f"Backend: {self.choice.label()}",
            f"Config: {self.config_path} (sha256 {self.config_sha256[:12]})",
        ]
        subset = f", the first {self.examples_limit} of the file (--examples)" if self.examples_limit else ""
        lines.append(
            f"Training file: {self.dataset_path} ({self.examples} examples{subset}; sha256 {self.dataset_sha256[:12]})"
        )
        if self.validation_path is not None:
            lines.append(
                f"Validation file: {self.validation_path} ({self.validation_examples} examples, not subset; "
                f"sha256 {(self.validation_sha256 or '')[:12]})"
            )
        steps = ["upload the training file"]
        if self.validation_path is not None:
            steps.append("upload the validation file")
        steps += ["wait until ready", "POST /learning/jobs", "POST /learning/jobs/{id}/start"]
        lines.append("Would: " + " → ".join(steps))
        lines += [f"Warning: {w}" for w in self.warnings]
        lines.append("Payload (file ids are filled in after the upload):")
        lines += json.dumps(self.payload(), indent=2, ensure_ascii=False).splitlines()
        return lines

    def cleanup(self) -> None:
        if self.temp_dir is not None:
            import shutil

            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


def _subset(path: Path, limit: int) -> tuple[Path, Path, int]:
    """The first ``limit`` non-blank lines of ``path`` in a temp file (folder, file, lines written)."""
    folder = Path(tempfile.mkdtemp(prefix="sft_subset_"))
    target = folder / f"{path.stem}.head{limit}{path.suffix}"
    written = 0
    try:
        with path.open("rb") as src, target.open("wb") as dst:
            for line in src:
                if not line.strip():
                    continue
                dst.write(line if line.endswith(b"\n") else line + b"\n")
                written += 1
                if written >= limit:
                    break
    except OSError as exc:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise SubmissionRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    return folder, target, written


def _config_refusal(report: ConfigReport, choice: BackendChoice) -> SubmissionRefused:
    lines = []
    if report.cli_error:
        lines.append(report.cli_error)
    for finding in report.findings:
        if finding.level is Level.ERROR and not (report.cli_error and finding.message in report.cli_error):
            where = finding.path or "(file)"
            lines.append(f"{where}{f' (line {finding.line})' if finding.line else ''}: {finding.message}")
    hint = "Fix it (`sft-studio config validate FILE` lists every problem); nothing was sent."
    if any(f.path == "job.model" for f in report.errors):
        if choice.kind == "local":
            hint += " The local backend trains its built-in model, local model folders and cached Hugging Face ids."
        else:
            hint += (
                " The hosted backend trains synth-ai 0.2.23's catalogue; --backend local also trains "
                "sft-studio/tiny-qwen3, local folders and cached Hugging Face ids."
            )
    return SubmissionRefused(f"the config {report.path} is refused:\n  " + "\n  ".join(lines[:20]), hint)


def plan_submission(
    config_path: Path,
    dataset_path: Path | None,
    *,
    validation_path: Path | None = None,
    examples: int | None = None,
    choice: BackendChoice,
    client: LearningClient | None = None,
    cwd: Path | None = None,
    allow_experimental: bool | None = None,
) -> SubmissionPlan:
    """Check config and dataset as ``config validate`` and ``validate`` do; :class:`SubmissionRefused`
    (nothing sent) when either refuses. ``client``: asked for the local backend's models."""
    if examples is not None and examples <= 0:
        raise SubmissionRefused("Example limit must be positive", "Pass --examples N with N ≥ 1.")
    report = check_file(
        config_path,
        dataset=dataset_path,
        require_dataset=True,
        cwd=cwd,
        allow_experimental=allow_experimental,
        model_check=model_check_for(choice, client),
    )
    if not report.submittable or report.payload is None or report.train_file is None:
        raise _config_refusal(report, choice)
    train = Path(report.train_file)
    validation = validation_path
    if validation is None and report.validation_file:
        validation = Path(report.validation_file)
    elif validation is not None:
        validation = (cwd or Path.cwd()) / validation if not validation.is_absolute() else validation
        if not validation.is_file():
            raise SubmissionRefused(f"Validation dataset not found: {validation.resolve()}")
    warnings = [f.message for f in report.warnings]
    temp_dir: Path | None = None
    upload = train
    if examples is not None:
        temp_dir, upload, _ = _subset(train, examples)
    try:
        checked = validate_jsonl(upload)
        if not checked.ok:
            text = checked.failure_text()
            if upload != train:
                text = text.replace(str(upload), f"{train} (first {examples} examples)")
            raise SubmissionRefused(text, "Fix the dataset (`sft-studio validate FILE`); nothing was sent.")
        val_examples: int | None = None
        val_sha: str | None = None
        if validation is not None:
            val_report = validate_jsonl(validation)
            if not val_report.ok:
                raise SubmissionRefused(
                    val_report.failure_text(), "Fix the validation file (`sft-studio validate FILE`); nothing was sent."
                )
            val_examples = val_report.examples
            val_sha = sha256_of(validation)
        config_sha = sha256_of(config_path)
        data_sha = sha256_of(upload)
    except BaseException:
        if temp_dir is not None:
            import shutil

            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return SubmissionPlan(
        choice=choice,
        config_path=config_path.resolve(),
        config_sha256=config_sha,
        dataset_path=train,
        dataset_sha256=data_sha,
        upload_path=upload,
        upload_name=upload.name if examples is None else train.name,
        examples=checked.examples,
        examples_limit=examples,
        validation_path=validation.resolve() if validation is not None else None,
        validation_sha256=val_sha,
        validation_examples=val_examples,
        report=report,
        submission_id=new_submission_id(),
        warnings=warnings,
        temp_dir=temp_dir,
    )


# ---------------------------------------------------------------------------------- submitting


@dataclass
class SubmittedJob:
    job_id: str
    job: JobInfo
    record: JobRecord | None
    training_file: FileInfo
    validation_file: FileInfo | None
    submission_id: str
    payload: dict[str, Any]
    started: bool
    reused: bool = False  # the create's answer was lost and the job was found by its submission id


class CreatedButNotStarted(BackendError):
    """The job exists but ``/start`` failed; ``job_id`` names it (it is in the local store)."""

    def __init__(self, job_id: str, cause: BackendError) -> None:
        super().__init__(
            f"job {job_id} was created but did not start: {cause.message}",
            cause.hint or f"It is recorded locally; cancel it with `sft-studio jobs cancel {job_id}` or submit again.",
        )
        self.job_id = job_id
        self.cause = cause


_TRANSIENT = (BackendUnreachable, BackendTimeout, BackendServerError)


def _create(
    client: LearningClient, payload: dict[str, Any], submission_id: str, step: OnStep, file_ids: list[str]
) -> tuple[JobInfo, bool]:
    """Create the job once: after a network failure, look for it before creating again."""
    last: BackendError | None = None
    for attempt in range(CREATE_ATTEMPTS):
        if attempt:
            try:
                found = client.find_submission(submission_id)
            except BackendError as exc:
                raise UploadedButNotCreated(exc, file_ids) from None
            if found is not None:
                step("retry", f"the job exists already ({found.job_id}); not creating another")
                return found, True
            step("retry", f"creating again (attempt {attempt + 1} of {CREATE_ATTEMPTS})")
        try:
            return client.create_job(payload), False
        except _TRANSIENT as exc:
            last = exc
            step("warn", f"creating the job failed: {exc.message}")
            time.sleep(min(0.5 * 2**attempt, 4.0))
        except BackendError as exc:
            raise UploadedButNotCreated(exc, file_ids) from None
    assert last is not None
    try:
        found = client.find_submission(submission_id)
    except BackendError:
        found = None
    if found is not None:
        return found, True
    raise UploadedButNotCreated(last, file_ids)


def _remember(store: JobStore, step: OnStep, record: JobRecord) -> JobRecord | None:
    """Record the job locally; a store that cannot be written is a warning, not a failure: the job
    exists on the backend, and saying so matters more than our copy of it."""
    try:
        return store.add(record)
    except Exception as exc:  # SQLAlchemy/OS errors of our own bookkeeping
        step("warn", f"could not record job {record.job_id} locally ({type(exc).__name__}: {exc})")
        return None


def submit(
    plan: SubmissionPlan,
    client: LearningClient,
    store: JobStore | None,
    *,
    on_step: OnStep | None = None,
    ready_timeout: float = 10.0,
) -> SubmittedJob:
    """Upload → readiness → create (once) → record locally → start. Raises :class:`BackendError`
    subclasses; :class:`UploadedButNotCreated` names uploaded files when no job came of them."""
    step = on_step or (lambda name, text: None)
    step("upload", f"uploading {plan.upload_name} ({plan.examples} examples)")
    train = client.upload_file(plan.upload_path, filename=plan.upload_name, ready_timeout=ready_timeout)
    if not train.ready:
        step("warn", f"{train.file_id} is still {train.status or 'processing'} after {ready_timeout:g} s; going on")
    step("ready", f"uploaded {train.file_id}")
    file_ids = [train.file_id]
    validation: FileInfo | None = None
    if plan.validation_path is not None:
        step("upload", f"uploading {plan.validation_path.name} (validation)")
        try:
            validation = client.upload_file(plan.validation_path, ready_timeout=ready_timeout)
        except BackendError as exc:
            raise UploadedButNotCreated(exc, file_ids) from None
        file_ids.append(validation.file_id)
        step("ready", f"uploaded {validation.file_id}")
    payload = plan.payload(train.file_id, validation.file_id if validation else None)
    step("create", "creating the job")
    job, reused = _create(client, payload, plan.submission_id, step, file_ids)
    record: JobRecord | None = None
    job_record = JobRecord(
        backend=plan.choice.store_label,
        base_url=client.shown_url,
        job_id=job.job_id,
        config_path=str(plan.config_path),
        config_sha256=plan.config_sha256,
        dataset_path=str(plan.dataset_path),
        dataset_sha256=plan.dataset_sha256,
        validation_path=str(plan.validation_path) if plan.validation_path else None,
        validation_sha256=plan.validation_sha256,
        payload=payload,
        submission_id=plan.submission_id,
        base_model=str(payload.get("model") or "") or None,
        last_status=job.status or None,
    )
    if store is not None:
        record = _remember(store, step, job_record)
    from services.ledger.hooks import on_submit

    on_submit(job_record, plan.examples)  # issue 15's runs ledger: config + dataset links (best effort)
    step("start", f"starting {job.job_id}")
    try:
        client.start_job(job.job_id)
    except _TRANSIENT as exc:
        step("warn", f"starting failed ({exc.message}); trying once more (a second start is harmless)")
        try:
            client.start_job(job.job_id)
        except BackendError as again:
            raise CreatedButNotStarted(job.job_id, again) from None
    except BackendError as exc:
        raise CreatedButNotStarted(job.job_id, exc) from None
    return SubmittedJob(
        job_id=job.job_id,
        job=job,
        record=record,
        training_file=train,
        validation_file=validation,
        submission_id=plan.submission_id,
        payload=payload,
        started=True,
        reused=reused,
    )

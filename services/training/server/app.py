"""The Synth learning API, as the local backend serves it under ``/api`` (synth_backend_api.md §6).

Files (``POST /files``, alias ``/learning/files``; ``GET /files/{id}``; ``GET /files``), jobs
(create, start, get, status, events, metrics, timeline, cancel, list, config), models (list, get)
and ``GET /health``, the only route without the bearer key. Errors are JSON: 401 for a wrong or
missing key, 404 for an unknown id, 409 for cancelling a finished job, 400 with the field for a bad
payload (``{"detail": message, "field": path, "code": short name}``).

Field names, statuses (§7), event types (§8), metric names (§9) and model ids (§10) are the hosted
backend's, so a client written for it (synth-ai's CLI, our job client) needs no special case.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.atomic import AtomicFile
from services.common.version import package_version
from services.configs.payload import _lora_value_problem, hyperparameters
from services.configs.report import CliStop
from services.datasets.validation import MAX_ISSUES, validate_jsonl
from services.training.protocol import TINY_QWEN3, parse_model_id
from services.training.server.auth import bearer_matches
from services.training.server.base_models import BaseModelUnavailable, resolve_base
from services.training.server.runner import JobRunner, stored_file_path
from services.training.server.settings import DB_FILE, ServerSettings
from services.training.server.store import TERMINAL, JobRow, Store, file_json

API = "/api"
INFERENCE_ROUTES = "services.training.inference.routes"
OPEN_PATHS = frozenset({"/health", f"{API}/health"})
DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
LORA_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")
TRAIN_KINDS = ("peft", "fft")
UPLOAD_CHUNK = 1 << 20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiError(Exception):
    """An error answer: status, message, and the payload field it is about."""

    def __init__(self, status: int, detail: str, *, code: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.field = field


def _error_body(status: int, detail: str, code: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


class BearerAuth:
    """Pure ASGI middleware: every HTTP request but ``/health`` needs ``Authorization: Bearer KEY``.
    (Pure ASGI, not BaseHTTPMiddleware, so it adds microseconds to a poll, not milliseconds.)"""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            header = None
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            if not bearer_matches(header, self.key):
                detail = "missing API key" if header is None else "wrong API key"
                response = _error_body(401, f"{detail}: send Authorization: Bearer <key>", "unauthorized")
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------ job payloads


def _clean_hyperparameters(raw: Any) -> dict[str, Any]:
    """The CLI's range checks (services/configs), then the backend's own: LoRA extras and train_kind."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ApiError(
            400, "hyperparameters must be an object", code="invalid_hyperparameters", field="hyperparameters"
        )
    try:
        checked = hyperparameters(raw)
    except CliStop as stop:
        message = str(stop)
        field = message.split(" ", 1)[0] if message.startswith("hyperparameters.") else "hyperparameters"
        raise ApiError(400, message, code="invalid_hyperparameters", field=field) from None
    for key in LORA_KEYS:
        if key in checked:
            problem = _lora_value_problem(key, checked[key])
            if problem:
                raise ApiError(400, problem, code="invalid_hyperparameters", field=f"hyperparameters.{key}")
    if "parallelism" in checked and not isinstance(checked["parallelism"], dict):
        raise ApiError(
            400, "parallelism must be an object", code="invalid_hyperparameters", field="hyperparameters.parallelism"
        )
    if "weight_decay" in checked:
        decay = checked["weight_decay"]
        if isinstance(decay, bool) or not isinstance(decay, int | float) or decay < 0:
            raise ApiError(
                400,
                f"weight_decay must be a number ≥ 0 (got {decay!r})",
                code="invalid_hyperparameters",
                field="hyperparameters.weight_decay",
            )
    return checked


def _train_kind(hp: dict[str, Any], metadata: dict[str, Any]) -> str:
    """``hyperparameters.train_kind`` (peft or fft); when absent, LoRA if the effective config's
    training mode says so (``lora``/``qlora`` or ``use_qlora``), else full fine-tuning."""
    kind = hp.get("train_kind")
    if kind is not None:
        norm = str(kind).strip().lower()
        if norm not in TRAIN_KINDS:
            raise ApiError(
                400,
                f"hyperparameters.train_kind must be 'peft' (LoRA) or 'fft' (all weights), got {kind!r}",
                code="invalid_hyperparameters",
                field="hyperparameters.train_kind",
            )
        return norm
    effective = metadata.get("effective_config") if isinstance(metadata, dict) else None
    training = effective.get("training") if isinstance(effective, dict) else None
    if isinstance(training, dict) and (
        str(training.get("mode", "")).lower() in ("lora", "qlora") or training.get("use_qlora") is True
    ):
        return "peft"
    return "fft"


def _validation_file_id(body: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    """``validation_file`` (LearningClient) or the CLI's ``effective_config.data.validation_files[0]``."""
    direct = body.get("validation_file")
    if isinstance(direct, str) and direct:
        return direct
    effective = metadata.get("effective_config")
    data = effective.get("data") if isinstance(effective, dict) else None
    files = data.get("validation_files") if isinstance(data, dict) else None
    if isinstance(files, list) and files and isinstance(files[0], str):
        return files[0]
    return None


def job_json(row: JobRow) -> dict[str, Any]:
    """``GET /learning/jobs/{id}`` (§6 row 5)."""
    return {
        "id": row.id,
        "job_id": row.id,
        "object": "job",
        "status": row.status,
        "model": row.model,
        "model_id": row.model,
        "training_type": row.training_type,
        "training_file_id": row.training_file_id,
        "validation_file": row.validation_file_id,
        "hyperparameters": row.hyperparameters,
        "metadata": row.job_metadata,
        "train_kind": row.train_kind,
        "fine_tuned_model": row.fine_tuned_model,
        "error": row.error,
        "progress": row.progress,
        "linked_job_id": None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "finished_at": row.finished_at,
    }


def fast_json(body: Any) -> Response:
    """A JSON response serialised by orjson, skipping FastAPI's response validation and encoder:
    a poll of 200 events spends most of its time there otherwise."""
    return Response(orjson.dumps(body), media_type="application/json")


def _limit(value: int | None, default: int = DEFAULT_LIMIT) -> int:
    if value is None:
        return default
    if value < 1:
        raise ApiError(400, "limit must be at least 1", code="invalid_query", field="limit")
    return min(value, MAX_LIMIT)


# --------------------------------------------------------------------------------------------- app


def inference_router(store: Store, settings: ServerSettings) -> APIRouter | None:
    """The OpenAI-compatible routes (``/v1/models``, ``/v1/chat/completions``) when this build has
    them (services/training/inference/routes.py), wired to this server's models: a fine-tuned id
    is looked up in the store, any other id resolved as a job's base would be (the built-in tiny
    model, a local folder, the Hugging Face cache), but never through a stand-in: a chat answer
    must come from the model it names."""
    if importlib.util.find_spec("services.training.inference") is None:
        return None
    if importlib.util.find_spec(INFERENCE_ROUTES) is None:
        return None
    make = getattr(importlib.import_module(INFERENCE_ROUTES), "make_inference_router", None)
    if make is None:
        return None

    def resolve(model_id: str) -> Path | None:
        found = store.model_path(model_id)
        if found is not None or parse_model_id(model_id) is not None:
            return found
        try:
            return resolve_base(
                model_id,
                data_dir=settings.data_dir,
                stand_ins={},
                tiny_builder=settings.tiny_builder,
                hub_cache=settings.hub_cache,
            ).path
        except BaseModelUnavailable:
            return None

    def list_models() -> list[str]:
        return [TINY_QWEN3, *(m["id"] for m in store.list_models(MAX_LIMIT))]

    router: APIRouter = make(resolve, list_models)
    return router


def create_app(
    settings: ServerSettings,
    *,
    extra_routers: Sequence[APIRouter] = (),
    start_runner: bool = True,
    with_inference: bool = False,
) -> FastAPI:
    """The ASGI app. Its lifespan opens the store, fails jobs a previous server left active, and runs
    the job runner. ``with_inference`` mounts the OpenAI-compatible routes (``backend serve`` does;
    they start an inference worker); ``extra_routers`` are mounted as given."""
    backend = settings.backend_dir
    backend.mkdir(parents=True, exist_ok=True)
    store = Store(backend / DB_FILE)
    runner = JobRunner(store, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.fail_interrupted_jobs()
        if start_runner:
            runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(title="sft-studio local backend", version=package_version(), lifespan=lifespan, docs_url=None)
    app.state.store = store
    app.state.runner = runner
    app.state.settings = settings

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error_body(exc.status, exc.detail, exc.code, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or None
        return _error_body(
            400, f"{field or 'request'}: {first.get('msg', 'invalid request')}", "invalid_request", field
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _error_body(exc.status_code, str(exc.detail), code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A JSON answer, never a traceback page; the server goes on serving.
        return _error_body(500, f"internal error: {type(exc).__name__}: {exc}", "internal_error")

    def job_or_404(job_id: str) -> JobRow:
        row = store.get_job(job_id)
        if row is None:
            raise ApiError(404, f"job {job_id} not found", code="job_not_found", field="job_id")
        return row

    # ------------------------------------------------------------------------------- health

    def health() -> dict[str, Any]:
        return {"status": "ok", "service": "sft-studio-backend", "version": package_version(), "pid": os.getpid()}

    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route(f"{API}/health", health, methods=["GET"])

    # -------------------------------------------------------------------------------- files

    def upload(file: UploadFile = File(...), purpose: str = Form("fine-tune")) -> dict[str, Any]:  # noqa: B008
        files_dir = backend / "files"
        files_dir.mkdir(parents=True, exist_ok=True)
        try:
            out = AtomicFile(files_dir / "incoming.jsonl", digest=True)
            try:
                while chunk := file.file.read(UPLOAD_CHUNK):
                    out.write(chunk)
                out.commit()
                sha = out.hexdigest()
                target = stored_file_path(backend, sha)
                if not target.exists():
                    os.replace(out.tmp, target)
            finally:
                out.discard()
        except OSError as exc:  # a full disk: say so, keep nothing half-written
            raise ApiError(
                507, f"cannot store the upload: {exc.strerror or exc}", code="storage_failed", field="file"
            ) from None
        report = validate_jsonl(target)
        reasons = report.issues[:MAX_ISSUES]
        name = Path(file.filename or "upload.jsonl").name
        return store.add_file(
            sha256=sha,
            purpose=purpose,
            size=out.size,
            filename=name,
            status="ready" if not reasons else "failed",
            reasons=[r.replace(str(target), name) for r in reasons],
            examples=report.examples,
        )

    app.add_api_route(f"{API}/files", upload, methods=["POST"])
    app.add_api_route(f"{API}/learning/files", upload, methods=["POST"])

    @app.get(f"{API}/files")
    def list_files(purpose: str | None = None, limit: int | None = None) -> dict[str, Any]:
        return {"object": "list", "data": store.list_files(purpose, _limit(limit, 100))}

    @app.get(f"{API}/files/{{file_id}}")
    def get_file(file_id: str) -> dict[str, Any]:
        row = store.get_file_row(file_id)
        if row is None:
            raise ApiError(404, f"file {file_id} not found", code="file_not_found", field="file_id")
        return file_json(row)

    # --------------------------------------------------------------------------------- jobs

    @app.post(f"{API}/learning/jobs")
    async def create_job(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the body must be a JSON object", code="invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object", code="invalid_json")
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            raise ApiError(400, "model is required (the base model to fine-tune)", code="missing_model", field="model")
        training_type = body.get("training_type") or "sft_offline"
        if training_type not in ("sft_offline", "sft"):
            raise ApiError(
                400,
                f"training_type {training_type!r} is not served here (this backend trains sft_offline)",
                code="unsupported_training_type",
                field="training_type",
            )
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be an object", code="invalid_metadata", field="metadata")
        hp = _clean_hyperparameters(body.get("hyperparameters"))
        kind = _train_kind(hp, metadata)
        training_file = body.get("training_file_id") or body.get("training_file")
        if not isinstance(training_file, str) or not training_file:
            raise ApiError(400, "training_file_id is required", code="missing_training_file", field="training_file_id")
        if store.get_file_row(training_file) is None:
            raise ApiError(404, f"file {training_file} not found", code="file_not_found", field="training_file_id")
        validation = _validation_file_id(body, metadata)
        if validation is not None and store.get_file_row(validation) is None:
            raise ApiError(404, f"file {validation} not found", code="file_not_found", field="validation_file")
        row = store.create_job(
            payload=body,
            model=model.strip(),
            training_type=training_type,
            hyperparameters=hp,
            metadata=copy.deepcopy(metadata),
            training_file_id=training_file,
            validation_file_id=validation,
            train_kind=kind,
        )
        store.add_event(
            row.id,
            "sft.created",
            f"Job created for {row.model} ({kind})",
            data={"model": row.model, "train_kind": kind, "training_file_id": training_file},
        )
        return job_json(job_or_404(row.id))

    @app.get(f"{API}/learning/jobs")
    def list_jobs(
        status: str | None = None, type: str | None = None, created_after: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        rows = store.list_jobs(status=status, training_type=type, created_after=created_after, limit=_limit(limit, 50))
        jobs = [job_json(r) for r in rows]
        return {"object": "list", "jobs": jobs, "data": jobs}

    @app.post(f"{API}/learning/jobs/{{job_id}}/start")
    def start_job(job_id: str) -> dict[str, Any]:
        job_or_404(job_id)
        if store.request_start(job_id):
            store.add_event(job_id, "sft.status", "Job queued for training", data={"status": "queued"})
            runner.wake()
        return job_json(job_or_404(job_id))

    @app.get(f"{API}/learning/jobs/{{job_id}}")
    async def get_job(job_id: str) -> Response:
        return fast_json(job_json(job_or_404(job_id)))

    # The three polls are ``async def``: they run on the event loop without a threadpool hop. Their
    # queries are sub-millisecond reads that WAL mode never blocks on the runner's writes.

    def exists_or_404(job_id: str) -> None:
        if store.job_status(job_id) is None:
            raise ApiError(404, f"job {job_id} not found", code="job_not_found", field="job_id")

    @app.get(f"{API}/learning/jobs/{{job_id}}/status")
    async def job_status(job_id: str) -> Response:
        status = store.job_status(job_id)
        if status is None:
            raise ApiError(404, f"job {job_id} not found", code="job_not_found", field="job_id")
        return fast_json(status)

    @app.get(f"{API}/learning/jobs/{{job_id}}/events")
    async def job_events(job_id: str, since_seq: int = 0, limit: int | None = None) -> Response:
        events = store.events(job_id, since_seq, _limit(limit))
        if not events:
            exists_or_404(job_id)
        return fast_json({"job_id": job_id, "events": events, "next_seq": events[-1]["seq"] if events else since_seq})

    @app.get(f"{API}/learning/jobs/{{job_id}}/metrics")
    async def job_metrics(
        job_id: str,
        name: str | None = None,
        after_step: int | None = None,
        limit: int | None = None,
        run_id: str | None = None,
    ) -> Response:
        points = store.metrics(job_id, name=name, after_step=after_step, limit=_limit(limit))
        if not points:
            exists_or_404(job_id)
        return fast_json({"job_id": job_id, "points": points})

    @app.get(f"{API}/learning/jobs/{{job_id}}/timeline")
    def job_timeline(job_id: str, limit: int | None = None) -> dict[str, Any]:
        job_or_404(job_id)
        return {"job_id": job_id, "events": store.timeline(job_id, _limit(limit))}

    @app.post(f"{API}/learning/jobs/{{job_id}}/cancel")
    def cancel_job(job_id: str) -> JSONResponse:
        row = job_or_404(job_id)
        if row.status in TERMINAL:
            raise ApiError(409, f"job {job_id} already {row.status}; nothing to cancel", code="job_finished")
        runner.cancel(job_id)
        row = job_or_404(job_id)
        body = job_json(row)
        return JSONResponse(body, status_code=200 if row.status in TERMINAL else 202)

    @app.get(f"{API}/learning/jobs/{{job_id}}/config")
    def job_config(job_id: str) -> dict[str, Any]:
        row = job_or_404(job_id)
        return {
            "job_id": row.id,
            "model": row.model,
            "training_type": row.training_type,
            "train_kind": row.train_kind,
            "hyperparameters": row.hyperparameters,
            "metadata": row.job_metadata,
            "training_file_id": row.training_file_id,
            "validation_file": row.validation_file_id,
            "payload": row.payload,
        }

    # ------------------------------------------------------------------------------- models

    @app.get(f"{API}/learning/models")
    def list_models(limit: int | None = None) -> dict[str, Any]:
        return {"object": "list", "data": store.list_models(_limit(limit, 100))}

    @app.get(f"{API}/learning/models/rl")
    def list_rl_models() -> dict[str, Any]:
        return {"object": "list", "data": []}

    @app.get(f"{API}/learning/models/{{model_id:path}}")
    def get_model(model_id: str) -> dict[str, Any]:
        found = store.get_model(model_id)
        if found is None:
            raise ApiError(404, f"model {model_id} not found", code="model_not_found", field="model_id")
        return found

    routers = list(extra_routers)
    if with_inference:
        served = inference_router(store, settings)
        if served is not None:
            routers.append(served)
    for router in routers:
        app.include_router(router)

    app.add_middleware(BearerAuth, key=settings.key)
    return app

"""An httpx client for the Synth learning API (synth_backend_api.md §5–§6), sync, typed, masked.

Why not synth-ai's ``LearningClient``: importing it installs signal handlers that never exit (§14
defect 5), it swallows errors (defect 12) and reads only one list shape (defect 14). This one:

* accepts a base with or without ``/api`` (never ``/api/v1``) and appends ``/api`` once (§5);
* gives each call the doc's timeout (upload 300 s, create/start 60 s, file GET 30 s, polls 60 s);
* retries with exponential backoff on connect errors, timeouts, 429 and 5xx **only** for idempotent
  calls (GETs, and uploads: a duplicate file is harmless, a duplicate job is not);
* raises a :class:`~services.jobs.errors.BackendError` subclass for every failure, its text passed
  through :func:`~services.common.secrets.redact` so the key never shows;
* parses answers tolerantly (:mod:`services.jobs.api_models`).

Pass ``transport=`` to talk to an in-process app (tests) or a mock.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from services.common.listen import is_loopback_url
from services.common.secrets import mask_url, redact, url_secrets
from services.jobs.api_models import FileInfo, JobEvent, JobInfo, MetricPoint, ModelInfo, list_in
from services.jobs.errors import (
    BackendAuthError,
    BackendBadResponse,
    BackendConflict,
    BackendError,
    BackendNotFound,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnreachable,
)

DEFAULT_LIMIT = 200
MAX_METRIC_PAGES = 1000
SNIPPET = 200


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds per kind of call (§5)."""

    upload: float = 300.0
    create: float = 60.0
    file_get: float = 30.0
    poll: float = 60.0
    default: float = 30.0
    connect: float = 10.0


def normalise_base_url(url: str) -> str:
    """``http://host:port`` or ``…/api`` or ``…/api/`` → ``…/api`` (§5: ``/api`` appended once, ``/v1``
    never stripped)."""
    base = url.strip().rstrip("/")
    if not base:
        raise ValueError("empty backend URL")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {mask_url(base)}")
    while base.endswith("/api/api"):
        base = base[: -len("/api")]
    return base if base.endswith("/api") else base + "/api"


def _detail(response: httpx.Response) -> str:
    """The server's reason in one line: JSON ``detail``/``error``/``message``, else a text snippet."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict):
                inner = value.get("message") or value.get("detail")
                if isinstance(inner, str):
                    return inner
            if isinstance(value, list) and value:
                first = value[0]
                if isinstance(first, dict) and isinstance(first.get("msg"), str):
                    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
                    return f"{loc}: {first['msg']}" if loc else str(first["msg"])
                return str(first)
    text = response.text.strip()
    if _looks_html(response):
        return "an HTML page"
    return " ".join(text.split())[:SNIPPET] or response.reason_phrase or f"HTTP {response.status_code}"


def _has_list(body: Any, *keys: str) -> bool:
    return isinstance(body, list) or (isinstance(body, dict) and any(isinstance(body.get(k), list) for k in keys))


def _looks_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    head = response.text.lstrip()[:64].lower()
    return "html" in kind or head.startswith(("<!doctype", "<html"))


class LearningClient:
    """One backend (base URL + key). Thread-compatible: one client per thread, or serialise calls."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeouts: Timeouts | None = None,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "sft-studio",
    ) -> None:
        try:
            self.base_url = normalise_base_url(base_url)
        except ValueError as exc:
            raise BackendError(f"bad backend URL: {exc}", "Pass --backend http(s)://HOST[:PORT][/api]") from None
        self._key = api_key
        self.timeouts = timeouts or Timeouts()
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._upload_path = "/files"
        self._secrets = [api_key, *url_secrets(base_url)]
        if transport is None:
            # TCP_NODELAY, as curl and aiohttp set it: without it Nagle's algorithm can hold a request's
            # last segment for the peer's delayed ACK (tens of ms on loopback).
            transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx.Timeout(self.timeouts.default, connect=self.timeouts.connect),
            trust_env=False,
            follow_redirects=False,
        )
        #: How many HTTP requests this client has sent (tests and the bench count them).
        self.requests_sent = 0

    # ------------------------------------------------------------------------------------- basics

    @property
    def is_loopback(self) -> bool:
        return is_loopback_url(self.base_url)

    @property
    def shown_url(self) -> str:
        return mask_url(self.base_url)

    def __repr__(self) -> str:
        return f"LearningClient({self.shown_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LearningClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _error(self, kind: type[BackendError], message: str, hint: str | None = None) -> BackendError:
        return kind(message, hint, secrets=self._secrets)

    def _http_error(self, response: httpx.Response, what: str) -> BackendError:
        status = response.status_code
        detail = _detail(response)
        if status in (401, 403):
            return self._error(
                BackendAuthError,
                f"{what}: the backend refused the key (HTTP {status}: {detail})",
                "Check SYNTH_API_KEY (for the local backend: `sft-studio backend key`).",
            )
        if status == 404:
            return self._error(BackendNotFound, f"{what}: not found (HTTP 404: {detail})")
        if status == 409:
            return self._error(BackendConflict, f"{what}: {detail} (HTTP 409)")
        if status >= 500:
            return self._error(BackendServerError, f"{what}: the backend failed (HTTP {status}: {detail})")
        if status == 429:
            return self._error(BackendServerError, f"{what}: rate limited (HTTP 429: {detail})", "Try again later.")
        if _looks_html(response) or 300 <= status < 400:
            return self._error(
                BackendBadResponse,
                f"{what}: HTTP {status} with {detail} from {self.shown_url}",
                "Is the backend URL the learning API's address (ending in /api)?",
            )
        error = BackendRejected(f"{what}: {detail} (HTTP {status})", status=status, secrets=self._secrets)
        return error

    def _retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            after = response.headers.get("retry-after")
            if after:
                try:
                    return min(float(after), self.max_backoff_s)
                except ValueError:
                    pass
        delay: float = min(self.backoff_s * (2**attempt), self.max_backoff_s)
        return delay * (0.75 + random.random() * 0.5)  # jitter: clients of one backend do not align

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        timeout: float,
        idempotent: bool,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        files: Callable[[], Any] | None = None,
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call with retries (idempotent only); returns a 2xx response or raises."""
        attempts = self.retries + 1 if idempotent else 1
        last: BackendError | None = None
        for attempt in range(attempts):
            response: httpx.Response | None = None
            try:
                self.requests_sent += 1
                response = self._http.request(
                    method,
                    path,
                    params={k: v for k, v in (params or {}).items() if v is not None} or None,
                    json=json_body,
                    content=content,
                    files=files() if files is not None else None,
                    data=data,
                    timeout=httpx.Timeout(timeout, connect=min(timeout, self.timeouts.connect)),
                )
            except httpx.TimeoutException:
                last = self._error(
                    BackendTimeout,
                    f"{what}: no answer from {self.shown_url} within {timeout:g} s",
                    "The backend may be overloaded; try again.",
                )
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
                last = self._error(
                    BackendUnreachable,
                    f"{what}: cannot reach {self.shown_url} ({reason})",
                    "Is the backend running, and is the URL right? (--backend URL|local)",
                )
            else:
                if response.is_success:
                    return response
                error = self._http_error(response, what)
                if not (response.status_code == 429 or response.status_code >= 500):
                    raise error
                last = error
            if attempt + 1 < attempts:
                self._sleep(self._retry_delay(attempt, response))
        assert last is not None
        raise last

    def _json(self, response: httpx.Response, what: str) -> Any:
        if _looks_html(response):
            raise self._error(
                BackendBadResponse,
                f"{what}: {self.shown_url} answered an HTML page, not JSON",
                "Is the backend URL the learning API's address (ending in /api)?",
            )
        try:
            return json.loads(response.content) if response.content else {}
        except ValueError:
            raise self._error(
                BackendBadResponse,
                f"{what}: the answer is not JSON ({' '.join(response.text.split())[:80]!r})",
                "The backend or a proxy in front of it is misbehaving.",
            ) from None

    def _get(self, path: str, what: str, *, timeout: float | None = None, params: dict[str, Any] | None = None) -> Any:
        response = self._send("GET", path, what, timeout=timeout or self.timeouts.poll, idempotent=True, params=params)
        return self._json(response, what)

    def _parse(self, build: Callable[[Any], Any], body: Any, what: str) -> Any:
        try:
            return build(body)
        except ValueError as exc:
            snippet = json.dumps(body)[:120] if not isinstance(body, str) else body[:120]
            raise self._error(BackendBadResponse, f"{what}: unexpected answer ({exc}): {snippet}") from None

    # -------------------------------------------------------------------------------------- files

    def upload_file(
        self,
        path: Path,
        *,
        purpose: str = "fine-tune",
        filename: str | None = None,
        wait_ready: bool = True,
        ready_timeout: float = 10.0,
        ready_interval: float | None = None,
    ) -> FileInfo:
        """``POST /files`` (``/learning/files`` when ``/files`` answers 404), then wait for readiness.

        A file the backend marks failed raises :class:`BackendRejected` with its reasons; one still
        processing after ``ready_timeout`` is returned as is (the caller says so; §1 step 7)."""
        name = filename or path.name
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise BackendError(f"cannot read {path}: {exc.strerror or exc}") from None
        what = f"uploading {name}"

        def files() -> Any:
            return {"file": (name, content, "application/jsonl")}

        try:
            response = self._send(
                "POST",
                self._upload_path,
                what,
                timeout=self.timeouts.upload,
                idempotent=True,
                files=files,
                data={"purpose": purpose},
            )
        except BackendNotFound:
            if self._upload_path != "/files":
                raise
            self._upload_path = "/learning/files"
            response = self._send(
                "POST",
                self._upload_path,
                what,
                timeout=self.timeouts.upload,
                idempotent=True,
                files=files,
                data={"purpose": purpose},
            )
        info: FileInfo = self._parse(FileInfo.from_api, self._json(response, what), what)
        if wait_ready:
            info = self.wait_file_ready(info, timeout=ready_timeout, interval=ready_interval)
        if info.failed:
            reasons = "; ".join(info.reasons[:5]) or info.status
            raise self._error(BackendRejected, f"the backend refused {name} ({info.file_id}): {reasons}")
        return info

    def wait_file_ready(self, info: FileInfo, *, timeout: float = 10.0, interval: float | None = None) -> FileInfo:
        """Poll ``GET /files/{id}`` until ready or failed (404 = not visible yet, keep polling)."""
        step = interval if interval is not None else (0.2 if self.is_loopback else 2.0)
        deadline = time.monotonic() + timeout
        while not info.ready and not info.failed:
            if time.monotonic() >= deadline:
                return info
            self._sleep(step)
            try:
                info = self.get_file(info.file_id)
            except BackendNotFound:
                continue  # §6 row 2: not visible yet
            except BackendAuthError:
                raise
            except BackendError:
                return info  # §6 row 2: any other failure only warns (the caller says "not ready")
        return info

    def get_file(self, file_id: str) -> FileInfo:
        what = f"reading file {file_id}"
        body = self._get(f"/files/{quote(file_id, safe='')}", what, timeout=self.timeouts.file_get)
        info: FileInfo = self._parse(FileInfo.from_api, body, what)
        return info

    # --------------------------------------------------------------------------------------- jobs

    def create_job(self, payload: dict[str, Any]) -> JobInfo:
        """``POST /learning/jobs`` with the payload as given (never retried: a retry could make a
        second job; :func:`services.jobs.submit.submit` looks the submission id up instead)."""
        what = "creating the job"
        response = self._send(
            "POST", "/learning/jobs", what, timeout=self.timeouts.create, idempotent=False, json_body=payload
        )
        job: JobInfo = self._parse(JobInfo.from_api, self._json(response, what), what)
        return job

    def start_job(self, job_id: str) -> dict[str, Any]:
        what = f"starting job {job_id}"
        response = self._send(
            "POST",
            f"/learning/jobs/{quote(job_id, safe='')}/start",
            what,
            timeout=self.timeouts.create,
            idempotent=False,
            json_body={},
        )
        body = self._json(response, what)
        return body if isinstance(body, dict) else {}

    def get_job(self, job_id: str) -> JobInfo:
        what = f"reading job {job_id}"
        job: JobInfo = self._parse(JobInfo.from_api, self._get(f"/learning/jobs/{quote(job_id, safe='')}", what), what)
        return job

    def job_status(self, job_id: str) -> JobInfo:
        """``GET …/status`` (``{job_id, status, progress, updated_at}``); the id filled in when absent."""
        what = f"reading the status of job {job_id}"
        body = self._get(f"/learning/jobs/{quote(job_id, safe='')}/status", what)
        if isinstance(body, dict) and not (body.get("job_id") or body.get("id")):
            body = {**body, "job_id": job_id}
        job: JobInfo = self._parse(JobInfo.from_api, body, what)
        return job

    def events(self, job_id: str, since_seq: int = 0, limit: int = DEFAULT_LIMIT) -> list[JobEvent]:
        """Events with ``seq > since_seq`` as the backend sends them (the poller sorts and de-duplicates)."""
        what = f"reading the events of job {job_id}"
        body = self._get(
            f"/learning/jobs/{quote(job_id, safe='')}/events", what, params={"since_seq": since_seq, "limit": limit}
        )
        if not isinstance(body, dict | list):
            raise self._error(BackendBadResponse, f"{what}: unexpected answer {str(body)[:80]!r}")
        return JobEvent.list_from_api(body)

    def metrics_page(
        self, job_id: str, *, name: str | None = None, after_step: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[MetricPoint]:
        what = f"reading the metrics of job {job_id}"
        body = self._get(
            f"/learning/jobs/{quote(job_id, safe='')}/metrics",
            what,
            params={"name": name, "after_step": after_step, "limit": limit},
        )
        if not isinstance(body, dict | list):
            raise self._error(BackendBadResponse, f"{what}: unexpected answer {str(body)[:80]!r}")
        return MetricPoint.list_from_api(body)

    def iter_metrics(
        self, job_id: str, *, name: str | None = None, after_step: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> Iterator[list[MetricPoint]]:
        """Pages of points past ``after_step`` (``-1`` when None: from the first step), each page's
        cursor the largest step seen; stops at a short page, a page that does not advance, or a
        backend whose points have no steps (then one page without the cursor)."""
        cursor = -1 if after_step is None else after_step
        seen: set[tuple[str, int | str]] = set()
        for _ in range(MAX_METRIC_PAGES):
            page = self.metrics_page(job_id, name=name, after_step=cursor, limit=limit)
            if not page and cursor == -1 and after_step is None:
                page = self.metrics_page(job_id, name=name, limit=limit)  # stepless backends
                yield [p for p in page if p.key not in seen]
                return
            fresh = [p for p in page if p.key not in seen]
            seen.update(p.key for p in fresh)
            if fresh:
                yield fresh
            steps = sorted({p.step for p in page if p.step is not None})
            if len(page) < limit or not steps:
                return
            # Several names share a step: re-ask from the step before the last, so a page cut in the
            # middle of a step loses nothing (duplicates are dropped above).
            nxt = steps[-1] if name is not None or len(steps) == 1 else steps[-2]
            if nxt <= cursor:
                return
            cursor = nxt

    def metrics(
        self, job_id: str, name: str | None = None, after_step: int | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[MetricPoint]:
        """Every point past ``after_step``, paged ``limit`` at a time (more than 200 points work)."""
        out: list[MetricPoint] = []
        for page in self.iter_metrics(job_id, name=name, after_step=after_step, limit=limit):
            out.extend(page)
        return out

    def timeline(self, job_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        what = f"reading the timeline of job {job_id}"
        body = self._get(f"/learning/jobs/{quote(job_id, safe='')}/timeline", what, params={"limit": limit})
        return [row for row in list_in(body, "events", "timeline", "data") if isinstance(row, dict)]

    def cancel_job(self, job_id: str) -> JobInfo:
        """``POST …/cancel``; :class:`BackendConflict` when the job already finished. The job as it
        is afterwards (re-read when the answer is not a job)."""
        what = f"cancelling job {job_id}"
        response = self._send(
            "POST",
            f"/learning/jobs/{quote(job_id, safe='')}/cancel",
            what,
            timeout=self.timeouts.create,
            idempotent=False,
        )
        try:
            body = self._json(response, what)
            return JobInfo.from_api(body)
        except (ValueError, BackendBadResponse):
            return self.get_job(job_id)

    def list_jobs(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        created_after: str | None = None,
        limit: int | None = None,
    ) -> list[JobInfo]:
        what = "listing jobs"
        body = self._get(
            "/learning/jobs",
            what,
            params={"status": status, "type": type, "created_after": created_after, "limit": limit},
        )
        if not _has_list(body, "jobs", "data", "results"):
            raise self._error(BackendBadResponse, f"{what}: no list of jobs in the answer: {str(body)[:120]}")
        return JobInfo.list_from_api(body)

    def find_submission(self, submission_id: str, *, limit: int = 50) -> JobInfo | None:
        """The job whose ``metadata.submission_id`` is ``submission_id`` among the latest ``limit``."""
        for job in self.list_jobs(limit=limit):
            if job.metadata.get("submission_id") == submission_id:
                return job
        return None

    # ------------------------------------------------------------------------------------- models

    def list_models(self, *, limit: int | None = None) -> list[ModelInfo]:
        """Fine-tuned models; a shape we cannot read is an error, not ``[]`` (§14 defect 14)."""
        what = "listing models"
        body = self._get("/learning/models", what, params={"limit": limit})
        if not _has_list(body, "data", "models", "results"):
            raise self._error(BackendBadResponse, f"{what}: no list of models in the answer: {str(body)[:120]}")
        return ModelInfo.list_from_api(body)

    def get_model(self, model_id: str) -> ModelInfo:
        what = f"reading model {model_id}"
        body = self._get(f"/learning/models/{quote(model_id, safe=':/')}", what)
        model = ModelInfo.from_api(body)
        if model is None:
            raise self._error(BackendBadResponse, f"{what}: unexpected answer {str(body)[:120]}")
        return model

    def served_models(self) -> list[str]:
        """The ids ``GET /v1/models`` lists (the OpenAI-style route beside ``/api``), e.g. the local
        backend's built-in ``sft-studio/tiny-qwen3``; ``[]`` when the backend has no such route."""
        root = self.base_url[: -len("/api")]
        try:
            body = self._get(f"{root}/v1/models", "listing served models")
        except BackendNotFound:
            return []
        return [str(row["id"]) for row in list_in(body, "data", "models") if isinstance(row, dict) and row.get("id")]

    def health(self) -> dict[str, Any]:
        """``GET /health`` (opaque; a dict when the body is a JSON object)."""
        body = self._get("/health", "checking the backend's health", timeout=self.timeouts.file_get)
        return body if isinstance(body, dict) else {"body": body}


def redacted(text: str, client: LearningClient) -> str:
    """``text`` with the client's key masked (for messages built outside the client)."""
    return redact(text, client._secrets)

"""A loopback stub of the Synth learning API, enough for ``synth-ai train --type sft --no-poll`` to succeed.

Usage::

    with StubBackend() as backend:
        run_reference_cli(..., backend_url=backend.base_url)
        assert len(backend.job_payloads) == 1

Served by the standard library (``ThreadingHTTPServer`` on 127.0.0.1, port 0) from a daemon thread. Every request is
recorded in :attr:`StubBackend.requests`. Routes are a table of ``(method, path regex, handler)``; :meth:`add_route`
adds or overrides one (routes added later win), so other tests can extend the stub (e.g. job polling) without
touching the server.

Endpoints (paths under ``/api``):

* ``POST /files``, ``POST /learning/files`` (multipart) -> ``{"id": "file_stub_<n>", "status": "ready"}``
* ``GET /files/{id}`` -> ``{"id": ..., "status": "ready"}``
* ``POST /learning/jobs`` -> ``{"job_id": "job_stub_<n>", "status": "queued"}``
* ``POST /learning/jobs/{id}/start`` -> ``{"status": "running"}``
* ``GET /learning/jobs/{id}`` -> ``{"job_id": ..., "status": "queued"}`` (or the body set with :meth:`set_job`)
* ``GET /learning/jobs`` -> ``{"jobs": [...]}`` (each job's body plus its payload's ``metadata``)
* ``GET /learning/jobs/{id}/events|metrics|timeline``, ``POST /learning/jobs/{id}/cancel``,
  ``GET /learning/models`` -> what tests put there (:meth:`add_events`, :meth:`add_metrics`, :meth:`add_model`)
* anything else -> 404 ``{"detail": "..."}``

Faults (issue 13): :meth:`fail` queues a fault for the next requests matching a method and path regex:
an HTTP status with a body, an HTML page, garbage bytes, a delay (for client timeouts), or a dropped
connection (closed without an answer). Each fault fires ``times`` times, then the route answers normally.
Events and metrics are served as stored (``seq > since_seq`` / ``step > after_step``, then ``limit``), so a
test can store duplicates and out-of-order rows and see what a client makes of them.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

API_PREFIX = "/api"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # without the query string, e.g. "/api/learning/jobs"
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any | None  # the parsed body when it is JSON, else None

    def header(self, name: str) -> str | None:
        """A header's value, by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_id: str
    filename: str
    content: bytes
    fields: dict[str, str]  # the other form fields, e.g. {"purpose": "fine-tune"}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: Any  # serialised as JSON
    raw: bytes | None = None  # sent as is instead of ``body`` (HTML, garbage)
    content_type: str = "application/json"
    drop: bool = False  # close the connection without answering


@dataclass
class Fault:
    """What the next ``times`` requests matching ``method`` and ``pattern`` (regex, path under /api) get."""

    method: str
    pattern: re.Pattern[str]
    times: int
    reply: Reply | None = None  # None: after ``delay`` the route answers normally
    delay: float = 0.0


HTML_PAGE = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
GARBAGE = b'{"job_id": "job_1", "status": "runn\x00\xff'


Handler = Callable[[RecordedRequest, re.Match[str]], Reply]


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[RecordedRequest] = field(default_factory=list)
    uploads: list[UploadedFile] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job_id -> payload
    counters: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # job_id -> GET body (set_job)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    metrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list[tuple[str, bytes]]]:
    """Form fields and ``(filename, content)`` files of a ``multipart/form-data`` body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        raw = part.get_payload(decode=True)
        payload = raw if isinstance(raw, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append((filename, payload))
        else:
            name = part.get_param("name", header="content-disposition") or ""
            fields[str(name)] = payload.decode("utf-8", errors="replace")
    return fields, files


class StubBackend:
    """The stub server; a context manager that starts and stops it."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._state = _State()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_route("POST", r"/files", self._upload)
        self.add_route("POST", r"/learning/files", self._upload)
        self.add_route("GET", r"/files/(?P<file_id>[^/]+)", self._get_file)
        self.add_route("POST", r"/learning/jobs", self._create_job)
        self.add_route("POST", r"/learning/jobs/(?P<job_id>[^/]+)/start", self._start_job)
        self.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)", self._get_job)
        self.add_route("GET", r"/learning/jobs", self._list_jobs)
        self.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)/status", self._job_status)
        self.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)/events", self._events)
        self.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)/metrics", self._metrics)
        self.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)/timeline", self._timeline)
        self.add_route("POST", r"/learning/jobs/(?P<job_id>[^/]+)/cancel", self._cancel)
        self.add_route("GET", r"/learning/models", self._list_models)
        self.add_route("GET", r"/health", lambda request, match: Reply(200, {"status": "ok"}))

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self) -> StubBackend:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="stub-backend", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> StubBackend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ inspection

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no ``/api``)."""
        if self._server is None:
            raise RuntimeError("StubBackend is not running")
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api``: what ``synth-ai train --backend`` takes."""
        return self.root_url + API_PREFIX

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def uploads(self) -> list[UploadedFile]:
        with self._state.lock:
            return list(self._state.uploads)

    @property
    def job_payloads(self) -> list[Any]:
        """Parsed JSON bodies of ``POST /api/learning/jobs``, in arrival order."""
        return [r.json for r in self.requests if r.method == "POST" and r.path == API_PREFIX + "/learning/jobs"]

    # ------------------------------------------------------------------------------------------ routing

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve ``method`` on ``/api`` + ``pattern`` (a full-match regex) with ``handler``; later routes win."""
        self._routes.insert(0, (method.upper(), re.compile(re.escape(API_PREFIX) + pattern), handler))

    def next_id(self, kind: str) -> str:
        """``<kind>_stub_<n>``, counting from 1 per kind."""
        with self._state.lock:
            n = self._state.counters.get(kind, 0) + 1
            self._state.counters[kind] = n
        return f"{kind}_stub_{n}"

    # ------------------------------------------------------------------------------------------ faults and jobs

    def fail(
        self,
        method: str,
        pattern: str,
        *,
        status: int = 500,
        body: Any = None,
        html: bool = False,
        garbage: bool = False,
        drop: bool = False,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next ``times`` requests matching ``method`` and ``/api`` + ``pattern``.
        ``delay`` alone slows the normal answer down (client timeouts); with a status, HTML, garbage or
        drop it comes first."""
        reply: Reply | None
        if drop:
            reply = Reply(0, None, drop=True)
        elif html:
            reply = Reply(status if status != 500 else 200, None, raw=HTML_PAGE, content_type="text/html")
        elif garbage:
            reply = Reply(200, None, raw=GARBAGE)
        elif delay and body is None and status == 500:
            reply = None
        else:
            reply = Reply(status, body if body is not None else {"detail": f"stub backend: injected {status}"})
        fault = Fault(method.upper(), re.compile(re.escape(API_PREFIX) + pattern), times, reply, delay)
        with self._state.lock:
            self._state.faults.append(fault)

    def _fault_for(self, request: RecordedRequest) -> Fault | None:
        with self._state.lock:
            for fault in self._state.faults:
                if fault.times > 0 and fault.method == request.method and fault.pattern.fullmatch(request.path):
                    fault.times -= 1
                    return fault
        return None

    def set_job(self, job_id: str, body: dict[str, Any]) -> None:
        """What ``GET /learning/jobs/{id}`` answers from now on (exactly this body: e.g. ``state``
        without ``status``, or a terminal status without ``fine_tuned_model``)."""
        with self._state.lock:
            self._state.jobs.setdefault(job_id, {})
            self._state.bodies[job_id] = dict(body)

    def add_events(self, job_id: str, events: list[dict[str, Any]]) -> None:
        """Store events as given (duplicates and any order allowed)."""
        with self._state.lock:
            self._state.events.setdefault(job_id, []).extend(events)

    def add_metrics(self, job_id: str, points: list[dict[str, Any]]) -> None:
        with self._state.lock:
            self._state.metrics.setdefault(job_id, []).extend(points)

    def add_model(self, model: dict[str, Any]) -> None:
        with self._state.lock:
            self._state.models.append(model)

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        """Recorded requests whose path (under /api) fully matches ``pattern``."""
        regex = re.compile(re.escape(API_PREFIX) + pattern)
        return [r for r in self.requests if r.method == method.upper() and regex.fullmatch(r.path)]

    def dispatch(self, request: RecordedRequest) -> Reply:
        with self._state.lock:
            self._state.requests.append(request)
        fault = self._fault_for(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reply is not None:
                return fault.reply
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is not None and method == request.method:
                return handler(request, match)
        return Reply(404, {"detail": f"stub backend: no route for {request.method} {request.path}"})

    # ------------------------------------------------------------------------------------------ endpoints

    def _upload(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        fields, files = parse_multipart(request.header("Content-Type") or "", request.body)
        if not files:
            return Reply(400, {"detail": "stub backend: multipart upload without a file"})
        file_id = self.next_id("file")
        filename, content = files[0]
        with self._state.lock:
            self._state.uploads.append(UploadedFile(file_id, filename, content, fields))
        return Reply(200, {"id": file_id, "status": "ready"})

    def _get_file(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        file_id = match["file_id"]
        with self._state.lock:
            known = any(u.file_id == file_id for u in self._state.uploads)
        if not known:
            return Reply(404, {"detail": f"stub backend: no file {file_id}"})
        return Reply(200, {"id": file_id, "status": "ready"})

    def _create_job(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not isinstance(request.json, dict):
            return Reply(400, {"detail": "stub backend: job body must be a JSON object"})
        job_id = self.next_id("job")
        with self._state.lock:
            self._state.jobs[job_id] = request.json
        return Reply(200, {"job_id": job_id, "status": "queued"})

    def _known_job(self, job_id: str) -> bool:
        with self._state.lock:
            return job_id in self._state.jobs

    def _start_job(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._known_job(match["job_id"]):
            return Reply(404, {"detail": f"stub backend: no job {match['job_id']}"})
        return Reply(200, {"status": "running"})

    def _job_body(self, job_id: str) -> dict[str, Any]:
        with self._state.lock:
            body = self._state.bodies.get(job_id)
            return dict(body) if body is not None else {"job_id": job_id, "status": "queued"}

    def _get_job(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._known_job(match["job_id"]):
            return Reply(404, {"detail": f"stub backend: no job {match['job_id']}"})
        return Reply(200, self._job_body(match["job_id"]))

    def _job_status(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._known_job(match["job_id"]):
            return Reply(404, {"detail": f"stub backend: no job {match['job_id']}"})
        body = self._job_body(match["job_id"])
        return Reply(200, {"job_id": match["job_id"], "status": body.get("status", body.get("state"))})

    def _list_jobs(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        with self._state.lock:
            ids = list(self._state.jobs)
            payloads = dict(self._state.jobs)
        rows = []
        for job_id in reversed(ids):
            body = self._job_body(job_id)
            metadata = payloads[job_id].get("metadata")
            if isinstance(metadata, dict) and "metadata" not in body:
                body["metadata"] = metadata
            rows.append(body)
        return Reply(200, {"jobs": rows})

    @staticmethod
    def _query(request: RecordedRequest) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(request.query))

    def _events(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        job_id = match["job_id"]
        if not self._known_job(job_id):
            return Reply(404, {"detail": f"stub backend: no job {job_id}"})
        query = self._query(request)
        since, limit = int(query.get("since_seq", 0)), int(query.get("limit", 200))
        with self._state.lock:
            rows = [e for e in self._state.events.get(job_id, []) if int(e.get("seq", 0)) > since]
        return Reply(200, {"events": rows[:limit]})

    def _metrics(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        job_id = match["job_id"]
        if not self._known_job(job_id):
            return Reply(404, {"detail": f"stub backend: no job {job_id}"})
        query = self._query(request)
        limit = int(query.get("limit", 200))
        with self._state.lock:
            rows = list(self._state.metrics.get(job_id, []))
        if "name" in query:
            rows = [p for p in rows if p.get("name") == query["name"]]
        if "after_step" in query:
            after = int(query["after_step"])
            rows = sorted((p for p in rows if p.get("step") is not None and p["step"] > after), key=lambda p: p["step"])
        return Reply(200, {"job_id": job_id, "points": rows[:limit]})

    def _timeline(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        if not self._known_job(match["job_id"]):
            return Reply(404, {"detail": f"stub backend: no job {match['job_id']}"})
        return Reply(200, {"job_id": match["job_id"], "events": []})

    def _cancel(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        job_id = match["job_id"]
        if not self._known_job(job_id):
            return Reply(404, {"detail": f"stub backend: no job {job_id}"})
        body = self._job_body(job_id)
        if str(body.get("status", body.get("state", ""))).lower() in ("succeeded", "failed", "cancelled"):
            return Reply(409, {"detail": f"job {job_id} already {body.get('status')}; nothing to cancel"})
        body["status"] = "cancelled"
        self.set_job(job_id, body)
        return Reply(200, body)

    def _list_models(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        with self._state.lock:
            return Reply(200, {"data": list(self._state.models)})


def _make_handler(backend: StubBackend) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            parsed: Any | None = None
            if (self.headers.get("Content-Type") or "").startswith("application/json") and body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
            url = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                query=url.query,
                headers={k: v for k, v in self.headers.items()},
                body=body,
                json=parsed,
            )
            try:
                reply = backend.dispatch(request)
            except Exception as exc:  # a handler bug: answer 500 rather than drop the connection
                reply = Reply(500, {"detail": f"stub backend: {type(exc).__name__}: {exc}"})
            if reply.drop:  # a dropped connection: no status line, nothing
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode("utf-8")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _Handler

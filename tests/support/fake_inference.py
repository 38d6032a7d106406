"""A loopback OpenAI-compatible inference server for tests and benchmarks.

Usage::

    with FakeInferenceServer(models=["fake-model"], delay_ms=200) as srv:
        policy = OpenAIChatPolicy(model="fake-model", inference_url=srv.base_url, api_key="")
        ...
        assert srv.chat_count == ...

It listens on 127.0.0.1 with an ephemeral port, serves every request on its own thread (so a
``delay_ms`` of 200 lets many concurrent requests overlap; ``max_in_flight`` proves it), and shuts
down — listening socket and open keep-alive connections — when the ``with`` block exits.

Modes (``mode=``):

- ``tool``: a valid ``interact_many`` call with ``actions`` (default ``["move_left", "do"]``)
- ``no_tool``: a plain text answer (``text``) without a tool call
- ``garbage_tool``: a tool call whose arguments are not JSON
- ``tool_use_failed``: Groq's HTTP 400 ``tool_use_failed`` with ``failed_generation = text``
- ``flaky``: the first ``flaky_failures`` chat calls answer ``flaky_status`` (429 or 500), then ``tool``
- ``always_500``: every chat call answers 500
- ``not_json``: every chat call answers 200 with an HTML body (a proxy's error page)
- ``not_completion``: every chat call answers 200 with JSON that is not a chat completion
- ``empty_choices``: every chat call answers a chat completion whose ``choices`` list is empty
- ``hang``: every request (models too) is read, then answered only after ``hang_s`` seconds

``api_key`` (when set) is required as ``Authorization: Bearer <key>`` on every route (401 otherwise);
``models_endpoint=False`` makes ``GET /v1/models`` a 404; a chat call naming a model not in
``models`` answers 404 like vLLM. Every request is recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

MODES = (
    "tool",
    "no_tool",
    "garbage_tool",
    "tool_use_failed",
    "flaky",
    "always_500",
    "not_json",
    "not_completion",
    "empty_choices",
    "hang",
)
#: The body a ``not_json`` server sends with its 200.
NOT_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 drops bursts of concurrent connects


class FakeInferenceServer:
    def __init__(
        self,
        *,
        models: Sequence[str] = ("fake-model",),
        api_key: str | None = None,
        delay_ms: int = 0,
        mode: str = "tool",
        actions: Sequence[str] = ("move_left", "do"),
        text: str = "I am not sure what to do here.",
        flaky_failures: int = 2,
        flaky_status: int = 429,
        retry_after: str | None = None,
        models_endpoint: bool = True,
        usage: dict[str, int] | None = None,
        hang_s: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.models = list(models)
        self.api_key = api_key
        self.delay_ms = delay_ms
        self.mode = mode
        self.actions = list(actions)
        self.text = text
        self.flaky_failures = flaky_failures
        self.flaky_status = flaky_status
        self.retry_after = retry_after
        self.models_endpoint = models_endpoint
        self.hang_s = hang_s
        self.usage = (
            usage if usage is not None else {"prompt_tokens": 120, "completion_tokens": 15, "total_tokens": 135}
        )
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._chat_seen = 0
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # ---- counters ----

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    @property
    def chat_count(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.endswith("/chat/completions"))

    @property
    def models_count(self) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path.endswith("/models"))

    @property
    def chat_bodies(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (still readable after the server stopped, for messages)."""
        if self._base_url is None:
            raise RuntimeError("server not started")
        return self._base_url

    # ---- lifecycle ----

    def start(self) -> FakeInferenceServer:
        fake = self

        class Handler(_Handler):
            server_ref = fake

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        host, port = self._httpd.server_address[:2]
        self._base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-inference", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:  # end kept-alive connections so their handler threads exit
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> FakeInferenceServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- answers ----

    def _chat_answer(self, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        model = body.get("model") if isinstance(body, dict) else None
        if model not in self.models:
            err = {"message": f"The model `{model}` does not exist.", "type": "NotFoundError", "code": 404}
            return 404, {"object": "error", "error": err}, {}
        with self._lock:
            self._chat_seen += 1
            seen = self._chat_seen
        mode = self.mode
        if mode == "always_500" or (mode == "flaky" and seen <= self.flaky_failures):
            status = 500 if mode == "always_500" else self.flaky_status
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return status, {"error": {"message": f"fake failure #{seen}", "type": "server_error"}}, headers
        if mode in ("not_completion", "not_json"):  # not_json: _handle swaps the body for HTML
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return 200, {"status": "ok", "result": "queued"}, headers
        if mode == "empty_choices":
            return 200, {"id": f"chatcmpl-fake-{seen}", "object": "chat.completion", "choices": []}, {}
        if mode == "tool_use_failed":
            err = {
                "message": "Failed to call a function. Please adjust your prompt.",
                "type": "invalid_request_error",
                "code": "tool_use_failed",
                "failed_generation": self.text,
            }
            return 400, {"error": err}, {}
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "tool_calls"
        if mode == "no_tool":
            message["content"] = self.text
            finish = "stop"
        else:
            arguments = "{actions: [move_left" if mode == "garbage_tool" else json.dumps({"actions": self.actions})
            message["tool_calls"] = [
                {
                    "id": f"call_{seen:06d}",
                    "type": "function",
                    "function": {"name": "interact_many", "arguments": arguments},
                }
            ]
        answer = {
            "id": f"chatcmpl-fake-{seen}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": dict(self.usage),
        }
        return 200, answer, {}

    def _models_answer(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not self.models_endpoint:
            return 404, {"detail": "Not Found"}, {}
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return 200, {"object": "list", "data": data}, {}


class _Handler(BaseHTTPRequestHandler):
    server_ref: FakeInferenceServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do (the client pools connections)
    timeout = 10  # idle kept-alive connections end by themselves
    disable_nagle_algorithm = True  # headers and body go out separately: avoid the 40 ms delayed-ACK stall

    def setup(self) -> None:
        super().setup()
        with self.server_ref._lock:
            self.server_ref._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server_ref._lock:
                self.server_ref._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self, method: str) -> None:
        fake = self.server_ref
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0].rstrip("/")
        with fake._lock:
            fake.requests.append(RecordedRequest(method, path, dict(self.headers.items()), body))
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            if fake.delay_ms:
                time.sleep(fake.delay_ms / 1000)
            if fake.mode == "hang":
                time.sleep(fake.hang_s)
            status, answer, headers = self._route(method, path, body)
        finally:
            with fake._lock:
                fake.in_flight -= 1
        payload = json.dumps(answer).encode()
        content_type = "application/json"
        if fake.mode == "not_json" and status == 200 and path == "/v1/chat/completions":
            payload, content_type = NOT_JSON_BODY, "text/html"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        fake = self.server_ref
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            err = {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}
            return 401, {"error": err}, {}
        if method == "GET" and path == "/v1/models":
            return fake._models_answer()
        if method == "POST" and path == "/v1/chat/completions":
            return fake._chat_answer(body)
        return 404, {"detail": "Not Found"}, {}

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

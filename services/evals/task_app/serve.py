"""Serving our task app in the foreground (``sft-studio task-app serve``), with start-up checks first.

Everything that would make the server useless is said before it listens, as a
:class:`TaskAppServeError` message: no ``ENVIRONMENT_API_KEY`` (every route would answer 503), a
non-loopback host without ``allow_remote``, a port in use, a ``--trace-db`` that is not a trace DB or
cannot be created. The app spawns no child processes (env and policy work runs in threads).
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.common.listen import is_loopback, listening_socket
from services.evals.task_app import auth
from services.evals.task_app.rollout import RolloutRunner, RolloutSettings, RolloutTracer
from services.traces.db import TraceDBError
from services.traces.writer import TraceWriter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001  # grpo-crafter's usual port


class TaskAppServeError(Exception):
    """The task app cannot start; the message is for the user."""


@dataclass(frozen=True)
class ServeInfo:
    url: str
    host: str
    port: int
    trace_db: Path | None
    key_shown: str


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or :class:`TaskAppServeError` naming the port when it is taken."""
    try:
        return listening_socket(host, port)
    except OSError as exc:
        reason = exc.strerror or exc
        raise TaskAppServeError(f"Cannot listen on {host}:{port}: {reason} (choose another --port).") from None


def open_tracer(path: Path) -> RolloutTracer:
    """The trace DB rollouts are written to (checked now: a wrong file is refused before serving)."""
    try:
        writer = TraceWriter(path)
        writer.create()
    except TraceDBError as exc:
        raise TaskAppServeError(f"--trace-db {path}: {exc}") from None
    return RolloutTracer(writer)


def serve(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    trace_db: Path | None = None,
    allow_remote: bool = False,
    settings: RolloutSettings | None = None,
    on_ready: Callable[[ServeInfo], None] | None = None,
) -> None:
    """Run the task app in this process until Ctrl-C / SIGTERM."""
    import uvicorn

    from services.evals.task_app.app import create_app

    key = auth.primary_key()
    if not key:
        raise TaskAppServeError(
            f"{auth.KEY_ENV} is not set: every request would be refused (HTTP 503). Start with "
            f"{auth.KEY_ENV}=<a key of your choice> and give clients the same key (sent as X-API-Key)."
        )
    if not is_loopback(host) and not allow_remote:
        raise TaskAppServeError(
            f"Refusing to listen on {host}: the task app binds loopback only unless --allow-remote is given "
            "(anyone with the key could spend your inference server's calls)."
        )
    tracer = open_tracer(trace_db) if trace_db is not None else None
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    runner = RolloutRunner(settings, tracer)
    app = create_app(runner)
    if on_ready is not None:
        on_ready(ServeInfo(f"http://{url_host}:{actual}", host, actual, trace_db, auth.expected_prefix()))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if tracer is not None:
            tracer.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)

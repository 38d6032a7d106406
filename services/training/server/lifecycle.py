"""Starting, finding and stopping the local backend: one server per data dir.

``serve`` holds an exclusive lock on ``backend/server.lock`` for its whole life (the kernel drops it
when the process dies, however it dies) and publishes ``backend/server.json`` (pid, host, port,
url). A second ``serve`` on the same data dir cannot take the lock and refuses, naming the first's
port. ``ensure_local_backend`` is the embedded start for the app and the job client: it reuses a
running server or starts one detached (its own session, so it keeps training when the app closes).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from services.common.atomic import write_atomic
from services.common.data_dir import data_dir as default_data_dir
from services.common.listen import is_loopback, listening_socket
from services.training.server.auth import load_or_create_key
from services.training.server.settings import backend_dir
from services.training.server.store import utc_now

if TYPE_CHECKING:
    from services.training.server.settings import ServerSettings

SERVER_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class BackendError(Exception):
    """The backend cannot be started, found or stopped; the message says why and what to do."""


class AlreadyRunning(BackendError):
    """Another server holds this data dir."""

    def __init__(self, info: ServerInfo | None, data_dir: Path) -> None:
        where = f"on port {info.port} (pid {info.pid}, {info.url})" if info else "(starting up)"
        super().__init__(
            f"a backend is already running for {data_dir} {where}; use it, or stop it with `sft-studio backend stop`"
        )
        self.info = info


@dataclass(frozen=True, slots=True)
class ServerInfo:
    pid: int
    host: str
    port: int
    url: str
    started_at: str
    data_dir: str


def read_server_info(data_dir: Path) -> ServerInfo | None:
    try:
        raw = json.loads((backend_dir(data_dir) / SERVER_FILE).read_text(encoding="utf-8"))
        return ServerInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _lock_is_held(data_dir: Path) -> bool:
    """True while some process holds the server lock (probing takes and drops it at once)."""
    path = backend_dir(data_dir) / LOCK_FILE
    if not path.exists():
        return False
    with path.open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(f"{url}/api/health", timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def running_server(data_dir: Path | None = None) -> ServerInfo | None:
    """The server serving ``data_dir`` (lock held, pid file written, health answering), or None."""
    folder = data_dir or default_data_dir()
    if not _lock_is_held(folder):
        return None
    info = read_server_info(folder)
    if info is None or not healthy(info.url):
        return None
    return info


@contextlib.contextmanager
def _server_lock(data_dir: Path) -> Iterator[None]:
    folder = backend_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(read_server_info(data_dir), data_dir) from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                info = read_server_info(data_dir)
                if info is not None and info.pid == os.getpid():
                    (folder / SERVER_FILE).unlink()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _bind(host: str, port: int) -> socket.socket:
    try:
        return listening_socket(host, port)
    except OSError as exc:
        raise BackendError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)") from exc


def serve(
    *,
    data_dir: Path | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    allow_remote: bool = False,
    stand_ins: dict[str, str] | None = None,
    trainer_command: list[str] | None = None,
    on_ready: Callable[[ServerInfo], None] | None = None,
) -> None:
    """Run the server in this process until SIGINT/SIGTERM (``sft-studio backend serve``)."""
    import uvicorn

    from services.training.server.app import create_app
    from services.training.server.settings import ServerSettings

    folder = data_dir or default_data_dir()
    if not is_loopback(host) and not allow_remote:
        raise BackendError(
            f"refusing to listen on {host}: the backend binds loopback only unless --allow-remote is given "
            "(anyone who reaches the port and has the key can train and read your data)"
        )
    with _server_lock(folder):
        key = load_or_create_key(backend_dir(folder))
        sock = _bind(host, port)
        actual = sock.getsockname()[1]
        url_host = f"[{host}]" if ":" in host else host
        info = ServerInfo(os.getpid(), host, actual, f"http://{url_host}:{actual}", utc_now(), str(folder))
        settings: ServerSettings = ServerSettings(
            data_dir=folder, key=key, stand_ins=dict(stand_ins or {}), trainer_command=trainer_command
        )
        app = create_app(settings, with_inference=True)
        write_atomic(backend_dir(folder) / SERVER_FILE, json.dumps(asdict(info), indent=2).encode())
        if on_ready is not None:
            on_ready(info)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5)
        if threading.current_thread() is threading.main_thread():
            # uvicorn shuts down gracefully on SIGTERM, then re-raises it: make that an exit that
            # runs our cleanup (pid file, lock) instead of the default instant death.
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # Ctrl-C is how a foreground server is meant to stop
            pass
        finally:
            sock.close()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def ensure_local_backend(
    data_dir: Path | None = None, *, timeout: float = START_TIMEOUT_S, extra_args: list[str] | None = None
) -> tuple[str, str]:
    """``(url, key)`` of the data dir's backend, started detached when none is running.

    The started server has its own session and outlives the caller (jobs keep training when the app
    closes); its output goes to ``backend/server.log``. Two callers racing both end with the one
    server that won the lock. Raises :class:`BackendError` when it does not come up in ``timeout``.
    """
    folder = data_dir or default_data_dir()
    info = running_server(folder)
    if info is None:
        folder_b = backend_dir(folder)
        folder_b.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "services.training.server", "serve", "--port", "0", "--data-dir", str(folder)]
        log: IO[bytes]
        with (folder_b / LOG_FILE).open("ab") as log:
            proc = subprocess.Popen(
                [*cmd, *(extra_args or [])],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while info is None:
            info = running_server(folder)
            if info is not None:
                break
            if proc.poll() is not None and not _lock_is_held(folder):
                raise BackendError(f"the backend did not start:\n{_log_tail(folder_b / LOG_FILE)}")
            if time.monotonic() > deadline:
                raise BackendError(f"the backend did not answer within {timeout:.0f} s (see {folder_b / LOG_FILE})")
            time.sleep(0.1)
    return info.url, load_or_create_key(backend_dir(folder))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_server(data_dir: Path | None = None, timeout: float = STOP_TIMEOUT_S) -> ServerInfo | None:
    """Stop the data dir's server (SIGTERM: jobs in training are marked failed; SIGKILL after
    ``timeout``). Returns what was stopped, or None when nothing was running."""
    folder = data_dir or default_data_dir()
    if not _lock_is_held(folder):
        return None
    info = read_server_info(folder)
    if info is None:
        raise BackendError(f"a backend holds {backend_dir(folder) / LOCK_FILE} but wrote no {SERVER_FILE}; try again")
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _lock_is_held(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _lock_is_held(folder) and _pid_alive(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
        while _lock_is_held(folder) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
    return info


def status_dict(data_dir: Path | None = None) -> dict[str, Any]:
    """What ``sft-studio backend status`` shows."""
    folder = data_dir or default_data_dir()
    info = running_server(folder)
    body: dict[str, Any] = {"running": info is not None, "data_dir": str(folder)}
    if info is not None:
        body.update(asdict(info))
    return body

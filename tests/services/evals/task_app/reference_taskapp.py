"""synth-ai 0.2.10's real grpo-crafter task app and ``run_eval.py``, from PyPI into their own venv (never a dependency).

Built once with uv beside the other reference venvs (``~/.cache/sft-studio-tests/synth-ai-0.2.10-venv``), the same way
:mod:`tests.support.reference_cli` builds the 0.2.23 one. The wheel ships the task app
(``examples/warming_up_to_rl/task_app/grpo_crafter.py``) and the launcher (``examples/warming_up_to_rl/run_eval.py``)
inside site-packages; ``synth-ai serve`` finds the app through ``SYNTH_TASK_APP_SEARCH_PATH``.

How the real app must be started (observed, shared/reference/task_app_and_eval.md): with both ``--trace`` and
``--trace-db`` and a (dummy) ``GROQ_API_KEY``, else it prompts and aborts without a TTY; without ``SYNTH_API_KEY``
(else it calls the Synth backend at start); ``--host 127.0.0.1`` (its default is 0.0.0.0). Start-up takes seconds
(tens under load): :func:`reference_task_app` waits for ``/health``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from services.common.child_process import die_with_parent
from tests.support.reference_cli import _clean_env, _file_lock, _uv, _venv_python
from tests.support.reference_tools import ReferenceUnavailable

VERSION = "0.2.10"
REQUIREMENT = f"synth-ai=={VERSION}"
VENV_PYTHON = "3.11"
LOCK_TIMEOUT_S = 900.0
START_TIMEOUT_S = 180.0
_MARKER = ".complete"
TASK_APP_DIR = "examples/warming_up_to_rl/task_app"
RUN_EVAL = "examples/warming_up_to_rl/run_eval.py"


class ReferenceAppFailed(RuntimeError):
    """The reference ran but did not come up or crashed: a real failure, never a skip."""


def venv_dir() -> Path:
    base = os.environ.get("SFT_STUDIO_TEST_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "sft-studio-tests"
    return root / f"synth-ai-{VERSION}-venv"


def reference_python() -> Path:
    """The python of a venv with ``synth-ai==0.2.10`` and its dependencies (built once, then reused)."""
    venv = venv_dir()
    python = _venv_python(venv)
    if (venv / _MARKER).is_file() and python.is_file():
        return python
    with _file_lock(venv.with_name(venv.name + ".lock"), LOCK_TIMEOUT_S):
        if (venv / _MARKER).is_file() and python.is_file():
            return python
        if venv.exists():
            shutil.rmtree(venv)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
        for args in (
            ["venv", "--quiet", "--python", VENV_PYTHON, str(venv)],
            ["pip", "install", "--quiet", "--python", str(python), REQUIREMENT],
        ):
            proc = _uv(args, env)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                detail = (proc.stderr or proc.stdout).strip()[-2000:]
                raise ReferenceUnavailable(f"cannot install {REQUIREMENT}: `uv {' '.join(args[:2])}` failed:\n{detail}")
        (venv / _MARKER).write_text(REQUIREMENT + "\n", encoding="utf-8")
    return python


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(out.stdout.strip())


def run_eval_script(python: Path) -> Path:
    script = site_packages(python) / RUN_EVAL
    if not script.is_file():
        raise ReferenceAppFailed(f"{script} is missing from the {REQUIREMENT} wheel")
    return script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _own_group() -> None:
    """preexec: a session of its own (so the whole group can be killed) that dies with the test process."""
    os.setsid()
    die_with_parent()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # uvicorn + synth-ai trap SIGTERM/SIGINT; nothing to keep
    proc.wait(timeout=30)


def wait_healthy(url: str, key: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ReferenceAppFailed(f"task app exited {proc.returncode} before serving:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", headers={"X-API-Key": key}, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise ReferenceAppFailed(f"task app did not answer /health within {timeout:.0f}s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def reference_task_app(work: Path, key: str) -> Iterator[tuple[str, Path]]:
    """``synth-ai serve grpo-crafter`` (0.2.10) on a free loopback port: yields (url, its trace DB)."""
    python = reference_python()
    script = python.with_name("synth-ai")
    if not script.is_file():
        raise ReferenceAppFailed(f"{script} is missing from the reference venv")
    port = free_port()
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    trace_dir = work / "ref-traces"
    trace_db = trace_dir / "synth_ai.db"
    env = _clean_env(
        home,
        ENVIRONMENT_API_KEY=key,
        GROQ_API_KEY="dummy-groq-key-not-used",
        SYNTH_TASK_APP_SEARCH_PATH=str(site_packages(python) / TASK_APP_DIR),
    )
    for name in ("OPENAI_API_KEY", "SYNTH_API_KEY", "DEV_ENVIRONMENT_API_KEY", "dev_environment_api_key"):
        env.pop(name, None)
    log = work / "reference-task-app.log"
    cmd = [str(script), "serve", "grpo-crafter", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--trace", str(trace_dir), "--trace-db", str(trace_db)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_own_group
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, key, proc, log, START_TIMEOUT_S)
        yield url, trace_db
    finally:
        _stop(proc)


@contextlib.contextmanager
def our_task_app(work: Path, key: str, trace_db: Path) -> Iterator[str]:
    """``sft-studio task-app serve --port 0 --trace-db …`` as a child process: yields its URL."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNTH_", "OPENAI_"))}
    env.update(ENVIRONMENT_API_KEY=key, NO_PROXY="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    root = Path(__file__).resolve().parents[4]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    log = work / "our-task-app.log"
    cmd = [sys.executable, "-m", "tui.cli", "task-app", "serve", "--port", "0", "--trace-db", str(trace_db)]
    cmd += ["--inference-retries", "1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_own_group
        )
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ReferenceAppFailed(f"sft-studio task-app serve exited {proc.returncode}:\n{_tail(log)}")
            for line in _tail(log).splitlines():
                if "serving http://" in line:
                    url = line.split("serving ", 1)[1].split()[0]
            time.sleep(0.1)
        if url is None:
            raise ReferenceAppFailed(f"sft-studio task-app serve printed no URL:\n{_tail(log)}")
        wait_healthy(url, key, proc, log, 30)
        yield url
    finally:
        _stop(proc)


def run_reference_eval(
    python: Path, toml: Path, key: str, work: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python run_eval.py --toml TOML --use-rollout`` (0.2.10) from ``work``, with ENVIRONMENT_API_KEY=key."""
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = _clean_env(home, ENVIRONMENT_API_KEY=key)
    for name in ("OPENAI_API_KEY", "SYNTH_API_KEY", "GROQ_API_KEY"):
        env.pop(name, None)
    cmd = [str(python), str(run_eval_script(python)), "--toml", str(toml), "--use-rollout"]
    try:
        return subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ReferenceAppFailed(f"run_eval.py ran past {timeout:.0f}s\n{exc.stdout!s}\n{exc.stderr!s}") from None

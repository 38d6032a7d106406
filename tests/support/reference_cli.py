"""The real ``synth-ai==0.2.23`` SFT CLI, installed at test time into its own virtual environment (never a dependency).

Our config validation and job-payload builder mirror what ``synth-ai train --type sft`` does. To compare them with
the real thing, this module builds (once, cached beside the 0.2.10 wheel of
:mod:`tests.support.reference_tools`) a separate venv with ``synth-ai==0.2.23`` pinned, and runs it as a subprocess:

* :func:`reference_build` runs the CLI's own config finder and payload builder on a batch of cases, in one process
  (``tests/support/reference_runner.py``, which imports synth-ai inside that venv only);
* :func:`run_reference_cli` runs the console script ``synth-ai train`` end to end, against a loopback backend
  (see :mod:`tests.support.stub_backend`).

Nothing of synth-ai is copied into this repository, and this project's environment never imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.reference_tools import ReferenceUnavailable

CLI_VERSION = "0.2.23"
REQUIREMENT = f"synth-ai=={CLI_VERSION}"
VENV_PYTHON = "3.11"
RUNNER = Path(__file__).with_name("reference_runner.py")
DUMMY_API_KEY = "sk-test-sft-studio-0000000000000000"

BUILD_TIMEOUT_S = 120.0
CLI_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 600.0
LOCK_TIMEOUT_S = 900.0

_MARKER = ".complete"  # written last: the venv is usable
# Environment that changes what the reference does (experimental models, backend, keys, .env paths, proxies).
_SCRUBBED_ENV = (
    "SDK_EXPERIMENTAL",
    "SDK_EXPERIMENTAL_MODELS",
    "BACKEND_BASE_URL",
    "LEARNING_V2_BASE_URL",
    "ENVIRONMENT_API_KEY",
    "TASK_APP_URL",
    "TASK_APP_BASE_URL",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


class ReferenceFailed(RuntimeError):
    """The reference ran but did not produce a result (crash, timeout): a real failure, never a skip."""


@dataclass(frozen=True, slots=True)
class RefCase:
    """One ``synth-ai train --type sft --config CONFIG [--dataset DATASET]`` run from ``cwd``."""

    config: Path
    dataset: Path | None
    cwd: Path


@dataclass(frozen=True, slots=True)
class RefOutcome:
    """What the reference made of a case: the job payload (``training_file_id`` still None) or its error text."""

    ok: bool
    payload: dict[str, Any] | None
    error: str | None
    output: str  # whatever the config finder / builder echoed (e.g. "[WARN] Validation dataset ... missing")


# ------------------------------------------------------------------------------------------------ the venv


def venv_dir() -> Path:
    """Where the reference venv lives: ``synth-ai-0.2.23-venv`` in the cache of :mod:`tests.support.reference_tools`."""
    base = os.environ.get("SFT_STUDIO_TEST_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "sft-studio-tests"
    return root / f"synth-ai-{CLI_VERSION}-venv"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _uv_command() -> list[str]:
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return [candidate]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    raise ReferenceUnavailable("uv is not installed (neither on PATH nor as `python -m uv`); cannot build the venv")


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive advisory lock held by this process (released by the OS if it dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ReferenceUnavailable(f"timed out waiting for {path} (another venv build?)") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _uv(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [*_uv_command(), *args],
            capture_output=True,
            text=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ReferenceUnavailable(f"`uv {' '.join(args)}` ran past {INSTALL_TIMEOUT_S:.0f}s") from exc


def reference_python() -> Path:
    """The python of a venv with ``synth-ai==0.2.23`` installed (built once with uv, then reused).

    Creation happens in place (a venv's scripts name their own absolute path, so it cannot be built elsewhere and
    renamed) under an exclusive lock file beside it; the marker file written last says it is complete, and a folder
    without it is a broken earlier attempt and is rebuilt. Raises :class:`ReferenceUnavailable` when uv or the
    registry cannot provide it.
    """
    venv = venv_dir()
    python = _venv_python(venv)
    if (venv / _MARKER).is_file() and python.is_file():
        return python
    with _file_lock(venv.with_name(venv.name + ".lock"), LOCK_TIMEOUT_S):
        if (venv / _MARKER).is_file() and python.is_file():  # another process finished it while we waited
            return python
        if venv.exists():
            shutil.rmtree(venv)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
        steps = (
            ["venv", "--quiet", "--python", VENV_PYTHON, str(venv)],
            ["pip", "install", "--quiet", "--python", str(python), REQUIREMENT],
        )
        for args in steps:
            proc = _uv(args, env)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                detail = (proc.stderr or proc.stdout).strip()[-2000:]
                raise ReferenceUnavailable(f"cannot install {REQUIREMENT}: `uv {' '.join(args[:2])}` failed:\n{detail}")
        (venv / _MARKER).write_text(REQUIREMENT + "\n", encoding="utf-8")
    return python


# ------------------------------------------------------------------------------------------------ subprocesses


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith("SYNTH_")}
    env.update(
        HOME=str(home),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONIOENCODING="utf-8",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _run_killable(
    cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float, stdin_text: str | None
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` that SIGKILLs the whole process group on timeout (synth-ai traps SIGINT/SIGTERM)."""
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin_text, timeout=timeout)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise subprocess.TimeoutExpired(list(cmd), timeout, output=out, stderr=err) from None
        raise
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def reference_build(cases: list[RefCase]) -> list[RefOutcome]:
    """What ``synth-ai train --type sft --config C [--dataset D]`` builds for each case, up to the job payload.

    All cases run in one subprocess of the reference venv (``tests/support/reference_runner.py``): for each, chdir to
    ``cwd``, ``discover_configs([config], requested_type="sft")``, then ``build_sft_payload(config_path=<resolved>,
    dataset_override=<dataset resolved from cwd>, allow_experimental=None)`` with SDK_EXPERIMENTAL* unset. Any
    exception is an outcome with ``ok=False`` and ``error=str(exc)``. Raises :class:`ReferenceUnavailable` when the
    venv cannot be built, :class:`ReferenceFailed` when the runner itself crashes or times out.
    """
    if not cases:
        return []
    python = reference_python()
    request = [
        {"config": str(c.config), "dataset": None if c.dataset is None else str(c.dataset), "cwd": str(c.cwd)}
        for c in cases
    ]
    with tempfile.TemporaryDirectory(prefix="sft-studio-ref-build-") as tmp:
        work = Path(tmp)
        result_path = work / "results.json"
        (work / "home").mkdir()
        cmd = [str(python), "-I", str(RUNNER), str(result_path)]
        try:
            proc = _run_killable(
                cmd, cwd=work, env=_clean_env(work / "home"), timeout=BUILD_TIMEOUT_S, stdin_text=json.dumps(request)
            )
        except subprocess.TimeoutExpired as exc:
            raise ReferenceFailed(
                f"reference runner ran past {BUILD_TIMEOUT_S:.0f}s and was killed\n{exc.stdout!s}\n{exc.stderr!s}"
            ) from exc
        if proc.returncode != 0 or not result_path.is_file():
            raise ReferenceFailed(
                f"reference runner exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        results = json.loads(result_path.read_text(encoding="utf-8"))
    if len(results) != len(cases):
        raise ReferenceFailed(f"reference runner answered {len(results)} of {len(cases)} cases")
    return [
        RefOutcome(ok=bool(r["ok"]), payload=r["payload"], error=r["error"], output=str(r["output"])) for r in results
    ]


def run_reference_cli(
    config: Path,
    dataset: Path,
    cwd: Path,
    backend_url: str,
    extra_args: Sequence[str] = (),
    *,
    api_key: str = DUMMY_API_KEY,
    timeout: float = CLI_TIMEOUT_S,
    poll_interval: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real console script: ``synth-ai train --type sft --config C --dataset D --backend URL --no-poll``.

    With ``poll_interval`` it polls instead (``--poll --poll-interval S``) until the backend reports a terminal
    status; the CLI has no working timeout of its own (``--poll-timeout`` is ignored), so ``timeout`` is what ends a
    run that never finishes.

    Non-interactive (stdin is /dev/null, so the config finder auto-selects), with ``SYNTH_API_KEY=api_key``, a
    throw-away HOME (the CLI saves ``~/.synth-ai/train_cli.json``), SDK_EXPERIMENTAL*/SYNTH_*/proxy variables unset.
    ``backend_url`` gets ``/api`` appended by the CLI when missing. ``cwd`` and its parents must hold no ``.env``
    (python-dotenv would load it). The CLI leaves two things in ``cwd``, both removed afterwards: a ``.env`` with
    ``SYNTH_API_KEY=...`` (it persists the key it found in the environment) and an empty ``traces/v3/`` (made when
    its experiment-queue module is imported). On timeout the process group is SIGKILLed and
    :class:`subprocess.TimeoutExpired` raised.
    """
    python = reference_python()
    script = python.with_name("synth-ai.exe" if os.name == "nt" else "synth-ai")
    if not script.is_file():
        raise ReferenceFailed(f"{script} is missing from the reference venv")
    cwd = cwd.resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / ".env").exists():
            raise ValueError(f"{folder / '.env'} exists; synth-ai would load it (run from a folder without one)")
    cmd = [
        str(script),
        "train",
        "--type",
        "sft",
        "--config",
        str(config),
        "--dataset",
        str(dataset),
        "--backend",
        backend_url,
        *(["--no-poll"] if poll_interval is None else ["--poll", "--poll-interval", str(poll_interval)]),
        *extra_args,
    ]
    had_traces = (cwd / "traces").exists()
    with tempfile.TemporaryDirectory(prefix="sft-studio-ref-home-") as home:
        try:
            return _run_killable(
                cmd, cwd=cwd, env=_clean_env(Path(home), SYNTH_API_KEY=api_key), timeout=timeout, stdin_text=None
            )
        finally:
            (cwd / ".env").unlink(missing_ok=True)
            if not had_traces:  # made at start-up by synth_ai.experiment_queue (sqlite default traces/v3/...)
                for empty in (cwd / "traces" / "v3", cwd / "traces"):
                    with contextlib.suppress(OSError):
                        empty.rmdir()

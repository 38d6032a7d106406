"""Child processes that die with their parent.

A worker we start (an export part writer, a world prefetcher, a session-index scanner) must never
outlive the sft-studio process that started it: after a SIGKILL of the parent it would keep
writing files nobody removes and hold the caller's terminal. On Linux the kernel does this for us
(``PR_SET_PDEATHSIG``); elsewhere :func:`exit_when_orphaned` is the fallback a worker loop can call.

Note the kernel's rule: the signal is sent when the *thread* that started the child ends. Start
long-lived children from a thread that lives as long as they are needed (the main thread, or the
worker thread that also waits for them).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent ends (a no-op outside Linux).

    Call it first thing in the child: as ``preexec_fn`` of :class:`subprocess.Popen`, as the
    ``initializer`` of a process pool, or at the top of a worker's ``main``. ``expected_parent`` is
    the parent's pid as the parent saw it: if the parent already died before this call, the child
    exits at once instead of running on as an orphan.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def exit_when_orphaned(expected_parent: int) -> None:
    """Exit at once when the parent is gone (for platforms without ``PR_SET_PDEATHSIG``)."""
    if os.getppid() != expected_parent:
        os._exit(1)


def child_env() -> dict[str, str]:
    """This process's environment with the project root first on ``PYTHONPATH``, for a ``python -c``
    worker that imports ``services`` however the parent was started (a console script, ``-m``, tests)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the folder holding services/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env

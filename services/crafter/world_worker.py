"""Building Crafter worlds ahead of time in plain child processes (the collector's prefetch).

World generation is ~30 ms a seed (services/crafter/fast_worldgen.py; it was ~0.2 s, as long as a
whole teacher episode, before that port); building the next worlds in parallel still takes it off
the collector's own core. A plain subprocess,
not multiprocessing: no resource tracker is started (it outlived a killed collector for minutes and
held the caller's stdout/stderr), nothing of the parent's ``__main__`` is re-imported, and the child
asks the kernel to kill it when the parent dies (:func:`~services.common.child_process.die_with_parent`),
so a SIGKILL of the collector leaves no process behind. Its stderr is /dev/null: it never writes to
the caller's terminal (or into a full-screen app).

Protocol: the parent writes seeds, one per line, on the child's stdin and closes it; the child
answers each with a frame ``>qI`` (seed, payload length) + the pickled world, and exits at EOF.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future, InvalidStateError
from typing import IO, Any

from services.common.child_process import child_env

_HEADER = struct.Struct(">qI")
_WORKER = "from services.crafter.world_worker import worker_main; worker_main()"


def worker_main() -> None:
    """The child: ``python -c _WORKER PARENT_PID LENGTH``; answers seeds read from stdin."""
    from services.common.child_process import die_with_parent

    die_with_parent(int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    from services.crafter.env import generate_world

    length = int(sys.argv[2])
    out = sys.stdout.buffer
    for line in sys.stdin:
        if not line.strip():
            continue
        seed = int(line)
        payload = pickle.dumps(generate_world(seed, length), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(seed, len(payload)))
        out.write(payload)
        out.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def _settle(future: Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless it already is (cancelled by an episode that stopped waiting)."""
    with contextlib.suppress(InvalidStateError):
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class WorldWorker:
    """One child building the worlds of ``seeds`` in order; ``futures[seed]`` gets each world.

    A child that cannot start or dies fails its remaining futures (the episode then builds its own
    world: prefetch only saves time). Start it from the thread that lives as long as the child is
    needed (the kernel's parent-death signal follows the starting thread).
    """

    def __init__(self, seeds: Iterable[int], length: int = 10000) -> None:
        self.seeds = list(seeds)
        self.futures: dict[int, Future[Any]] = {seed: Future() for seed in self.seeds}
        env = child_env()
        self.proc: subprocess.Popen[bytes] | None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(os.getpid()), str(length)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            self.proc = None
            self._fail_rest(RuntimeError(f"world worker cannot start: {exc}"))
            self.thread: threading.Thread | None = None
            return
        self.thread = threading.Thread(target=self._talk, name="sft-world-worker", daemon=True)
        self.thread.start()

    def _fail_rest(self, error: BaseException) -> None:
        for future in self.futures.values():
            if not future.done():
                _settle(future, error=error)

    def _talk(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write("".join(f"{seed}\n" for seed in self.seeds).encode())
            proc.stdin.close()
            while (header := _read_exact(proc.stdout, _HEADER.size)) is not None:
                seed, size = _HEADER.unpack(header)
                payload = _read_exact(proc.stdout, size)
                if payload is None:
                    break
                future = self.futures.get(seed)
                if future is not None and not future.done():
                    _settle(future, result=pickle.loads(payload))  # our own child's pickle
        except (OSError, ValueError, pickle.UnpicklingError):
            pass
        finally:
            self._fail_rest(RuntimeError("world worker ended"))

    def close(self) -> None:
        """Kill the child (whatever it was building is not needed any more) and reap it."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.kill()
        proc.wait()
        if self.thread is not None:
            self.thread.join(timeout=5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        self._fail_rest(RuntimeError("world worker closed"))

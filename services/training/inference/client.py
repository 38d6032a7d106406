"""The server's side of the inference worker: one child process, requests queued to it in order.

The server process never imports torch; it starts ``python -m services.training.inference.worker``
on the first request and talks JSON lines to it (see that module). One dedicated thread owns the
child for its whole life: the kernel's die-with-parent signal fires when the *thread* that started
the child ends (services/common/child_process.py), so the child must not be started from a
short-lived pool thread. Callers submit requests from any thread or the event loop
(:meth:`InferenceWorker.submit` returns a ``concurrent.futures.Future``; ``asyncio.wrap_future``
awaits it), so generation never blocks the event loop. A worker that dies fails the request it was
serving with the tail of its stderr and is started again for the next one.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import IO, Any

from services.common.child_process import die_with_parent

WORKER_MODULE = "services.training.inference.worker"
_STDERR_TAIL_LINES = 20
_START_TIMEOUT_S = 120.0


class InferenceError(Exception):
    """A request the worker could not serve. ``kind``: ``bad_request`` (the request's fault),
    ``load`` (the model cannot be loaded), ``internal`` (a bug or a dead worker)."""

    def __init__(self, message: str, kind: str = "internal") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


_Job = tuple[dict[str, Any], "Future[dict[str, Any]]"]
#: The most requests answered by one ``generate`` call (the worker's ``generate_batch``).
MAX_BATCH = 8


def batch_key(request: dict[str, Any]) -> tuple[Any, ...] | None:
    """Requests with equal keys can share one batched generation; None: this one goes alone
    (a seeded sample promises the random stream it would get alone)."""
    if request.get("op", "generate") != "generate":
        return None
    temperature = float(request.get("temperature") or 0.0)
    if temperature > 0 and request.get("seed") is not None:
        return None
    top_p = request.get("top_p") if temperature > 0 else None
    return (request.get("model_path"), temperature, top_p)


class InferenceWorker:
    """One worker child serving requests in arrival order; requests that wait together for the same
    model and sampling are answered by one batched generation (up to MAX_BATCH)."""

    def __init__(
        self,
        command: Sequence[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.command = list(command) if command else [sys.executable, "-m", WORKER_MODULE]
        self._env = dict(env or {})
        if threads is not None:
            self._env["SFT_STUDIO_INFERENCE_THREADS"] = str(threads)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._drainer: threading.Thread | None = None
        self._next_id = 0
        self.starts = 0
        #: How many batched generations were asked (tests and benchmarks read it).
        self.batches = 0

    # ---- public ----

    def submit(self, request: dict[str, Any]) -> Future[dict[str, Any]]:
        """Queue one request; the future gives the worker's reply body or raises InferenceError."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(InferenceError("the inference worker is shut down"))
                return future
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="inference-worker", daemon=True)
                self._thread.start()
            self._queue.put((dict(request), future))
        return future

    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def close(self, timeout: float = 5.0) -> None:
        """Stop the worker child and the owning thread (pending requests fail)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    # ---- the owning thread ----

    def _take_batch(self, pending: collections.deque[_Job]) -> list[_Job]:
        """The oldest waiting request and up to MAX_BATCH - 1 later ones it can share a ``generate``
        call with (same model, same sampling, no seed); the others keep their places."""
        first = pending.popleft()
        batch = [first]
        key = batch_key(first[0])
        if key is None:
            return batch
        kept: collections.deque[_Job] = collections.deque()
        while pending and len(batch) < MAX_BATCH:
            job = pending.popleft()
            (batch if batch_key(job[0]) == key else kept).append(job)
        pending.extendleft(reversed(kept))
        return batch

    def _run(self) -> None:
        pending: collections.deque[_Job] = collections.deque()
        stopping = False
        try:
            while not stopping or pending:
                if not pending:
                    job = self._queue.get()
                    if job is None:
                        break
                    pending.append(job)
                while True:  # everything queued meanwhile joins the line, so it can be batched
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    pending.append(more)
                if stopping:
                    for _, future in pending:
                        if future.set_running_or_notify_cancel():
                            future.set_exception(InferenceError("the inference worker is shut down"))
                    pending.clear()
                    break
                batch = [job for job in self._take_batch(pending) if job[1].set_running_or_notify_cancel()]
                if batch:
                    self._serve(batch)
        finally:
            self._stop_child()
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None and left[1].set_running_or_notify_cancel():
                    left[1].set_exception(InferenceError("the inference worker is shut down"))

    def _serve(self, batch: list[_Job]) -> None:
        try:
            if len(batch) == 1:
                batch[0][1].set_result(self._ask(batch[0][0]))
                return
            bodies = self._ask_batch([request for request, _ in batch])
            self.batches += 1
            for (_, future), body in zip(batch, bodies, strict=True):
                if body.get("ok"):
                    future.set_result(body)
                else:
                    kind = str(body.get("kind") or "internal")
                    future.set_exception(InferenceError(str(body.get("error") or "the worker failed"), kind))
        except Exception as exc:  # never leave a caller waiting
            error = exc if isinstance(exc, InferenceError) else InferenceError(f"{type(exc).__name__}: {exc}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)

    def _ask_batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proc = self._ensure_child()
        self._next_id += 1
        reply = self._roundtrip(proc, {"id": self._next_id, "op": "generate_batch", "requests": requests})
        results = reply.get("results")
        if not reply.get("ok") or not isinstance(results, list) or len(results) != len(requests):
            raise InferenceError(str(reply.get("error") or "the worker gave no batch answer"), "internal")
        return [r if isinstance(r, dict) else {"ok": False, "error": "malformed answer"} for r in results]

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        proc = self._ensure_child()
        self._next_id += 1
        request["id"] = self._next_id
        reply = self._roundtrip(proc, request)
        if reply.get("ok"):
            return reply
        raise InferenceError(str(reply.get("error") or "the worker failed"), str(reply.get("kind") or "internal"))

    def _roundtrip(self, proc: subprocess.Popen[str], request: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            while True:
                line = proc.stdout.readline()
                if not line:
                    raise InferenceError(self._death_message(proc))
                try:
                    reply = json.loads(line)
                except ValueError:
                    continue  # not a reply line (should not happen: the worker guards its stdout)
                if isinstance(reply, dict) and reply.get("id") == request["id"]:
                    return reply
        except (BrokenPipeError, OSError) as exc:
            raise InferenceError(self._death_message(proc)) from exc

    def _death_message(self, proc: subprocess.Popen[str]) -> str:
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._proc = None
        if self._drainer is not None:
            self._drainer.join(2.0)  # the log's last lines say why
        tail = " | ".join(line for line in list(self._stderr_tail)[-5:] if line)
        why = "the inference worker stopped answering" if code is None else f"the inference worker exited (code {code})"
        return f"{why}: {tail}" if tail else why

    def _ensure_child(self) -> subprocess.Popen[str]:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        env = {**os.environ, **self._env, "SFT_STUDIO_PARENT_PID": str(os.getpid()), "PYTHONUNBUFFERED": "1"}
        env.setdefault("SFT_STUDIO_INFERENCE_THREADS", "1")
        env.setdefault("OMP_NUM_THREADS", env["SFT_STUDIO_INFERENCE_THREADS"])
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        parent = os.getpid()
        try:
            proc = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=env,
                preexec_fn=lambda: die_with_parent(parent),
                close_fds=True,
            )
        except OSError as exc:
            raise InferenceError(f"cannot start the inference worker: {exc}") from exc
        self._stderr_tail.clear()
        assert proc.stderr is not None
        self._drainer = threading.Thread(target=self._drain, args=(proc.stderr,), name="inference-log", daemon=True)
        self._drainer.start()
        self._proc = proc
        self.starts += 1
        return proc

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr_tail.append(line.rstrip()[:300])

    def _stop_child(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(timeout=5)

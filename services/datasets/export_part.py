"""One part of an export: the examples of a run of sessions, written to a file, with per-line facts.

A big export is cut in two at a session boundary: this process writes the first part straight into
the output's temp file while a worker process (``worker_main``) writes the second part into a temp
file of its own; the exporter then appends it. Parsing call records is pure-Python CPU work, so a
second core halves it. Each part keeps the reference's per-session state (turn counters, cumulative
achievements) correct on its own because no session spans two parts. The per-line facts (session,
model, token estimate, flags, byte length) let the exporter count any prefix exactly: the limit
cut, the size subsets. Stdlib, orjson and our own modules only, so the worker starts quickly.
"""

from __future__ import annotations

import gc
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

from services.common.child_process import child_env, die_with_parent
from services.datasets.examples import AchievementMap, ExampleCounters, Row, build_examples
from services.datasets.validation_rules import MAX_ISSUES, export_problem, upload_issue
from services.traces.snapshot import bound
from services.traces.sqlite_stream import stream_query

FLAG_IMAGE = 1
FLAG_SEGMENTS = 2
_CHUNK = 1 << 20  # bytes handed to the writer at a time
_CHECK_EVERY = 256  # examples between two should_stop polls

_ROWS_SQL = (
    "SELECT session_id, metadata, model_name, provider, call_records FROM events {hint}"
    "WHERE event_type = 'cais' AND call_records IS NOT NULL{where}{pin} ORDER BY session_id, id"
)


@dataclass
class PartJob:
    """What a part needs: where to read, which sessions (sorted), their achievement lists, the filter."""

    uri: str
    sessions: list[str]
    achievements: AchievementMap
    models: list[str]
    limit: int | None
    narrow: bool  # filter sessions in SQL (worth it unless the part is every session of the DB)
    timeout: float = 5.0
    #: only events with ``id <= last_event_id`` (the export's snapshot, the same in every part)
    last_event_id: int | None = None


@dataclass
class PartResult:
    """What a part wrote. ``problems``/``issues`` hold (1-based line in this part, message)."""

    examples: int = 0  # examples built, written or not (rows of the pre-write check)
    lines: int = 0  # lines written
    size: int = 0
    session_ids: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # str(model) of each model index
    line_session: array[int] = field(default_factory=lambda: array("i"))
    line_model: array[int] = field(default_factory=lambda: array("i"))
    line_tokens: array[int] = field(default_factory=lambda: array("q"))
    line_flags: array[int] = field(default_factory=lambda: array("B"))
    line_bytes: array[int] = field(default_factory=lambda: array("q"))
    problems: list[tuple[int, str]] = field(default_factory=list)
    issues: list[tuple[int, str]] = field(default_factory=list)
    counters: ExampleCounters = field(default_factory=ExampleCounters)


class PartStopped(Exception):
    """``should_stop`` said so."""


def _inspect(record: dict[str, Any]) -> tuple[int, bool, bool]:
    """(characters for the token estimate, some content is a segment list, looks well formed).

    One pass over the messages of a record we built: roles are strings (blank ones fail upload),
    content is a string or segments, tool calls are normalised. ``False`` sends the record through
    the full checks, which word the problem exactly.
    """
    chars = 0
    segments = False
    ok = True
    for message in record["messages"]:
        role = message["role"]
        if type(role) is not str or not role.strip():
            ok = False
        content = message["content"]
        if type(content) is str:
            chars += len(content)
        else:
            segments = True
            chars += sum(len(s.get("text", "")) for s in content if isinstance(s, dict))
        for call in message.get("tool_calls", ()):
            function = call["function"]
            if not function["name"].strip():
                ok = False
            chars += len(function["arguments"])
    return chars, segments, ok


def rows_query(
    sessions: list[str] | None, models: list[str], last_event_id: int | None = None
) -> Callable[[sqlite3.Connection], sqlite3.Cursor]:
    """The LM events of ``sessions`` (None: all) in the reference's order, up to ``last_event_id``.

    Walking the (session_id, timestep_id) index sorts only within a session, where ORDER BY alone
    would sort every call record (hundreds of MB) through a temp B-tree. The SQL filters only narrow
    the scan: ``build_examples`` applies the same filters again, so the result never depends on them.
    """

    def query(conn: sqlite3.Connection) -> sqlite3.Cursor:
        has_index = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'idx_event_session_step'"
        ).fetchone()
        hint = "INDEXED BY idx_event_session_step " if has_index else ""
        where, params = "", []
        if sessions is not None:
            where += " AND session_id IN (SELECT value FROM json_each(?))"
            params.append(orjson.dumps(sessions).decode())
        if models:
            where += " AND model_name IN (SELECT value FROM json_each(?))"
            params.append(orjson.dumps(models).decode())
        pin = bound(last_event_id, "id")
        try:
            return conn.execute(_ROWS_SQL.format(hint=hint, where=where, pin=pin), params)
        except sqlite3.OperationalError:  # no json_each in this SQLite: build_examples filters alone
            return conn.execute(_ROWS_SQL.format(hint=hint, where="", pin=pin))

    return query


def write_part(
    rows: Iterator[Row],
    job: PartJob,
    write: Callable[[bytes], object],
    *,
    on_progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PartResult:
    """Build the examples of ``rows`` and hand their lines to ``write`` in ~1 MiB chunks.

    After the pre-write check's first problem nothing more is written (the export will abort), but
    examples are still checked, up to 20 problems, as the reference reports them.
    """
    out = PartResult()
    counters = out.counters
    examples = build_examples(
        rows,
        set(job.sessions),
        job.achievements,
        allowed_models=set(job.models) or None,
        limit=job.limit,
        counters=counters,
    )
    model_ids: dict[Any, int] = {}
    buffer: list[bytes] = []
    buffered = 0
    last_sid: str | None = None
    n = 0
    try:
        for record, line in examples:
            n += 1
            chars, segments, ok = _inspect(record)
            if not ok:
                problem = export_problem(record)
                if problem is not None:
                    out.problems.append((n, problem))
                    if len(out.problems) >= MAX_ISSUES:
                        break
                if len(out.issues) < MAX_ISSUES and (issue := upload_issue(record)) is not None:
                    out.issues.append((n, issue))
            if out.problems:
                continue
            meta = record["metadata"]
            sid = meta["session_id"]
            if sid != last_sid:
                last_sid = sid
                out.session_ids.append(sid)
                if on_progress is not None:
                    on_progress(len(out.session_ids) - 1, n - 1)
            model = meta["model"]
            mid = model_ids.get(model)
            if mid is None:
                mid = model_ids[model] = len(out.models)
                out.models.append(str(model))
            size = len(line) + 1
            out.line_session.append(len(out.session_ids) - 1)
            out.line_model.append(mid)
            out.line_tokens.append(-(-chars // 4))
            out.line_flags.append((FLAG_IMAGE if meta["has_image"] else 0) | (FLAG_SEGMENTS if segments else 0))
            out.line_bytes.append(size)
            buffer.append(line)
            buffered += size
            if buffered >= _CHUNK:
                write(b"\n".join(buffer) + b"\n")
                buffer.clear()
                buffered = 0
            if n % _CHECK_EVERY == 0 and should_stop is not None and should_stop():
                raise PartStopped
    finally:
        examples.close()
    if buffer and not out.problems:
        write(b"\n".join(buffer) + b"\n")
    out.examples = n
    out.lines = len(out.line_bytes)
    out.size = sum(out.line_bytes)
    return out


# --------------------------------------------------------------------------------------------------
# Worker process: ``python -c "from services.datasets.export_part import worker_main; worker_main()" PID``
# dies with its parent PID (``die_with_parent``: a killed exporter leaves no worker writing on),
# reads a pickled (PartJob, PATH) on stdin, writes the part's lines to PATH, and answers on stdout with
# frames: b"P" + session count (progress), then b"R" + pickled PartResult, or b"E" + error text.
# It is started before the selection (its start-up overlaps it) and waits on stdin for its job; a
# stdin closed without a job (the export needed no second part) ends it quietly.

_LEN = struct.Struct("<Q")
_INT = struct.Struct("<q")


def _frame(stream: BinaryIO, kind: bytes, payload: bytes) -> None:
    stream.write(kind + _LEN.pack(len(payload)) + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    """One (kind, payload) frame, or None at the end of the stream."""
    head = stream.read(1 + _LEN.size)
    if len(head) < 1 + _LEN.size:
        return None
    (size,) = _LEN.unpack(head[1:])
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return head[:1], payload


def progress_counts(payload: bytes) -> tuple[int, int]:
    """(sessions done, examples done) of a b"P" frame."""
    return int(_INT.unpack_from(payload)[0]), int(_INT.unpack_from(payload, _INT.size)[0])


def run_part_file(job: PartJob, path: str, on_progress: Callable[[int, int], None] | None = None) -> PartResult:
    """Write ``job``'s part to ``path``, reading the DB directly (the worker's side)."""

    @contextmanager
    def connect() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(job.uri, uri=True, timeout=job.timeout, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    rows = stream_query(connect, rows_query(job.sessions if job.narrow else None, job.models, job.last_event_id))
    with open(path, "wb") as fh:
        return write_part(rows, job, fh.write, on_progress=on_progress)


def worker_main() -> None:
    die_with_parent(int(sys.argv[1]) if len(sys.argv) > 1 else None)
    gc.disable()  # see sft_selection.gc_paused
    stdout = sys.stdout.buffer
    try:
        try:
            job, path = pickle.load(sys.stdin.buffer)
        except EOFError:
            return  # no job: the export did not need this worker
        assert isinstance(job, PartJob) and isinstance(path, str)
        last = [0]

        def on_progress(sessions: int, examples: int) -> None:
            if sessions - last[0] >= 64:
                last[0] = sessions
                _frame(stdout, b"P", _INT.pack(sessions) + _INT.pack(examples))

        result = run_part_file(job, path, on_progress)
        _frame(stdout, b"R", pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:
        _frame(stdout, b"E", f"{type(exc).__name__}: {exc}".encode())


def copy_prefix(src: BinaryIO, size: int, write: Callable[[bytes], None]) -> None:
    """Copy ``size`` bytes of ``src`` (from its current position) to ``write``, 1 MiB at a time."""
    left = size
    while left > 0:
        chunk = src.read(min(left, 1 << 20))
        if not chunk:
            raise OSError(f"part file ended {left} bytes early")
        write(chunk)
        left -= len(chunk)


# --------------------------------------------------------------------------------------------------
# The exporter's side: a worker for the second part, and the facts of the assembled lines.

_WORKER = "from services.datasets.export_part import worker_main; worker_main()"


class Worker:
    """The second part, written by a child process.

    Started early (``Worker()``: interpreter and imports while the exporter selects), given its part
    with ``start``. ``result()`` is None when the child could not start, died or failed: the exporter
    then writes that part itself, so a worker problem costs time, never the export.
    """

    def __init__(self) -> None:
        self.on_progress: Callable[[int, int], None] | None = None
        self._result: PartResult | None = None
        self.error: str | None = None
        self.thread: threading.Thread | None = None
        env = child_env()
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-c", _WORKER, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            self.proc = None
            self.error = f"cannot start: {exc}"

    def start(self, job: PartJob, path: Path, on_progress: Callable[[int, int], None]) -> None:
        """Hand the child ``job``, to be written into ``path`` (answers are read on a thread)."""
        self.on_progress = on_progress
        self.thread = threading.Thread(target=self._talk, args=(job, str(path)), name="sft-export-worker", daemon=True)
        self.thread.start()

    def _talk(self, job: PartJob, path: str) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return
        try:
            proc.stdin.write(pickle.dumps((job, path), protocol=pickle.HIGHEST_PROTOCOL))
            proc.stdin.close()
            while (frame := read_frame(proc.stdout)) is not None:
                kind, payload = frame
                if kind == b"P":
                    if self.on_progress is not None:
                        self.on_progress(*progress_counts(payload))
                elif kind == b"R":
                    result = pickle.loads(payload)
                    self._result = result if isinstance(result, PartResult) else None
                    return
                else:
                    self.error = payload.decode(errors="replace")
                    return
        except (OSError, EOFError, ValueError, pickle.UnpicklingError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self, should_stop: Callable[[], bool] | None) -> PartResult | None:
        """Wait for the child; ``should_stop`` is polled (then PartStopped)."""
        while self.thread is not None and self.thread.is_alive():
            self.thread.join(0.1)
            if should_stop is not None and should_stop():
                self.stop()
                raise PartStopped
        self.stop()
        return self._result

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with suppress(OSError):
                    stream.close()
        if self.thread is not None:
            self.thread.join()


@dataclass
class Facts:
    """Counts of the first ``examples`` lines of an export."""

    examples: int
    sessions: int
    per_model: dict[str, int]
    tokens: int
    image_examples: int
    segment_examples: int
    size: int


class Lines:
    """The per-line facts of the parts, in file order: any prefix can be counted exactly."""

    def __init__(self, parts: list[tuple[PartResult, int]]) -> None:
        """``parts``: each part's result and how many of its lines the file holds."""
        self.session = array("i")
        self.model = array("i")
        self.tokens = array("q")
        self.flags = array("B")
        self.bytes = array("q")
        self.names: list[str] = []
        name_ids: dict[str, int] = {}
        sessions = 0
        for result, used in parts:
            ids = [name_ids.setdefault(name, len(name_ids)) for name in result.models]
            self.session.extend(s + sessions for s in result.line_session[:used])
            self.model.extend(ids[m] for m in result.line_model[:used])
            self.tokens.extend(result.line_tokens[:used])
            self.flags.extend(result.line_flags[:used])
            self.bytes.extend(result.line_bytes[:used])
            sessions += len(result.session_ids)
        self.names = list(name_ids)
        self.count = len(self.bytes)

    def facts(self, n: int) -> Facts:
        n = min(n, self.count)
        flags = self.flags[:n].tobytes()
        per_model = Counter(self.model[:n])
        return Facts(
            examples=n,
            sessions=self.session[n - 1] + 1 if n else 0,
            per_model={self.names[m]: c for m, c in sorted(per_model.items(), key=lambda kv: -kv[1])},
            tokens=sum(self.tokens[:n]),
            image_examples=flags.count(FLAG_IMAGE) + flags.count(FLAG_IMAGE | FLAG_SEGMENTS),
            segment_examples=flags.count(FLAG_SEGMENTS) + flags.count(FLAG_IMAGE | FLAG_SEGMENTS),
            size=sum(self.bytes[:n]),
        )

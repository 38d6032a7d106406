"""SFT export: stream export_trace_sft.py's examples into an atomic JSONL, with a manifest.

Selection and examples follow the reference exactly (``sft_selection``, ``sft_examples``); this
module adds what a user needs around them. Examples are written as they are produced (memory stays
flat on big DBs) into temp files beside the targets (``services.common.atomic``); only when everything
succeeded are they fsynced and renamed, so a failed or interrupted export leaves no file and never
half-replaces an old one.
Every file gets a manifest that is enough to rebuild it byte for byte (source DB hash, filter, tool
version), and ``sizes`` writes the first N examples as separate files with their own manifests.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, Field

from services.common.atomic import AtomicFile, remove_stale_temps
from services.common.child_process import child_env
from services.common.version import package_version
from services.common.workspace import default_export
from services.datasets.db_hash_cache import load_sha256, save_sha256
from services.datasets.examples import AchievementMap, ExampleCounters
from services.datasets.export_part import (
    Facts,
    Lines,
    PartJob,
    PartResult,
    PartStopped,
    Worker,
    copy_prefix,
    rows_query,
    write_part,
)
from services.datasets.export_targets import SizesError, check_sizes_fit, export_targets, manifest_path, subset_path
from services.datasets.filter_spec import FilterSpec
from services.datasets.selection import Selection, gc_paused, raw_connection, select_sessions
from services.datasets.validation import MAX_ISSUES, ValidationReport, export_failure_text
from services.traces.db import TraceDB
from services.traces.fingerprint import content_fingerprint, is_settled
from services.traces.snapshot import Snapshot, take_snapshot
from services.traces.sqlite_stream import stream_query

__all__ = [
    "NO_EXAMPLES",
    "NO_SESSIONS",
    "ExportError",
    "ExportResult",
    "ExportStopped",
    "ExportValidationError",
    "NothingMatched",
    "Selection",
    "SubsetResult",
    "db_sha256",
    "export_sft",
    "file_sha256",
    "manifest_path",
    "select_sessions",
    "subset_path",
]

TOOL_VERSION = f"sft-studio {package_version()}"
TOKEN_METHOD = (
    "per example: characters of message content (text segments only) plus tool-call arguments, "
    "divided by 4 and rounded up; summed over examples"
)
FORMAT = (
    "JSONL, one {messages, metadata} object per line (json.dump with ensure_ascii=False, then a newline), "
    "as synth-ai 0.2.10's examples/warming_up_to_rl/export_trace_sft.py writes it"
)
#: A second process writes the second half of exports with at least this many LM events.
PARALLEL_MIN_EVENTS = 20_000
WORKER_SHARE = 0.5
#: With ``workers=None`` the worker process is started before the selection (so its start-up overlaps
#: it) when the DB file is at least this big: a DB this size usually gives a two-part export; when it
#: does not, the idle worker is ended unused (~0.15 s of CPU on another core).
EARLY_WORKER_MIN_BYTES = 64 << 20
NO_SESSIONS = "No sessions matched the provided filters."
NO_EXAMPLES = "No rollout steps matched the filters (after session selection)."


class ExportError(Exception):
    """The export cannot produce a file; the message matches the reference where it has one."""


class NothingMatched(ExportError):
    """No session, or no example, matched the filter: the reference's own messages (NO_SESSIONS, NO_EXAMPLES)."""


class ExportValidationError(ExportError):
    """The exporter's pre-write check failed (the reference's message block); nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(export_failure_text(problems))
        self.problems = problems


class ExportStopped(ExportError):
    """``should_stop`` said so; nothing was written."""


class SubsetResult(BaseModel):
    size: int
    path: Path
    examples: int
    sessions: int
    sha256: str
    manifest: Path


class ExportResult(BaseModel):
    output: Path
    manifest: Path
    examples: int
    sessions: int
    per_model: dict[str, int]
    token_estimate: int
    sha256: str
    bytes: int = 0
    image_examples: int = 0
    segment_examples: int = 0  # examples with list content, which the reference refuses to export
    notes: list[str] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    validation: ValidationReport
    subsets: list[SubsetResult] = Field(default_factory=list)


#: ``progress(examples written, eligible sessions)`` and ``session_progress(sessions done, eligible sessions)``.
ProgressFn = Callable[[int, int], None]

# --------------------------------------------------------------------------------------------------
# Files


def file_sha256(path: Path) -> str:
    """Stream-hash a file (1 MiB reads: a 1.6 GB DB never sits in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


#: The files SQLite keeps beside a DB: writing over one of them corrupts or destroys the DB.
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def _same_file(a: Path, b: Path) -> bool:
    """One file (device and inode, through symlinks and hard links), or one path once resolved."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:
        pass  # one of them does not exist (yet): compare where they point
    return a.resolve() == b.resolve()


def refuse_source_targets(db: TraceDB, targets: list[Path]) -> None:
    """ExportError when a target is the trace DB read, one of its side files, or inside its sqld
    folder: never allowed, not even with ``force`` (the export would replace the traces)."""
    sources = [db.path, *(db.path.with_name(db.path.name + s) for s in SIDE_SUFFIXES)]
    sqld = db.display_path.resolve() if db.display_path.is_dir() else None
    for target in targets:
        if any(_same_file(target, source) for source in sources) or (
            sqld is not None and target.resolve().is_relative_to(sqld)
        ):
            raise ExportError(
                f"{target} is the trace DB being exported (or one of its files); refusing to overwrite it. "
                "Choose another --output."
            )


def _prepare_targets(output: Path, sizes: list[int], force: bool) -> list[Path]:
    targets = export_targets(output, sizes)
    for path in targets:
        if path.is_dir():
            raise ExportError(f"{path} is a folder; choose a file name for the export.")
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise ExportError(f"{existing[0]} already exists; pass --force to overwrite it.")
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExportError(f"Cannot create the folder {parent}: a file is in the way.") from None
    except NotADirectoryError:
        raise ExportError(f"Cannot create the folder {parent}: part of that path is a file.") from None
    except OSError as exc:
        raise ExportError(f"Cannot create the folder {parent}: {exc.strerror or exc}.") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"Cannot write into {parent}: permission denied.")
    return targets


#: The hashing child: stdlib only, so it starts in ~20 ms. It dies with the exporter (``die_with_parent``
#: imported from the repository the exporter runs from).
_HASH_CHILD = """
import hashlib, sys
from services.common.child_process import die_with_parent
die_with_parent(int(sys.argv[2]))
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as fh:
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
print(digest.hexdigest())
"""


class _DBHash:
    """The DB file's sha256, computed meanwhile by a child process (or kept from an earlier export of
    the unchanged file: ``db_hash_cache``); ``cancel`` ends it early.

    Never in this process: opening and closing the DB file here, while this process has an SQLite
    connection to it, drops every POSIX lock the process holds on the file (fcntl locks belong to the
    process and file, not the descriptor), so SQLite's read lock would vanish and a writer could
    rewrite pages under the reader ("database disk image is malformed" mid-export).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value: str | None = None
        self.error: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        # An unchanged file's hash is the one kept by an earlier export (``db_hash_cache``): no process.
        self.resolved = path.resolve()
        self.taken_at = time.time()
        self.fingerprint = content_fingerprint(self.resolved)
        if self.fingerprint is not None:
            self.value = load_sha256(self.resolved, self.fingerprint)
            if self.value is not None:
                return
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _HASH_CHILD, str(path), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env(),
            )
        except OSError as exc:
            self.proc = None
            self.error = f"cannot start the hashing process: {exc.strerror or exc}"

    def result(self) -> str | None:
        if self.proc is None:
            return self.value
        out, err = self.proc.communicate()
        if self.proc.returncode == 0:
            self.value = out.decode().strip() or None
            fp = self.fingerprint
            # Kept only for a file that did not change while it was hashed (nor just before).
            if (
                self.value
                and fp is not None
                and is_settled(fp, self.taken_at)
                and content_fingerprint(self.resolved) == fp
            ):
                save_sha256(self.resolved, fp, self.value)
        else:
            lines = err.decode(errors="replace").strip().splitlines()
            self.error = lines[-1] if lines else f"the hashing process exited with {self.proc.returncode}"
        return self.value

    def cancel(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def db_sha256(path: Path) -> tuple[str | None, str | None]:
    """A trace DB file's sha256 hashed by a child process, as the export hashed it: ``(sha256, None)``
    or ``(None, why not)``. For callers that may hold (or share a process with) a connection to the
    DB, such as the app's workers: hashing it here would drop this process's SQLite locks on it."""
    digest = _DBHash(path)
    return digest.result(), digest.error


# --------------------------------------------------------------------------------------------------
# Export


def export_sft(
    db: TraceDB,
    spec: FilterSpec,
    output: Path | None = None,
    *,
    force: bool = False,
    sizes: list[int] | None = None,
    progress: ProgressFn | None = None,
    session_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
    record: bool = True,
) -> ExportResult:
    """Export ``spec``'s examples from ``db`` to ``output``, plus a manifest and the ``sizes`` subsets.

    Raises ExportError (the reference's messages for no sessions / no examples / the pre-write
    check), TraceDBError (unreadable DB, a filter the DB cannot answer) or OSError (disk full...);
    in every failure case no target file is created or changed. ``workers``: None lets the size
    decide (a second process for big exports), 0 never, 1 whenever there are two sessions.
    ``record``: remember the dataset in the runs ledger (best effort; never fails the export).
    """
    output = default_export() if output is None else output  # the workspace's ft_data/, found now
    problems = spec.problems()
    if problems:
        field_name, reason = next(iter(problems.items()))
        raise ExportError(f"Invalid filter: --{field_name.replace('_', '-')} {reason}.")
    sizes = sorted(set(sizes or []))
    if any(n < 1 for n in sizes):
        raise ExportError("Subset sizes must be 1 or more.")
    output = Path(output)
    every = export_targets(output, sizes)
    refuse_source_targets(db, [*every, *map(manifest_path, every), output.with_name(output.name + ".part")])
    targets = _prepare_targets(output, sizes, force)
    for target in [*targets, *map(manifest_path, targets), output.with_name(output.name + ".part")]:
        remove_stale_temps(target)  # what a killed export to the same target left
    run = _Export(db, spec, output, sizes, should_stop)
    run.progress, run.session_progress = progress, session_progress
    if record:
        run.while_waiting = _import_ledger
    with gc_paused():
        try:
            result = run.run(workers)
        finally:
            for f in run.files:
                f.discard()  # after publication there is nothing left to discard
    if record:
        from services.ledger.hooks import on_export

        on_export([result.manifest, *(s.manifest for s in result.subsets)])
    return result


def _import_ledger() -> None:
    """Import the runs ledger's modules (SQLAlchemy ORM tables: ~0.15 s) while this process would
    only wait for the worker's part; ``on_export`` then finds them loaded."""
    try:
        from services.ledger.hooks import enabled

        if enabled():
            import services.ledger.store  # noqa: F401
    except Exception:  # bookkeeping never fails the export: on_export says what is wrong
        return


def _uri(db: TraceDB) -> str:
    """The read-only URI TraceDB opened (a worker process opens the same)."""
    return f"file:{quote(str(db.path.resolve()))}?{'immutable=1' if db.immutable else 'mode=ro'}"


def _early_worker(db: TraceDB, workers: int | None) -> bool:
    """Start the worker process before the selection? (``EARLY_WORKER_MIN_BYTES``)"""
    if workers is not None:
        return workers > 0
    try:
        big = os.stat(db.path).st_size >= EARLY_WORKER_MIN_BYTES
    except OSError:
        return False
    return big and (os.cpu_count() or 1) >= 2


def split_point(ordered: list[str], weights: dict[str, int], limit: int | None, workers: int | None) -> int:
    """Where the worker's part starts in ``ordered`` (``len(ordered)``: no worker)."""
    if workers == 0 or len(ordered) < 2:
        return len(ordered)
    total = sum(weights.get(s, 0) for s in ordered)
    if workers is None:
        big = total >= PARALLEL_MIN_EVENTS and (os.cpu_count() or 1) >= 2
        if not big or (limit is not None and limit <= total * (1 - WORKER_SHARE)):
            return len(ordered)  # small, or the first part alone reaches the limit
    target = total * (1 - WORKER_SHARE)
    done = 0
    for i, sid in enumerate(ordered[:-1]):
        done += weights.get(sid, 0)
        if done >= target:
            return i + 1
    return len(ordered) - 1


class _Export:
    """One export run, step by step: select, write the parts (here, and in a worker for big exports),
    check, then finish: subsets, commit, manifests, publish."""

    def __init__(
        self, db: TraceDB, spec: FilterSpec, output: Path, sizes: list[int], should_stop: Callable[[], bool] | None
    ) -> None:
        self.db, self.spec, self.output, self.sizes, self.should_stop = db, spec, output, sizes, should_stop
        self.progress: ProgressFn | None = None
        self.session_progress: ProgressFn | None = None
        self.files: list[AtomicFile] = []
        self.part_file: AtomicFile | None = None  # the worker's part: never published
        self.lock = threading.Lock()
        self.done = [(0, 0), (0, 0)]  # (sessions, examples) per part
        self.total = 0
        self.last_report = 0.0
        self.snapshot: Snapshot | None = None
        self.worker: Worker | None = None  # started early (``_early_worker``), else when a part needs it
        #: work for this process while the worker still writes its part (``export_sft``: the ledger's imports)
        self.while_waiting: Callable[[], None] | None = None

    def _new_file(self, target: Path) -> AtomicFile:
        f = AtomicFile(target, digest=True)
        self.files.append(f)
        return f

    def _report(self, part: int, sessions: int, examples: int) -> None:
        with self.lock:
            self.done[part] = (sessions, examples)
            now = time.monotonic()
            if now - self.last_report < 0.1:
                return
            self.last_report = now
            s = self.done[0][0] + self.done[1][0]
            e = self.done[0][1] + self.done[1][1]
        self._progress(s, e)

    def _progress(self, sessions: int, examples: int) -> None:
        if self.session_progress is not None:
            self.session_progress(sessions, self.total)
        if self.progress is not None:
            self.progress(examples, self.total)

    def run(self, workers: int | None) -> ExportResult:
        db_hash = _DBHash(self.db.path)
        self.worker = Worker() if _early_worker(self.db, workers) else None
        try:
            return self._run(workers, db_hash)
        except BaseException:
            db_hash.cancel()
            raise
        finally:
            if self.worker is not None:
                self.worker.stop()  # done already, or never given a part

    def _run(self, workers: int | None, db_hash: _DBHash) -> ExportResult:
        selection = self._select()
        main = self._new_file(self.output)
        parts = self._write_parts(selection, main, workers)
        lines = self._checked_lines(parts)
        self._progress(self.total, lines.count)
        return self._finish(selection, db_hash, main, parts, lines)

    # -- selection

    def _select(self) -> Selection:
        """Pin the DB's state first: selection and every part read that snapshot (``traces.snapshot``)."""
        with raw_connection(self.db) as conn:
            self.snapshot = take_snapshot(conn, self.db.schema)
        selection = select_sessions(self.db, self.spec, self.snapshot)
        if not selection.sessions:
            raise NothingMatched(NO_SESSIONS)
        self.total = len(selection.sessions)
        return selection

    # -- writing the parts

    def _job(self, sessions: list[str], achievements: AchievementMap, narrow: bool) -> PartJob:
        models = sorted(set(self.spec.models))
        pin = self.snapshot.last_event_id if self.snapshot is not None else None
        timeout = self.db.busy_timeout_s
        return PartJob(_uri(self.db), sessions, achievements, models, self.spec.limit, narrow, timeout, pin)

    def _write_parts(self, selection: Selection, main: AtomicFile, workers: int | None) -> list[tuple[PartResult, int]]:
        """Every example into ``main``'s temp: the first part written here; with a worker, its part
        after ours. Returns each part's result and how many of its lines the file holds."""
        ordered = sorted(selection.sessions)
        split = split_point(ordered, selection.weights, self.spec.limit, workers)
        narrow = split < len(ordered) or len(ordered) < selection.candidates
        ours = self._job(ordered[:split], selection.achievements, narrow)
        try:
            if split == len(ordered):
                return [self._part_here(0, ours, main)]
            theirs = set(ordered[split:])
            achievements = {k: v for k, v in selection.achievements.items() if k[0] in theirs}
            return self._write_two_parts(ours, self._job(ordered[split:], achievements, True), main)
        except PartStopped:
            raise ExportStopped("Export stopped; no file was written.") from None

    def _write_two_parts(self, ours: PartJob, theirs: PartJob, main: AtomicFile) -> list[tuple[PartResult, int]]:
        """Our part here while a worker process writes theirs into a part file of its own."""
        part_file = self.part_file = self._new_file(self.output.with_name(self.output.name + ".part"))
        part_file.fh.close()  # the worker writes it; this side owns the name and removes it
        worker = self.worker = self.worker or Worker()
        worker.start(theirs, part_file.tmp, partial(self._report, 1))
        try:
            first = self._part_here(0, ours, main)
            return [first, *self._merge_worker_part(worker, theirs, first[0], part_file, main)]
        finally:
            worker.stop()

    def _merge_worker_part(
        self, worker: Worker, job: PartJob, first: PartResult, part_file: AtomicFile, main: AtomicFile
    ) -> list[tuple[PartResult, int]]:
        """The worker's lines appended after ours (up to the limit); none when ours reached the limit;
        written here instead when the worker failed."""
        limit = self.spec.limit
        if limit is not None and first.examples >= limit:
            worker.stop()
            return []
        if self.while_waiting is not None:
            self.while_waiting()
        result = worker.result(self.should_stop)
        if result is None:  # the worker failed: write its part here, right after ours
            if limit is not None:
                job.limit = limit - first.examples
            return [self._part_here(1, job, main)]
        used = result.lines if limit is None else min(result.lines, limit - first.examples)
        if not first.problems and not result.problems:
            with part_file.tmp.open("rb") as src:
                copy_prefix(src, sum(result.line_bytes[:used]), main.write)
        return [(result, used)]

    def _part_here(self, part: int, job: PartJob, main: AtomicFile) -> tuple[PartResult, int]:
        """Write ``job``'s part into ``main`` in this process, reading on a helper thread."""
        query = rows_query(job.sessions if job.narrow else None, job.models, job.last_event_id)
        rows = stream_query(partial(raw_connection, self.db), query)
        progress = partial(self._report, part)
        result = write_part(rows, job, main.write, on_progress=progress, should_stop=self.should_stop)
        return result, result.lines

    # -- the pre-write check

    def _checked_lines(self, parts: list[tuple[PartResult, int]]) -> Lines:
        """The file's lines once the reference's pre-write check passed (else its error, nothing written)."""
        problems = self._problems(parts)
        if problems:
            raise ExportValidationError(problems)
        lines = Lines(parts)
        if lines.count == 0:
            raise NothingMatched(NO_EXAMPLES)
        return lines

    def _problems(self, parts: list[tuple[PartResult, int]]) -> list[str]:
        """The pre-write check's problems, numbered over the whole export (the limit applied)."""
        out: list[str] = []
        offset = 0
        for result, _used in parts:
            for row, problem in result.problems:
                if self.spec.limit is None or offset + row <= self.spec.limit:
                    out.append(f"row {offset + row}: {problem}")
            offset += result.examples
        return out[:MAX_ISSUES]

    # -- finishing: subsets, commit, manifests, publish

    def _finish(
        self,
        selection: Selection,
        db_hash: _DBHash,
        main: AtomicFile,
        parts: list[tuple[PartResult, int]],
        lines: Lines,
    ) -> ExportResult:
        try:
            check_sizes_fit(self.sizes, lines.count)  # before any subset is written
        except SizesError as exc:
            raise ExportError(f"Cannot write the subsets: {exc}.") from None
        subsets = self._write_subsets(main, lines)
        for f in [main, *subsets.values()]:
            f.commit()
        full = lines.facts(lines.count)
        written = _Written(
            lines=lines,
            notes=_notes(selection, full),
            skipped={**selection.skipped, **_file_counters(parts).skipped()},
            issues=_line_issues(parts),
        )
        self._write_manifests(main, subsets, written, _source(self.db, db_hash, selection, self.snapshot))
        self._publish()
        return self._result(main, subsets, written)

    def _write_subsets(self, main: AtomicFile, lines: Lines) -> dict[int, AtomicFile]:
        """Each size's file: the first N lines of the main temp, copied."""
        main.flush()
        subsets: dict[int, AtomicFile] = {}
        with main.tmp.open("rb") as src:
            for size in self.sizes:
                src.seek(0)
                subsets[size] = sub = self._new_file(subset_path(self.output, size))
                copy_prefix(src, lines.facts(size).size, sub.write)
        return subsets

    def _write_manifests(
        self, main: AtomicFile, subsets: dict[int, AtomicFile], written: _Written, source: dict[str, Any]
    ) -> None:
        entries: list[tuple[AtomicFile, int | None]] = [(main, None), *((subsets[n], n) for n in self.sizes)]
        for f, first_n in entries:
            facts = written.lines.facts(written.lines.count if first_n is None else first_n)
            m = self._new_file(manifest_path(f.target))
            body = _manifest(f, facts, first_n, self, source, written, written.issues_up_to(facts.examples))
            m.write(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
            m.commit()

    def _publish(self) -> None:
        """Data first, manifests last (the order ``files`` holds): a manifest never describes a missing file."""
        for f in self.files:
            if f is not self.part_file:
                f.publish()

    def _result(self, main: AtomicFile, subsets: dict[int, AtomicFile], written: _Written) -> ExportResult:
        full = written.lines.facts(written.lines.count)
        issues = written.issues_up_to(full.examples)
        return ExportResult(
            output=self.output,
            manifest=manifest_path(self.output),
            examples=full.examples,
            sessions=full.sessions,
            per_model=full.per_model,
            token_estimate=full.tokens,
            sha256=main.hexdigest(),
            bytes=full.size,
            image_examples=full.image_examples,
            segment_examples=full.segment_examples,
            notes=written.notes,
            skipped=written.skipped,
            validation=ValidationReport(path=self.output, examples=full.examples, issues=issues),
            subsets=[
                SubsetResult(
                    size=n,
                    path=subsets[n].target,
                    examples=written.lines.facts(n).examples,
                    sessions=written.lines.facts(n).sessions,
                    sha256=subsets[n].hexdigest(),
                    manifest=manifest_path(subsets[n].target),
                )
                for n in self.sizes
            ],
        )


@dataclass
class _Written:
    """What the finished file holds, beside its bytes: for the manifests and the result."""

    lines: Lines
    notes: list[str]
    skipped: dict[str, int]
    issues: list[tuple[int, str]]  # the upload validator's (line in the file, message)

    def issues_up_to(self, n: int) -> list[str]:
        """The issues within the first ``n`` lines, as the manifest words them."""
        return [f"Line {line}: {issue}" for line, issue in self.issues if line <= n][:MAX_ISSUES]


def _file_counters(parts: list[tuple[PartResult, int]]) -> ExampleCounters:
    """What the parts skipped; a worker part cut away by the limit skipped nothing of the file."""
    counters = ExampleCounters()
    for index, (result, used) in enumerate(parts):
        if index == 0 or used:
            for name, _reason in ExampleCounters.REASONS:
                setattr(counters, name, getattr(counters, name) + getattr(result.counters, name))
    return counters


def _line_issues(parts: list[tuple[PartResult, int]]) -> list[tuple[int, str]]:
    """The upload validator's issues as (line in the file, message)."""
    out: list[tuple[int, str]] = []
    offset = 0
    for result, used in parts:
        out += [(offset + line, issue) for line, issue in result.issues if line <= used]
        offset += used
    return out


def _notes(selection: Selection, full: Facts) -> list[str]:
    notes = [*selection.notes]
    if full.segment_examples:
        notes.append(
            f"{full.segment_examples} example(s) have list content (images or several text parts), kept as "
            "OpenAI-style segments: synth-ai's upload validator accepts them; export_trace_sft.py would have "
            "refused to write the whole file."
        )
    return notes


def _source(db: TraceDB, db_hash: _DBHash, selection: Selection, snapshot: Snapshot | None) -> dict[str, Any]:
    """The DB read: its file (hashed while a writer may append: then the hash is of the file as the
    hashing process read it) and ``snapshot``, the state the export read (sessions, last event id)."""
    stat = os.stat(db.path)
    sha = db_hash.result()
    return {
        "path": str(db.path.resolve()),
        "size_bytes": stat.st_size,
        "mtime": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        "sha256": sha,
        "sha256_error": db_hash.error,
        "flavour": db.schema.flavour.value,
        "achievement_key_style": selection.key_style.value,
        "snapshot": snapshot.manifest() if snapshot is not None else None,
    }


def _manifest(
    f: AtomicFile,
    facts: Facts,
    size: int | None,
    run: _Export,
    source: dict[str, Any],
    written: _Written,
    issues: list[str],
) -> dict[str, Any]:
    """What the file is and how to rebuild it: ``filter`` on ``source_db`` with ``tool`` gives these
    exact bytes (for a subset the filter's limit is N: the subset is the first N examples)."""
    spec = run.spec
    rebuild = spec if size is None else spec.model_copy(update={"limit": min(size, spec.limit or size)})
    return {
        "file": f.target.name,
        "sha256": f.hexdigest(),
        "bytes": facts.size,
        "format": FORMAT,
        "subset_of": None if size is None else {"file": run.output.name, "first_n_examples": size},
        "counts": {
            "examples": facts.examples,
            "sessions": facts.sessions,
            "per_model": facts.per_model,
            "image_examples": facts.image_examples,
            "segment_examples": facts.segment_examples,
        },
        "token_estimate": facts.tokens,
        "token_estimate_method": TOKEN_METHOD,
        "source_db": source,
        "filter": rebuild.model_dump(mode="json"),
        "achievement_keys": "reference keys (new_unique / turned_true / achievements); task-app keys "
        "(achievements / final_achievements) read as if renamed to them",
        "skipped": written.skipped,
        "notes": written.notes,
        "upload_validation": {"ok": not issues, "issues": issues},
        "tool": TOOL_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }

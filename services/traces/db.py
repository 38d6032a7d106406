"""Finding and opening trace DBs, read-only, whatever synth-ai generation wrote them.

Opening never writes: the file is opened through a ``mode=ro`` URI (or ``immutable=1`` for a WAL
file whose directory we may not touch), so the app cannot change a user's traces. The flavour is
told from tables and columns, never from DDL text, because newer synth-ai versions migrate old files
in place.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from services.traces.db_errors import (
    DBLockedError,
    DBMissingError,
    DBNotFoundError,
    MissingSchemaError,
    NotATraceDBError,
    NotSQLiteError,
    TraceDBError,
)
from services.traces.db_path import SQLD_DATA, resolve_db_path
from services.traces.discovery import DEFAULT_RELATIVE, discovery_candidates, locate_db
from services.traces.schema import Flavour

__all__ = [
    "DEFAULT_RELATIVE",
    "SQLD_DATA",
    "DBLockedError",
    "DBMissingError",
    "DBNotFoundError",
    "MissingSchemaError",
    "NotATraceDBError",
    "NotSQLiteError",
    "SchemaInfo",
    "TraceDB",
    "TraceDBError",
    "discovery_candidates",
    "locate_db",
    "resolve_db_path",
]
TRACE_TABLES = ("session_traces", "events")
#: Columns every synth-ai tracing_v3 generation has: without them the file is no trace DB at all (not an
#: old one whose filters or sections are unavailable).
CORE_COLUMNS = (("session_traces", "session_id"), ("session_traces", "created_at"),
                ("events", "id"), ("events", "session_id"), ("events", "event_type"))  # fmt: skip


class SchemaInfo(BaseModel):
    """What a DB holds, told from its tables and columns."""

    columns: dict[str, list[str]]
    flavour: Flavour
    journal_mode: str

    def has(self, table: str, column: str | None = None) -> bool:
        cols = self.columns.get(table)
        if cols is None:
            return False
        return column is None or column in cols

    def missing(self, needs: list[tuple[str, str | None]]) -> list[str]:
        """Names (``table`` or ``table.column``) of what ``needs`` asks for and this DB lacks."""
        return [t if c is None else f"{t}.{c}" for t, c in needs if not self.has(t, c)]


def table_columns(conn: Connection) -> dict[str, list[str]]:
    """Every table's column names, read with PRAGMA table_info (never from DDL text)."""
    names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).scalars()
    out: dict[str, list[str]] = {}
    for name in list(names):
        rows = conn.exec_driver_sql(f'PRAGMA table_info("{name}")').fetchall()
        out[str(name)] = [str(r[1]) for r in rows]
    return out


def detect_flavour(columns: dict[str, list[str]]) -> Flavour:
    events = set(columns.get("events", []))
    outcome = set(columns.get("outcome_rewards", []))
    if "call_records" not in events or "outcome_rewards" not in columns:
        return Flavour.V0_2_3
    if "reward_metadata" not in outcome:
        return Flavour.V0_2_6
    if "objective_key" in outcome or "objective_key" in set(columns.get("event_rewards", [])):
        return Flavour.V0_4_7
    if "annotation" in outcome:
        return Flavour.V0_3_6
    # Same columns from 0.2.7 on; the libsql writer's AUTOINCREMENT keys leave sqlite_sequence.
    return Flavour.V0_2_10 if "sqlite_sequence" in columns else Flavour.V0_2_8


def _refuse_empty(path: Path) -> None:
    """A 0-byte file is no database of any kind (SQLite would read it as an empty one): say so, unless a
    WAL file beside it holds the pages (a fresh WAL-mode DB)."""
    wal = path.with_name(path.name + "-wal")
    if os.stat(path).st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
        raise NotATraceDBError(
            f"{path} is an empty file (0 bytes), not a trace DB.",
            "Trace DBs are SQLite files written by synth-ai's tracing_v3 (traces/v3/synth_ai.db).",
        )


def _ro_uri(path: Path, immutable: bool) -> str:
    flags = "immutable=1" if immutable else "mode=ro"
    return f"file:{quote(str(path.resolve()))}?{flags}"


def _friendly(exc: BaseException, path: Path, busy_timeout_s: float) -> TraceDBError:
    msg = str(getattr(exc, "orig", exc))
    low = msg.lower()
    if "file is not a database" in low or "file is encrypted" in low:
        return NotSQLiteError(
            f"{path} is not an SQLite database.",
            "Trace DBs are SQLite files written by synth-ai's tracing_v3 (traces/v3/synth_ai.db).",
        )
    if "locked" in low or "busy" in low:
        return DBLockedError(
            f"{path} is locked by another process (a writer is committing); waited {busy_timeout_s:g} s.",
            "Retry in a moment; a collector holds the lock only while it commits an episode.",
        )
    if "malformed" in low or "corrupt" in low:
        return NotSQLiteError(f"{path} is damaged: SQLite reports '{msg}'.")
    if "unable to open" in low:
        return DBNotFoundError(f"Cannot open {path}: {msg}.", "Check that the file is readable.")
    return TraceDBError(f"Cannot read {path}: {msg}.")


class TraceDB:
    """A trace DB opened read-only, with its schema probed once."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        if not math.isfinite(busy_timeout_s) or busy_timeout_s < 0:
            raise TraceDBError(f"The busy timeout must be a finite number of seconds >= 0, not {busy_timeout_s}.")
        self.display_path = Path(path)
        self.path = resolve_db_path(path)
        self.busy_timeout_s = busy_timeout_s
        _refuse_empty(self.path)
        self.immutable = False
        self._engine = self._make_engine(immutable=False)
        try:
            self.schema = self._probe()
        except TraceDBError:
            raise
        except (DBAPIError, sqlite3.Error) as exc:
            if "unable to open" not in str(exc).lower():
                raise _friendly(exc, self.path, busy_timeout_s) from None
            # A WAL file whose directory we cannot write and that has no -shm: read it frozen.
            self._engine.dispose()
            self.immutable = True
            self._engine = self._make_engine(immutable=True)
            try:
                self.schema = self._probe()
            except (DBAPIError, sqlite3.Error) as exc2:
                raise _friendly(exc2, self.path, busy_timeout_s) from None

    def _make_engine(self, immutable: bool) -> Engine:
        uri = _ro_uri(self.path, immutable)
        timeout = self.busy_timeout_s

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

        return create_engine("sqlite+pysqlite://", creator=connect, poolclass=NullPool)

    def _probe(self) -> SchemaInfo:
        with self._engine.connect() as conn:
            columns = table_columns(conn)
            mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar() or "unknown")
        missing = [t for t in TRACE_TABLES if t not in columns]
        if missing:
            raise NotATraceDBError(
                f"{self.path} is an SQLite database but not a synth-ai trace DB: "
                f"table{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing.",
                "Trace DBs are written by synth-ai tracing_v3 (session_traces, events, ...).",
            )
        lacking = [f"{t}.{c}" for t, c in CORE_COLUMNS if c not in columns[t]]
        if lacking:
            raise NotATraceDBError(
                f"{self.path} is an SQLite database but not a synth-ai trace DB: "
                f"column{'s' if len(lacking) > 1 else ''} {', '.join(lacking)} missing "
                "(every synth-ai tracing_v3 version has them).",
                "Trace DBs are written by synth-ai tracing_v3 (session_traces, events, ...).",
            )
        return SchemaInfo(columns=columns, flavour=detect_flavour(columns), journal_mode=mode)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read-only connection; SQLite errors come out as TraceDBError with a plain message."""
        try:
            with self._engine.connect() as conn:
                yield conn
        except (DBAPIError, sqlite3.Error) as exc:
            raise _friendly(exc, self.path, self.busy_timeout_s) from None

    def size_bytes(self) -> int:
        return os.stat(self.path).st_size

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> TraceDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The one place in sft-studio that writes trace DBs: append-only, one transaction per episode.

New files get the exact synth-ai 0.2.10 DDL (``trace_schema``), so synth-ai's own readers accept
them. Rows are written the way the 0.2.10 Crafter task app writes them (shared/reference/trace_db.md
§4). The writer never updates or deletes a row: an episode either lands whole or not at all, which is
what lets a collector be interrupted without leaving a half-written session behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, InstanceOf
from sqlalchemy import Connection, Engine, TextClause, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from services.traces.db import NotATraceDBError, TraceDBError, detect_flavour, table_columns
from services.traces.schema import Flavour, schema_statements


class RawJson:
    """Column text stored verbatim, for fixtures that need malformed or odd JSON.

    A plain class on purpose: a pydantic model with a ``text`` field would swallow ordinary dicts
    such as ``{"text": observation}`` when validated inside the JSON-column union.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJson({self.text!r})"


JsonColumn = InstanceOf[RawJson] | dict[str, Any] | list[Any] | None


class LMCall(BaseModel):
    """One `cais` event: the policy's model call for a decision."""

    model_name: str | None
    provider: str | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    latency_ms: int | None = None
    system_instance_id: str = "policy:crafter-react"
    call_records: JsonColumn = None
    metadata: JsonColumn = None
    event_time: float | None = None


class EnvStep(BaseModel):
    """One `environment` event: the env's answer to the decision's actions."""

    reward: float | None = None
    terminated: bool = False
    truncated: bool = False
    state_before: JsonColumn = None
    state_after: JsonColumn = None
    metadata: JsonColumn = None
    system_instance_id: str = "environment:crafter"
    event_time: float | None = None


class EventReward(BaseModel):
    """An `event_rewards` row attached to the decision's environment event."""

    reward_type: str | None
    value: float
    annotation: JsonColumn = None
    source: str | None = "environment"
    key: str | None = None


class Decision(BaseModel):
    """One decision (timestep): an optional LM call, an optional env step, their rewards."""

    turn: int
    step_id: str | None = None
    lm: LMCall | None = None
    env: EnvStep | None = None
    rewards: list[EventReward] = Field(default_factory=list)
    step_metadata: JsonColumn = Field(default_factory=dict)


class Outcome(BaseModel):
    """An `outcome_rewards` row (a session may have none, one, or several)."""

    total_reward: float
    achievements_count: int
    total_steps: int
    reward_metadata: JsonColumn = None


class Episode(BaseModel):
    """A whole session as it lands in the DB."""

    session_id: str
    metadata: JsonColumn = None
    decisions: list[Decision] = Field(default_factory=list)
    outcomes: list[Outcome] = Field(default_factory=list)
    experiment_id: str | None = None


Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _json(value: JsonColumn) -> str | None:
    if value is None:
        return None
    if isinstance(value, RawJson):
        return value.text
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class TraceWriter:
    """Appends whole episodes to a tracing_v3 DB, creating it (0.2.10 DDL) when absent."""

    def __init__(
        self,
        path: str | Path,
        *,
        flavour: Flavour = Flavour.V0_2_10,
        clock: Clock = _utc_now,
        busy_timeout_s: float = 30.0,
        max_pages: int | None = None,
    ) -> None:
        """``max_pages`` caps the file's size in pages (SQLite's max_page_count): a disk-space guard,
        and how tests simulate a full disk."""
        self.path = Path(path)
        self._clock = clock
        if self.path.is_dir():
            raise TraceDBError(f"Cannot write a trace DB at {self.path}: it is a directory.")
        self._busy_timeout_s = busy_timeout_s
        self._max_pages = max_pages
        self.flavour = flavour
        self._engine: Engine | None = None
        self._columns: dict[str, set[str]] = {}
        self._statements: dict[tuple[str, tuple[str, ...]], TextClause] = {}
        _check_can_create(self.path)  # the folder must take the file (or an existing DB's journal)
        if _has_content(self.path):
            self._open()  # an existing DB is checked now: a wrong file is refused before any work
        # else a new DB is only created when the first episode is about to land (or on create())

    @property
    def created(self) -> bool:
        """Whether the DB file is open (it existed, or :meth:`create` or a write made it)."""
        return self._engine is not None

    def create(self) -> None:
        """Create the file and its schema now (writes do it on their own; fixtures want empty DBs)."""
        if self._engine is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TraceDBError(f"Cannot create a trace DB at {self.path}: {exc.strerror or exc}.") from None
            self._open()

    def _open(self) -> None:
        engine = create_engine(f"sqlite+pysqlite:///{self.path}", connect_args={"timeout": self._busy_timeout_s})
        if self.flavour in (Flavour.V0_2_8, Flavour.V0_2_6, Flavour.V0_2_3):
            event.listen(engine, "connect", _set_wal)
        if self._max_pages is not None:
            pages = int(self._max_pages)
            event.listen(engine, "connect", lambda conn, _r: conn.execute(f"PRAGMA max_page_count={pages}"))
        self._engine = engine
        try:
            self._ensure_schema()
            with engine.connect() as conn:
                self._columns = {t: set(cols) for t, cols in table_columns(conn).items()}
        except BaseException:
            self._engine = None
            engine.dispose()
            raise

    def _ready_engine(self) -> Engine:
        self.create()
        assert self._engine is not None
        return self._engine

    def _ensure_schema(self) -> None:
        """Create the 0.2.10 schema in a new file; append to an existing trace DB as it is."""
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                existing = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'")).scalars())
                if "session_traces" in existing:
                    columns = table_columns(conn)
                    _refuse_foreign_schema(self.path, columns)
                    self.flavour = detect_flavour(columns)
                    return
                if existing:
                    raise NotATraceDBError(
                        f"{self.path} is an SQLite database without trace tables; refusing to write into it.",
                        "Choose a new file or an existing synth-ai trace DB.",
                    )
                for statement in schema_statements(self.flavour):
                    conn.exec_driver_sql(statement)
        except DBAPIError as exc:
            raise TraceDBError(f"Cannot write a trace DB at {self.path}: {exc.orig}") from None

    def _timestamp(self) -> str:
        now = self._clock()
        if self.flavour.libsql:
            return now.isoformat()
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")

    def existing_session_ids(self) -> set[str]:
        if self._engine is None:
            return set()  # not created yet: nothing recorded
        with self._engine.connect() as conn:
            return set(conn.execute(text("SELECT session_id FROM session_traces")).scalars())

    def write(self, episodes: Iterable[Episode]) -> int:
        """Append each episode in its own transaction; return how many landed."""
        written = 0
        for episode in episodes:
            engine = self._ready_engine()
            try:
                with engine.begin() as conn:
                    self._write_episode(conn, episode)
            except DBAPIError as exc:
                raise TraceDBError(
                    f"Writing session {episode.session_id} to {self.path} failed: {exc.orig}.",
                    "That session was rolled back; every session written before it is kept.",
                ) from None
            written += 1
        return written

    def _insert(self, conn: Connection, table: str, row: dict[str, Any]) -> int:
        present = self._columns.get(table)
        if present is None:
            return 0  # older flavours lack the reward tables: nothing to record there
        row = {k: v for k, v in row.items() if k in present}
        key = (table, tuple(row))
        statement = self._statements.get(key)
        if statement is None:
            names = ", ".join(f'"{k}"' for k in row)
            marks = ", ".join(f":{k}" for k in row)
            statement = self._statements[key] = text(f"INSERT INTO {table} ({names}) VALUES ({marks})")
        result = conn.execute(statement, row)
        return int(result.lastrowid or 0)

    def _write_episode(self, conn: Connection, ep: Episode) -> None:
        num_events = sum((d.lm is not None) + (d.env is not None) for d in ep.decisions)
        self._insert(
            conn,
            "session_traces",
            {
                "session_id": ep.session_id,
                "created_at": self._timestamp(),
                "num_timesteps": len(ep.decisions),
                "num_events": num_events,
                "num_messages": 0,
                "metadata": _json(ep.metadata),
                "experiment_id": ep.experiment_id,
            },
        )
        for d in ep.decisions:
            self._write_decision(conn, ep.session_id, d)
        for outcome in ep.outcomes:
            self._insert(
                conn,
                "outcome_rewards",
                {
                    "session_id": ep.session_id,
                    "total_reward": outcome.total_reward
                    if self.flavour in (Flavour.V0_3_6, Flavour.V0_4_7)
                    else int(outcome.total_reward),
                    "achievements_count": outcome.achievements_count,
                    "total_steps": outcome.total_steps,
                    "created_at": self._timestamp(),
                    "reward_metadata": _json(outcome.reward_metadata),
                },
            )

    def _write_decision(self, conn: Connection, session_id: str, d: Decision) -> None:
        stamp = self._timestamp()
        sqlalchemy_era = not self.flavour.libsql
        timestep_id = self._insert(
            conn,
            "session_timesteps",
            {
                "session_id": session_id,
                "step_id": d.step_id or f"decision_{d.turn}",
                "step_index": d.turn,
                "turn_number": d.turn,
                "started_at": stamp,
                "completed_at": None,
                "num_events": (d.lm is not None) + (d.env is not None),
                "num_messages": 0,
                "step_metadata": _json(d.step_metadata),
            },
        )
        if d.lm is not None:
            lm = d.lm
            self._insert(
                conn,
                "events",
                {
                    "session_id": session_id,
                    "timestep_id": timestep_id,
                    "event_type": "cais",
                    "system_instance_id": lm.system_instance_id,
                    "event_time": lm.event_time,
                    "created_at": stamp if sqlalchemy_era else None,
                    "model_name": lm.model_name,
                    "provider": lm.provider,
                    "input_tokens": lm.input_tokens,
                    "output_tokens": lm.output_tokens,
                    "total_tokens": lm.total_tokens,
                    "latency_ms": lm.latency_ms,
                    "call_records": _json(lm.call_records),
                    "metadata": _json(lm.metadata),
                },
            )
        if d.env is None:
            return
        env = d.env
        env_event_id = self._insert(
            conn,
            "events",
            {
                "session_id": session_id,
                "timestep_id": timestep_id,
                "event_type": "environment",
                "system_instance_id": env.system_instance_id,
                "event_time": env.event_time,
                "created_at": stamp if sqlalchemy_era else None,
                "reward": env.reward,
                "terminated": int(env.terminated),
                "truncated": int(env.truncated),
                "system_state_before": _json(env.state_before),
                "system_state_after": _json(env.state_after),
                "metadata": _json(env.metadata),
            },
        )
        rewards: Sequence[EventReward] = d.rewards
        if env.reward is not None and not any(r.reward_type == "sparse" for r in rewards):
            # synth-ai records the env reward as a `sparse` row for every env event that has one.
            sparse_annotation: JsonColumn = {} if sqlalchemy_era else None
            rewards = [EventReward(reward_type="sparse", value=env.reward, annotation=sparse_annotation)]
            rewards += list(d.rewards)
        for r in rewards:
            self._insert(
                conn,
                "event_rewards",
                {
                    "event_id": env_event_id,
                    "session_id": session_id,
                    "message_id": None,
                    "turn_number": d.turn,
                    "reward_value": r.value,
                    "reward_type": r.reward_type,
                    "key": r.key,
                    "annotation": _json(r.annotation),
                    "source": r.source,
                    "created_at": self._timestamp(),
                },
            )

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: What the writer fills in every trace DB it appends to; a table that lacks these is someone else's.
_WRITER_NEEDS: dict[str, tuple[str, ...]] = {
    "session_traces": ("session_id", "num_timesteps", "num_events", "metadata"),
    "session_timesteps": ("session_id", "step_id", "turn_number"),
    "events": ("session_id", "event_type", "metadata"),
}


def _refuse_foreign_schema(path: Path, columns: dict[str, list[str]]) -> None:
    """Raise NotATraceDBError when a ``session_traces`` DB lacks what every synth-ai version has.

    Without this an insert into a look-alike table ends with every column filtered out and SQLite
    says ``near ")": syntax error``.
    """
    problems = []
    for table, needed in _WRITER_NEEDS.items():
        if table not in columns:
            problems.append(f"table {table} missing")
            continue
        missing = [c for c in needed if c not in columns[table]]
        if missing:
            problems.append(f"{table} lacks {', '.join(missing)}")
    if problems:
        raise NotATraceDBError(
            f"{path} is an SQLite database but not a synth-ai trace DB ({'; '.join(problems)}); "
            "refusing to write into it.",
            "Choose a new file or an existing synth-ai trace DB.",
        )


def _has_content(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _check_can_create(path: Path) -> None:
    """Raise TraceDBError, naming the folder and the cause, when ``path`` could not be created.

    Checked up front (nothing is created: a run that fails before its first episode leaves no
    file), by making and removing a probe file in the nearest existing folder, so a read-only
    folder or file system is said in words rather than as SQLite's "unable to open database file".
    """
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise TraceDBError(f"Cannot create a trace DB at {path}: {folder} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".sft-studio-probe-", dir=folder)
    except OSError as exc:
        cause = exc.strerror or str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM):
            cause = f"{cause}; the folder is not writable for this user"
        elif exc.errno == errno.EROFS:
            cause = f"{cause}; the folder is on a read-only file system"
        raise TraceDBError(
            f"Cannot create a trace DB in {folder}: {cause}.", "Choose a --db in a folder you can write to."
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def _set_wal(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

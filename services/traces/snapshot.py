"""One consistent view of a trace DB that a collector may be appending to, for readers that use
several connections (an export reads on helper threads and in a worker process).

Each SQLite connection sees the DB as of its own read transaction, so two connections opened a second
apart can disagree while a writer appends. Writers (synth-ai's and ``TraceWriter``) only append rows
with growing ``id`` keys, so the last id of each table, read in ONE transaction, pins a state: every
later query that keeps ``id <= pin`` reads exactly what that transaction saw, on any connection, in
any process. Holding one read transaction open for the whole export instead would block a
rollback-journal writer's commits for as long as the export runs.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the export's worker process imports this module: it must stay light
    from services.traces.db import SchemaInfo


@dataclass(frozen=True)
class Snapshot:
    """The last row id of each appended table at one moment (0: empty, None: the table is absent)."""

    sessions: int  # rows of session_traces
    last_event_id: int | None
    last_event_reward_id: int | None = None
    last_outcome_id: int | None = None

    def manifest(self) -> dict[str, int | None]:
        """What an export's manifest states about the state it read."""
        return {"sessions": self.sessions, "last_event_id": self.last_event_id}


def bound(pin: int | None, column: str, keyword: str = "AND") -> str:
    """`` AND column <= pin`` (or ``WHERE``), or nothing without a pin; ``pin`` is an int, formatted
    into the SQL (no parameter to thread through each caller's params)."""
    return "" if pin is None else f" {keyword} {column} <= {int(pin)}"


def take_snapshot(conn: sqlite3.Connection, schema: SchemaInfo) -> Snapshot:
    """Read the pins in one read transaction of ``conn`` (the connection is left outside one)."""

    def last_id(table: str) -> int | None:
        if not schema.has(table, "id"):
            return None
        value = conn.execute(f'SELECT MAX(id) FROM "{table}"').fetchone()[0]
        return 0 if value is None else int(value)

    in_transaction = conn.in_transaction
    if not in_transaction:
        conn.execute("BEGIN")
    try:
        sessions = int(conn.execute("SELECT COUNT(*) FROM session_traces").fetchone()[0])
        return Snapshot(
            sessions=sessions,
            last_event_id=last_id("events"),
            last_event_reward_id=last_id("event_rewards"),
            last_outcome_id=last_id("outcome_rewards"),
        )
    finally:
        if not in_transaction:
            conn.execute("COMMIT")

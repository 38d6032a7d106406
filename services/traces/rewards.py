"""The one reader of rewards: stats, the live preview (session index) and the export (selection) all
read a session's outcome reward and its event-reward totals here, so they can never disagree.

Outcome reward: ``outcome_rewards.total_reward`` as synth-ai 0.2.10's export_trace_sft.py reads it,
``float(total_reward or 0.0)`` (trace_db.md §8.1): NULL, 0 and '' read as 0.0, numeric text and
blobs as their number (Python's float() decides, not SQLite's column affinity). A value float()
refuses ('abc') crashes the reference; here it reads as 0.0 and the row is counted under
``NOT_A_NUMBER``. With several rows for a session the last one (by id) wins; that is the caller's
dict, fed in table order.

Event rewards: per session and reward type, ``SUM(reward_value)`` in the reference's statement as
written (its float result depends on the row order, so the statement is not reworded).

Both read only objective 'reward' rows when the DB has an ``objective_key`` column (synth-ai 0.4.7+).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from services.traces.db import SchemaInfo
from services.traces.skipped import OUTCOME_NOT_A_NUMBER
from services.traces.snapshot import bound

NOT_A_NUMBER = OUTCOME_NOT_A_NUMBER
OBJECTIVE_NOTE = "Rewards are read for objective 'reward' only (objective_key column present)."


def objective_filter(schema: SchemaInfo, table: str, keyword: str = "WHERE", alias: str = "") -> str:
    """`` WHERE objective_key = 'reward'`` (or ``AND``, on ``alias.``) when ``table`` has objectives."""
    if not schema.has(table, "objective_key"):
        return ""
    column = f"{alias}.objective_key" if alias else "objective_key"
    return f" {keyword} {column} = 'reward'"


def objective_notes(schema: SchemaInfo) -> list[str]:
    """The note to show when rewards are read for one objective only."""
    if schema.has("outcome_rewards", "objective_key") or schema.has("event_rewards", "objective_key"):
        return [OBJECTIVE_NOTE]
    return []


def total_reward(value: object) -> float | None:
    """A ``total_reward`` value as the reference reads it, or None when float() refuses it."""
    try:
        return float(value or 0.0)  # type: ignore[arg-type]  # whatever SQLite holds: float() decides
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class OutcomeRow:
    session_id: Any
    reward: float  # total_reward read by ``total_reward`` (0.0 where it is not a number)
    metadata: Any  # reward_metadata as stored (None where the DB has no such column)


def outcome_rows(
    conn: sqlite3.Connection, schema: SchemaInfo, skipped: MutableMapping[str, int], pin: int | None = None
) -> Iterator[OutcomeRow]:
    """Every outcome row in table order (none without the table); each total_reward that is not a
    number reads as 0.0 and adds one to ``skipped[NOT_A_NUMBER]``. ``pin``: only rows with
    ``id <= pin`` (``services.traces.snapshot``)."""
    if not schema.has("outcome_rewards"):
        return
    metadata = "reward_metadata" if schema.has("outcome_rewards", "reward_metadata") else "NULL"
    where = objective_filter(schema, "outcome_rewards")
    where += bound(pin, "id", "AND" if where else "WHERE")
    for sid, total, meta in conn.execute(
        f"SELECT session_id, total_reward, {metadata} FROM outcome_rewards{where} ORDER BY id"
    ):
        reward = total_reward(total)
        if reward is None:
            skipped[NOT_A_NUMBER] = skipped.get(NOT_A_NUMBER, 0) + 1
            reward = 0.0
        yield OutcomeRow(sid, reward, meta)


def event_reward_totals(
    conn: sqlite3.Connection, schema: SchemaInfo, pin: int | None = None
) -> dict[Any, dict[Any, float]]:
    """session -> reward type -> SUM(reward_value) (a type a session lacks sums to 0.0 for the filter);
    ``pin``: only rows with ``id <= pin`` (the scan order, hence each float sum, stays the table's)."""
    totals: dict[Any, dict[Any, float]] = defaultdict(dict)
    if not schema.has("event_rewards"):
        return totals
    where = objective_filter(schema, "event_rewards")
    where += bound(pin, "id", "AND" if where else "WHERE")
    rows = conn.execute(
        "SELECT session_id, reward_type, COUNT(*) AS events, COALESCE(SUM(reward_value), 0) AS total_value "
        f"FROM event_rewards{where} GROUP BY session_id, reward_type"
    )
    for sid, reward_type, _events, total in rows:
        totals[sid][reward_type] = float(total or 0.0)
    return totals


def reward_type_summary(conn: sqlite3.Connection, schema: SchemaInfo) -> list[tuple[Any, int, float, float]]:
    """(reward type, events, SUM, AVG of reward_value), most events first: analyze_trace_db.py's breakdown."""
    rows = conn.execute(
        "SELECT reward_type, COUNT(*) AS events, COALESCE(SUM(reward_value), 0), COALESCE(AVG(reward_value), 0) "
        f"FROM event_rewards{objective_filter(schema, 'event_rewards')} "
        "GROUP BY reward_type ORDER BY events DESC, reward_type"
    )
    return [(rtype, int(n), float(total or 0.0), float(avg or 0.0)) for rtype, n, total, avg in rows]

"""Which sessions an SFT export includes: export_trace_sft.py's selection, fast, in both key styles.

Same rules and order as the reference (trace_db.md §7, §8.2). Task-app keys are read as if they had
been renamed to the reference's (``achievement_keys``), so a task-app DB selects what the reference
selects on the same DB with its keys renamed. Where the reference crashes (non-object JSON, a turn
int() refuses, missing tables) we skip and count, or say precisely what the DB lacks.

Speed: the two grouped scans (dominant model per session, event-reward totals) run on worker
threads with their own connections (SQLite releases the GIL) while this thread reads and parses the
achievement rows; rows come through the DBAPI cursor, not SQLAlchemy's per-row machinery.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection

from services.datasets.examples import AchievementMap, _loads
from services.datasets.filter_spec import FilterSpec
from services.traces import skipped as reasons
from services.traces.achievement_keys import (
    OUTCOME_KEYS,
    TURNED_TRUE_KEYS,
    UNIQUE_DELTA_KEYS,
    KeyStyle,
    KeyStyleCounter,
)
from services.traces.db import MissingSchemaError, SchemaInfo, TraceDB
from services.traces.rewards import event_reward_totals, objective_filter, objective_notes, outcome_rows
from services.traces.snapshot import Snapshot, bound
from services.traces.sqlite_stream import stream_query

TASK_APP_NOTE = (
    "This DB uses the task app's achievement keys (achievements / final_achievements). synth-ai's "
    "export_trace_sft.py reads none of them: it would write empty achievement lists, count 0 unique "
    "achievements per session and match nothing with --min-unique >= 1 or --require-achievement. "
    "sft-studio read them as if renamed to the reference keys."
)

#: What each part of the export reads; a missing one degrades that part (or fails, when a filter needs it).
_NEEDS_EXAMPLES: list[tuple[str, str | None]] = [
    ("events", "call_records"),
    ("events", "metadata"),
    ("events", "model_name"),
]

T = TypeVar("T")

_DOMINANT_SQL = (
    "SELECT session_id, model_name, provider, COUNT(*) FROM events "
    "WHERE event_type = 'cais' AND model_name IS NOT NULL{pin} "
    "GROUP BY session_id, model_name, provider ORDER BY session_id, model_name, provider"
)


@dataclass
class Selection:
    """Eligible sessions plus the per-turn achievement lists the examples carry."""

    sessions: set[str]
    candidates: int  # sessions with a dominant model (the only ones that can export)
    #: session -> LM events with a model name (how much work its examples are)
    weights: dict[str, int]
    achievements: AchievementMap
    key_style: KeyStyle
    notes: list[str] = field(default_factory=list)
    #: reason -> rows skipped while reading achievements and outcomes (the reference crashes on them).
    skipped: dict[str, int] = field(default_factory=dict)


def _dbapi(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected an sqlite3 connection, got {type(raw).__name__}")
    return raw


def _fetch_all(db: TraceDB, sql: str) -> list[Any]:
    """All rows of ``sql`` on a connection of its own (for a worker thread)."""
    with db.connect() as conn:
        return _dbapi(conn).execute(sql).fetchall()


def _on_own_connection(db: TraceDB, read: Callable[[sqlite3.Connection, SchemaInfo], T]) -> T:
    """``read(connection, schema)`` on a connection of its own (for a worker thread)."""
    with db.connect() as conn:
        return read(_dbapi(conn), db.schema)


def _execute(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> sqlite3.Cursor:
    return conn.execute(sql, params)


@contextmanager
def raw_connection(db: TraceDB) -> Iterator[sqlite3.Connection]:
    """A DBAPI connection of ``db`` (read-only), for ``stream_query``."""
    with db.connect() as conn:
        yield _dbapi(conn)


_gc_lock = threading.Lock()
_gc_state = {"pausers": 0, "restore": False}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Cyclic GC off while an export or selection runs. Both build hundreds of thousands of
    acyclic containers (parsed JSON, achievement lists) next to a large live map, and every gen-2
    pass would walk all of it (3 s of a 12 s export). Nothing here makes cycles: refcounting frees
    it all. Nested and concurrent uses restore GC when the last one ends."""
    with _gc_lock:
        if _gc_state["pausers"] == 0:
            _gc_state["restore"] = gc.isenabled()
            gc.disable()
        _gc_state["pausers"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_state["pausers"] -= 1
            if _gc_state["pausers"] == 0 and _gc_state["restore"]:
                gc.enable()


def _exact_values(text: Any, names: tuple[str, str]) -> Any:
    """The achievement list as json.loads reads it: orjson reads integers beyond 64 bits as floats,
    and these values are written out."""
    exact = _loads(text, exact=True)
    if not isinstance(exact, dict):
        return None
    ref_key, app_key = names
    return exact[ref_key] if ref_key in exact else exact.get(app_key)


def _missing_error(db: TraceDB, what: str, missing: list[str]) -> MissingSchemaError:
    return MissingSchemaError(
        f"{what} needs {', '.join(missing)}, which this DB ({db.schema.flavour.value} flavour) lacks.",
        "It was written by a synth-ai version older than 0.2.7; record new traces, or drop that filter.",
    )


def check_schema(db: TraceDB, spec: FilterSpec) -> list[str]:
    """Notes on what this DB cannot provide; MissingSchemaError when the export or a filter needs it."""
    missing = db.schema.missing(_NEEDS_EXAMPLES)
    if missing:
        raise _missing_error(db, "SFT export (examples come from LM call records)", missing)
    notes: list[str] = []
    schema = db.schema
    if not schema.has("event_rewards"):
        if spec.event_rewards:
            raise _missing_error(db, "The event-reward filter", ["event_rewards"])
        notes.append("No event_rewards table: examples carry no per-turn achievements.")
    if not schema.has("outcome_rewards"):
        if spec.min_outcome_reward is not None or spec.max_outcome_reward is not None or spec.require_achievements:
            raise _missing_error(db, "The outcome-reward and required-achievement filters", ["outcome_rewards"])
        notes.append("No outcome_rewards table: every session counts as outcome reward 0.0.")
    elif not schema.has("outcome_rewards", "reward_metadata"):
        if spec.require_achievements:
            raise _missing_error(db, "The required-achievement filter", ["outcome_rewards.reward_metadata"])
        notes.append("No outcome_rewards.reward_metadata column: final achievements are not counted.")
    return notes + objective_notes(schema)


def select_sessions(db: TraceDB, spec: FilterSpec, snapshot: Snapshot | None = None) -> Selection:
    """The sessions an export of ``spec`` includes (reference rules and order, both key styles);
    with ``snapshot``, as the DB was then (every connection reads only the rows it pinned)."""
    with gc_paused():
        return _select(db, spec, snapshot)


def _select(db: TraceDB, spec: FilterSpec, snapshot: Snapshot | None) -> Selection:
    notes = check_schema(db, spec)
    pins = snapshot or Snapshot(sessions=0, last_event_id=None)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sft-select") as pool:
        dominant_rows = pool.submit(_fetch_all, db, _DOMINANT_SQL.format(pin=bound(pins.last_event_id, "id")))
        totals: Future[dict[Any, dict[Any, float]]] | None = None
        if spec.event_rewards:
            read_totals = partial(event_reward_totals, pin=pins.last_event_reward_id)
            totals = pool.submit(_on_own_connection, db, read_totals)
        facts = RewardFacts()
        achievements: AchievementMap = {}
        read_achievements(db, partial(_streamed, db), facts, achievements, pins.last_event_reward_id)
        with db.connect() as conn:
            read_outcomes(_dbapi(conn), db.schema, facts, pins.last_outcome_id)
        dominant: dict[str, tuple[str, str | None, int]] = {}
        weights: dict[str, int] = defaultdict(int)
        for sid, model, provider, calls in dominant_rows.result():
            weights[sid] += calls
            current = dominant.get(sid)
            if current is None or calls > current[2]:  # ties keep the first group, as the reference's
                dominant[sid] = (model, provider, calls)
        facts.totals = totals.result() if totals is not None else {}

    eligible = _eligible(spec, dominant, facts.unique, facts.outcome, facts.totals)
    style = facts.keys.style
    if style in (KeyStyle.TASK_APP, KeyStyle.MIXED):
        notes.insert(0, TASK_APP_NOTE)
    return Selection(
        sessions=eligible,
        candidates=len(dominant),
        weights=dict(weights),
        achievements=achievements,
        key_style=style,
        notes=notes,
        skipped=facts.skipped_counts(),
    )


@dataclass
class RewardFacts:
    """Per-session facts from the reward tables, read with the exporter's rules; the session index
    reads them with the same functions (``read_achievements``, ``read_outcomes``)."""

    #: session -> unique-achievement set (trace_db.md §7)
    unique: dict[Any, set[Any]] = field(default_factory=lambda: defaultdict(set))
    #: session -> (outcome reward, final achievements) of its last outcome row
    outcome: dict[Any, tuple[float, set[str]]] = field(default_factory=dict)
    #: session -> reward type -> SUM(reward_value) (``rewards.event_reward_totals``)
    totals: dict[Any, dict[Any, float]] = field(default_factory=dict)
    keys: KeyStyleCounter = field(default_factory=KeyStyleCounter)
    #: reason -> rows skipped (the reference crashes on them)
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def skipped_counts(self) -> dict[str, int]:
        return {k: v for k, v in self.skipped.items() if v}


_ACHIEVEMENT_ROWS_SQL = (
    "SELECT er.session_id, er.annotation, ev.metadata FROM event_rewards er "
    "JOIN events ev ON er.event_id = ev.id "
    "WHERE er.reward_type = ? AND er.reward_value > 0{objective}{pin} ORDER BY er.id"
)


def _streamed(db: TraceDB, sql: str, params: tuple[Any, ...]) -> Iterator[Any]:
    """Rows of ``sql`` read on a helper thread while this one parses them."""
    return stream_query(partial(raw_connection, db), partial(_execute, sql, params))


def read_achievements(
    db: TraceDB,
    rows: Callable[[str, tuple[Any, ...]], Iterable[Any]],
    facts: RewardFacts,
    achievements: AchievementMap | None,
    pin: int | None = None,
) -> None:
    """Positive achievement deltas (``rows(sql, params)`` runs the query): the unique-achievement
    rows give the sessions' unique sets; with ``achievements`` both kinds also give the per-turn lists
    the examples carry (without, the achievement-delta rows, which only feed those lists, are not read).
    ``pin``: only event_rewards rows with ``id <= pin``."""
    if not db.schema.has("event_rewards"):
        return
    sql = _ACHIEVEMENT_ROWS_SQL.format(
        objective=objective_filter(db.schema, "event_rewards", "AND", "er"), pin=bound(pin, "er.id")
    )
    strings: dict[str, str] = {}
    kinds = [("unique_achievement_delta", 0, UNIQUE_DELTA_KEYS), ("achievement_delta", 1, TURNED_TRUE_KEYS)]
    for reward_type, slot, names in kinds if achievements is not None else kinds[:1]:
        _read_achievement_rows(rows(sql, (reward_type,)), reward_type, slot, names, facts, achievements, strings)


def _read_achievement_rows(
    rows: Iterable[Any],
    reward_type: str,
    slot: int,
    names: tuple[str, str],
    facts: RewardFacts,
    achievements: AchievementMap | None,
    strings: dict[str, str],
) -> None:
    """Per-turn lists (slot 0: new_unique, 1: turned_true) and, from slot 0, the sessions' unique sets.

    ``strings`` shares one object per distinct session id and achievement name: every row's parse
    makes new ones, and 300k rows of copies cost tens of MB on a 10k-session DB.
    """
    keys, skipped, unique_sets = facts.keys, facts.skipped, facts.unique
    bad_turn = reasons.turn_not_integer(reward_type)
    for sid, annotation_text, metadata_text in rows:
        parsed = reasons.achievement_row(reward_type, annotation_text, metadata_text, skipped)
        if parsed is None:  # counted under its reason (the same words and rule as stats)
            continue
        annotation, metadata = parsed
        turn = metadata.get("turn")
        if turn is None:
            continue
        values = keys.pick(annotation, names) or []
        if not isinstance(values, list) or not values:
            continue
        if any(isinstance(v, float) for v in values):
            values = _exact_values(annotation_text, names) or values
        if isinstance(turn, float):
            turn = (_loads(metadata_text, exact=True) or {}).get("turn")
        try:
            turn = int(turn)  # type: ignore[arg-type]  # anything JSON: int() decides
        except (TypeError, ValueError, OverflowError):
            skipped[bad_turn] += 1
            continue
        sid = strings.setdefault(sid, sid)
        values = [strings.setdefault(v, v) if type(v) is str else v for v in values]
        if achievements is not None:
            lists = achievements.get((sid, turn))
            if lists is None:
                lists = achievements[(sid, turn)] = ([], [])
            lists[slot].extend(values)
        if slot == 0:
            unique_sets[sid].update(v for v in values if v is None or isinstance(v, str | int | float))


def read_outcomes(raw: sqlite3.Connection, schema: SchemaInfo, facts: RewardFacts, pin: int | None = None) -> None:
    """Outcome rows in table order (``rewards.outcome_rows``: the one reading of total_reward):
    achievements join the unique sets; the last row per session wins. ``pin``: rows with ``id <= pin``."""
    for row in outcome_rows(raw, schema, facts.skipped, pin):
        meta, ok = reasons.parse_json(row.metadata)
        if not ok or not isinstance(meta, dict | None):
            facts.skipped[reasons.OUTCOME_METADATA_NOT_OBJECT] += 1
        achieved: set[str] = set()
        if isinstance(meta, dict):
            listed = facts.keys.pick(meta, OUTCOME_KEYS) or []
            if isinstance(listed, list):
                achieved = {a for a in listed if isinstance(a, str)}
                facts.unique[row.session_id].update(achieved)
        facts.outcome[row.session_id] = (row.reward, achieved)


def _eligible(
    spec: FilterSpec,
    dominant: dict[str, tuple[str, str | None, int]],
    unique_sets: dict[str, set[Any]],
    outcome: dict[str, tuple[float, set[str]]],
    totals: dict[str, dict[Any, float]],
) -> set[str]:
    """The reference's checks, in its order (trace_db.md §8.2)."""
    models, providers = set(spec.models), set(spec.providers)
    required, excluded = set(spec.require_achievements), set(spec.exclude_achievements)
    lo_reward, hi_reward = spec.min_outcome_reward, spec.max_outcome_reward
    no_outcome: tuple[float, set[str]] = (0.0, set())
    eligible: set[str] = set()
    for sid, (model, provider, _calls) in dominant.items():
        if models and model not in models:
            continue
        if providers and (provider or "unknown") not in providers:
            continue
        unique = unique_sets.get(sid)
        count = len(unique - excluded if excluded else unique) if unique else 0
        if count < spec.min_unique or (spec.max_unique is not None and count > spec.max_unique):
            continue
        total, final = outcome.get(sid, no_outcome)
        if lo_reward is not None and total < lo_reward:
            continue
        if hi_reward is not None and total > hi_reward:
            continue
        if required and not required.issubset(final):
            continue
        session_totals = totals.get(sid, {})
        if any(session_totals.get(f.reward_type, 0.0) < f.min_total for f in spec.event_rewards):
            continue
        eligible.add(sid)
    return eligible

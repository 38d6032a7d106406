"""Trace-DB statistics: everything synth-ai's ``analyze_trace_db.py`` reports, plus a header.

Figures match the reference script on the same DB (tests/services/traces/test_stats_parity.py runs it), with two
deliberate differences: achievement lists are read in both key styles (``achievement_keys``), and
where the reference would crash (missing tables, non-object JSON) we skip, count and say so.
Speed: one grouped scan of the LM events feeds both the model-usage table and each session's
dominant model, where the reference scans them twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, text

from services.traces.achievement_keys import ACHIEVEMENTS, OUTCOME_KEYS, UNIQUE_DELTA_KEYS, KeyStyle, KeyStyleCounter
from services.traces.db import TraceDB

# --------------------------------------------------------------------------------------------------
# Result models


class MalformedRows(BaseModel):
    """Rows skipped because a JSON column did not parse to what it must hold."""

    event_reward_annotation: int = 0
    event_metadata: int = 0
    outcome_reward_metadata: int = 0
    turn_not_integer: int = 0

    @property
    def total(self) -> int:
        return self.event_reward_annotation + self.event_metadata + self.outcome_reward_metadata + self.turn_not_integer


class StatsHeader(BaseModel):
    path: str
    resolved_path: str
    size_bytes: int
    flavour: str
    journal_mode: str
    read_mode: str  # "read-only" or "immutable snapshot"
    sessions: int
    events: int
    events_by_type: dict[str, int]
    lm_calls: int
    first_session_at: str | None
    last_session_at: str | None
    key_style: KeyStyle
    malformed: MalformedRows
    elapsed_s: float = 0.0


class ModelUsage(BaseModel):
    """One (model, provider) row of the model-usage table."""

    model_name: str
    provider: str | None
    calls: int
    total_tokens: int
    input_tokens: int
    output_tokens: int
    avg_latency_ms: float
    sessions: int  # sessions with at least one call by this pair


class OutcomeSummary(BaseModel):
    episodes: int
    total_reward: float
    avg_reward: float
    min_reward: float
    max_reward: float


class RewardTypeStats(BaseModel):
    reward_type: str | None
    events: int
    total_value: float
    avg_value: float


class AchievementSummary(BaseModel):
    #: (name, sessions that unlocked it), most common first, ties by name.
    name_counts: list[tuple[str, int]]
    #: unique-achievement count -> sessions, for sessions that have achievement data.
    size_counts: dict[int, int]

    def count_of(self, name: str) -> int:
        return dict(self.name_counts).get(name, 0)

    def all_crafter(self) -> list[tuple[str, int]]:
        """All 22 Crafter achievements (zeros included), then any other names found."""
        found = dict(self.name_counts)
        rows = [(name, found.get(name, 0)) for name in ACHIEVEMENTS]
        rows += [(n, c) for n, c in self.name_counts if n not in ACHIEVEMENTS]
        return rows


class ModelAchievementStats(BaseModel):
    model_name: str
    providers: list[str]
    sessions: int
    sessions_with_unique: int
    total_unique: int
    avg_unique: float
    max_unique: int
    achievement_counts: list[tuple[str, int]]


class TraceStats(BaseModel):
    header: StatsHeader
    model_usage: list[ModelUsage]
    outcome: OutcomeSummary | None
    reward_types: list[RewardTypeStats] | None
    achievements: AchievementSummary
    per_model: list[ModelAchievementStats]
    #: section name -> why it could not be computed on this DB (missing table/column).
    unavailable: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Computation


#: The C scanner behind json.loads (set in JSONDecoder.__init__, not in typeshed); calling it directly
#: skips loads()'s wrapper and its two whitespace regex matches.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _parse(value: Any) -> tuple[Any, bool]:
    """(parsed JSON, ok). NULL parses to (None, True); bad text to (None, False)."""
    if value is None:
        return None, True
    if type(value) is str:
        # Fast path: a value that starts at index 0 and ends at len(value) is exactly what
        # json.loads would return. Anything else (whitespace, BOM, errors, bytes) goes through
        # json.loads itself, so the verdict never differs from it.
        try:
            obj, end = _scan_json(value, 0)
        except (StopIteration, ValueError):
            pass
        else:
            if end == len(value):
                return obj, True
    try:
        return json.loads(value), True
    except (TypeError, ValueError):
        return None, False


def _needs(db: TraceDB, needs: list[tuple[str, str | None]], what: str) -> str | None:
    missing = db.schema.missing(needs)
    if not missing:
        return None
    return f"{what} needs {', '.join(missing)}, which this DB ({db.schema.flavour.value} flavour) lacks."


_SESSION_MODELS = """
    SELECT session_id, model_name, provider, COUNT(*) AS calls,
           SUM(total_tokens), SUM(input_tokens), SUM(output_tokens),
           SUM(latency_ms), COUNT(latency_ms)
    FROM events
    WHERE event_type = 'cais' AND model_name IS NOT NULL
    GROUP BY session_id, model_name, provider
    ORDER BY session_id, model_name, provider
"""


Dominant = dict[str, tuple[str, str | None, int]]


def _fetch_all(db: TraceDB, sql: str) -> list[Any]:
    """All rows of ``sql`` on a connection of its own (for the worker thread)."""
    with db.connect() as conn:
        return _dbapi(conn).execute(sql).fetchall()


def _lm_usage(db: TraceDB) -> tuple[list[ModelUsage], Dominant]:
    """Model-usage rows and each session's dominant (model, provider, calls), from one grouped scan."""
    usage: dict[tuple[str, str | None], dict[str, int]] = {}
    dominant: Dominant = {}
    for sid, model, provider, calls, tot, inp, out, lat_sum, lat_n in _fetch_all(db, _SESSION_MODELS):
        agg = usage.setdefault(
            (model, provider),
            {"calls": 0, "total": 0, "input": 0, "output": 0, "lat_sum": 0, "lat_n": 0, "sessions": 0},
        )
        agg["calls"] += calls
        agg["total"] += tot or 0
        agg["input"] += inp or 0
        agg["output"] += out or 0
        agg["lat_sum"] += lat_sum or 0
        agg["lat_n"] += lat_n
        agg["sessions"] += 1
        current = dominant.get(sid)
        if current is None or calls > current[2]:
            dominant[sid] = (model, provider, calls)

    model_usage = [
        ModelUsage(
            model_name=model,
            provider=provider,
            calls=a["calls"],
            total_tokens=a["total"],
            input_tokens=a["input"],
            output_tokens=a["output"],
            avg_latency_ms=a["lat_sum"] / a["lat_n"] if a["lat_n"] else 0.0,
            sessions=a["sessions"],
        )
        for (model, provider), a in usage.items()
    ]
    model_usage.sort(key=lambda m: (-m.calls, m.model_name, m.provider or ""))
    return model_usage, dominant


def compute_stats(db: TraceDB) -> TraceStats:
    """All stats of ``db`` in one read; raises TraceDBError (plain message) on unreadable DBs."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stats") as pool, db.connect() as conn:
        stats = _compute(db, conn, pool)
    stats.header.elapsed_s = time.perf_counter() - started
    return stats


def _compute(db: TraceDB, conn: Connection, pool: ThreadPoolExecutor) -> TraceStats:
    unavailable: dict[str, str] = {}
    notes: list[str] = []
    malformed = MalformedRows()
    keys = KeyStyleCounter()
    schema = db.schema
    # Speed: the two grouped scans (LM events, reward types) cost the most, and SQLite runs them with
    # the GIL released, so a worker thread runs them on connections of its own while this thread reads
    # the achievement rows and parses their JSON. (Each SELECT is its own read snapshot either way:
    # pysqlite opens no transaction for reads.) Row-heavy loops use the DBAPI cursor: same values,
    # no SQLAlchemy per-row cost.
    lm = pool.submit(_lm_usage, db)
    raw = _dbapi(conn)

    sessions = int(conn.execute(text("SELECT COUNT(*) FROM session_traces")).scalar_one())
    first_at, last_at = conn.execute(text("SELECT MIN(created_at), MAX(created_at) FROM session_traces")).one()
    by_type = {
        str(t): int(n) for t, n in conn.execute(text("SELECT event_type, COUNT(*) FROM events GROUP BY event_type"))
    }

    outcome_objective = schema.has("outcome_rewards", "objective_key")
    reward_objective = schema.has("event_rewards", "objective_key")
    outcome_filter = " WHERE objective_key = 'reward'" if outcome_objective else ""
    outcome_and = " AND objective_key = 'reward'" if outcome_objective else ""
    reward_where = " WHERE objective_key = 'reward'" if reward_objective else ""
    reward_and = " AND er.objective_key = 'reward'" if reward_objective else ""
    if outcome_objective or reward_objective:
        notes.append("Rewards are read for objective 'reward' only (objective_key column present).")

    outcome: OutcomeSummary | None = None
    why = _needs(db, [("outcome_rewards", None)], "Episode outcome rewards")
    if why:
        unavailable["outcome"] = why
    else:
        n, total, avg, lo, hi = conn.execute(
            text(
                "SELECT COUNT(*), COALESCE(SUM(total_reward), 0), COALESCE(AVG(total_reward), 0), "
                "COALESCE(MIN(total_reward), 0), COALESCE(MAX(total_reward), 0) "
                f"FROM outcome_rewards{outcome_filter}"
            )
        ).one()
        outcome = OutcomeSummary(
            episodes=int(n or 0),
            total_reward=float(total or 0.0),
            avg_reward=float(avg or 0.0),
            min_reward=float(lo or 0.0),
            max_reward=float(hi or 0.0),
        )

    reward_types: list[RewardTypeStats] | None = None
    session_sets: dict[str, set[str]] = defaultdict(set)
    why = _needs(db, [("event_rewards", None)], "Event reward breakdown")
    if why:
        unavailable["reward_types"] = why
        unavailable["event_achievements"] = why.replace("Event reward breakdown", "Per-decision achievements")
    else:
        by_reward_type = pool.submit(
            _fetch_all,
            db,
            "SELECT reward_type, COUNT(*) AS events, COALESCE(SUM(reward_value), 0), "
            f"COALESCE(AVG(reward_value), 0) FROM event_rewards{reward_where} "
            "GROUP BY reward_type ORDER BY events DESC, reward_type",
        )
        rows = raw.execute(
            "SELECT er.session_id, er.annotation, ev.metadata FROM event_rewards er "
            "JOIN events ev ON er.event_id = ev.id "
            f"WHERE er.reward_type = 'unique_achievement_delta' AND er.reward_value > 0{reward_and}"
        )
        for sid, annotation_text, metadata_text in rows:
            annotation, ok = _parse(annotation_text)
            if not ok or not isinstance(annotation, dict | None):
                malformed.event_reward_annotation += 1
                continue
            metadata, ok = _parse(metadata_text)
            if not ok or not isinstance(metadata, dict | None):
                malformed.event_metadata += 1
                continue
            turn = (metadata or {}).get("turn")
            if turn is None:
                continue
            new_unique = keys.pick(annotation or {}, UNIQUE_DELTA_KEYS) or []
            if not isinstance(new_unique, list) or not new_unique:
                continue
            try:
                int(turn)
            except (TypeError, ValueError):
                malformed.turn_not_integer += 1
                continue
            session_sets[sid].update(a for a in new_unique if isinstance(a, str))
        reward_types = [
            RewardTypeStats(
                reward_type=rtype, events=int(cnt), total_value=float(tot or 0.0), avg_value=float(avg or 0.0)
            )
            for rtype, cnt, tot, avg in by_reward_type.result()
        ]

    why = _needs(db, [("outcome_rewards", "reward_metadata")], "Final achievements from outcomes")
    if why:
        if "outcome" not in unavailable:
            unavailable["outcome_achievements"] = why
    else:
        for sid, meta_text in raw.execute(
            "SELECT session_id, reward_metadata FROM outcome_rewards "
            f"WHERE reward_metadata IS NOT NULL{outcome_and}"
            " ORDER BY id"
        ):
            meta, ok = _parse(meta_text)
            if not ok:
                malformed.outcome_reward_metadata += 1
                continue
            if not isinstance(meta, dict):
                if meta is not None:
                    malformed.outcome_reward_metadata += 1
                continue
            final = keys.pick(meta, OUTCOME_KEYS) or []
            if isinstance(final, list):
                session_sets[sid].update(a for a in final if isinstance(a, str))

    name_counter: Counter[str] = Counter()
    size_counter: Counter[int] = Counter()
    for achieved in session_sets.values():
        name_counter.update(achieved)
        size_counter[len(achieved)] += 1
    achievements = AchievementSummary(
        name_counts=sorted(name_counter.items(), key=lambda kv: (-kv[1], kv[0])),
        size_counts=dict(sorted(size_counter.items())),
    )

    model_usage, dominant = lm.result()
    per_model = _per_model(dominant, session_sets)
    style = keys.style
    if style in (KeyStyle.TASK_APP, KeyStyle.MIXED):
        notes.append(
            "Achievements use the task app's keys (achievements / final_achievements): synth-ai's "
            "reference scripts read none of them; sft-studio reads both styles."
        )

    header = StatsHeader(
        path=str(db.display_path),
        resolved_path=str(db.path.resolve()),
        size_bytes=db.size_bytes(),
        flavour=schema.flavour.value,
        journal_mode=schema.journal_mode,
        read_mode="immutable snapshot" if db.immutable else "read-only",
        sessions=sessions,
        events=sum(by_type.values()),
        events_by_type=by_type,
        lm_calls=by_type.get("cais", 0),
        first_session_at=_as_text(first_at),
        last_session_at=_as_text(last_at),
        key_style=style,
        malformed=malformed,
    )
    return TraceStats(
        header=header,
        model_usage=model_usage,
        outcome=outcome,
        reward_types=reward_types,
        achievements=achievements,
        per_model=per_model,
        unavailable=unavailable,
        notes=notes,
    )


def _dbapi(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected an sqlite3 connection, got {type(raw).__name__}")
    return raw


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _per_model(dominant: Dominant, session_sets: dict[str, set[str]]) -> list[ModelAchievementStats]:
    """Section 5: sessions keyed by their dominant model's name."""
    acc: dict[str, dict[str, Any]] = {}
    for sid, (model, provider, _calls) in dominant.items():
        achieved = session_sets.get(sid, set())
        a = acc.setdefault(
            model,
            {"providers": set(), "sessions": 0, "with": 0, "total": 0, "max": 0, "counts": Counter()},
        )
        a["providers"].add(provider or "unknown")
        a["sessions"] += 1
        a["total"] += len(achieved)
        a["max"] = max(a["max"], len(achieved))
        if achieved:
            a["with"] += 1
            a["counts"].update(achieved)
    out = [
        ModelAchievementStats(
            model_name=model,
            providers=sorted(a["providers"]),
            sessions=a["sessions"],
            sessions_with_unique=a["with"],
            total_unique=a["total"],
            avg_unique=a["total"] / a["sessions"] if a["sessions"] else 0.0,
            max_unique=a["max"],
            achievement_counts=sorted(a["counts"].items(), key=lambda kv: (-kv[1], kv[0])),
        )
        for model, a in acc.items()
    ]
    # Stable sort keeps first-seen order for ties, as the reference does.
    out.sort(key=lambda m: -m.sessions)
    return out

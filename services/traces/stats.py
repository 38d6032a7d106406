"""Trace-DB statistics: everything synth-ai's ``analyze_trace_db.py`` reports, plus a header.

Figures match the reference script on the same DB (tests/services/traces/test_stats_parity.py runs it), with two
deliberate differences: achievement lists are read in both key styles (``achievement_keys``), and
where the reference would crash (missing tables, non-object JSON, a ``total_reward`` float() refuses)
we skip, count and say so. Outcome rewards are read by ``rewards`` (the export's reader too), so
stats, the preview and the export read the same number for every session.
Speed: one grouped scan of the LM events feeds both the model-usage table and each session's
dominant model, where the reference scans them twice.
Consistency: every figure of one call is read in one read transaction on one connection (issue 10
item 16: while a collector appended, the header said 201 sessions beside 202 episodes), so a
refresh shows one state of the DB. In WAL mode (our collector's) the writer is never blocked by it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, text

from services.traces.achievement_keys import OUTCOME_KEYS, UNIQUE_DELTA_KEYS, KeyStyle, KeyStyleCounter
from services.traces.db import TraceDB
from services.traces.rewards import (
    NOT_A_NUMBER,
    objective_filter,
    objective_notes,
    outcome_rows,
    reward_type_summary,
)
from services.traces.stats_models import (
    AchievementSummary,
    MalformedRows,
    ModelAchievementStats,
    ModelUsage,
    OutcomeSummary,
    RewardTypeStats,
    StatsHeader,
    TraceStats,
)

__all__ = [
    "AchievementSummary",
    "MalformedRows",
    "ModelAchievementStats",
    "ModelUsage",
    "OutcomeSummary",
    "RewardTypeStats",
    "StatsHeader",
    "TraceStats",
    "compute_stats",
]

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


def _lm_usage(raw: sqlite3.Connection) -> tuple[list[ModelUsage], Dominant]:
    """Model-usage rows and each session's dominant (model, provider, calls), from one grouped scan."""
    usage: dict[tuple[str, str | None], dict[str, int]] = {}
    dominant: Dominant = {}
    for sid, model, provider, calls, tot, inp, out, lat_sum, lat_n in raw.execute(_SESSION_MODELS):
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
    with db.connect() as conn:
        raw = _dbapi(conn)
        raw.execute("BEGIN")  # one snapshot for every query below (pysqlite opens none for reads)
        try:
            stats = _compute(db, conn)
        finally:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
    stats.header.elapsed_s = time.perf_counter() - started
    return stats


class _Reading:
    """What the steps of one computation share: the DB, and what they collect on the way."""

    def __init__(self, db: TraceDB, conn: Connection) -> None:
        self.db, self.conn = db, conn
        self.raw = _dbapi(conn)  # row-heavy loops: same values, no SQLAlchemy per-row cost
        self.unavailable: dict[str, str] = {}
        self.notes: list[str] = []
        self.malformed = MalformedRows()
        self.keys = KeyStyleCounter()
        #: session -> unique achievements (trace_db.md §7): per-decision deltas and final outcome lists.
        self.session_sets: dict[str, set[str]] = defaultdict(set)


def _compute(db: TraceDB, conn: Connection) -> TraceStats:
    # All on ``conn``, inside the caller's read transaction: a worker thread on a connection of its own
    # (tried for speed) would read another snapshot while a collector commits.
    r = _Reading(db, conn)
    counts = _counts(conn)
    model_usage, dominant = _lm_usage(r.raw)
    r.notes += objective_notes(db.schema)
    outcome = _outcomes(r)
    reward_types = _event_rewards(r)
    achievements = _achievement_summary(r.session_sets)
    if r.keys.style in (KeyStyle.TASK_APP, KeyStyle.MIXED):
        r.notes.append(
            "Achievements use the task app's keys (achievements / final_achievements): synth-ai's "
            "reference scripts read none of them; sft-studio reads both styles."
        )
    return TraceStats(
        header=_header(r, counts),
        model_usage=model_usage,
        outcome=outcome,
        reward_types=reward_types,
        achievements=achievements,
        per_model=_per_model(dominant, r.session_sets),
        unavailable=r.unavailable,
        notes=r.notes,
    )


class _Counts(NamedTuple):
    sessions: int
    first_at: Any
    last_at: Any
    events_by_type: dict[str, int]


def _counts(conn: Connection) -> _Counts:
    """The header's counts and time range."""
    sessions = int(conn.execute(text("SELECT COUNT(*) FROM session_traces")).scalar_one())
    first_at, last_at = conn.execute(text("SELECT MIN(created_at), MAX(created_at) FROM session_traces")).one()
    by_type = {
        str(t): int(n) for t, n in conn.execute(text("SELECT event_type, COUNT(*) FROM events GROUP BY event_type"))
    }
    return _Counts(sessions, first_at, last_at, by_type)


def _header(r: _Reading, counts: _Counts) -> StatsHeader:
    """The file, its counts and time range, the key style and the rows skipped."""
    db, by_type = r.db, counts.events_by_type
    return StatsHeader(
        path=str(db.display_path),
        resolved_path=str(db.path.resolve()),
        size_bytes=db.size_bytes(),
        flavour=db.schema.flavour.value,
        journal_mode=db.schema.journal_mode,
        read_mode="immutable snapshot" if db.immutable else "read-only",
        sessions=counts.sessions,
        events=sum(by_type.values()),
        events_by_type=by_type,
        lm_calls=by_type.get("cais", 0),
        first_session_at=_as_text(counts.first_at),
        last_session_at=_as_text(counts.last_at),
        key_style=r.keys.style,
        malformed=r.malformed,
    )


def _outcomes(r: _Reading) -> OutcomeSummary | None:
    """Section 2 (episode outcome rewards, read by ``rewards.outcome_rows``) and each outcome row's
    final achievements into the sessions' unique sets."""
    why = _needs(r.db, [("outcome_rewards", None)], "Episode outcome rewards")
    if why:
        r.unavailable["outcome"] = why
        return None
    why = _needs(r.db, [("outcome_rewards", "reward_metadata")], "Final achievements from outcomes")
    if why:
        r.unavailable["outcome_achievements"] = why
    skipped: dict[str, int] = {}
    rewards: list[float] = []
    for row in outcome_rows(r.raw, r.db.schema, skipped):
        rewards.append(row.reward)
        if row.metadata is not None:
            _final_achievements(r, row.session_id, row.metadata)
    r.malformed.outcome_total_reward = skipped.get(NOT_A_NUMBER, 0)
    total = sum(rewards)
    return OutcomeSummary(
        episodes=len(rewards),
        total_reward=total,
        avg_reward=total / len(rewards) if rewards else 0.0,
        min_reward=min(rewards, default=0.0),
        max_reward=max(rewards, default=0.0),
    )


def _final_achievements(r: _Reading, sid: str, meta_text: Any) -> None:
    """An outcome row's ``reward_metadata``: its achievement list joins the session's set."""
    meta, ok = _parse(meta_text)
    if not ok or not isinstance(meta, dict):
        if not ok or meta is not None:
            r.malformed.outcome_reward_metadata += 1
        return
    final = r.keys.pick(meta, OUTCOME_KEYS) or []
    if isinstance(final, list):
        r.session_sets[sid].update(a for a in final if isinstance(a, str))


def _event_rewards(r: _Reading) -> list[RewardTypeStats] | None:
    """Section 3 (the breakdown by reward type) and the per-decision unique achievements into the
    sessions' sets."""
    why = _needs(r.db, [("event_rewards", None)], "Event reward breakdown")
    if why:
        r.unavailable["reward_types"] = why
        r.unavailable["event_achievements"] = why.replace("Event reward breakdown", "Per-decision achievements")
        return None
    by_type = reward_type_summary(r.raw, r.db.schema)
    _decision_achievements(r)
    return [
        RewardTypeStats(reward_type=rtype, events=n, total_value=total, avg_value=avg)
        for rtype, n, total, avg in by_type
    ]


def _decision_achievements(r: _Reading) -> None:
    """``new_unique`` lists of positive unique-achievement deltas whose event has a turn."""
    rows = r.raw.execute(
        "SELECT er.session_id, er.annotation, ev.metadata FROM event_rewards er "
        "JOIN events ev ON er.event_id = ev.id "
        "WHERE er.reward_type = 'unique_achievement_delta' AND er.reward_value > 0"
        + objective_filter(r.db.schema, "event_rewards", "AND", "er")
    )
    for sid, annotation_text, metadata_text in rows:
        annotation, ok = _parse(annotation_text)
        if not ok or not isinstance(annotation, dict | None):
            r.malformed.event_reward_annotation += 1
            continue
        metadata, ok = _parse(metadata_text)
        if not ok or not isinstance(metadata, dict | None):
            r.malformed.event_metadata += 1
            continue
        turn = (metadata or {}).get("turn")
        if turn is None:
            continue
        new_unique = r.keys.pick(annotation or {}, UNIQUE_DELTA_KEYS) or []
        if not isinstance(new_unique, list) or not new_unique:
            continue
        try:
            int(turn)
        except (TypeError, ValueError, OverflowError):  # as the export reads it (int(inf) overflows)
            r.malformed.turn_not_integer += 1
            continue
        r.session_sets[sid].update(a for a in new_unique if isinstance(a, str))


def _achievement_summary(session_sets: dict[str, set[str]]) -> AchievementSummary:
    """Section 4: sessions per achievement name, and the histogram of unique counts."""
    name_counter: Counter[str] = Counter()
    size_counter: Counter[int] = Counter()
    for achieved in session_sets.values():
        name_counter.update(achieved)
        size_counter[len(achieved)] += 1
    return AchievementSummary(
        name_counts=sorted(name_counter.items(), key=lambda kv: (-kv[1], kv[0])),
        size_counts=dict(sorted(size_counter.items())),
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

"""A compact in-memory index of a trace DB's sessions, so every filter change is answered without SQL.

Built once per DB: per session its dominant (model, provider), unique-achievement set, last outcome
(total and achievements), per-reward-type totals, and every example an export would write (event
model, characters). A filter is then a handful of vectorised numpy operations over ~10k rows, in the
exporter's exact order (trace_db.md §8.2): what ``eligible`` returns is what ``sft_export`` selects.

The reward tables (unique sets, outcomes, event-reward totals) are read by the exporter's own
functions (``selection.read_achievements``/``read_outcomes``, ``services.traces.rewards``), so both
count the same rows and skip the same ones (``rows_skipped``). Achievements are read in both key
styles (``achievement_keys``); ``key_style`` says when a DB uses the task app's keys, which synth-ai's
own exporter does not read. What stays twinned on purpose is the eligibility rule itself: the
exporter's per-session loop (``selection._eligible``) and the vectorised ``SessionIndex.select`` here,
held equal by a hypothesis test (tests/services/datasets/test_session_index.py).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from services.datasets.examples import ExampleCounters
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.datasets.selection import RewardFacts, check_schema, read_achievements, read_outcomes
from services.datasets.session_index_scan import FLAG_IMAGE, FLAG_SEGMENTS, ParallelScan, ScanChunk, ScanStopped
from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle
from services.traces.db import MissingSchemaError, TraceDB, TraceDBError, _ro_uri
from services.traces.fingerprint import Signature, db_signature
from services.traces.rewards import event_reward_totals

ProgressFn = Callable[[int, int], None]  # (LM events scanned, LM events in the DB)
StopFn = Callable[[], bool]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

#: Below this many LM events the scan runs in-process: a worker process costs more than it saves.
PARALLEL_MIN_EVENTS = 20_000
CHUNKS_PER_THREAD = 8


#: Filter field -> a spec that uses it (to ask the exporter's schema check which filters this DB can serve).
_PROBES: dict[str, FilterSpec] = {
    "event_rewards": FilterSpec(event_rewards=[EventRewardFilter(reward_type="probe")]),
    "outcome_reward": FilterSpec(min_outcome_reward=0.0),
    "require_achievements": FilterSpec(require_achievements=["probe"]),
}


def _unavailable_filters(db: TraceDB) -> dict[str, str]:
    """Filter field -> why this DB cannot serve it (tables or columns an old synth-ai never wrote)."""
    out: dict[str, str] = {}
    for key, probe in _PROBES.items():
        try:
            check_schema(db, probe)
        except MissingSchemaError as exc:
            out[key] = exc.message
    return out


class IndexBuildStopped(Exception):
    """``should_stop`` returned True while the index was being built."""


@dataclass(frozen=True)
class IndexSource:
    """Which DB state the index describes (to tell when it is stale)."""

    path: str
    #: The DB's change fingerprint (main file and ``-wal``) when the build started.
    signature: Signature | None
    max_event_id: int


@dataclass(frozen=True)
class FunnelMask:
    """One eligibility step: the sessions still in after it (``kept``), in §8.2 order."""

    key: str  # the FilterSpec field (or "candidates")
    label: str
    kept: BoolArray


@dataclass(frozen=True)
class Selection:
    """A filter applied to the index: per-step masks, the eligible sessions and the selected examples."""

    steps: list[FunnelMask]
    eligible: BoolArray  # per session
    examples: IntArray  # positions in the example arrays, export order, after --model and --limit
    examples_before_limit: int


def _sql_key(value: Any) -> tuple[int, Any]:
    """SQLite's sort order (NULL < numbers < text < blobs; BINARY text order = code-point order)."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _raw(conn: Connection) -> sqlite3.Connection:
    raw = conn.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected an sqlite3 connection, got {type(raw).__name__}")
    return raw


def _session_facts(raw: sqlite3.Connection, db: TraceDB) -> RewardFacts:
    """Unique sets, last outcomes and reward totals, read by the exporter's own functions."""
    facts = RewardFacts()
    read_achievements(db, raw.execute, facts, None)  # no per-turn lists: the index needs the sets only
    read_outcomes(raw, db.schema, facts)
    facts.totals = event_reward_totals(raw, db.schema)
    return facts


def _chunks(lo: int, hi: int, n: int) -> list[tuple[int, int]]:
    step = max(1, -(-(hi - lo + 1) // n))
    return [(a, min(hi, a + step - 1)) for a in range(lo, hi + 1, step)]


class SessionIndex:
    """Per-session facts as parallel arrays (sessions in export order), plus one row per example."""

    def __init__(
        self,
        *,
        session_ids: list[Any],
        models: list[Any],
        providers: list[str],
        sess_model: npt.NDArray[np.int32],
        sess_provider: npt.NDArray[np.int32],
        achievement_names: list[Any],
        unique: BoolArray,
        outcome_achieved: BoolArray,
        outcome_total: npt.NDArray[np.float64],
        reward_types: list[Any],
        reward_totals: npt.NDArray[np.float64],
        event_models: list[Any],
        ex_session: npt.NDArray[np.int32],
        ex_model: npt.NDArray[np.int32],
        ex_chars: npt.NDArray[np.int64],
        ex_flags: npt.NDArray[np.uint8],
        sessions_total: int,
        key_style: KeyStyle,
        skipped: dict[str, int],
        rows_skipped: dict[str, int],
        source: IndexSource,
        build_seconds: float = 0.0,
    ) -> None:
        self.session_ids = session_ids
        self.models = models  # dominant model names (table for sess_model)
        self.providers = providers  # dominant provider labels, NULL read as "unknown"
        self.sess_model = sess_model
        self.sess_provider = sess_provider
        self.achievement_names = achievement_names  # the 22 Crafter names first, then any others found
        self._ach_col = {n: i for i, n in enumerate(achievement_names)}
        self.unique = unique  # sessions x names: the §7 unique set
        self.unique_count: IntArray = unique.sum(axis=1, dtype=np.int64)
        self.outcome_achieved = outcome_achieved  # sessions x names: the last outcome row's list
        self.outcome_total = outcome_total
        self.reward_types = reward_types
        self._type_col = {t: i for i, t in enumerate(reward_types)}
        self.reward_totals = reward_totals  # sessions x reward types: SUM(reward_value)
        self.event_models = event_models  # the LM events' own model names (table for ex_model)
        self.ex_session = ex_session
        self.ex_model = ex_model
        self.ex_chars = ex_chars
        self.ex_tokens = (ex_chars + 3) // 4  # the exporter's estimate: ceil(chars / 4) per example
        self.ex_flags = ex_flags
        self.sessions_total = sessions_total
        self.key_style = key_style
        self.skipped = skipped  # LM records that give no example, by reason (the whole DB)
        #: reward-table rows skipped, by reason, read by the export's own functions: outcome rows count as
        #: in the export; of the achievement rows the index reads the unique deltas only (the export also
        #: reads achievement_delta rows, for the per-turn turned_true lists).
        self.rows_skipped = rows_skipped
        self.source = source
        self.build_seconds = build_seconds
        self.schema_notes: list[str] = []  # what this DB's generation lacks (the exporter's notes)
        self.unavailable: dict[str, str] = {}  # filter key -> why this DB cannot serve it

    # ----------------------------------------------------------------------------------------------
    # Building

    @classmethod
    def build(
        cls,
        db: TraceDB,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        *,
        workers: int | None = None,
    ) -> SessionIndex:
        """Read ``db`` once. On a DB with >= 20k LM events, ``workers`` child processes (default: one
        per spare core, at most 3) start parsing call records while this thread reads the reward
        tables, then this thread joins the scan. ``progress(done, total)`` is called from this
        thread only. Raises TraceDBError (a DB too old to export, unreadable) or IndexBuildStopped."""
        started = time.perf_counter()
        notes = check_schema(db, FilterSpec())  # MissingSchemaError when no example can be read
        unavailable = _unavailable_filters(db)
        uri = _ro_uri(db.path, db.immutable)
        signature = db_signature(db.path)  # taken first: a write during the build shows as a change
        try:
            with db.connect() as conn:
                raw = _raw(conn)
                lo, hi, n_lm = raw.execute(
                    "SELECT MIN(id), MAX(id), COUNT(*) FROM events WHERE event_type = 'cais'"
                ).fetchone()
                sessions_total = int(raw.execute("SELECT COUNT(*) FROM session_traces").fetchone()[0])
                n_lm = int(n_lm or 0)
                if workers is None:
                    workers = min(3, (os.cpu_count() or 1) - 1) if n_lm >= PARALLEL_MIN_EVENTS else 0
                chunks = max(1, n_lm // 10_000) if workers < 1 else CHUNKS_PER_THREAD * (workers + 1)
                ranges = _chunks(int(lo), int(hi), chunks) if n_lm else []
                scan = ParallelScan(uri, ranges, timeout=db.busy_timeout_s, progress=_Progress(n_lm, progress),
                                    should_stop=should_stop)  # fmt: skip
                try:
                    scans, facts = scan.run(max(0, workers), lambda: _session_facts(raw, db))
                except ScanStopped:
                    raise IndexBuildStopped from None
        except sqlite3.Error as exc:
            raise TraceDBError(f"Cannot read {db.path}: {exc}.") from None
        source = IndexSource(str(db.path), signature, int(hi or 0))
        index = _assemble(scans, facts, sessions_total, source)
        index.schema_notes, index.unavailable = notes, unavailable
        index.build_seconds = time.perf_counter() - started
        return index

    def is_current(self, db: TraceDB) -> bool:
        """Whether ``db`` still looks like it did when the index was built: the same fingerprint as the
        Traces pane's auto-refresh uses, so rows a WAL-mode writer appended (the main file unchanged
        until a checkpoint) count as a change."""
        signature = db_signature(db.path)
        return str(db.path) == self.source.path and signature is not None and signature == self.source.signature

    # ----------------------------------------------------------------------------------------------
    # Queries

    @property
    def candidates(self) -> int:
        """Sessions with a dominant model (the only ones an export can include)."""
        return len(self.session_ids)

    @property
    def examples_total(self) -> int:
        return len(self.ex_session)

    def nbytes(self) -> int:
        """Bytes held by the arrays (the session-id strings not counted)."""
        arrays = (self.sess_model, self.sess_provider, self.unique, self.unique_count, self.outcome_achieved,
                  self.outcome_total, self.reward_totals, self.ex_session, self.ex_model, self.ex_chars,
                  self.ex_tokens, self.ex_flags)  # fmt: skip
        return sum(a.nbytes for a in arrays)

    def _names_cols(self, names: Iterable[str]) -> tuple[list[int], bool]:
        """Columns of the known names, and whether some name is unknown to this DB."""
        cols = [self._ach_col[n] for n in names if n in self._ach_col]
        return cols, len(cols) < len(set(names))

    def unique_counts(self, excluded: Iterable[str] = ()) -> IntArray:
        """Per session: |unique set − excluded| (what --min/--max-unique compare)."""
        cols, _ = self._names_cols(set(excluded))
        if not cols:
            return self.unique_count
        removed: IntArray = self.unique[:, cols].sum(axis=1, dtype=np.int64)
        return self.unique_count - removed

    def model_allowed(self, models: Iterable[str]) -> BoolArray:
        """Per event model: kept by ``--model`` (a NULL model is never listed)."""
        wanted = set(models)
        return np.fromiter((m in wanted for m in self.event_models), dtype=np.bool_, count=len(self.event_models))

    def select(self, spec: FilterSpec) -> Selection:
        """Apply ``spec`` in the exporter's order, keeping every step's mask for the funnel."""
        n = len(self.session_ids)
        kept = np.ones(n, dtype=np.bool_)
        steps = [FunnelMask("candidates", "sessions with LM calls (a dominant model)", kept.copy())]

        def step(key: str, label: str, keep: BoolArray) -> None:
            nonlocal kept
            kept = kept & keep
            steps.append(FunnelMask(key, label, kept))

        if spec.models:
            wanted = set(spec.models)
            ok = np.fromiter((m in wanted for m in self.models), dtype=np.bool_, count=len(self.models))
            step("models", "dominant model", ok[self.sess_model] if n else kept)
        if spec.providers:
            wanted = set(spec.providers)
            ok = np.fromiter((p in wanted for p in self.providers), dtype=np.bool_, count=len(self.providers))
            step("providers", "dominant provider", ok[self.sess_provider] if n else kept)
        if spec.min_unique or spec.max_unique is not None:
            counts = self.unique_counts(spec.exclude_achievements)
            keep = ~(counts < spec.min_unique)
            if spec.max_unique is not None:
                keep &= ~(counts > spec.max_unique)
            step("unique", "unique achievements", keep)
        if spec.min_outcome_reward is not None or spec.max_outcome_reward is not None:
            keep = np.ones(n, dtype=np.bool_)
            if spec.min_outcome_reward is not None:
                keep &= ~(self.outcome_total < spec.min_outcome_reward)
            if spec.max_outcome_reward is not None:
                keep &= ~(self.outcome_total > spec.max_outcome_reward)
            step("outcome_reward", "outcome reward", keep)
        if spec.require_achievements:
            cols, unknown = self._names_cols(set(spec.require_achievements))
            keep = np.zeros(n, dtype=np.bool_)
            if not unknown:
                keep = np.asarray(self.outcome_achieved[:, cols].all(axis=1), dtype=np.bool_)
            step("require_achievements", "required outcome achievements", keep)
        for f in spec.event_rewards:
            col = self._type_col.get(f.reward_type)
            totals = self.reward_totals[:, col] if col is not None else np.zeros(n)
            step(f"event_reward:{f.reward_type}", f"event reward {f.reward_type} ≥ {f.min_total:g}",
                 ~(totals < f.min_total))  # fmt: skip

        selected = kept[self.ex_session]
        if spec.models:
            selected &= self.model_allowed(spec.models)[self.ex_model]
        positions = np.flatnonzero(selected)
        before = len(positions)
        if spec.limit is not None and spec.limit >= 1:
            positions = positions[: spec.limit]
        return Selection(steps=steps, eligible=kept, examples=positions, examples_before_limit=before)

    def eligible(self, spec: FilterSpec) -> list[str]:
        """Session ids an export of ``spec`` includes, in export order."""
        kept = self.select(spec).eligible
        return [self.session_ids[i] for i in np.flatnonzero(kept)]

    def image_examples(self, positions: IntArray) -> int:
        return int(np.count_nonzero(self.ex_flags[positions] & FLAG_IMAGE))

    def segment_examples(self, positions: IntArray) -> int:
        """Examples whose content is a segment list: synth-ai's exporter refuses to write any file then."""
        return int(np.count_nonzero(self.ex_flags[positions] & FLAG_SEGMENTS))


class _Progress:
    """Rows scanned -> the caller's (done, total) callback."""

    def __init__(self, total: int, fn: ProgressFn | None) -> None:
        self.total, self.done, self.fn = total, 0, fn

    def __call__(self, rows: int) -> None:
        self.done += rows
        if self.fn is not None:
            self.fn(min(self.done, self.total), self.total)


def _assemble(scans: list[ScanChunk], facts: RewardFacts, sessions_total: int, source: IndexSource) -> SessionIndex:
    """Merge chunk tables into global ids, pick dominant models, lay out the arrays."""
    calls: dict[Any, dict[tuple[Any, Any], int]] = defaultdict(dict)
    for c in scans:
        for (s, p), n in c.calls.items():
            groups = calls[c.sessions[s]]
            pair = c.pairs[p]
            groups[pair] = groups.get(pair, 0) + n
    # Dominant pair: most calls; a tie goes to the first group in SQLite's (model, provider) order.
    dominant: dict[Any, tuple[Any, Any]] = {}
    for sid, groups in calls.items():
        best = max(groups.values())
        dominant[sid] = min((p for p, n in groups.items() if n == best), key=lambda p: (_sql_key(p[0]), _sql_key(p[1])))
    session_ids = sorted(dominant, key=_sql_key)
    pos = {sid: i for i, sid in enumerate(session_ids)}
    n = len(session_ids)

    model_ids: dict[Any, int] = {}
    provider_ids: dict[str, int] = {}
    sess_model = np.empty(n, dtype=np.int32)
    sess_provider = np.empty(n, dtype=np.int32)
    for i, sid in enumerate(session_ids):
        model, provider = dominant[sid]
        sess_model[i] = model_ids.setdefault(model, len(model_ids))
        sess_provider[i] = provider_ids.setdefault(provider or "unknown", len(provider_ids))

    extra = sorted({a for sid in session_ids for a in facts.unique.get(sid, ())} - set(ACHIEVEMENTS), key=_sql_key)
    names = [*ACHIEVEMENTS, *extra]
    col = {name: j for j, name in enumerate(names)}
    unique = np.zeros((n, len(names)), dtype=np.bool_)
    outcome_achieved = np.zeros((n, len(names)), dtype=np.bool_)
    outcome_total = np.zeros(n, dtype=np.float64)
    for i, sid in enumerate(session_ids):
        achieved = facts.unique.get(sid)
        if achieved:
            unique[i, [col[a] for a in achieved]] = True
        out = facts.outcome.get(sid)
        if out is not None:
            outcome_total[i] = out[0]
            if out[1]:
                outcome_achieved[i, [col[a] for a in out[1]]] = True
    types = sorted({t for sid in session_ids for t in facts.totals.get(sid, {})}, key=_sql_key)
    type_col = {t: j for j, t in enumerate(types)}
    reward_totals = np.zeros((n, len(types)), dtype=np.float64)
    for i, sid in enumerate(session_ids):
        for t, v in facts.totals.get(sid, {}).items():
            reward_totals[i, type_col[t]] = v

    event_model_ids: dict[Any, int] = {}
    parts_session, parts_model, parts_event, parts_chars, parts_flags = [], [], [], [], []
    for c in scans:
        if not len(c.ex_event):
            continue
        local_pos = np.array([pos.get(sid, -1) for sid in c.sessions], dtype=np.int32)
        local_model = np.array(
            [event_model_ids.setdefault(m, len(event_model_ids)) for m, _ in c.pairs], dtype=np.int32
        )
        parts_session.append(local_pos[np.frombuffer(c.ex_session, dtype=np.int32)])
        parts_model.append(local_model[np.frombuffer(c.ex_pair, dtype=np.int32)])
        parts_event.append(np.frombuffer(c.ex_event, dtype=np.int64))
        parts_chars.append(np.frombuffer(c.ex_chars, dtype=np.int64))
        parts_flags.append(np.frombuffer(c.ex_flags, dtype=np.uint8))
    if parts_session:
        ex_session = np.concatenate(parts_session)
        keep = ex_session >= 0  # sessions without a dominant model never export
        # Chunks are in id order, so a stable sort by session gives the exporter's (session_id, id) order.
        order = np.flatnonzero(keep)[np.argsort(ex_session[keep], kind="stable")]
        ex_session = ex_session[order]
        ex_model = np.concatenate(parts_model)[order]
        ex_chars = np.concatenate(parts_chars)[order]
        ex_flags = np.concatenate(parts_flags)[order]
    else:
        ex_session = np.empty(0, dtype=np.int32)
        ex_model = np.empty(0, dtype=np.int32)
        ex_chars = np.empty(0, dtype=np.int64)
        ex_flags = np.empty(0, dtype=np.uint8)
    skipped = ExampleCounters(
        **{name: sum(getattr(c, name) for c in scans) for name, _reason in ExampleCounters.REASONS}
    ).skipped()
    return SessionIndex(
        session_ids=session_ids,
        models=list(model_ids),
        providers=list(provider_ids),
        sess_model=sess_model,
        sess_provider=sess_provider,
        achievement_names=names,
        unique=unique,
        outcome_achieved=outcome_achieved,
        outcome_total=outcome_total,
        reward_types=types,
        reward_totals=reward_totals,
        event_models=list(event_model_ids),
        ex_session=ex_session,
        ex_model=ex_model,
        ex_chars=ex_chars,
        ex_flags=ex_flags,
        sessions_total=sessions_total,
        key_style=facts.keys.style,
        skipped=skipped,
        rows_skipped=facts.skipped_counts(),
        source=source,
    )

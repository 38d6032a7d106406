"""SFT export: pick sessions like export_trace_sft.py, stream the examples into an atomic JSONL.

Selection follows the reference's order (trace_db.md §8.2) and reads achievements in both key
styles. Examples are written while they are produced (memory stays flat on big DBs) into a temp
file beside the target, fsynced and renamed at the end, so a failed or interrupted export leaves no
file. Each file gets a manifest that is enough to rebuild it byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field
from sqlalchemy import text

from services.achievement_keys import OUTCOME_KEYS, TURNED_TRUE_KEYS, UNIQUE_DELTA_KEYS, KeyStyle, KeyStyleCounter
from services.dataset_validation import MAX_ISSUES, ValidationReport, record_issue
from services.filter_spec import FilterSpec
from services.sft_examples import AchievementMap, ExampleCounters, build_examples
from services.trace_db import TraceDB, TraceDBError

TOOL_VERSION = "sft-studio 0.1.0"
DEFAULT_OUTPUT = Path("ft_data/crafter_traces.jsonl")
TOKEN_METHOD = "characters of message content and tool-call arguments / 4 (rounded up)"


class ExportError(Exception):
    """The export cannot produce a file; the message matches the reference where it has one."""


class SubsetResult(BaseModel):
    size: int
    path: Path
    examples: int
    manifest: Path


class ExportResult(BaseModel):
    output: Path
    manifest: Path
    examples: int
    sessions: int
    per_model: dict[str, int]
    token_estimate: int
    sha256: str
    notes: list[str] = Field(default_factory=list)
    skipped: dict[str, int] = Field(default_factory=dict)
    validation: ValidationReport
    subsets: list[SubsetResult] = Field(default_factory=list)


ProgressFn = Callable[[int, int], None]  # (examples written, eligible sessions)


def _loads(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


class Selection(BaseModel):
    """Eligible sessions plus the per-turn achievement map the examples need."""

    sessions: set[str]
    achievements: dict[str, dict[str, list[str]]]  # "session\x00turn" -> lists (JSON-able form)
    key_style: KeyStyle

    def achievement_map(self) -> AchievementMap:
        out: AchievementMap = {}
        for key, value in self.achievements.items():
            sid, turn = key.rsplit("\x00", 1)
            out[(sid, int(turn))] = value
        return out


def select_sessions(db: TraceDB, spec: FilterSpec) -> Selection:
    """The sessions an export of ``spec`` includes (reference semantics, both key styles)."""
    missing = db.schema.missing(
        [("events", "call_records"), ("event_rewards", None), ("outcome_rewards", "reward_metadata")]
    )
    if missing:
        raise TraceDBError(
            f"This DB ({db.schema.flavour.value} flavour) cannot be exported: it lacks {', '.join(missing)}.",
            "SFT export needs call records and reward tables (synth-ai 0.2.7 or later).",
        )
    keys = KeyStyleCounter()
    ach: AchievementMap = defaultdict(lambda: {"unique": [], "all": []})
    unique_sets: dict[str, set[str]] = defaultdict(set)
    final_sets: dict[str, set[str]] = defaultdict(set)
    outcome: dict[str, tuple[float, set[str]]] = {}
    reward_and = " AND er.objective_key = 'reward'" if db.schema.has("event_rewards", "objective_key") else ""
    outcome_where = " WHERE objective_key = 'reward'" if db.schema.has("outcome_rewards", "objective_key") else ""
    with db.connect() as conn:
        for kind, slot, names in (("unique_achievement_delta", "unique", UNIQUE_DELTA_KEYS),
                                  ("achievement_delta", "all", TURNED_TRUE_KEYS)):  # fmt: skip
            rows = conn.execute(
                text(
                    "SELECT er.session_id, er.annotation, ev.metadata FROM event_rewards er "
                    f"JOIN events ev ON er.event_id = ev.id WHERE er.reward_type = '{kind}' "
                    f"AND er.reward_value > 0{reward_and} ORDER BY er.id"
                )
            )
            for sid, ann_text, meta_text in rows:
                annotation = _loads(ann_text) or {}
                metadata = _loads(meta_text) or {}
                if not isinstance(annotation, dict) or not isinstance(metadata, dict):
                    continue
                turn = metadata.get("turn")
                if turn is None:
                    continue
                values = keys.pick(annotation, names) or []
                if not isinstance(values, list) or not values:
                    continue
                try:
                    key = (sid, int(turn))
                except (TypeError, ValueError):
                    continue
                ach[key][slot].extend(values)
                if slot == "unique":
                    unique_sets[sid].update(v for v in values if isinstance(v, str))
        for sid, total, meta_text in conn.execute(
            text(f"SELECT session_id, total_reward, reward_metadata FROM outcome_rewards{outcome_where} ORDER BY id")
        ):
            meta = _loads(meta_text)
            achieved: set[str] = set()
            if isinstance(meta, dict):
                listed = keys.pick(meta, OUTCOME_KEYS) or []
                if isinstance(listed, list):
                    achieved = {a for a in listed if isinstance(a, str)}
                    unique_sets[sid].update(achieved)
                    final_sets[sid].update(achieved)
            outcome[sid] = (float(total or 0.0), achieved)  # the last row wins, as in the reference
        totals: dict[str, dict[str | None, float]] = defaultdict(dict)
        for sid, rtype, total in conn.execute(
            text(
                "SELECT session_id, reward_type, COALESCE(SUM(reward_value), 0) FROM event_rewards "
                f"{'WHERE objective_key = ' + repr('reward') if reward_and else ''} GROUP BY session_id, reward_type"
            )
        ):
            totals[sid][rtype] = float(total or 0.0)
        dominant: dict[str, tuple[str, str | None, int]] = {}
        for sid, model, provider, calls in conn.execute(
            text(
                "SELECT session_id, model_name, provider, COUNT(*) FROM events "
                "WHERE event_type = 'cais' AND model_name IS NOT NULL "
                "GROUP BY session_id, model_name, provider ORDER BY session_id, model_name, provider"
            )
        ):
            current = dominant.get(sid)
            if current is None or calls > current[2]:
                dominant[sid] = (model, provider, int(calls))

    models, providers = set(spec.models), set(spec.providers)
    required, excluded = set(spec.require_achievements), set(spec.exclude_achievements)
    eligible: set[str] = set()
    for sid, (model, provider, _calls) in dominant.items():
        if models and model not in models:
            continue
        if providers and (provider or "unknown") not in providers:
            continue
        count = len(unique_sets.get(sid, set()) - excluded)
        if count < spec.min_unique or (spec.max_unique is not None and count > spec.max_unique):
            continue
        total, final = outcome.get(sid, (0.0, final_sets.get(sid, set())))
        if spec.min_outcome_reward is not None and total < spec.min_outcome_reward:
            continue
        if spec.max_outcome_reward is not None and total > spec.max_outcome_reward:
            continue
        if required and not required.issubset(final):
            continue
        if any(totals.get(sid, {}).get(f.reward_type, 0.0) < f.min_total for f in spec.event_rewards):
            continue
        eligible.add(sid)
    return Selection(
        sessions=eligible,
        achievements={f"{sid}\x00{turn}": v for (sid, turn), v in ach.items()},
        key_style=keys.style,
    )


def _stream_rows(db: TraceDB) -> Iterator[tuple[str, Any, str | None, str | None, Any]]:
    with db.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.arraysize = 512
        has_index = cursor.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'idx_event_session_step'"
        ).fetchone()
        # Walking the (session_id, timestep_id) index sorts only within a session; otherwise SQLite
        # sorts every call record (hundreds of MB) through a temp B-tree: 1.9 s instead of 3.4 s.
        hint = "INDEXED BY idx_event_session_step " if has_index else ""
        cursor.execute(
            f"SELECT session_id, metadata, model_name, provider, call_records FROM events {hint}"
            "WHERE event_type = 'cais' AND call_records IS NOT NULL ORDER BY session_id, id"
        )
        while batch := cursor.fetchmany():
            yield from batch


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _tokens(record: dict[str, Any]) -> int:
    chars = 0
    for message in record["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(s.get("text", "")) for s in content if isinstance(s, dict))
        for call in message.get("tool_calls", ()):
            chars += len(call["function"]["arguments"])
    return -(-chars // 4)


class _AtomicFile:
    """A temp file beside ``target``; ``commit`` fsyncs and renames it, ``discard`` removes it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        self.tmp = Path(name)
        self.fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self.hash = hashlib.sha256()
        self.lines = 0

    def write(self, line: str) -> None:
        self.fh.write(line)
        self.hash.update(line.encode("utf-8"))
        self.lines += 1

    def commit(self) -> str:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        os.replace(self.tmp, self.target)
        return self.hash.hexdigest()

    def discard(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    out = _AtomicFile(path)
    try:
        out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        out.commit()
    except BaseException:
        out.discard()
        raise


def manifest_path(output: Path) -> Path:
    return output.with_name(output.stem + ".manifest.json")


def subset_path(output: Path, size: int) -> Path:
    return output.with_name(f"{output.stem}.n{size}{output.suffix}")


def export_sft(
    db: TraceDB,
    spec: FilterSpec,
    output: Path = DEFAULT_OUTPUT,
    *,
    force: bool = False,
    sizes: list[int] | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ExportResult:
    """Export ``spec``'s examples from ``db`` to ``output`` (+ manifest, + size subsets)."""
    problems = spec.problems()
    if problems:
        field_name, reason = next(iter(problems.items()))
        raise ExportError(f"Invalid filter: {field_name.replace('_', '-')} {reason}.")
    sizes = sorted(set(sizes or []))
    if any(n < 1 for n in sizes):
        raise ExportError("Subset sizes must be positive.")
    targets = [output, manifest_path(output)]
    for n in sizes:
        targets += [subset_path(output, n), manifest_path(subset_path(output, n))]
    existing = [p for p in targets if p.exists()]
    if existing and not force:
        raise ExportError(f"{existing[0]} already exists; pass --force to overwrite it.")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create {output.parent}: {exc.strerror or exc}.") from None
    if output.is_dir():
        raise ExportError(f"{output} is a directory.")

    db_hash: dict[str, str] = {}
    hasher = threading.Thread(target=lambda: db_hash.setdefault("sha256", file_sha256(db.path)), daemon=True)
    hasher.start()  # hashlib releases the GIL: the DB hash runs on the other core meanwhile

    selection = select_sessions(db, spec)
    if not selection.sessions:
        raise ExportError("No sessions matched the provided filters.")
    counters = ExampleCounters()
    try:
        main = _AtomicFile(output)
    except OSError as exc:
        raise ExportError(f"Cannot write into {output.parent}: {exc.strerror or exc}.") from None
    subsets = {n: _AtomicFile(subset_path(output, n)) for n in sizes}
    files = [main, *subsets.values()]
    sessions_seen: set[str] = set()
    subset_sessions: dict[int, set[str]] = {n: set() for n in sizes}
    subset_models: dict[int, dict[str, int]] = {n: defaultdict(int) for n in sizes}
    subset_tokens: dict[int, int] = dict.fromkeys(sizes, 0)
    tokens = 0
    # The upload validator's checks, run on each record as it is written (the file holds exactly
    # these records), instead of re-reading hundreds of MB afterwards.
    validation = ValidationReport(path=output)
    try:
        examples = build_examples(
            _stream_rows(db),
            selection.sessions,
            selection.achievement_map(),
            allowed_models=set(spec.models) or None,
            limit=spec.limit,
            counters=counters,
        )
        for record in examples:
            line = json.dumps(record, ensure_ascii=False) + "\n"
            main.write(line)
            issue = record_issue(record)
            if issue and len(validation.issues) < MAX_ISSUES:
                validation.issues.append(f"Line {main.lines}: {issue}")
            sid = record["metadata"]["session_id"]
            sessions_seen.add(sid)
            t = _tokens(record)
            tokens += t
            for n, sub in subsets.items():
                if sub.lines < n:
                    sub.write(line)
                    subset_sessions[n].add(sid)
                    subset_models[n][str(record["metadata"]["model"])] += 1
                    subset_tokens[n] += t
            if progress is not None and main.lines % 500 == 0:
                progress(main.lines, len(selection.sessions))
            if should_stop is not None and main.lines % 100 == 0 and should_stop():
                raise ExportError("Export stopped; no file was written.")
        if main.lines == 0:
            raise ExportError("No rollout steps matched the filters (after session selection).")
        sha = main.commit()
        sub_shas = {n: sub.commit() for n, sub in subsets.items()}
    except BaseException:
        for f in files:
            f.discard()
        raise
    hasher.join()
    if progress is not None:
        progress(main.lines, len(selection.sessions))

    notes = []
    if selection.key_style in (KeyStyle.TASK_APP, KeyStyle.MIXED):
        notes.append(
            "This DB uses the task app's achievement keys: synth-ai's export_trace_sft.py would write "
            "empty achievements and match no --min-unique/--require-achievement filter here; "
            "sft-studio read them as if renamed to the reference keys."
        )
    skipped = {k: v for k, v in (("non-object output JSON", counters.non_object_output),
                                 ("non-integer turn", counters.bad_turn),
                                 ("unreadable call_records", counters.bad_call_records)) if v}  # fmt: skip
    if counters.image_examples:
        notes.append(
            f"{counters.image_examples} example(s) carry images as content segments (the reference aborts "
            "the whole export on them; synth-ai's upload validator accepts them)."
        )
    source = {
        "path": str(db.path.resolve()),
        "size_bytes": db.size_bytes(),
        "mtime": datetime.fromtimestamp(db.path.stat().st_mtime, UTC).isoformat(),
        "sha256": db_hash.get("sha256", ""),
    }

    def manifest(path: Path, sha: str, examples: int, sessions: int, per_model: dict[str, int], tok: int,
                 size: int | None) -> Path:  # fmt: skip
        target = manifest_path(path)
        write_json_atomic(
            target,
            {
                "file": path.name,
                "sha256": sha,
                "source_db": source,
                "filter": spec.model_dump(mode="json"),
                "subset_of": output.name if size is not None else None,
                "first_n_examples": size,
                "counts": {"examples": examples, "sessions": sessions, "per_model": dict(per_model)},
                "token_estimate": tok,
                "token_estimate_method": TOKEN_METHOD,
                "key_style": selection.key_style.value,
                "notes": notes,
                "tool": TOOL_VERSION,
                "created_at": datetime.now(UTC).isoformat(),
            },
        )
        return target

    main_manifest = manifest(output, sha, main.lines, len(sessions_seen), counters.per_model, tokens, None)
    subset_results = [
        SubsetResult(
            size=n,
            path=subset_path(output, n),
            examples=subsets[n].lines,
            manifest=manifest(
                subset_path(output, n),
                sub_shas[n],
                subsets[n].lines,
                len(subset_sessions[n]),
                subset_models[n],
                subset_tokens[n],
                n,
            ),
        )
        for n in sizes
    ]
    return ExportResult(
        output=output,
        manifest=main_manifest,
        examples=main.lines,
        sessions=len(sessions_seen),
        per_model=dict(counters.per_model),
        token_estimate=tokens,
        sha256=sha,
        notes=notes,
        skipped=skipped,
        validation=validation.model_copy(update={"examples": main.lines}),
        subsets=subset_results,
    )

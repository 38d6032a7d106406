"""The link from an eval back to the data: for each achievement a fine-tuned model gained or lost
against its comparison base, how many of its training examples (and sessions) came from sessions
that reached that achievement.

A run's dataset is the export its lineage records (manifest: trace DB path and sha256, filter,
counts). Manifests do not list their sessions, so they are selected again: the recorded filter on
the trace DB through the session index (``services.datasets.session_index``: the exporter's
selection, held equal to it by a hypothesis test, with each session's unique-achievement set read by
the exporter's own readers, ``selection.read_achievements``/``read_outcomes``). That is trusted only
when the DB is the one exported from: its sha256 must be the manifest's (hashed by a child process,
as the export hashed it, so an app holding the DB open keeps its SQLite locks), the recorded filter
must be one this version reads whole, and the re-selection must give the manifest's counts. Anything
else is said (no DB, missing, changed, other counts) and nothing is counted: no guess.

The comparison base is what the rest of the ledger compares against: in ``runs compare`` and the
Runs pane each run against the first one (``compare_runs``'s convention), in ``runs show`` the
base model's eval on the most shared seeds. Per-achievement success rates come from the saved eval
results, paired on common seeds (``services.evals.compare``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from services.ledger.records import EvalInfo, Lineage

if TYPE_CHECKING:
    from services.datasets.filter_spec import FilterSpec
    from services.datasets.session_index import SessionIndex
    from services.ledger.store import Ledger

#: counted: the numbers below are the data trained on; every other state says why nothing is counted.
DataState = Literal["counted", "no dataset", "no trace DB", "missing", "changed", "untrusted", "mismatch", "unreadable"]
BaseKind = Literal["run", "base model"]


class Reached(BaseModel):
    """Training data from sessions that reached one achievement."""

    examples: int
    sessions: int


class RunData(BaseModel):
    """One run's training data, per achievement reached by the sessions it came from."""

    run_id: str
    state: DataState
    message: str
    dataset: str | None = None
    db_path: str | None = None
    examples: int | None = None  # examples trained on (``--examples`` may have taken a prefix)
    sessions: int | None = None  # sessions those examples came from
    reached: dict[str, Reached] = Field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.state == "counted"


class AchievementLink(BaseModel):
    """One achievement whose success rate changed: the change, and the data behind each side."""

    name: str
    rate: float  # the run's success rate on the common seeds (0-1)
    base_rate: float
    delta: float  # rate - base_rate
    examples: int | None = None  # the run's training examples from sessions that reached it (None: not counted)
    sessions: int | None = None
    base_examples: int | None = None  # the same for the base, when the base is a fine-tuned run too
    base_sessions: int | None = None


class AchievementData(BaseModel):
    """A run against its comparison base: the achievements that changed, with the data behind them."""

    run_id: str
    base_id: str
    base_kind: BaseKind
    run_eval: str | None = None
    base_eval: str | None = None
    seeds: int = 0  # common seeds the rates are computed on
    data: RunData
    base_data: RunData | None = None  # only when the base has a dataset of its own
    rows: list[AchievementLink] = Field(default_factory=list)  # gains first (largest first), then losses
    note: str | None = None  # why there are no rows, when there are none

    @property
    def gained(self) -> list[AchievementLink]:
        return [r for r in self.rows if r.delta > 0]

    @property
    def lost(self) -> list[AchievementLink]:
        return [r for r in self.rows if r.delta < 0]


# ------------------------------------------------------------------------------------------ the data


class Sources:
    """Each trace DB hashed and indexed once (runs compared together often share one DB)."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[str | None, str | None]] = {}
        self._indexes: dict[str, SessionIndex | str] = {}

    def sha256(self, path: Path) -> tuple[str | None, str | None]:
        key = str(path)
        if key not in self._hashes:
            from services.datasets.export import db_sha256

            self._hashes[key] = db_sha256(path)
        return self._hashes[key]

    def index(self, path: Path) -> SessionIndex | str:
        """The DB's session index (the data dir's cache when it still describes the DB), or why not."""
        key = str(path)
        if key not in self._indexes:
            from services.datasets.index_cache import cached_index
            from services.traces.db import TraceDB
            from services.traces.db_errors import TraceDBError

            try:
                with TraceDB(path) as db:
                    self._indexes[key] = cached_index(db)[0]
            except TraceDBError as exc:
                self._indexes[key] = str(exc)
        return self._indexes[key]


def run_data(lin: Lineage, sources: Sources | None = None) -> RunData:
    """The run's training data per achievement, or the reason it cannot be counted."""
    sources = sources or Sources()
    d = lin.dataset
    if d is None:
        why = "no dataset is recorded for this run" + (" (a base model or policy)" if lin.job is None else "")
        return RunData(run_id=lin.id, state="no dataset", message=why)
    out = RunData(run_id=lin.id, state="unreadable", message="", dataset=d.path, db_path=d.db_path)

    def said(state: DataState, message: str) -> RunData:
        out.state, out.message = state, message
        return out

    if not d.file_ok:
        return said("untrusted", f"the dataset is not trusted ({d.problem}): its manifest may not describe the data")
    if not d.db_path:
        return said("no trace DB", "the dataset's manifest names no trace DB")
    path = Path(d.db_path)
    if not path.is_file():
        return said("missing", f"the trace DB {path} is not on disk: the sessions behind the data cannot be read")
    if not d.db_sha256:
        return said("unreadable", f"the manifest recorded no sha256 of {path}: cannot tell it is the DB exported from")
    now, error = sources.sha256(path)
    if now is None:
        return said("unreadable", f"cannot hash the trace DB {path}: {error}")
    if now != d.db_sha256:
        return said(
            "changed",
            f"the trace DB {path} changed since the export (sha256 now {now[:12]}, recorded {d.db_sha256[:12]}): "
            "its sessions may not be the ones trained on, so none are counted",
        )
    from services.datasets.filter_spec import FilterSpec

    unknown = sorted(set(d.filter) - set(FilterSpec.model_fields))
    if unknown:
        return said("unreadable", f"the recorded filter has fields this version does not read ({', '.join(unknown)})")
    try:
        spec = FilterSpec.model_validate(d.filter)
    except ValueError as exc:
        return said("unreadable", f"the recorded filter is not valid here: {exc}")
    index = sources.index(path)
    if isinstance(index, str):
        return said("unreadable", f"cannot read the trace DB {path}: {index}")
    return _count(out, index, spec, d.examples, d.sessions, lin.facts.examples if lin.facts else None)


def _count(
    out: RunData, index: SessionIndex, spec: FilterSpec, examples: int | None, sessions: int | None, trained: int | None
) -> RunData:
    """Select ``spec``'s examples again, check them against the manifest's counts, count per achievement."""
    import numpy as np

    positions = index.select(spec).examples
    per_session = np.bincount(index.ex_session[positions], minlength=len(index.session_ids))
    got_sessions = int(np.count_nonzero(per_session))
    if (examples is not None and len(positions) != examples) or (sessions is not None and got_sessions != sessions):
        out.state = "mismatch"
        out.message = (
            f"the recorded filter now selects {len(positions)} examples from {got_sessions} sessions of "
            f"{out.db_path}, where the manifest says {examples} from {sessions}: not the data trained on"
        )
        return out
    note = ""
    if trained is not None and 0 < trained < len(positions):  # ``train --examples N``: the file's first N
        positions = positions[:trained]
        per_session = np.bincount(index.ex_session[positions], minlength=len(index.session_ids))
        note = f" (the job trained on the file's first {trained} examples)"
    written = per_session > 0
    unique = index.unique.astype(np.int64)
    reached_examples = per_session.astype(np.int64) @ unique
    reached_sessions = unique[written].sum(axis=0)
    out.examples, out.sessions = len(positions), int(np.count_nonzero(written))
    out.reached = {
        str(name): Reached(examples=int(reached_examples[j]), sessions=int(reached_sessions[j]))
        for j, name in enumerate(index.achievement_names)
    }
    out.state = "counted"
    out.message = (
        f"{out.examples} examples from {out.sessions} sessions of {out.db_path}{note}, selected again with the "
        "recorded filter (DB sha256 and counts match the export)"
    )
    return out


# ------------------------------------------------------------------------------------ the comparison


def _rows(run: EvalInfo, base: EvalInfo) -> tuple[list[tuple[str, float, float]], int] | str:
    """(name, run rate, base rate) per achievement on the common seeds, and their number; or why not."""
    if not run.result_path or not base.result_path:
        return "the eval results are not saved (only their scores are in the ledger)"
    from services.evals.compare import compare
    from services.evals.results import load_result
    from services.evals.settings import EvalError

    try:
        c = compare(load_result(run.result_path), load_result(base.result_path))
    except (EvalError, ValueError, OSError, ZeroDivisionError) as exc:
        return f"the evals cannot be compared: {exc}"
    return [(a.name, a.a, a.b) for a in c.achievements], c.seeds


def link(
    run: Lineage,
    base_id: str,
    base_eval: EvalInfo | None,
    *,
    base_kind: BaseKind,
    base: Lineage | None = None,
    sources: Sources | None = None,
    data: dict[str, RunData] | None = None,
) -> AchievementData:
    """``run``'s latest eval against ``base_eval``: the achievements that changed, with the data of
    ``run`` (and of ``base`` when it has a dataset) from sessions that reached each. ``data`` keeps
    the runs' data already counted (by run id)."""
    sources = sources or Sources()
    data = {} if data is None else data

    def of(lin: Lineage) -> RunData:
        if lin.id not in data:
            data[lin.id] = run_data(lin, sources)
        return data[lin.id]

    run_eval = run.evals[-1] if run.evals else None
    out = AchievementData(
        run_id=run.id,
        base_id=base_id,
        base_kind=base_kind,
        run_eval=run_eval.eval_id if run_eval else None,
        base_eval=base_eval.eval_id if base_eval else None,
        data=of(run),
        base_data=of(base) if base is not None and base.dataset is not None else None,
    )
    if run_eval is None or base_eval is None:
        out.note = f"{run.id if run_eval is None else base_id} has no eval: no success rates to compare"
        return out
    rates = _rows(run_eval, base_eval)
    if isinstance(rates, str):
        out.note = rates
        return out
    changed, out.seeds = rates
    for name, rate, base_rate in changed:
        delta = rate - base_rate
        if abs(delta) < 1e-12:
            continue
        row = AchievementLink(name=name, rate=rate, base_rate=base_rate, delta=delta)
        if out.data.counted:
            reached = out.data.reached.get(name, Reached(examples=0, sessions=0))
            row.examples, row.sessions = reached.examples, reached.sessions
        if out.base_data is not None and out.base_data.counted:
            reached = out.base_data.reached.get(name, Reached(examples=0, sessions=0))
            row.base_examples, row.base_sessions = reached.examples, reached.sessions
        out.rows.append(row)
    out.rows.sort(key=lambda r: (-r.delta, r.name))
    if not out.rows:
        out.note = f"no achievement's success rate changed on the {out.seeds} common seeds"
    return out


def compare_links(lineages: list[Lineage], sources: Sources | None = None) -> list[AchievementData]:
    """Each run after the first against the first, as ``compare_runs`` pairs them."""
    sources = sources or Sources()
    data: dict[str, RunData] = {}
    first = lineages[0]
    base_eval = first.evals[-1] if first.evals else None
    return [
        link(other, first.id, base_eval, base_kind="run", base=first, sources=sources, data=data)
        for other in lineages[1:]
    ]


def base_eval_for(ledger: Ledger, lin: Lineage) -> tuple[str, EvalInfo | None] | None:
    """(base model id, its eval sharing the most seeds with the run's latest, newest on a tie); None
    when the run is not a fine-tuned model."""
    model = lin.model
    if model is None or model.kind in ("base", "policy") or not model.base:
        return None
    evals = [e for e in ledger.evals(model.base) if e.policy == "openai"]
    if not evals:
        return model.base, None
    seeds = set(lin.evals[-1].seeds) if lin.evals else set()
    best = max(enumerate(evals), key=lambda pair: (len(seeds & set(pair[1].seeds)), pair[0]))
    return model.base, best[1]


def base_model_link(ledger: Ledger, lin: Lineage, sources: Sources | None = None) -> AchievementData | None:
    """The fine-tuned run against its base model's eval (``runs show``); None for a run that is not
    a fine-tuned model."""
    found = base_eval_for(ledger, lin)
    if found is None:
        return None
    base_id, base_eval = found
    out = link(lin, base_id, base_eval, base_kind="base model", sources=sources)
    if base_eval is None:
        out.note = (
            f"no eval of the base model {base_id} in the ledger: evaluate it on the run's seeds "
            f"(sft-studio eval --model {base_id} …) to see what fine-tuning changed"
        )
    return out


# --------------------------------------------------------------------------------------------- text


def _share(part: int | None, whole: int | None) -> str:
    if part is None:
        return "—"
    return f"{part} ({100 * part / whole:.0f}%)" if whole else str(part)


def table(pair: AchievementData) -> tuple[list[str], list[list[str]]]:
    """The rows as text (achievement, rates, Δ, the run's examples and sessions with their share of
    its data, and the base's when it has data): one wording for the CLI, the pane and exports."""
    base = pair.base_data
    headers = ["achievement", "run", "base", "Δ pts", "examples", "sessions"]
    if base is not None:
        headers += ["base examples", "base sessions"]
    rows = []
    for r in pair.rows:
        row = [r.name, f"{100 * r.rate:.0f}%", f"{100 * r.base_rate:.0f}%", f"{100 * r.delta:+.0f}",
               _share(r.examples, pair.data.examples), _share(r.sessions, pair.data.sessions)]  # fmt: skip
        if base is not None:
            row += [_share(r.base_examples, base.examples), _share(r.base_sessions, base.sessions)]
        rows.append(row)
    return headers, rows


def data_lines(pair: AchievementData) -> list[tuple[bool, str]]:
    """(counted, sentence) for the run's data and the base's: where the counts come from, or why
    there are none."""
    out = [(pair.data.counted, f"{pair.run_id}'s data: {pair.data.message}")]
    if pair.base_data is not None:
        out.append((pair.base_data.counted, f"{pair.base_id}'s data: {pair.base_data.message}"))
    return out

"""Runs side by side: their settings with the differing ones marked, the "one axis at a time" check
the seed's guide asks for, and score differences with CIs.

Settings are flattened to ``name -> text``; each name belongs to an axis (a hyperparameter is its
own axis; everything about the training data — file, counts, filter — is one axis, ``data``; eval
settings are one axis, ``eval``). More than one differing axis gets a warning: such a comparison
cannot say which change made the difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.ledger.records import EvalInfo, Lineage

#: Settings that identify a run rather than configure it: never an axis.
IDENTITY = frozenset({"model", "job", "eval.policy"})
EVAL_KEYS = ("policy", "max_turns", "temperature", "max_tokens", "top_p", "mode", "thinking_mode")


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):  # spelt as in the TOML the user edits, not Python's True/False
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(_text, value)) or "—"
    return str(value)


def run_settings(lin: Lineage) -> dict[str, str]:
    """The settings of one run as ``name -> text`` (absent ones omitted)."""
    out: dict[str, str] = {"model": lin.model.model_id if lin.model else lin.id}
    if lin.job is not None:
        out["job"] = lin.job.job_id
        out["backend"] = lin.job.backend
    payload: dict[str, Any] = (lin.job.payload if lin.job else None) or (lin.config.payload if lin.config else {})
    if payload:
        out["base model"] = _text(payload.get("model"))
        out["training type"] = _text(payload.get("training_type"))
        for key, value in sorted((payload.get("hyperparameters") or {}).items()):
            if not isinstance(value, dict):
                out[f"hp.{key}"] = _text(value)
    elif lin.model is not None and lin.model.base:
        out["base model"] = lin.model.base
    if lin.model is not None:
        out["kind"] = lin.model.kind
    if lin.dataset is not None:
        d = lin.dataset
        out["data.file"] = Path(d.path).name
        out["data.sha256"] = d.sha256[:12]
        out["data.examples"] = _text(lin.facts.examples if lin.facts and lin.facts.examples else d.examples)
        out["data.tokens"] = _text(d.tokens)
        for key, value in sorted(d.filter.items()):
            if value not in (None, [], 0):
                out[f"filter.{key}"] = _text(value)
    latest = lin.evals[-1] if lin.evals else None
    if latest is not None:
        from services.evals.results import seeds_text

        out["eval.seeds"] = seeds_text(latest.seeds)
        for key in EVAL_KEYS:
            value = latest.policy if key == "policy" else latest.settings.get(key)
            if value is not None:
                out[f"eval.{key}"] = _text(value)
    return out


def axis_of(name: str) -> str:
    if name.startswith(("data.", "filter.")):
        return "data"
    if name.startswith("eval."):
        return "eval"
    return name


class SettingRow(BaseModel):
    name: str
    values: list[str]
    differs: bool


class ScoreDiff(BaseModel):
    """Run ``b`` against the first run ``a`` (their latest evals)."""

    a: str
    b: str
    a_eval: str
    b_eval: str
    score_a: float
    score_b: float
    diff: float  # b - a, Crafter score points
    diff_ci: tuple[float, float] | None  # paired bootstrap on common seeds, when both results are on disk
    paired_seeds: int
    verdict: str
    note: str


class RunComparison(BaseModel):
    ids: list[str]
    settings: list[SettingRow]
    axes: list[str]
    warnings: list[str]
    scores: list[ScoreDiff]


def _score_diff(a_id: str, a: EvalInfo, b_id: str, b: EvalInfo) -> ScoreDiff:
    diff = b.crafter_score - a.crafter_score
    if a.result_path and b.result_path and Path(a.result_path).is_file() and Path(b.result_path).is_file():
        from services.evals.compare import compare
        from services.evals.results import load_result
        from services.evals.settings import EvalError

        try:
            c = compare(load_result(b.result_path), load_result(a.result_path))
        except (EvalError, ValueError, ZeroDivisionError) as exc:
            note = f"not paired ({exc})"
        else:
            return ScoreDiff(
                a=a_id, b=b_id, a_eval=a.eval_id, b_eval=b.eval_id, score_a=c.score_b, score_b=c.score_a,
                diff=c.score_diff, diff_ci=c.score_diff_ci, paired_seeds=c.seeds, verdict=c.verdict,
                note=c.summary,
            )  # fmt: skip
    else:
        note = "result files not on disk: the difference of the two scores, each with its own CI"
    return ScoreDiff(
        a=a_id, b=b_id, a_eval=a.eval_id, b_eval=b.eval_id, score_a=a.crafter_score, score_b=b.crafter_score,
        diff=diff, diff_ci=None, paired_seeds=0, verdict="not paired", note=note,
    )  # fmt: skip


def compare_runs(lineages: list[Lineage]) -> RunComparison:
    flat = [run_settings(lin) for lin in lineages]
    names: list[str] = []
    for settings in flat:
        names += [n for n in settings if n not in names]
    rows = []
    for name in names:
        values = [s.get(name, "—") for s in flat]
        rows.append(SettingRow(name=name, values=values, differs=len(set(values)) > 1))
    axes = sorted({axis_of(r.name) for r in rows if r.differs and r.name not in IDENTITY})
    warnings = []
    if len(axes) > 1:
        warnings.append(
            f"{len(axes)} axes differ ({', '.join(axes)}): adjust one axis at a time, or no difference below can be "
            "put down to one change."
        )
    if "eval" in axes:
        warnings.append("The evals differ in their settings or seeds: their scores are not directly comparable.")
    scores = []
    first = lineages[0]
    for other in lineages[1:]:
        if first.evals and other.evals:
            scores.append(_score_diff(first.id, first.evals[-1], other.id, other.evals[-1]))
        else:
            warnings.append(f"{other.id if not other.evals else first.id} has no eval: no score to compare.")
    return RunComparison(ids=[lin.id for lin in lineages], settings=rows, axes=axes, warnings=warnings, scores=scores)

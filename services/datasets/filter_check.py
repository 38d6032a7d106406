"""One judgement of filter input for the Filters pane, `count` and `export`: errors and warnings.

The pane and the CLI used to judge the same input differently (an unknown model was an error in the
pane and silently accepted by the CLI; an event-reward type the DB never records silently removed
every session in the pane). Both now ask :func:`check_filter`, which returns the same issues with
the same words. The rule that decides error vs warning:

- **error**: what no export can be made of (``FilterSpec.problems``: a limit below 1, a maximum
  below its minimum). The export refuses these; the pane blocks the preview.
- **warning**: input synth-ai's exporter accepts but that is most likely a slip: a model or provider
  no LM call in this DB has, a name that is not one of Crafter's 22 achievements, an event-reward
  type the DB never records. The reference exporter accepts these, and `export` must write the same
  bytes for accepted input, so they cannot be errors there; the pane shows them under the field and
  still previews (the funnel then shows what the value removed).

What the DB holds comes from :func:`read_vocabulary`: small ``DISTINCT`` queries, each run only when
a filter needs it, so the check costs next to nothing beside an export.
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from services.datasets.filter_spec import SUGGEST_CUTOFF, FilterSpec, validate_achievement_names
from services.traces.db_errors import TraceDBError

if TYPE_CHECKING:  # `count` answering from its cache checks issues without opening the DB (SQLAlchemy)
    from services.traces.db import TraceDB

#: How many known values a message lists before "…".
LISTED = 4

Severity = Literal["error", "warning"]


class FilterIssue(BaseModel):
    """One problem with one filter field; ``message`` reads after the field's name or flag."""

    field: str  # FilterSpec field name
    severity: Severity
    message: str

    @property
    def flag(self) -> str:
        """The CLI flag of ``field`` (``require_achievements`` -> ``--require-achievement``)."""
        return FLAGS.get(self.field, "--" + self.field.replace("_", "-"))

    def cli_line(self) -> str:
        """The line the CLI prints on stderr."""
        return f"{'Warning' if self.severity == 'warning' else 'Error'}: {self.flag}: {self.message}"


FLAGS = {
    "models": "--model",
    "providers": "--provider",
    "exclude_achievements": "--exclude-achievement",
    "require_achievements": "--require-achievement",
    "event_rewards": "--event-reward",
}


@dataclass(frozen=True)
class FilterVocabulary:
    """The values this DB holds, per filter; None where it was not read (nothing is checked then)."""

    models: frozenset[str] | None = None  # model_name of any event
    providers: frozenset[str] | None = None  # provider of LM events, NULL read as "unknown"
    reward_types: frozenset[str] | None = None  # event_rewards.reward_type


_MODELS_SQL = "SELECT DISTINCT model_name FROM events WHERE model_name IS NOT NULL"
_PROVIDERS_SQL = "SELECT DISTINCT COALESCE(provider, 'unknown') FROM events WHERE event_type = 'cais'"
_REWARD_TYPES_SQL = "SELECT DISTINCT reward_type FROM event_rewards WHERE reward_type IS NOT NULL"


def needs(spec: FilterSpec) -> set[str]:
    """The vocabulary parts ``spec`` can be checked against."""
    out = set()
    if spec.models:
        out.add("models")
    if spec.providers:
        out.add("providers")
    if spec.event_rewards:
        out.add("reward_types")
    return out


def read_vocabulary(db: TraceDB, parts: Iterable[str] = ("models", "providers", "reward_types")) -> FilterVocabulary:
    """The ``parts`` of the vocabulary (models, providers, reward_types) from ``db``. A part that
    cannot be read (an old schema, a damaged file) stays None: it is then not checked."""
    wanted = set(parts)
    found: dict[str, frozenset[str] | None] = {}
    if not wanted:
        return FilterVocabulary()
    queries = {"models": _MODELS_SQL, "providers": _PROVIDERS_SQL, "reward_types": _REWARD_TYPES_SQL}
    try:
        with db.connect() as conn:
            raw = conn.connection.driver_connection
            if not isinstance(raw, sqlite3.Connection):
                return FilterVocabulary()
            for part in sorted(wanted & set(queries)):
                try:
                    found[part] = frozenset(str(row[0]) for row in raw.execute(queries[part]))
                except sqlite3.Error:
                    found[part] = None
    except (TraceDBError, sqlite3.Error, OSError):
        return FilterVocabulary()
    return FilterVocabulary(**found)


def _listed(values: Iterable[str]) -> str:
    ordered = sorted(values)
    return ", ".join(ordered[:LISTED]) + (", …" if len(ordered) > LISTED else "") if ordered else "none"


def _unknown(field: str, items: Sequence[str], known: frozenset[str] | None, what: str) -> FilterIssue | None:
    if known is None:
        return None
    unknown = [i for i in items if i not in known]
    if not unknown:
        return None
    return FilterIssue(
        field=field,
        severity="warning",
        message=f"not a {what} of this DB: {', '.join(unknown)} (known: {_listed(known)})",
    )


def check_filter(spec: FilterSpec, vocabulary: FilterVocabulary = FilterVocabulary()) -> list[FilterIssue]:
    """Every issue of ``spec`` against what the DB holds (fields in form order, errors first per field)."""
    issues = [FilterIssue(field=f, severity="error", message=m) for f, m in spec.problems().items()]
    for issue in (
        _unknown("models", spec.models, vocabulary.models, "model"),
        _unknown("providers", spec.providers, vocabulary.providers, "provider"),
    ):
        if issue is not None:
            issues.append(issue)
    for field in ("exclude_achievements", "require_achievements"):
        unknown = validate_achievement_names(getattr(spec, field))
        if unknown:
            parts = [f"{n!r} (did you mean {s}?)" if s else repr(n) for n, s in unknown.items()]
            consequence = "no session can pass" if field == "require_achievements" else "excluding it changes nothing"
            issues.append(
                FilterIssue(
                    field=field,
                    severity="warning",
                    message=f"not a Crafter achievement: {', '.join(parts)}; {consequence}",
                )
            )
    issues += _reward_type_issues(spec, vocabulary.reward_types)
    return issues


def _reward_type_issues(spec: FilterSpec, known: frozenset[str] | None) -> list[FilterIssue]:
    if known is None:
        return []
    out = []
    for f in spec.event_rewards:
        if f.reward_type in known:
            continue
        close = difflib.get_close_matches(f.reward_type, sorted(known), n=1, cutoff=SUGGEST_CUTOFF)
        hint = f" (did you mean {close[0]}?)" if close else f" (known: {_listed(known)})"
        effect = "removes every session" if f.min_total > 0 else "keeps every session"
        out.append(
            FilterIssue(
                field="event_rewards",
                severity="warning",
                message=f"no event reward of type {f.reward_type!r} in this DB{hint}: {f.as_flag()} {effect}",
            )
        )
    return out


def by_field(issues: Iterable[FilterIssue], severity: Severity) -> dict[str, str]:
    """Field -> its messages of ``severity`` joined by "; " (what a form shows under each field)."""
    out: dict[str, str] = {}
    for issue in issues:
        if issue.severity == severity:
            out[issue.field] = f"{out[issue.field]}; {issue.message}" if issue.field in out else issue.message
    return out

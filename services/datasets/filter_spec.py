"""The filter over trace sessions: every flag of synth-ai's export_trace_sft.py, same meaning.

One typed spec feeds the exporter, the live count preview, presets and the CLI, so a filter means
the same thing everywhere (shared/reference/trace_db.md §8.1-8.2 gives the reference semantics).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pydantic import BaseModel, Field

from services.traces.achievement_keys import ACHIEVEMENTS

#: How alike a typed achievement name and a known one must be for "did you mean" (difflib's ratio).
SUGGEST_CUTOFF = 0.6


class FilterSpecError(ValueError):
    """An invalid filter value; ``field`` names the flag, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class EventRewardFilter(BaseModel):
    """``--event-reward TYPE[:MIN]``: the session's SUM(reward_value) of TYPE must be >= MIN."""

    reward_type: str
    min_total: float = 0.0

    def as_flag(self) -> str:
        return f"{self.reward_type}:{self.min_total:g}"


def parse_event_reward(text: str) -> EventRewardFilter | None:
    """Parse like the reference: split at the first ':', strip TYPE; empty TYPE is ignored (None);
    empty MIN is 0.0; a non-numeric MIN is an error with the reference's message."""
    reward_type, _, minimum = text.partition(":")
    reward_type = reward_type.strip()
    if not reward_type:
        return None
    if not minimum.strip():
        return EventRewardFilter(reward_type=reward_type)
    try:
        value = float(minimum)
    except ValueError:
        raise FilterSpecError("event_rewards", f"Invalid event reward specification '{text}'") from None
    return EventRewardFilter(reward_type=reward_type, min_total=value)


class FilterSpec(BaseModel):
    """A session filter plus the global example cap, in the reference exporter's terms."""

    #: ``--model`` (repeatable): the session's dominant model must be one of these; with any set,
    #: single LM events whose own model is not listed are dropped from the export too.
    models: list[str] = Field(default_factory=list)
    #: ``--provider`` (repeatable): the dominant provider (NULL reads as "unknown").
    providers: list[str] = Field(default_factory=list)
    #: ``--min-unique`` / ``--max-unique``: unique achievements, after removing excluded ones.
    min_unique: int = 0
    max_unique: int | None = None
    #: ``--exclude-achievement`` (repeatable): ignored for the min/max-unique checks only.
    exclude_achievements: list[str] = Field(default_factory=list)
    #: ``--require-achievement`` (repeatable): all must be in the session's outcome achievements.
    require_achievements: list[str] = Field(default_factory=list)
    #: ``--min-outcome-reward`` / ``--max-outcome-reward`` on total_reward (0.0 without an outcome).
    min_outcome_reward: float | None = None
    max_outcome_reward: float | None = None
    #: ``--event-reward TYPE[:MIN]`` (repeatable).
    event_rewards: list[EventRewardFilter] = Field(default_factory=list)
    #: ``--limit N``: cap on examples written (N >= 1; the reference's "0 still writes 1" is not copied).
    limit: int | None = None

    def problems(self) -> dict[str, str]:
        """Field -> reason, for values that are well typed but contradictory or out of range."""
        out: dict[str, str] = {}
        if self.min_unique < 0:
            out["min_unique"] = "must be 0 or more"
        if self.max_unique is not None and self.max_unique < self.min_unique:
            out["max_unique"] = f"is below min unique ({self.min_unique})"
        lo, hi = self.min_outcome_reward, self.max_outcome_reward
        if lo is not None and hi is not None and hi < lo:
            out["max_outcome_reward"] = f"is below min outcome reward ({lo:g})"
        if self.limit is not None and self.limit < 1:
            out["limit"] = "must be 1 or more (the reference writes 1 example for 0 or less; we refuse)"
        return out


def validate_achievement_names(names: Iterable[str], known: Iterable[str] = ACHIEVEMENTS) -> dict[str, str]:
    """Unknown names -> the closest known name ("" when none is close), to catch typos that would
    silently match nothing. ``known``: Crafter's 22 by default, or the names a DB holds."""
    pool = list(dict.fromkeys(known))
    known_set = set(pool)
    out: dict[str, str] = {}
    for name in names:
        if name in known_set or name in out:
            continue
        close = difflib.get_close_matches(name, pool, n=1, cutoff=SUGGEST_CUTOFF)
        out[name] = close[0] if close else ""
    return out

"""What ``sft-studio stats`` and the Traces pane show: the result models of ``services.traces.stats``.

Apart from the computation (which needs SQLAlchemy) so that the report, the Traces pane's view and the
stats cache (``stats_cache``) can use them with pydantic alone (issue 10 item 23).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.traces import skipped
from services.traces.achievement_keys import ACHIEVEMENTS, KeyStyle


class MalformedRows(BaseModel):
    """Rows skipped because a JSON column did not parse to what it must hold."""

    event_reward_annotation: int = 0
    event_metadata: int = 0
    outcome_reward_metadata: int = 0
    turn_not_integer: int = 0
    #: total_reward that is not a number: read as 0.0 (``rewards.total_reward``), as the export does.
    outcome_total_reward: int = 0

    def by_reason(self) -> dict[str, int]:
        """The counts under ``services.traces.skipped``'s words: the export's manifest and the preview
        count the same rows under the same reasons (stats reads the unique-achievement rows)."""
        kind = "unique_achievement_delta"
        counts = {
            skipped.annotation_not_object(kind): self.event_reward_annotation,
            skipped.metadata_not_object(kind): self.event_metadata,
            skipped.turn_not_integer(kind): self.turn_not_integer,
            skipped.OUTCOME_METADATA_NOT_OBJECT: self.outcome_reward_metadata,
            skipped.OUTCOME_NOT_A_NUMBER: self.outcome_total_reward,
        }
        return {k: v for k, v in counts.items() if v}

    @property
    def total(self) -> int:
        return (
            self.event_reward_annotation
            + self.event_metadata
            + self.outcome_reward_metadata
            + self.turn_not_integer
            + self.outcome_total_reward
        )


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

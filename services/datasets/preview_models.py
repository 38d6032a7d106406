"""What the count preview returns (``services.datasets.preview``), apart from its computation so that
`count` can show a kept answer (``count_cache``) with pydantic alone: no numpy, no index.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.traces.achievement_keys import KeyStyle

TOKEN_METHOD = (
    "sum over examples of ceil(characters / 4), characters = message text plus tool-call arguments "
    "(the export manifest's estimate)"
)


class FunnelStep(BaseModel):
    """Sessions one filter removed from those still in before it (a count, never negative)."""

    #: FilterSpec field ("candidates" for the first row; "event_reward:TYPE" per event filter), then
    #: "no_examples" (eligible sessions that give no example) and "limit" (sessions the limit cuts).
    key: str
    label: str
    removed: int
    remaining: int


class ModelRow(BaseModel):
    """Written sessions with this dominant (model, provider), and the examples written from them."""

    model: str | None
    provider: str
    sessions: int
    examples: int


class AchievementRow(BaseModel):
    """Written sessions whose unique-achievement set holds ``name``."""

    name: str
    sessions: int
    share: float  # of the written sessions (0.0 when none is written)


class Preview(BaseModel):
    """Counts for one filter, as an export would write them."""

    ok: bool  # no problems: the exporter would accept this spec
    problems: dict[str, str] = Field(default_factory=dict)  # field -> reason
    #: required/excluded names that no session in this DB (nor Crafter) has -> closest known name or "".
    unknown_achievements: dict[str, str] = Field(default_factory=dict)
    sessions_in_db: int
    candidates: int  # sessions with a dominant model
    eligible_sessions: int  # pass every session filter
    sessions_written: int  # with at least one example written (the exporter's "from K session(s)")
    examples: int  # written, after --model and --limit
    examples_before_limit: int
    characters: int
    estimated_tokens: int
    token_method: str = TOKEN_METHOD
    funnel: list[FunnelStep]
    by_model: list[ModelRow]
    examples_by_event_model: dict[str, int]  # the LM events' own model, as the export manifest counts
    by_achievement: list[AchievementRow]  # the 22 Crafter names, then any other name in the DB
    unique_histogram: dict[int, int]  # unique count (after excluded names) -> written sessions
    key_style: KeyStyle
    #: The DB stores achievements under the task app's keys: synth-ai's own exporter would see none
    #: (no session passes --min-unique >= 1 or --require-achievement there).
    task_app_keys: bool
    image_examples: int
    #: Examples with list (segment) content: written by sft-studio, but synth-ai's exporter aborts on them.
    segment_examples: int
    export_error: str | None  # what the export would fail with, or None
    notes: list[str] = Field(default_factory=list)
    elapsed_ms: float = 0.0

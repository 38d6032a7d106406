"""One played eval episode, as every part of the launcher reports it (in-process or through a task app)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EpisodeResult(BaseModel):
    """What one seed's episode achieved and cost; achievements are Crafter names, unique per episode."""

    seed: int
    achievements: list[str] = Field(default_factory=list)
    #: Sum of the per-decision rewards (the task app's: newly unlocked achievements per decision).
    total_reward: float = 0.0
    decisions: int = 0
    steps: int = 0
    died: bool = False
    #: Decisions whose answer had no usable tool call (executed as what could be read, else noop).
    tool_call_failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    #: Seconds spent waiting for the policy, summed over decisions (for tokens/s and mean latency).
    policy_s: float = 0.0
    mean_latency_ms: float = 0.0
    #: The rollout ended early (a task app's partial rollout); its achievements still count.
    partial: bool = False
    error: str | None = None
    #: Session id in the trace DB when the eval was traced.
    session_id: str | None = None

    @property
    def unique(self) -> int:
        return len(self.achievements)

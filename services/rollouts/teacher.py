"""The scripted Crafter teacher: the SFT data source that needs no model.

It answers exactly like an LLM would: it reads only the user message (the text observation, via
``parse_observation``) and returns an ``interact_many`` tool call wrapped in a chat.completion
(``local_reply``), so its traces are indistinguishable in shape from a vendor model's. Its rules
live in ``services/rollouts/teacher_rules.py``; the random baseline is ``random_policy``.
"""

from __future__ import annotations

import random
import time

from services.crafter.observation import ObservationParseError, ParsedObservation, parse_observation
from services.rollouts.local_reply import PROVIDER, local_decision
from services.rollouts.policy import PolicyDecision
from services.rollouts.teacher_rules import FURNACE_STONE, TABLE_WOOD, TOOL_COST, TeacherBrain

__all__ = ["FURNACE_STONE", "TABLE_WOOD", "TOOL_COST", "TeacherPolicy"]


class TeacherPolicy:
    """Scripted Crafter expert; deterministic given its seed and the prompts it is shown.

    Remembers the map across calls; a prompt whose step does not advance starts a new episode
    (``reset()`` does the same explicitly).
    """

    provider = PROVIDER

    def __init__(self, *, seed: int = 0, model_name: str = "sft-studio/teacher") -> None:
        self.model_name = model_name
        self.seed = seed
        self._brain = TeacherBrain(random.Random(seed))
        self.reset()

    def reset(self) -> None:
        self._brain.rng.seed(self.seed)
        self._brain.reset()

    def choose(self, observation: ParsedObservation) -> list[str]:
        """The actions for one observation (no call record; for benchmarks and tests)."""
        return self._brain.decide(observation)

    async def preflight(self) -> None:
        return None

    async def decide(self, system_prompt: str, user_text: str) -> PolicyDecision:
        started = time.perf_counter()
        try:
            observation = parse_observation(user_text)
        except ObservationParseError as exc:
            return local_decision(self.model_name, system_prompt, user_text, ["noop"], started, f"unreadable: {exc}")
        return local_decision(self.model_name, system_prompt, user_text, self.choose(observation), started)

    async def aclose(self) -> None:
        return None

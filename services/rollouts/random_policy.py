"""The seeded random baseline: 1-5 uniformly random Crafter actions per decision.

It answers like any policy (``local_reply``), so a random run's traces are a floor to compare the
teacher's and a model's against, recorded and filtered the same way.
"""

from __future__ import annotations

import random
import time

from services.crafter.facts import ACTIONS
from services.rollouts.local_reply import PROVIDER, local_decision
from services.rollouts.policy import PolicyDecision


class RandomPolicy:
    """Uniformly random baseline: 1-5 random actions per decision, seeded."""

    provider = PROVIDER

    def __init__(self, *, seed: int = 0, model_name: str = "sft-studio/random") -> None:
        self.model_name = model_name
        self.seed = seed
        self._rng = random.Random(seed)

    def reset(self) -> None:
        self._rng.seed(self.seed)

    def choose(self) -> list[str]:
        return [self._rng.choice(ACTIONS) for _ in range(self._rng.randint(1, 5))]

    async def preflight(self) -> None:
        return None

    async def decide(self, system_prompt: str, user_text: str) -> PolicyDecision:
        started = time.perf_counter()
        return local_decision(self.model_name, system_prompt, user_text, self.choose(), started)

    async def aclose(self) -> None:
        return None

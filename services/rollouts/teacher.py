"""Local policies: the scripted Crafter teacher (SFT data source) and a seeded random baseline.

Both answer exactly like an LLM would: they read only the user message (the text observation, via
``parse_observation``) and return an ``interact_many`` tool call wrapped in a chat.completion, so
their traces are indistinguishable in shape from a vendor model's. The teacher's rules live in
``services/rollouts/teacher_rules.py``.
"""

from __future__ import annotations

import random
import time
import uuid

from services.crafter.facts import ACTIONS
from services.crafter.observation import ObservationParseError, ParsedObservation, parse_observation
from services.crafter.prompt import TOOL_NAME
from services.rollouts.policy import PolicyDecision
from services.rollouts.teacher_rules import FURNACE_STONE, TABLE_WOOD, TOOL_COST, TeacherBrain
from services.traces.records import call_record_from_chat, chat_tool_response

__all__ = ["FURNACE_STONE", "TABLE_WOOD", "TOOL_COST", "RandomPolicy", "TeacherPolicy"]


def _decision(
    model_name: str, system_prompt: str, user_text: str, actions: list[str], started: float, problem: str | None = None
) -> PolicyDecision:
    latency_ms = int((time.perf_counter() - started) * 1000)
    response = chat_tool_response(
        model_name=model_name,
        tool_name=TOOL_NAME,
        arguments={"actions": actions},
        call_id=f"call_{uuid.uuid4().hex[:12]}",
        total_tokens=None,
    )
    record = call_record_from_chat(
        model_name=model_name,
        provider="local",
        system_prompt=system_prompt,
        user_text=user_text,
        response=response,
        latency_ms=latency_ms,
    )
    return PolicyDecision(
        actions=actions,
        problem=problem,
        call_record=record,
        model_name=model_name,
        provider="local",
        latency_ms=latency_ms,
    )


class TeacherPolicy:
    """Scripted Crafter expert; deterministic given its seed and the prompts it is shown.

    Remembers the map across calls; a prompt whose step does not advance starts a new episode
    (``reset()`` does the same explicitly).
    """

    provider = "local"

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
            return _decision(self.model_name, system_prompt, user_text, ["noop"], started, f"unreadable: {exc}")
        return _decision(self.model_name, system_prompt, user_text, self.choose(observation), started)

    async def aclose(self) -> None:
        return None


class RandomPolicy:
    """Uniformly random baseline: 1-5 random actions per decision, seeded."""

    provider = "local"

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
        return _decision(self.model_name, system_prompt, user_text, self.choose(), started)

    async def aclose(self) -> None:
        return None

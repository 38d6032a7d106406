"""Scripted teacher and random baseline: valid tool calls, text-only input, determinism, quality."""

from __future__ import annotations

import json
import statistics
from collections import Counter

import crafter
import pytest

from services.crafter.env import CrafterTextEnv
from services.crafter.facts import ACTIONS
from services.crafter.observation import format_observation
from services.crafter.prompt import SYSTEM_PROMPT, TOOL_NAME, actions_from_tool_calls, user_message
from services.rollouts.policy import Policy, PolicyDecision
from services.rollouts.random_policy import RandomPolicy
from services.rollouts.teacher import FURNACE_STONE, TABLE_WOOD, TOOL_COST, TeacherPolicy

MAX_STEPS = 10_000


async def play(policy: TeacherPolicy | RandomPolicy, seed: int, decisions: int = 100) -> list[str]:
    """One episode through the collector's path: prompt text in, tool call out, env steps it."""
    env = CrafterTextEnv(seed)
    state, previous = env.reset(), []
    for _ in range(decisions):
        decision = await policy.decide(SYSTEM_PROMPT, user_message(format_observation(state, MAX_STEPS), previous))
        assert 1 <= len(decision.actions) <= 8 and set(decision.actions) <= set(ACTIONS)
        previous.append(decision.actions)
        outcome = env.step(decision.actions)
        state = outcome.state
        if outcome.done:
            break
    return state.achievements


def _tool_calls(decision: PolicyDecision) -> list[dict[str, object]]:
    record = decision.call_record
    return [{"function": {"name": c["name"], "arguments": c["arguments_json"]}} for c in record["output_tool_calls"]]


async def test_decision_is_a_valid_interact_many_call_record() -> None:
    teacher = TeacherPolicy(seed=3)
    assert isinstance(teacher, Policy)
    prompt = user_message(format_observation(CrafterTextEnv(3).state, MAX_STEPS))
    decision = await teacher.decide(SYSTEM_PROMPT, prompt)
    assert decision.model_name == "sft-studio/teacher" and decision.provider == "local"
    assert decision.tool_call_ok and decision.problem is None
    record = decision.call_record
    assert record["model_name"] == "sft-studio/teacher" and record["provider"] == "local"
    assert record["output_tool_calls"][0]["name"] == TOOL_NAME
    assert [m["parts"][0]["text"] for m in record["input_messages"]] == [SYSTEM_PROMPT, prompt]
    assert actions_from_tool_calls(_tool_calls(decision)) == (decision.actions, None)
    response = json.loads(record["output_text"])  # no assistant text: the raw response is stored
    assert actions_from_tool_calls(response["choices"][0]["message"]["tool_calls"]) == (decision.actions, None)
    await teacher.preflight()
    await teacher.aclose()


async def test_random_policy_shape_and_seeding() -> None:
    prompt = user_message(format_observation(CrafterTextEnv(3).state, MAX_STEPS))
    first, second = RandomPolicy(seed=9), RandomPolicy(seed=9)
    assert isinstance(first, Policy)
    runs = [[(await p.decide(SYSTEM_PROMPT, prompt)).actions for _ in range(30)] for p in (first, second)]
    assert runs[0] == runs[1]
    assert all(1 <= len(actions) <= 5 for actions in runs[0])
    decision = await first.decide(SYSTEM_PROMPT, prompt)
    assert decision.model_name == "sft-studio/random" and decision.call_record["provider"] == "local"
    assert actions_from_tool_calls(_tool_calls(decision)) == (decision.actions, None)


async def test_teacher_reads_only_the_prompt_text() -> None:
    """The answer depends on the observation text only: not on the system prompt or the history lines."""
    env = CrafterTextEnv(6)
    teacher = TeacherPolicy(seed=1)
    for _ in range(5):
        env.step((await teacher.decide("", user_message(format_observation(env.state, MAX_STEPS)))).actions)
    text = format_observation(env.state, MAX_STEPS)
    with_history = user_message(text, [["move_left"], ["do", "do"]])
    a = await TeacherPolicy(seed=1).decide(SYSTEM_PROMPT, with_history)
    b = await TeacherPolicy(seed=1).decide("a different system prompt", text)
    assert a.actions == b.actions
    broken = await TeacherPolicy().decide(SYSTEM_PROMPT, "no observation here")
    assert broken.actions == ["noop"] and broken.problem and broken.problem.startswith("unreadable")


async def test_teacher_is_deterministic_and_resets_between_episodes() -> None:
    first = await play(TeacherPolicy(seed=2), seed=2, decisions=60)
    reused = TeacherPolicy(seed=2)
    await play(reused, seed=5, decisions=30)
    reused.reset()
    assert await play(reused, seed=2, decisions=60) == first
    # A new episode is also detected from the step counter going back (no reset() call).
    again = TeacherPolicy(seed=2)
    await play(again, seed=5, decisions=30)
    assert await play(again, seed=2, decisions=60) == first


def test_teacher_rules_match_crafter_data() -> None:
    constants = crafter.constants
    assert constants.place["table"]["uses"] == {"wood": TABLE_WOOD}
    assert constants.place["furnace"]["uses"] == {"stone": FURNACE_STONE}
    for tool, cost in TOOL_COST.items():
        assert constants.make[tool]["uses"] == cost


async def _mean_unique(policy: type[TeacherPolicy | RandomPolicy], seeds: range) -> tuple[float, Counter[str]]:
    counts: list[int] = []
    rates: Counter[str] = Counter()
    for seed in seeds:
        achievements = await play(policy(seed=seed), seed)
        counts.append(len(achievements))
        rates.update(achievements)
    return statistics.mean(counts), rates


async def test_teacher_beats_random_on_five_seeds() -> None:
    teacher, rates = await _mean_unique(TeacherPolicy, range(5))
    random_mean, _ = await _mean_unique(RandomPolicy, range(5))
    assert teacher >= 8.0 and random_mean <= 4.0
    assert {"collect_wood", "place_table", "make_wood_pickaxe"} <= set(rates)


@pytest.mark.slow
async def test_teacher_target_on_fifty_seeds() -> None:
    """The issue's bar: >= 6 unique achievements per episode over seeds 0-49 x 100 decisions."""
    mean, rates = await _mean_unique(TeacherPolicy, range(50))
    print(f"teacher mean unique achievements {mean:.2f}; rates {dict(rates)}")
    assert mean >= 6.0

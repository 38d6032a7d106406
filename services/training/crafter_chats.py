"""Crafter chats played in-process by our own policies, in the exporter's SFT row shape.

The built-in tokenizer is trained on these (services/training/tiny_qwen3.py), and tests and benches
train on them, without a trace DB: each decision becomes ``{"messages": [system, user, assistant]}``
exactly as ``sft-studio export`` writes a teacher or random decision (assistant content ``""`` and
one ``interact_many`` tool call whose ``arguments`` is a compact JSON string), with the same prompt
and step limit the collector uses. Everything is seeded, so the same seeds give the same chats.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from services.common.atomic import atomic_output
from services.crafter.env import CrafterTextEnv
from services.crafter.observation import ObservationParseError, format_observation, parse_observation
from services.crafter.prompt import SYSTEM_PROMPT, TOOL_NAME, user_message
from services.rollouts.random_policy import RandomPolicy
from services.rollouts.teacher import TeacherPolicy

ChatPolicy = Literal["teacher", "random"]


def assistant_tool_call(actions: list[str], call_id: str) -> dict[str, Any]:
    """The assistant message the exporter writes for a local policy's ``interact_many`` answer."""
    arguments = json.dumps({"actions": actions}, separators=(",", ":"))
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": TOOL_NAME, "arguments": arguments}}],
    }


def episode_chats(seed: int, policy: ChatPolicy = "teacher", max_turns: int = 50) -> Iterator[dict[str, Any]]:
    """One seeded episode, one SFT row per decision (as the collector plays it: seed ``s``, run 0)."""
    env = CrafterTextEnv(seed, cache_worlds=False)
    state = env.reset()
    max_steps = max_turns * 8
    obs_text = format_observation(state, max_steps)
    teacher = TeacherPolicy(seed=seed * 1000) if policy == "teacher" else None
    rand = RandomPolicy(seed=seed * 1000) if policy == "random" else None
    history: list[list[str]] = []
    for turn in range(max_turns):
        prompt = user_message(obs_text, history)
        if teacher is not None:
            try:
                actions = teacher.choose(parse_observation(prompt))
            except ObservationParseError:
                actions = ["noop"]
        else:
            assert rand is not None
            actions = rand.choose()
        yield {
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": prompt},
                assistant_tool_call(actions, f"call_{seed}_{turn}"),
            ]
        }
        outcome = env.step(actions)
        history.append(actions)
        obs_text = format_observation(outcome.state, max_steps)
        if outcome.done:
            break


def crafter_chats(
    seeds: Iterable[int], policy: ChatPolicy = "teacher", max_turns: int = 50
) -> Iterator[dict[str, Any]]:
    """The rows of one episode per seed, in seed order."""
    for seed in seeds:
        yield from episode_chats(seed, policy, max_turns)


def write_chats_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL atomically (the exporter's encoding: ``ensure_ascii=False``); the count."""
    count = 0
    with atomic_output(path) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
            count += 1
    return count

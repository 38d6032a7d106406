"""What the task app says about itself: ``/info``, ``/task_info`` (the taskset and per-seed facts).

The shapes are grpo-crafter's (synth-ai 0.2.10 ``grpo_crafter.py``): task id ``crafter_classic``,
the procedural seed dataset, ``inference`` without a ``base_url`` (callers always pass
``inference_url``). Per-seed traits count trees, cows and hostiles within 10 cells of the player in
the freshly generated world, and the difficulty comes from the same trait bounds. Counted exactly as
the reference counts them: trees are ``Plant`` objects of kind "tree", which crafter never makes (trees
are map cells), so ``trees`` is always 0 there and here, and no seed is "easy" or "medium".
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from services.crafter.env import generate_world
from services.crafter.facts import ACTIONS

SERVICE_ID = "grpo-crafter"
TASK = {"id": "crafter_classic", "name": "Crafter Classic", "version": "1.0.0"}
SEED_MAX = 2**31 - 1
DEFAULT_SEED = 42
AREA = (64, 64)
LENGTH = 10000
#: synth-ai's crafter_classic taskset bounds, checked in this order.
TRAIT_BOUNDS: dict[str, dict[str, int]] = {
    "easy": {"min_trees": 4, "max_hostiles": 0},
    "medium": {"min_trees": 2, "max_hostiles": 2},
    "hard": {"min_trees": 0, "max_hostiles": 5},
}

DATASET = {
    "id": "crafter_classic_procedural",
    "name": "Crafter Classic Procedural Seeds",
    "version": "1.0.0",
    "splits": ["train"],
    "default_split": "train",
    "description": "Procedural Crafter Classic seeds with reproducible world traits.",
}


def _base() -> dict[str, Any]:
    return {
        "task": dict(TASK),
        "environments": ["crafter"],
        "action_space": {"type": "discrete", "size": len(ACTIONS), "actions": list(ACTIONS)},
        "observation": {
            "summary": "Text game state: vitals, inventory, achievements and the local map (sft-studio's format).",
            "keys": ["text", "inventory", "achievements_status", "player_position"],
        },
        "dataset": {**DATASET, "seed_range": [0, SEED_MAX], "default_seed": DEFAULT_SEED},
        "rubric": {"version": "1", "criteria_count": 2, "source": "inline", "aggregation": "weighted_sum"},
        "inference": {
            "supports_proxy": False,
            "endpoints": {},
            "tool": {"name": "interact_many", "parallel_tool_calls": False},
        },
        "capabilities": {"supports_rollout": True, "supports_env_lifecycle": False, "requires_api_key_header": True},
        "limits": {"max_ops": 100000, "max_time_s": 3600},
    }


def info_payload() -> dict[str, Any]:
    """``GET /info``."""
    base = _base()
    return {
        "service": {"task": base["task"], "version": TASK["version"], "id": SERVICE_ID, "implementation": "sft-studio"},
        "dataset": base["dataset"],
        "rubrics": {
            "outcome": {"version": "1", "goal_text": "Reward unlocking Crafter achievements and survival."},
            "events": {"version": "1", "goal_text": "Encourage purposeful step-wise exploration and crafting."},
        },
        "inference": base["inference"],
        "capabilities": base["capabilities"],
        "limits": base["limits"],
    }


def taskset_payload() -> dict[str, Any]:
    """``GET /task_info`` without seeds."""
    return {
        "taskset": {
            **DATASET,
            "seed_range": [0, SEED_MAX],
            "default_seed": DEFAULT_SEED,
            "config": {"area": list(AREA), "length": LENGTH},
        }
    }


def _difficulty(traits: dict[str, int]) -> str:
    for name, bounds in TRAIT_BOUNDS.items():
        if traits["trees"] >= bounds["min_trees"] and traits["hostiles"] <= bounds["max_hostiles"]:
            return name
    return "custom"


@lru_cache(maxsize=256)
def _seed_facts(seed: int) -> tuple[dict[str, int], dict[str, int], list[int]]:
    """(traits, inventory, player position) of the seed's fresh world (generation is ~30 ms: cached)."""
    world = generate_world(seed)
    player = world._player
    px, py = (int(v) for v in player.pos.tolist())
    traits = {"trees": 0, "cows": 0, "hostiles": 0}
    for obj in world._world._objects:
        if obj is None or obj is player:
            continue
        ox, oy = (int(v) for v in obj.pos.tolist())
        if abs(ox - px) + abs(oy - py) > 10:
            continue
        kind = type(obj).__name__
        if kind == "Plant" and getattr(obj, "kind", "") == "tree":
            traits["trees"] += 1
        elif kind == "Cow":
            traits["cows"] += 1
        elif kind in ("Zombie", "Skeleton"):
            traits["hostiles"] += 1
    inventory = {str(k): int(v) for k, v in player.inventory.items()}
    return traits, inventory, [px, py]


def seed_payload(seed: int) -> dict[str, Any]:
    """``GET /task_info?seed=N``: the task description with the seed's traits and difficulty."""
    traits, inventory, position = _seed_facts(seed)
    base = _base()
    return {
        **base,
        "observation": {
            **base["observation"],
            "seed": seed,
            "traits": dict(traits),
            "inventory": dict(inventory),
            "player_position": list(position),
        },
        "dataset": {
            **base["dataset"],
            "seed": seed,
            "difficulty": _difficulty(traits),
            "config": {"seed": seed, "area": list(AREA), "length": LENGTH},
        },
    }

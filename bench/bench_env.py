"""Speed of the Crafter env layer and the scripted teacher, next to stock crafter, in one run.

    uv run python bench/bench_env.py                       # 5 episodes x 1000 steps, teacher 5 x 100
    uv run python bench/bench_env.py --episodes 2 --steps 300 --decisions 50     # smoke run
    uv run python bench/bench_env.py --quality 50          # + teacher/random achievements, seeds 0-49
    uv run python bench/bench_env.py --worldgen 40         # only world generation: crafter's vs ours

Rows (single process; world generation is excluded from steps/s and shown as its own row):

- ``crafter.Env (render)``: stock crafter 1.8.3 stepping with its 64x64 image, random actions.
- ``text env, obs per decision``: ``CrafterTextEnv`` + ``format_observation`` once per decision of
  1-5 random actions (what a collector running RandomPolicy does). Target: >= 1,500 steps/s.
- ``text env, obs per step``: the same with one action per decision (worst case).
- ``teacher``: the collector's loop without the trace DB: format the observation, build the prompt,
  ``await TeacherPolicy.decide`` (parse, plan, call record), step the env.

``--worldgen N`` times only world generation, seeds 0..N-1 (the worlds ``CrafterTextEnv(seed)`` gets):
crafter's own ``worldgen.generate_world`` and ``services.crafter.fast_worldgen`` on the same fresh
world, alternating which goes first, with the 1-minute load average before and after (the machine
may be shared) and a check that both built the same world.

``--quality N`` plays seeds 0..N-1 for ``--decisions`` decisions with the teacher and the random
policy and prints mean/std/min/max unique achievements and per-achievement rates.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import crafter  # noqa: E402

from services.crafter.env import CrafterTextEnv  # noqa: E402
from services.crafter.facts import ACTIONS  # noqa: E402
from services.crafter.observation import format_observation, parse_observation  # noqa: E402
from services.crafter.prompt import SYSTEM_PROMPT, user_message  # noqa: E402
from services.rollouts.random_policy import RandomPolicy  # noqa: E402
from services.rollouts.teacher import TeacherPolicy  # noqa: E402
from services.traces.achievement_keys import ACHIEVEMENTS  # noqa: E402

TARGET_STEPS_PER_S = 1500.0


def _raw_crafter(episodes: int, steps: int) -> tuple[int, float]:
    """Stock crafter with rendering; a dead agent's episode restarts on a fresh seed (untimed)."""
    rng = random.Random(0)
    done_steps, busy = 0, 0.0
    for episode in range(episodes):
        env, left, seed = crafter.Env(seed=episode), steps, episode
        env.reset()
        while left:
            started = time.perf_counter()
            _, _, done, _ = env.step(rng.randrange(len(ACTIONS)))
            busy += time.perf_counter() - started
            done_steps, left = done_steps + 1, left - 1
            if done:
                seed += 1000
                env = crafter.Env(seed=seed)
                env.reset()
    return done_steps, busy


def _text_env(episodes: int, steps: int, batch: Callable[[random.Random], list[str]]) -> tuple[int, float, float, int]:
    """(steps, seconds stepping + formatting, seconds building worlds, worlds built)."""
    rng = random.Random(0)
    done_steps, busy, building, built = 0, 0.0, 0.0, 0
    for episode in range(episodes):
        seed, left = episode, steps
        started = time.perf_counter()
        env = CrafterTextEnv(seed)
        building, built = building + time.perf_counter() - started, built + 1
        while left > 0:
            actions = batch(rng)[:left]
            started = time.perf_counter()
            format_observation(env.state, steps)
            outcome = env.step(actions)
            busy += time.perf_counter() - started
            done_steps, left = done_steps + outcome.steps_executed, left - outcome.steps_executed
            if outcome.done:
                seed += 1000
                started = time.perf_counter()
                env = CrafterTextEnv(seed)
                building, built = building + time.perf_counter() - started, built + 1
    return done_steps, busy, building, built


def _teacher(episodes: int, decisions: int) -> tuple[int, int, float, float]:
    """(decisions, steps, seconds in total, seconds in ``decide``): the collector's loop, no trace DB."""

    async def run() -> tuple[int, int, float, float]:
        count, steps, busy, thinking = 0, 0, 0.0, 0.0
        for seed in range(episodes):
            env, teacher, history = CrafterTextEnv(seed), TeacherPolicy(seed=seed), []
            for _ in range(decisions):
                started = time.perf_counter()
                prompt = user_message(format_observation(env.state, 10_000), history)
                decision = await teacher.decide(SYSTEM_PROMPT, prompt)
                decided = time.perf_counter()
                outcome = env.step(decision.actions)
                history.append(decision.actions)
                busy += time.perf_counter() - started
                thinking += decided - started
                count, steps = count + 1, steps + outcome.steps_executed
                if outcome.done:
                    break
        return count, steps, busy, thinking

    return asyncio.run(run())


def _quality(seeds: int, decisions: int) -> None:
    print(f"\nUnique achievements per episode, seeds 0-{seeds - 1} x {decisions} decisions")
    print(f"{'policy':<10} {'mean':>6} {'std':>6} {'min':>4} {'max':>4} {'died':>5} {'steps':>6}")
    all_rates: dict[str, Counter[str]] = {}
    for name, make in (("teacher", TeacherPolicy), ("random", RandomPolicy)):
        counts, rates, deaths, lengths = [], Counter[str](), 0, []
        for seed in range(seeds):
            env, policy = CrafterTextEnv(seed), make(seed=seed)
            for _ in range(decisions):
                if isinstance(policy, TeacherPolicy):
                    actions = policy.choose(parse_observation(format_observation(env.state, 10_000)))
                else:
                    actions = policy.choose()
                if env.step(actions).done:
                    break
            state = env.state
            counts.append(len(state.achievements))
            rates.update(state.achievements)
            deaths += state.health <= 0
            lengths.append(state.step)
        all_rates[name] = rates
        print(
            f"{name:<10} {statistics.mean(counts):>6.2f} {statistics.pstdev(counts):>6.2f} {min(counts):>4} "
            f"{max(counts):>4} {deaths:>5} {statistics.mean(lengths):>6.0f}"
        )
    print(f"\n{'achievement':<20} {'teacher':>8} {'random':>8}")
    for achievement in ACHIEVEMENTS:
        teacher, rand = (all_rates[k][achievement] / seeds for k in ("teacher", "random"))
        print(f"{achievement:<20} {teacher:>8.2f} {rand:>8.2f}")
    scores = {k: _crafter_score([100 * rates[a] / seeds for a in ACHIEVEMENTS]) for k, rates in all_rates.items()}
    print(f"{'Crafter score (%)':<20} {scores['teacher']:>8.2f} {scores['random']:>8.2f}")


def _worldgen(seeds: int) -> None:
    from crafter import constants, engine, objects, worldgen

    from services.crafter import fast_worldgen

    def fresh(seed: int) -> tuple[Any, Any]:
        world = engine.World((64, 64), constants.materials, (12, 12))
        world.reset(seed=hash((seed, 1)) % (2**31 - 1))  # as crafter.Env.reset, first episode
        player = objects.Player(world, (32, 32))
        world.add(player)
        return world, player

    print(f"port verified here: {fast_worldgen.port_verified()} (the once-per-process check, untimed)")
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {"crafter": [], "fast_worldgen": []}
    generators = {"crafter": worldgen.generate_world, "fast_worldgen": fast_worldgen.generate_world}
    differ = 0
    for seed in range(seeds):
        maps = {}
        for name in sorted(generators, reverse=seed % 2 == 1):
            world, player = fresh(seed)
            started = time.perf_counter()
            generators[name](world, player)
            times[name].append(time.perf_counter() - started)
            maps[name] = (
                world._mat_map.tobytes(),
                [o.pos.tolist() for o in world.objects],
                world.random.randint(1 << 30),
            )
        differ += maps["crafter"] != maps["fast_worldgen"]
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'generator':<16} {'worlds':>6} {'mean ms':>8} {'median ms':>9} {'min ms':>7}")
    for name, spent in times.items():
        row = f"{name:<16} {len(spent):>6} {1000 * statistics.mean(spent):>8.1f}"
        print(f"{row} {1000 * statistics.median(spent):>9.1f} {1000 * min(spent):>7.1f}")
    ratio = statistics.mean(times["crafter"]) / statistics.mean(times["fast_worldgen"])
    print(f"speed-up (mean): {ratio:.1f}x; worlds that differ: {differ} of {seeds}")


def _crafter_score(success_percent: list[float]) -> float:
    """danijar/crafter analysis/common.py: geometric mean of (1 + success %) over all achievements, - 1."""
    return math.exp(statistics.mean(math.log(1 + s) for s in success_percent)) - 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--episodes", type=int, default=5, help="episodes per row (seeds 0..N-1)")
    parser.add_argument("--steps", type=int, default=1000, help="env steps per episode for the env rows")
    parser.add_argument("--decisions", type=int, default=100, help="teacher decisions per episode")
    parser.add_argument("--quality", type=int, default=0, metavar="SEEDS", help="also measure achievements")
    parser.add_argument("--worldgen", type=int, default=0, metavar="SEEDS", help="only time world generation")
    args = parser.parse_args()
    if args.worldgen:
        _worldgen(args.worldgen)
        return 0

    version = importlib.metadata.version("crafter")
    print(f"Python {platform.python_version()} on {platform.machine()}, crafter {version}")
    print(f"{'row':<30} {'steps':>7} {'seconds':>8} {'steps/s':>9}")
    raw_steps, raw_s = _raw_crafter(args.episodes, args.steps)
    print(f"{'crafter.Env (render)':<30} {raw_steps:>7} {raw_s:>8.2f} {raw_steps / raw_s:>9.0f}")
    rows = {
        "text env, obs per decision": lambda rng: [rng.choice(ACTIONS) for _ in range(rng.randint(1, 5))],
        "text env, obs per step": lambda rng: [rng.choice(ACTIONS)],
    }
    per_decision = 0.0
    build_s, builds = 0.0, 0
    for label, batch in rows.items():
        steps, busy, building, built = _text_env(args.episodes, args.steps, batch)
        per_decision = per_decision or steps / busy
        build_s, builds = build_s + building, builds + built
        print(f"{label:<30} {steps:>7} {busy:>8.2f} {steps / busy:>9.0f}")
    decisions, steps, busy, thinking = _teacher(args.episodes, args.decisions)
    print(f"{'teacher (decide + step)':<30} {steps:>7} {busy:>8.2f} {steps / busy:>9.0f}")
    print(
        f"\nteacher: {decisions / busy:.0f} decisions/s ({steps / decisions:.1f} steps each), "
        f"{1000 * thinking / decisions:.2f} ms per decision in prompt + decide (call record included)"
    )
    print(f"world generation: {1000 * build_s / max(1, builds):.0f} ms per CrafterTextEnv (untimed above)")
    print(f"speed-up over rendering crafter: {per_decision / (raw_steps / raw_s):.1f}x")
    ok = per_decision >= TARGET_STEPS_PER_S
    print(f"target >= {TARGET_STEPS_PER_S:.0f} steps/s (obs per decision): {'met' if ok else 'MISSED'}")
    if args.quality:
        _quality(args.quality, args.decisions)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

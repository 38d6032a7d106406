"""Deterministic, realistic trace DBs for tests and benchmarks, written through our trace writer.

Episodes look like the 0.2.10 Crafter task app's (system + observation prompt, one interact_many
tool call per decision, achievement and outcome rewards), with seeded randomness so the same
arguments always give the same file, byte for byte. ``quirks=True`` adds the awkward rows real DBs
hold: malformed JSON, sessions without or with two outcome rows, turns only in ``step_id``, a session
with no LM calls, a dominant-model tie.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.crafter.facts import ACTIONS
from services.traces.achievement_keys import KeyStyle
from services.traces.records import (
    achievement_rewards,
    env_event_metadata,
    episode_outcome,
    lm_event_metadata,
    tool_call_record,
)
from services.traces.schema import Flavour
from services.traces.writer import (
    Decision,
    EnvStep,
    Episode,
    EventReward,
    LMCall,
    Outcome,
    RawJson,
    TraceWriter,
)

SYSTEM_PROMPT = (
    "You are playing Crafter, a survival game. Your goal is to collect resources, craft tools, "
    "survive, and unlock achievements. Trees, stone, water, lava, coal and iron block movement; use "
    "`do` only when adjacent and facing a target. Strategy: collect wood, make a wood pickaxe, collect "
    "stone, make a stone pickaxe, place a table, find food and water, fight when needed, explore 5-8 "
    "moves at a time. Food, drink and energy drain; health regenerates only while all three are "
    "above zero. Always answer with exactly one interact_many tool call of 2-5 actions and avoid "
    "repeating the same sequence. Actions: " + ", ".join(ACTIONS) + "."
)

#: Achievements in the order a decent agent tends to reach them, with a per-decision chance.
LADDER: tuple[tuple[str, float], ...] = (
    ("collect_wood", 0.35), ("collect_sapling", 0.2), ("place_plant", 0.15), ("place_table", 0.2),
    ("make_wood_pickaxe", 0.2), ("make_wood_sword", 0.12), ("collect_drink", 0.15), ("eat_cow", 0.1),
    ("collect_stone", 0.15), ("place_stone", 0.12), ("wake_up", 0.05), ("defeat_zombie", 0.06),
    ("make_stone_pickaxe", 0.08), ("make_stone_sword", 0.06), ("collect_coal", 0.06),
    ("place_furnace", 0.04), ("eat_plant", 0.02), ("defeat_skeleton", 0.02), ("collect_iron", 0.02),
    ("make_iron_pickaxe", 0.01), ("make_iron_sword", 0.01), ("collect_diamond", 0.005),
)  # fmt: skip

MATERIALS = ("grass", "grass", "grass", "tree", "stone", "water", "sand", "path", "coal")

DEFAULT_MODELS: tuple[tuple[str, str, float], ...] = (
    ("qwen/qwen3-32b", "groq", 0.5),
    ("Qwen/Qwen3-0.6B", "custom", 0.3),
    ("gpt-4o-mini", "openai", 0.2),
)


def fixed_clock(start: datetime | None = None) -> Iterator[datetime]:
    t = start or datetime(2025, 10, 18, 2, 0, 0, tzinfo=UTC)
    while True:
        yield t
        t += timedelta(milliseconds=7)


def _observation(rng: random.Random, step: int, max_steps: int, achieved: list[str]) -> str:
    inv = {"food": rng.randint(3, 9), "drink": rng.randint(3, 9), "energy": rng.randint(3, 9)}
    if "collect_wood" in achieved:
        inv["wood"] = rng.randint(1, 5)
    rows = []
    for dy in range(-2, 3):
        row = [("player" if (dx, dy) == (0, 0) else rng.choice(MATERIALS)) for dx in range(-2, 3)]
        rows.append(" ".join(row))
    x, y = rng.randint(10, 54), rng.randint(10, 54)
    return (
        "=== CRAFTER GAME STATE ===\n"
        f"Step: {step}/{max_steps}\nHealth: {rng.randint(5, 9)}\nPosition: [{x}, {y}]\n"
        f"Facing: [0, 1]\nInventory: {', '.join(f'{k}:{v}' for k, v in inv.items())}\n"
        f"Achievements: {', '.join(achieved) or 'none'}\n\nLocal Map View (5x5):\n"
        + "\n".join(rows)
        + "\n\nChoose your next actions."
    )


def make_episode(
    rng: random.Random,
    index: int,
    *,
    decisions: int,
    style: KeyStyle,
    models: tuple[tuple[str, str, float], ...] = DEFAULT_MODELS,
    skill: float = 1.0,
) -> Episode:
    model, provider, _ = rng.choices(models, weights=[w for *_, w in models])[0]
    run_id = f"rollout-{index:06d}"
    policy_id = f"policy-{index % 7}"
    seed = index
    achieved: list[str] = []
    steps: list[Decision] = []
    t0 = 1_760_753_600.0 + index * 60
    for turn in range(decisions):
        before = _observation(rng, turn * 3, decisions * 3, achieved)
        actions = [rng.choice(ACTIONS[1:6]) for _ in range(rng.randint(2, 5))]
        new = [a for a, p in LADDER if a not in achieved and rng.random() < p * skill * 0.6]
        new = new[:2]
        repeat = [a for a in achieved if rng.random() < 0.05]
        achieved += new
        after = _observation(rng, turn * 3 + len(actions), decisions * 3, achieved)
        tokens = rng.randint(900, 1400)
        record = tool_call_record(
            model_name=model,
            provider=provider,
            system_prompt=SYSTEM_PROMPT,
            user_text=before,
            tool_name="interact_many",
            arguments={"actions": actions},
            latency_ms=rng.randint(300, 2500),
            total_tokens=tokens,
            call_id=f"call_{index}_{turn}",
        )
        turned_true = new + repeat
        steps.append(
            Decision(
                turn=turn,
                lm=LMCall(
                    model_name=model,
                    provider=provider,
                    input_tokens=tokens - 80,
                    output_tokens=80,
                    total_tokens=tokens,
                    latency_ms=record["latency_ms"],
                    call_records=[record],
                    metadata=lm_event_metadata(turn, run_id, policy_id),
                    event_time=t0 + turn * 2,
                ),
                env=EnvStep(
                    reward=float(len(turned_true)) if turned_true else None,
                    state_before={"text": before},
                    state_after={"text": after},
                    metadata=env_event_metadata(turn, run_id),
                    event_time=t0 + turn * 2 + 1,
                ),
                rewards=achievement_rewards(turned_true, new, style),
            )
        )
    return Episode(
        session_id=run_id,
        metadata={"run_id": run_id, "policy_name": "crafter-react", "policy_id": policy_id,
                  "env_name": "crafter", "env_id": None, "seed": seed, "training_session_id": None,
                  "synth_base_url": None},
        decisions=steps,
        outcomes=[episode_outcome(achieved, decisions, env_id=f"crafter-env-{index}", policy_id=policy_id,
                                  seed=seed, style=style)],
    )  # fmt: skip


def quirky_episodes(rng: random.Random, start: int, style: KeyStyle, decisions: int) -> list[Episode]:
    """The awkward sessions real DBs contain, each exercising one reader rule."""
    eps = []
    # 1. malformed JSON in an annotation, an event's metadata and an outcome's reward_metadata
    ep = make_episode(rng, start, decisions=decisions, style=style)
    first = ep.decisions[0]
    first.rewards.append(
        EventReward(reward_type="unique_achievement_delta", value=1.0, annotation=RawJson("{not json"))
    )
    if len(ep.decisions) > 1:
        second = ep.decisions[1]
        assert second.env is not None
        second.env.metadata = RawJson('{"turn": 1,')
        second.rewards.append(
            EventReward(reward_type="unique_achievement_delta", value=1.0,
                        annotation={"new_unique" if style is KeyStyle.REFERENCE else "achievements": ["eat_cow"]})
        )  # fmt: skip
    ep.outcomes.append(
        Outcome(total_reward=0, achievements_count=0, total_steps=decisions, reward_metadata=RawJson("oops"))
    )
    eps.append(ep)
    # 2. no outcome row at all
    ep = make_episode(rng, start + 1, decisions=decisions, style=style)
    ep.outcomes = []
    eps.append(ep)
    # 3. two outcome rows (the reference unions their achievements; the last one wins for filters)
    ep = make_episode(rng, start + 2, decisions=decisions, style=style)
    ep.outcomes.append(
        episode_outcome(["collect_wood", "collect_diamond"], decisions, env_id="retry", policy_id="p",
                        seed=start + 2, style=style)
    )  # fmt: skip
    eps.append(ep)
    # 4. turns only in metadata.step_id (turn_<k>), as some older writers recorded them
    ep = make_episode(rng, start + 3, decisions=decisions, style=style)
    for d in ep.decisions:
        assert d.lm is not None and d.env is not None
        d.lm.metadata = {"step_id": f"turn_{d.turn}", "run_id": ep.session_id}
        d.env.metadata = {"step_id": f"turn_{d.turn}", "run_id": ep.session_id}
    eps.append(ep)
    # 5. a session with no LM calls (env only): no dominant model, never exported
    ep = make_episode(rng, start + 4, decisions=decisions, style=style)
    for d in ep.decisions:
        d.lm = None
    eps.append(ep)
    # 6. a dominant-model tie between two models, and an outcome row whose metadata has no list
    ep = make_episode(rng, start + 5, decisions=max(2, decisions), style=style)
    for i, d in enumerate(ep.decisions):
        assert d.lm is not None
        d.lm.model_name, d.lm.provider = ("zeta-model", None) if i % 2 else ("alpha-model", "vllm")
    ep.outcomes = [Outcome(total_reward=2, achievements_count=0, total_steps=decisions, reward_metadata={"note": 1})]
    eps.append(ep)
    return eps


def build_db(
    path: Path,
    *,
    sessions: int = 40,
    decisions: int = 6,
    style: KeyStyle = KeyStyle.TASK_APP,
    seed: int = 0,
    flavour: Flavour = Flavour.V0_2_10,
    quirks: bool = True,
    models: tuple[tuple[str, str, float], ...] = DEFAULT_MODELS,
) -> Path:
    """Write a fresh DB at ``path`` (which must not exist) and return it."""
    if path.exists():
        raise FileExistsError(path)
    rng = random.Random(seed)
    clock = fixed_clock()
    episodes = [make_episode(rng, i, decisions=decisions, style=style, models=models) for i in range(sessions)]
    if quirks:
        episodes += quirky_episodes(rng, sessions, style, decisions)
    with TraceWriter(path, flavour=flavour, clock=lambda: next(clock)) as writer:
        writer.create()  # the writer creates lazily; a fixture with no sessions still wants the empty DB
        writer.write(episodes)
    return path


#: ``outcome_rewards.total_reward`` values no synth-ai writer produces but a hand-edited or foreign DB
#: may hold: NULL, numbers as text (padded, other digits), a blob, '' and text float() refuses.
ODD_TOTAL_REWARDS: tuple[object, ...] = (
    None, "abc", "2.5", " 3 ", b"4", "", "0x10", "\u0661", "-1e3", "inf", "nan", "1_0", "NULL", 7, 0.5,
)  # fmt: skip


def set_total_rewards(path: Path, values: Sequence[object]) -> None:
    """Store ``values`` verbatim as the outcome rows' ``total_reward`` (in id order, cycling).

    The column first loses its type and NOT NULL (the table's SQL is rewritten in place), so SQLite
    keeps each value as given: '2.5' stays text, NULL is allowed.
    """
    conn = sqlite3.connect(path)
    try:
        where = "WHERE type = 'table' AND name = 'outcome_rewards'"
        (sql,) = conn.execute(f"SELECT sql FROM sqlite_master {where}").fetchone()
        loose = re.sub(r"total_reward \w+ NOT NULL", "total_reward", sql)
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(f"UPDATE sqlite_master SET sql = ? {where}", (loose,))
        conn.commit()
    finally:
        conn.close()
    conn = sqlite3.connect(path)  # a fresh connection reads the rewritten schema
    try:
        ids = [row[0] for row in conn.execute("SELECT id FROM outcome_rewards ORDER BY id")]
        for i, row_id in enumerate(ids):
            conn.execute("UPDATE outcome_rewards SET total_reward = ? WHERE id = ?", (values[i % len(values)], row_id))
        conn.commit()
    finally:
        conn.close()


def settle(path: Path, seconds: float = 10.0) -> Path:
    """Back-date the mtime of a just-written DB and its ``-wal`` by ``seconds``: the stats, count and
    index caches keep nothing for a DB modified within the last second (``fingerprint.is_settled``),
    which every DB a test just built is."""
    import os
    import time

    when = time.time_ns() - int(seconds * 1e9)
    for name in (str(path), f"{path}-wal"):
        if os.path.exists(name):
            os.utime(name, ns=(when, when))
    return path

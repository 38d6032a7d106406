"""Crafter 1.8.3 as a deterministic, render-free, text-state environment.

Why not ``crafter.Env`` as is: (1) its creature balancing iterates a ``set`` of objects, so the RNG
is consumed in memory order and the same seed + actions diverge across processes
(danijar/crafter#31); (2) rendering the image costs most of a step and draws from the world RNG at
night; (3) ``reset()`` on one Env hashes an episode counter into the seed, so seed ``s`` only means
one world on a fresh Env. ``_FastCrafter`` fixes the first two (balancing visits objects sorted by
position and class; no image, no semantic map) and ``CrafterTextEnv`` builds a fresh one per
episode. The other orders are already fixed: ``world.objects`` is a list in insertion order, chunk
keys are a dict in insertion order, and ``world.nearby``'s sets are only used for membership.
All game rules are crafter's own; ``step`` repeats ``crafter.Env.step`` with cheaper distance checks
and is tested step-for-step against it (tests/services/crafter/test_crafter_env.py), as is the
determinism across processes. ``reset`` repeats ``crafter.Env.reset`` but builds the world with
:mod:`services.crafter.fast_worldgen`: crafter's generator vectorised, the same world bit for bit
(it falls back to crafter's own where it cannot vouch for that).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from crafter import constants, engine, objects  # type: ignore[import-untyped]
from crafter.env import Env as _CrafterEnv  # type: ignore[import-untyped]
from pydantic import BaseModel

from services.crafter import fast_worldgen
from services.crafter.facts import ACTIONS

VITALS: tuple[str, ...] = ("health", "food", "drink", "energy")
_ACTION_IDS = {name: index for index, name in enumerate(ACTIONS)}
#: Crafter's own agent view is 9x9 (7 rows of map); creatures update within 2 * 9 cells of the player.
_CRAFTER_VIEW = (9, 9)


class EnvState(BaseModel):
    """Everything a policy may know about the game at one moment (what the text observation shows)."""

    step: int
    health: int
    food: int
    drink: int
    energy: int
    #: Non-zero items other than the four vitals, in crafter's item order.
    inventory: dict[str, int]
    #: (x, y); crafter arrays are indexed [x, y]; move_left lowers x, move_up lowers y.
    position: tuple[int, int]
    facing: tuple[int, int]
    #: Rows over y (top row = y-1 side = up), columns over x (left = x-1); centre cell is "player".
    local_map: list[list[str]]
    achievements: list[str]
    sleeping: bool
    done: bool
    #: Crafter's light level, 1.0 = noon, 0.0 = midnight (zombies spawn in the dark).
    daylight: float = 1.0


class StepOutcome(BaseModel):
    """The result of one action batch (one policy decision)."""

    state: EnvState
    #: Task-app reward: number of achievements unlocked for the first time this episode in the batch.
    reward: float
    new_achievements: list[str]
    #: Achievements whose counter went up during the batch (a superset of ``new_achievements``).
    turned_true: list[str]
    steps_executed: int
    done: bool


def _object_key(obj: Any) -> tuple[int, int, str]:
    x, y = obj.pos.tolist()
    return int(x), int(y), type(obj).__name__


class _FastCrafter(_CrafterEnv):  # type: ignore[misc]
    """crafter.Env without textures or rendering, with balancing in a fixed (position) order."""

    def __init__(self, seed: int, length: int) -> None:
        # crafter.Env.__init__ minus the textures and views (loading them is most of its 0.1 s).
        self._area = (64, 64)
        self._view = np.array(_CRAFTER_VIEW)
        self._size = np.array((64, 64))
        self._reward = True
        self._length = length
        self._seed = seed
        self._episode = 0
        self._world = engine.World(self._area, constants.materials, (12, 12))
        self._step: int = 0
        self._player: Any = None
        self._last_health = 0
        self._unlocked: set[str] = set()
        self.reward_range = None
        self.metadata = None

    def reset(self) -> None:
        """crafter.Env.reset with the world built by fast_worldgen (the same world, faster)."""
        center = (self._world.area[0] // 2, self._world.area[1] // 2)
        self._episode += 1
        self._step = 0
        self._world.reset(seed=hash((self._seed, self._episode)) % (2**31 - 1))
        self._update_time()
        self._player = objects.Player(self._world, center)
        self._last_health = self._player.health
        self._world.add(self._player)
        self._unlocked = set()
        fast_worldgen.generate_world(self._world, self._player)

    def _obs(self) -> None:
        return None

    def render(self, size: Any = None) -> None:
        raise NotImplementedError("rendering is disabled: it is slow and draws from the world RNG at night")

    def _balance_chunk(self, chunk: Any, objs: Any) -> None:
        super()._balance_chunk(chunk, sorted(objs, key=_object_key))

    def step(self, action: int) -> bool:
        """crafter.Env.step without image, semantic map or info; returns done."""
        self._step += 1
        self._update_time()
        player = self._player
        player.action = constants.actions[action]
        radius = 2 * max(_CRAFTER_VIEW)
        for obj in self._world.objects:
            px, py = player.pos.tolist()
            ox, oy = obj.pos.tolist()
            if abs(ox - px) + abs(oy - py) < radius:
                obj.update()
        if self._step % 10 == 0:
            for chunk, objs in self._world.chunks.items():
                self._balance_chunk(chunk, objs)
        self._last_health = player.health
        self._unlocked |= {name for name, count in player.achievements.items() if count > 0}
        dead = player.health <= 0
        over = bool(self._length) and self._step >= self._length
        return bool(dead or over)


#: Freshly generated worlds kept per (seed, length). Generating a world takes ~30 ms
#: (fast_worldgen; crafter's own generator ~0.2 s), a deep copy ~2 ms; evals and demos replay the
#: same fixed seeds, so this saves a good part of a short episode's cost. A copy is the same world,
#: RNG state included (tests/services/crafter/test_crafter_env.py).
PRISTINE_WORLDS = 128
_PRISTINE: OrderedDict[tuple[int, int], _FastCrafter] = OrderedDict()
_PRISTINE_LOCK = threading.Lock()


def _generate(seed: int, length: int) -> _FastCrafter:
    env = _FastCrafter(seed, length)
    env.reset()
    return env


def generate_world(seed: int, length: int = 10000) -> Any:
    """A freshly generated world (picklable: collectors build these in helper processes)."""
    return _generate(seed, length)


def remember_world(seed: int, length: int, world: Any) -> None:
    """Keep a world made by ``generate_world`` (possibly in another process) for CrafterTextEnv."""
    if not isinstance(world, _FastCrafter):
        raise TypeError("remember_world takes what generate_world returns")
    with _PRISTINE_LOCK:
        _PRISTINE[(seed, length)] = world
        while len(_PRISTINE) > PRISTINE_WORLDS:
            _PRISTINE.popitem(last=False)


def world_is_cached(seed: int, length: int = 10000) -> bool:
    with _PRISTINE_LOCK:
        return (seed, length) in _PRISTINE


def _object_name(obj: Any) -> str:
    return type(obj).__name__.lower()


class CrafterTextEnv:
    """One seeded Crafter episode stepped by action names, observed as an ``EnvState``.

    Every ``reset()`` builds a fresh crafter world from ``seed``, so the same seed is the same world.
    """

    def __init__(
        self, seed: int, *, length: int = 10000, view: tuple[int, int] = (9, 9), cache_worlds: bool = True
    ) -> None:
        """``cache_worlds`` reuses a kept copy of the freshly generated world of ``seed`` (see below)."""
        if view[0] < 1 or view[1] < 1:
            raise ValueError(f"view must be positive, got {view}")
        self.seed = seed
        self.length = length
        self.view = view
        self.cache_worlds = cache_worlds
        self._env = self._new_env()
        self._fresh = True
        self._done = False
        self._state = self._build_state()

    def _new_env(self) -> _FastCrafter:
        if not self.cache_worlds:
            return _generate(self.seed, self.length)
        key = (self.seed, self.length)
        with _PRISTINE_LOCK:
            pristine = _PRISTINE.get(key)
            if pristine is not None:
                _PRISTINE.move_to_end(key)
        if pristine is None:
            pristine = _generate(self.seed, self.length)  # outside the lock: it takes ~30 ms
            with _PRISTINE_LOCK:
                _PRISTINE[key] = pristine
                while len(_PRISTINE) > PRISTINE_WORLDS:
                    _PRISTINE.popitem(last=False)
        return copy.deepcopy(pristine)

    def reset(self) -> EnvState:
        if not self._fresh:
            self._env = self._new_env()
            self._fresh = True
            self._done = False
            self._state = self._build_state()
        return self._state

    @property
    def state(self) -> EnvState:
        return self._state

    def step(self, actions: Sequence[str]) -> StepOutcome:
        """Run the actions in order, stopping early when the episode ends (no-op once it has)."""
        ids = []
        for name in actions:
            if name not in _ACTION_IDS:
                raise ValueError(f"unknown Crafter action {name!r}")
            ids.append(_ACTION_IDS[name])
        player = self._env._player
        before = dict(player.achievements)
        executed = 0
        for action_id in ids:
            if self._done:
                break
            self._fresh = False
            self._done = self._env.step(action_id)
            executed += 1
        after = player.achievements
        turned = sorted(name for name, count in after.items() if count > before[name])
        new = sorted(name for name in turned if before[name] == 0)
        self._state = self._build_state()
        return StepOutcome(
            state=self._state,
            reward=float(len(new)),
            new_achievements=new,
            turned_true=turned,
            steps_executed=executed,
            done=self._done,
        )

    def _build_state(self) -> EnvState:
        env = self._env
        player = env._player
        inv = player.inventory
        x, y = (int(v) for v in player.pos.tolist())
        fx, fy = (int(v) for v in np.asarray(player.facing).tolist())
        return EnvState(
            step=int(env._step),
            health=int(inv["health"]),
            food=int(inv["food"]),
            drink=int(inv["drink"]),
            energy=int(inv["energy"]),
            inventory={k: int(v) for k, v in inv.items() if v > 0 and k not in VITALS},
            position=(x, y),
            facing=(fx, fy),
            local_map=self._local_map(x, y),
            achievements=sorted(k for k, v in player.achievements.items() if v > 0),
            sleeping=bool(player.sleeping),
            done=self._done,
            daylight=float(env._world.daylight),
        )

    def _local_map(self, px: int, py: int) -> list[list[str]]:
        """Semantic names around the player; rows over y, columns over x; "void" off the map."""
        world = self._env._world
        width, height = self.view
        x0, y0 = px - width // 2, py - height // 2
        area_w, area_h = world.area
        cx0, cx1 = max(x0, 0), min(x0 + width, area_w)
        cy0, cy1 = max(y0, 0), min(y0 + height, area_h)
        mats = world._mat_map[cx0:cx1, cy0:cy1].tolist()
        objs = world._obj_map[cx0:cx1, cy0:cy1].tolist()
        names = world._mat_names
        objects_list = world._objects
        rows: list[list[str]] = []
        for y in range(y0, y0 + height):
            row: list[str] = []
            for x in range(x0, x0 + width):
                if not (cx0 <= x < cx1 and cy0 <= y < cy1):
                    row.append("void")
                    continue
                index = objs[x - cx0][y - cy0]
                if index:
                    row.append(_object_name(objects_list[index]))
                else:
                    row.append(str(names[mats[x - cx0][y - cy0]]))
            rows.append(row)
        return rows


__all__ = ["VITALS", "CrafterTextEnv", "EnvState", "StepOutcome"]

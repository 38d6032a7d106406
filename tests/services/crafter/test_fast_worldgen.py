"""The vectorised world generator builds crafter's worlds bit for bit, and falls back when unverified."""

from __future__ import annotations

from typing import Any

import numpy as np
import opensimplex
import pytest
from crafter import constants, engine, objects, worldgen

from services.crafter import fast_worldgen
from services.crafter.env import _FastCrafter


def _fresh(seed: int, area: tuple[int, int] = (64, 64), at: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """A world and player as crafter.Env.reset leaves them just before ``generate_world``."""
    world = engine.World(area, constants.materials, (12, 12))
    world.reset(seed=seed)
    player = objects.Player(world, at or (area[0] // 2, area[1] // 2))
    world.add(player)
    return world, player


def _snapshot(world: Any) -> tuple[Any, ...]:
    rng = world.random.get_state()
    return (
        world._mat_map.tobytes(),
        world._obj_map.tobytes(),
        [(type(o).__name__, o.pos.tolist(), o.health) for o in world.objects],
        [(key, sorted(o.pos.tolist() for o in objs)) for key, objs in world._chunks.items()],
        rng[1].tobytes(),
        rng[2:],
    )


def _same_world(seed: int, area: tuple[int, int] = (64, 64), at: tuple[int, int] | None = None) -> None:
    ours, theirs = _fresh(seed, area, at), _fresh(seed, area, at)
    fast_worldgen._generate(*ours)
    worldgen.generate_world(*theirs)
    assert _snapshot(ours[0]) == _snapshot(theirs[0]), f"world seed {seed} differs"


def _env_world_seed(seed: int) -> int:
    """The world RNG seed crafter.Env.reset (and _FastCrafter) derives from an episode seed."""
    return hash((seed, 1)) % (2**31 - 1)


def test_noise_is_opensimplex_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for seed in (0, 42, 2**31 - 2):
        simplex = opensimplex.OpenSimplex(seed=seed)
        x, y = rng.uniform(-80.0, 80.0, 6000), rng.uniform(-80.0, 80.0, 6000)
        z = np.concatenate([rng.integers(-3, 12, 3000).astype(np.float64), rng.uniform(-20.0, 20.0, 3000)])
        ours = fast_worldgen.noise3d(simplex, x, y, z)
        points = zip(x.tolist(), y.tolist(), z.tolist(), strict=True)
        theirs = np.array([simplex.noise3d(a, b, c) for a, b, c in points])
        assert ours.view(np.int64).tolist() == theirs.view(np.int64).tolist()  # bits, not just ==
        # Every region of the honeycomb (and so every branch family) was exercised.
        stretch = (x + y + z) * (-1.0 / 6)
        ins = [v + stretch - np.floor(v + stretch) for v in (x, y, z)]
        in_sum = ins[0] + ins[1] + ins[2]
        assert (in_sum <= 1).sum() > 100 and (in_sum >= 2).sum() > 100 and ((in_sum > 1) & (in_sum < 2)).sum() > 100


def test_worlds_are_crafters_worlds_for_20_seeds() -> None:
    for seed in range(20):
        _same_world(_env_world_seed(seed))


def test_worlds_are_crafters_worlds_on_other_areas_and_positions() -> None:
    """Not only 64x64 with the player centred: the cell order (x-major) and distances are crafter's."""
    _same_world(5, area=(48, 40), at=(10, 30))
    _same_world(6, area=(40, 56), at=(39, 0))


@pytest.mark.slow
def test_worlds_are_crafters_worlds_for_200_seeds() -> None:
    for seed in range(20, 220):
        _same_world(_env_world_seed(seed))


def test_env_reset_uses_the_port_and_gets_crafters_world() -> None:
    env = _FastCrafter(9, 10_000)
    env.reset()
    world, player = _fresh(_env_world_seed(9))
    worldgen.generate_world(world, player)
    assert fast_worldgen.port_verified()
    assert _snapshot(env._world) == _snapshot(world)


@pytest.fixture
def unverified_check() -> Any:
    fast_worldgen.port_verified.cache_clear()
    yield
    fast_worldgen.port_verified.cache_clear()


def _generator_used(monkeypatch: pytest.MonkeyPatch) -> str:
    used: list[str] = []
    monkeypatch.setattr(fast_worldgen, "_generate", lambda world, player: used.append("port"))
    monkeypatch.setattr(fast_worldgen.worldgen, "generate_world", lambda world, player: used.append("crafter"))
    fast_worldgen.generate_world(*_fresh(1))
    return used[0]


def test_uses_the_port_when_verified(monkeypatch: pytest.MonkeyPatch, unverified_check: Any) -> None:
    assert _generator_used(monkeypatch) == "port"


def test_falls_back_to_crafter_on_another_crafter_version(
    monkeypatch: pytest.MonkeyPatch, unverified_check: Any
) -> None:
    monkeypatch.setitem(fast_worldgen.VERIFIED_VERSIONS, "crafter", "1.8.2")
    assert _generator_used(monkeypatch) == "crafter"


def test_falls_back_to_crafter_when_the_self_check_fails(
    monkeypatch: pytest.MonkeyPatch, unverified_check: Any
) -> None:
    real = fast_worldgen.noise3d
    monkeypatch.setattr(fast_worldgen, "noise3d", lambda s, x, y, z: np.nextafter(real(s, x, y, z), 1.0))
    assert _generator_used(monkeypatch) == "crafter"

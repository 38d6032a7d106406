"""The scripted Crafter teacher's rules: a remembered map, one BFS per decision, a priority list.

``TeacherBrain.decide`` reads a parsed observation and returns the next batch of actions: fight
what is adjacent, drink or eat when low, craft at a table, spend the night sealed in a two-cell
pocket (dug into rock or walled with stones: zombies swarm the open at night), then wood -> table
-> wood tools -> sapling/plant -> stone -> stone tools -> furnace -> coal/iron, exploring the
nearest frontier when nothing useful is known. A batch never holds more moves than the distance to
the nearest lava or unknown cell minus one, so a move that a creature blocks cannot drift the rest
into lava. Costs are checked against crafter's own data in tests/services/rollouts/test_teacher.py.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from services.crafter.observation import ParsedObservation

Pos = tuple[int, int]
MOVES: dict[Pos, str] = {(-1, 0): "move_left", (1, 0): "move_right", (0, -1): "move_up", (0, 1): "move_down"}
DIRS: tuple[Pos, ...] = tuple(MOVES)
WALKABLE = frozenset({"grass", "sand", "path"})
MATERIALS = frozenset({"water", "grass", "stone", "path", "sand", "tree", "lava", "coal", "iron", "diamond", "table",
                       "furnace", "void"})  # fmt: skip
#: Objects stand on walkable ground; arrows may fly over water or lava, so they say nothing.
GROUNDED = frozenset({"cow", "zombie", "skeleton", "plant", "player"})
HOSTILE = frozenset({"zombie", "skeleton"})
AREA = 64
#: Crafter 1.8.3 rules (data.yaml) the teacher plans with; tests check them against crafter.
TABLE_WOOD = 2
FURNACE_STONE = 4
TOOL_COST: dict[str, dict[str, int]] = {
    "wood_pickaxe": {"wood": 1},
    "wood_sword": {"wood": 1},
    "stone_pickaxe": {"wood": 1, "stone": 1},
    "stone_sword": {"wood": 1, "stone": 1},
    "iron_pickaxe": {"wood": 1, "coal": 1, "iron": 1},
    "iron_sword": {"wood": 1, "coal": 1, "iron": 1},
}
NEEDS_FURNACE = frozenset({"iron_pickaxe", "iron_sword"})
#: Plants ripen after 300 updates, and only update while the player is within 18 cells.
PLANT_RIPE_STEPS = 330


def _add(a: Pos, b: Pos) -> Pos:
    return a[0] + b[0], a[1] + b[1]


def _neg(d: Pos) -> Pos:
    return -d[0], -d[1]


def _dist(a: Pos, b: Pos) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


@dataclass
class _Memory:
    """What the teacher has seen this episode (materials persist; creatures are only current)."""

    cells: dict[Pos, str] = field(default_factory=dict)
    #: plant position -> estimated growth steps (counted while we were within 18 cells).
    plants: dict[Pos, int] = field(default_factory=dict)
    last_step: int = -1
    heading: Pos = (0, 1)
    heading_age: int = 0
    last_positions: deque[Pos] = field(default_factory=lambda: deque(maxlen=4))
    site: _Site | None = None
    #: where cows were last seen (cleared when that spot is in view again without one).
    cows: dict[Pos, int] = field(default_factory=dict)
    doorway_waits: int = 0


class _View:
    """One decision's picture: the observation, the remembered map, creatures in view, a BFS."""

    def __init__(self, obs: ParsedObservation, memory: _Memory) -> None:
        self.obs = obs
        self.memory = memory
        self.pos: Pos = obs.position
        self.facing: Pos = obs.facing
        self.inv = obs.inventory
        self.done = set(obs.achievements)
        self.creatures: dict[Pos, str] = {}
        col0, row0 = obs.centre
        for row, cells in enumerate(obs.local_map):
            for col, name in enumerate(cells):
                cell = (self.pos[0] + col - col0, self.pos[1] + row - row0)
                if name in MATERIALS:
                    memory.cells[cell] = name
                else:
                    if name != "player":
                        self.creatures[cell] = name
                    if name in GROUNDED and memory.cells.get(cell) not in WALKABLE:
                        memory.cells[cell] = "grass"
        self.order, self.parent, self.dist = self._bfs()

    def blocked(self, cell: Pos) -> bool:
        """True when moving toward ``cell`` only turns the player (so turning there is safe)."""
        return cell in self.creatures or self.memory.cells.get(cell, "void") not in WALKABLE | {"lava"}

    def enclosed(self) -> bool:
        """True when the player's walkable area (creatures ignored) is a pocket of at most 4 cells."""
        seen, todo = {self.pos}, [self.pos]
        while todo:
            cell = todo.pop()
            for d in DIRS:
                nxt = _add(cell, d)
                if nxt not in seen and self.memory.cells.get(nxt, "grass") in WALKABLE | {"lava"}:
                    if len(seen) >= 4:
                        return False
                    seen.add(nxt)
                    todo.append(nxt)
        return True

    def free(self, cell: Pos) -> bool:
        return cell not in self.creatures and self.memory.cells.get(cell) in WALKABLE

    def _bfs(self) -> tuple[list[Pos], dict[Pos, Pos | None], dict[Pos, int]]:
        parent: dict[Pos, Pos | None] = {self.pos: None}
        dist = {self.pos: 0}
        order = [self.pos]
        queue = deque(order)
        while queue:
            cell = queue.popleft()
            for d in DIRS:
                nxt = _add(cell, d)
                if nxt not in parent and self.free(nxt):
                    parent[nxt] = cell
                    dist[nxt] = dist[cell] + 1
                    order.append(nxt)
                    queue.append(nxt)
        return order, parent, dist

    def path_to(self, cell: Pos) -> list[Pos]:
        """Directions from the player to a reachable cell."""
        steps: list[Pos] = []
        while (prev := self.parent[cell]) is not None:
            steps.append((cell[0] - prev[0], cell[1] - prev[1]))
            cell = prev
        return steps[::-1]

    def nearest_next_to(self, targets: set[Pos], limit: int = 10_000) -> tuple[Pos, Pos] | None:
        """(stand, target): the closest reachable cell next to one of ``targets``."""
        if not targets:
            return None
        for stand in self.order:
            for d in DIRS:
                target = _add(stand, d)
                if target in targets:
                    return (stand, target) if self.dist[stand] <= limit else None
        return None

    def cells_of(self, *names: str) -> set[Pos]:
        wanted = set(names)
        return {cell for cell, name in self.memory.cells.items() if name in wanted}

    def creatures_of(self, *names: str) -> set[Pos]:
        return {cell for cell, name in self.creatures.items() if name in names}

    def near(self, cell: Pos, name: str) -> bool:
        """Crafter's "nearby": ``name`` within the 3x3 square around ``cell``."""
        return any(
            self.memory.cells.get((cell[0] + dx, cell[1] + dy)) == name for dx in (-1, 0, 1) for dy in (-1, 0, 1)
        )

    def damage(self) -> int:
        for tool, damage in (("iron_sword", 5), ("stone_sword", 3), ("wood_sword", 2)):
            if self.inv.get(tool, 0):
                return damage
        return 1

    def safe_moves(self) -> int:
        """Moves one batch may hold: fewer than the distance to any lava or unknown cell."""
        x0, y0 = self.pos
        best = 10
        for dx in range(-9, 10):
            for dy in range(-9 + abs(dx), 10 - abs(dx)):
                cell = (x0 + dx, y0 + dy)
                if not (0 <= cell[0] < AREA and 0 <= cell[1] < AREA):
                    continue
                name = self.memory.cells.get(cell)
                if name is None or name == "lava":
                    best = min(best, abs(dx) + abs(dy))
        return max(1, best - 1)


def _is_night(step: int) -> bool:
    """Dusk to dawn in crafter's 300-step day: zombies spawn while daylight < 0.83 (phase ~120-300)."""
    return 125 <= step % 300 < 285


#: Cells zombies cannot walk through and that keep arrows out (lava excluded: one slip is death).
WALLS = frozenset({"stone", "coal", "iron", "diamond", "tree", "water", "table", "furnace", "void"})
DIGGABLE = frozenset({"stone", "coal"})
SHELTER_SEARCH = 25
#: Stones kept in reserve to wall in a night shelter on open ground (5 walls + the seal).
SHELTER_STONES = 6


@dataclass(frozen=True)
class _Site:
    """A two-cell shelter: ``mouth`` -> ``inner`` -> ``end`` along ``d``; ``missing`` walls need a stone."""

    mouth: Pos
    d: Pos
    missing: tuple[Pos, ...]

    @property
    def inner(self) -> Pos:
        return _add(self.mouth, self.d)

    @property
    def end(self) -> Pos:
        return _add(self.inner, self.d)


def _diggable(view: _View) -> frozenset[str]:
    return DIGGABLE if view.inv.get("wood_pickaxe", 0) else frozenset()


def _site_at(view: _View, mouth: Pos, d: Pos) -> _Site | None:
    """The site, if its pocket cells can be walked or dug and every wall is rock or placeable ground.

    Without a pickaxe one wall must be a tree: the way out in the morning."""
    cells = view.memory.cells
    diggable = _diggable(view)
    inner, end = _add(mouth, d), _add(mouth, (2 * d[0], 2 * d[1]))
    if cells.get(mouth) not in WALKABLE or (mouth in view.creatures and mouth != view.pos):
        return None
    for cell in (inner, end):
        name = cells.get(cell)
        if cell in view.creatures or not (name in WALKABLE or name in diggable):
            return None
    side = (d[1], d[0])
    walls = (_add(inner, side), _add(inner, _neg(side)), _add(end, side), _add(end, _neg(side)), _add(end, d))
    missing = []
    for wall in walls:
        name = cells.get(wall)
        if name in WALLS and wall not in view.creatures:
            continue
        if name not in WALKABLE or wall in view.creatures:
            return None
        missing.append(wall)
    if not diggable and not any(cells.get(wall) == "tree" for wall in walls):
        return None
    return _Site(mouth, d, tuple(missing))


def _affordable(view: _View, site: _Site) -> bool:
    cells = view.memory.cells
    stone = view.inv.get("stone", 0) + sum(cells.get(c) in DIGGABLE for c in (site.inner, site.end))
    seal = stone > len(site.missing) or view.inv.get("wood", 0) >= TABLE_WOOD
    return seal and stone >= len(site.missing)


def _find_site(view: _View, previous: _Site | None) -> _Site | None:
    """Keep the site chosen earlier while it still works; else the cheapest within reach."""
    if previous is not None:
        site = _site_at(view, previous.mouth, previous.d)
        reachable = site is not None and (site.mouth in view.dist or view.pos in (site.inner, site.end))
        if site is not None and reachable and _affordable(view, site):
            return site
    for back in (1, 2):  # half way in already: the player stands inside the pocket
        for d in DIRS:
            site = _site_at(view, (view.pos[0] - back * d[0], view.pos[1] - back * d[1]), d)
            if site is not None and not site.missing:
                return site
    best: tuple[int, _Site] | None = None
    for mouth in view.order:
        dist = view.dist[mouth]
        if dist > SHELTER_SEARCH or (best is not None and dist >= best[0]):
            break
        for d in DIRS:
            site = _site_at(view, mouth, d)
            if site is not None and _affordable(view, site):
                cost = dist + 4 * len(site.missing)
                if best is None or cost < best[0]:
                    best = (cost, site)
    return best[1] if best else None


def _wall_plan(view: _View, wall: Pos) -> tuple[int, list[str]] | None:
    """(cost, actions) to put a stone on ``wall``: step onto a neighbour toward it, then place."""
    best: tuple[int, list[str]] | None = None
    for e in DIRS:
        stand = (wall[0] - e[0], wall[1] - e[1])
        if view.pos == stand and view.facing == e:
            return 0, ["place_stone"]
        behind = (stand[0] - e[0], stand[1] - e[1])
        if behind in view.dist and view.free(stand):
            cost = view.dist[behind] + 1
            if best is None or cost < best[0]:
                best = (cost, [MOVES[step] for step in view.path_to(behind)] + [MOVES[e], "place_stone"])
    return best


def _enter_and_seal(view: _View, site: _Site) -> list[str]:
    """Walk (digging where needed) to the pocket's end, step back facing the mouth, and seal it."""
    cells, d = view.memory.cells, site.d
    stone = view.inv.get("stone", 0) + sum(cells.get(c) in DIGGABLE for c in (site.inner, site.end))
    seal = [MOVES[_neg(d)], "place_stone" if stone else "place_table"]
    if view.pos == site.end:
        return seal
    if view.pos not in (site.inner, site.mouth):
        return [MOVES[step] for step in view.path_to(site.mouth)]
    plan: list[str] = []
    facing = view.facing
    for cell in (site.inner, site.end)[1 if view.pos == site.inner else 0 :]:
        if cells.get(cell) not in WALKABLE:  # turn toward the rock and mine it first
            plan += ([] if facing == d else [MOVES[d]]) + ["do"]
        plan.append(MOVES[d])
        facing = d
    return plan + seal


def _approach(view: _View, stand: Pos, target: Pos, then: list[str]) -> list[str]:
    """Walk to ``stand``, face ``target`` (a blocking cell) and run ``then``."""
    path = view.path_to(stand)
    facing = path[-1] if path else view.facing
    d = (target[0] - stand[0], target[1] - stand[1])
    actions = [MOVES[step] for step in path]
    if facing != d:
        actions.append(MOVES[d])
    return actions + then


def _place(view: _View, action: str, where: frozenset[str], keep_position: bool = False) -> list[str] | None:
    """Face a free cell of a ``where`` material (moving at most one cell unless told not to) and place."""
    pos, cells = view.pos, view.memory.cells

    def valid(cell: Pos) -> bool:
        return cell not in view.creatures and cells.get(cell) in where and cells.get(cell) != "lava"

    if valid(_add(pos, view.facing)):
        return [action]
    for d in DIRS:
        if valid(_add(pos, d)) and view.blocked(_add(pos, d)):
            return [MOVES[d], action]
    for d in DIRS:
        if valid(_add(pos, d)) and view.free(_add(pos, _neg(d))):
            return [MOVES[_neg(d)], MOVES[d], action]
    if not keep_position:
        for d in DIRS:
            if view.free(_add(pos, d)) and valid(_add(pos, (2 * d[0], 2 * d[1]))):
                return [MOVES[d], action]
    return None


class TeacherBrain:
    """The teacher's decision rules, in priority order; the first that has a plan wins."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.memory = _Memory()

    def reset(self) -> None:
        self.memory = _Memory(heading=self.rng.choice(DIRS))

    def decide(self, obs: ParsedObservation) -> list[str]:
        if obs.step <= self.memory.last_step:
            self.reset()
        self._track_plants(obs)
        self.memory.last_step = obs.step
        view = _View(obs, self.memory)
        self.memory.last_positions.append(view.pos)
        self._track_cows(view)
        if obs.sleeping:
            danger = any(_dist(c, view.pos) <= 4 for c in view.creatures_of(*HOSTILE))
            return ["noop"] * (1 if danger else 8)
        for rule in (
            self._fight_adjacent, self._sheltered, self._leave_shelter, self._fight_skeleton, self._evade,
            self._critical_needs, self._craft, self._take_shelter, self._sleep, self._place_progress,
            self._fight_near, self._top_up, self._gather, self._go_craft, self._stock_up, self._eat_plant,
            self._hunt_zombie,
        ):  # fmt: skip
            plan = rule(view)
            if plan:
                return self._cap(view, plan)
        return self._cap(view, self._explore(view))

    def _track_plants(self, obs: ParsedObservation) -> None:
        elapsed = max(0, obs.step - self.memory.last_step) if self.memory.last_step >= 0 else 0
        col0, row0 = obs.centre
        seen = {
            (obs.position[0] + col - col0, obs.position[1] + row - row0)
            for row, cells in enumerate(obs.local_map)
            for col, name in enumerate(cells)
            if name == "plant"
        }
        for cell in list(self.memory.plants):
            visible = _dist(cell, obs.position) <= 3
            if visible and cell not in seen:
                del self.memory.plants[cell]
            elif _dist(cell, obs.position) < 18:
                self.memory.plants[cell] += elapsed
        for cell in seen:
            self.memory.plants.setdefault(cell, 0)

    def _track_cows(self, view: _View) -> None:
        cows = self.memory.cows
        half_w, half_h = len(view.obs.local_map[0]) // 2, len(view.obs.local_map) // 2
        for cell in list(cows):
            if abs(cell[0] - view.pos[0]) <= half_w and abs(cell[1] - view.pos[1]) <= half_h:
                del cows[cell]
        for cell in view.creatures_of("cow"):
            cows[cell] = view.obs.step

    def _cap(self, view: _View, plan: list[str]) -> list[str]:
        allowed = view.safe_moves()
        out: list[str] = []
        for action in plan[:8]:
            if action.startswith("move_"):
                if allowed == 0:
                    break
                allowed -= 1
            out.append(action)
        return out or ["noop"]

    # --- rules -------------------------------------------------------------------------------

    def _fight_adjacent(self, view: _View) -> list[str] | None:
        for d in DIRS:
            name = view.creatures.get(_add(view.pos, d))
            if name in HOSTILE:
                hits = -(-(5 if name == "zombie" else 3) // view.damage())
                return ([] if view.facing == d else [MOVES[d]]) + ["do"] * hits
        return None

    def _sheltered(self, view: _View) -> list[str] | None:
        """Night in a sealed pocket: sleep or wait. At dawn, with zombies about, hold the doorway
        (only one can reach us at a time; ``_fight_adjacent`` deals with it)."""
        if _is_night(view.obs.step):
            if view.enclosed():
                return ["sleep" if view.obs.energy < 9 else "noop"] + ["noop"] * 7
            return None
        site = self.memory.site
        in_pocket = site is not None and view.pos in (site.inner, site.end)
        zombies = any(_dist(c, view.pos) <= 5 for c in view.creatures_of("zombie"))
        if in_pocket and zombies and not view.enclosed() and self.memory.doorway_waits < 6:
            self.memory.doorway_waits += 1
            return ["noop"] * 2
        return None

    def _leave_shelter(self, view: _View) -> list[str] | None:
        """In the morning, dig out of the pocket (through the seal first if it was a stone)."""
        if not view.enclosed():
            return None
        cells = view.memory.cells
        mouth = self.memory.site.mouth if self.memory.site else None
        diggable = _diggable(view) | {"tree"}
        options = sorted(
            (_add(cell, d) != mouth, cell != view.pos, cell, d)
            for cell in view.order
            for d in DIRS
            if cells.get(_add(cell, d)) in diggable
        )
        if not options:
            return None
        _, _, cell, d = options[0]
        path = view.path_to(cell)
        facing = path[-1] if path else view.facing
        return [MOVES[step] for step in path] + ([] if facing == d else [MOVES[d]]) + ["do", MOVES[d]]

    def _take_shelter(self, view: _View) -> list[str] | None:
        """At dusk: pick a two-cell pocket (rock or built), wall it in, walk in and seal the mouth."""
        if not _is_night(view.obs.step):
            return None
        self.memory.doorway_waits = 0
        site = self.memory.site = _find_site(view, self.memory.site)
        if site is None:
            return None
        if not site.missing:
            return _enter_and_seal(view, site)
        plans = [plan for wall in site.missing if (plan := _wall_plan(view, wall)) is not None]
        return min(plans)[1] if plans else None

    def _fight_skeleton(self, view: _View) -> list[str] | None:
        if "defeat_skeleton" in view.done or view.obs.health < 7:
            return None
        return self._hunt(view, view.creatures_of("skeleton"), limit=5, health=3)

    def _evade(self, view: _View) -> list[str] | None:
        """Step out of reach (and out of line of fire) of skeletons, arrows, and zombies when weak."""
        pos, health = view.pos, view.obs.health
        threats = [
            cell for cell, name in view.creatures.items()
            if (name == "skeleton" and _dist(cell, pos) <= 6)
            or (name == "arrow" and _dist(cell, pos) <= 4 and (cell[0] == pos[0] or cell[1] == pos[1]))
            or (name == "zombie" and _dist(cell, pos) <= 4 and health <= 3)
        ]  # fmt: skip
        if not threats:
            return None

        def safety(cell: Pos) -> int:
            lined = sum(1 for t in threats if view.creatures[t] != "zombie" and (cell[0] == t[0] or cell[1] == t[1]))
            return min(_dist(cell, t) for t in threats) - 3 * lined

        here = safety(pos)
        best = max(((safety(c), -view.dist[c], c) for c in view.order if view.dist[c] <= 5), default=None)
        if best is None or best[0] <= here:
            return None
        return [MOVES[d] for d in view.path_to(best[2])]

    def _critical_needs(self, view: _View) -> list[str] | None:
        obs = view.obs
        if obs.drink <= 3:
            plan = self._drink(view, limit=60)
            if plan:
                return plan
        if obs.food <= 3:
            plan = self._hunt(view, view.creatures_of("cow"), limit=30) or self._seek_cow(view)
            if plan:
                return plan
        return None

    def _drink(self, view: _View, limit: int) -> list[str] | None:
        found = view.nearest_next_to(view.cells_of("water"), limit)
        if not found:
            return None
        return _approach(view, *found, ["do"] * max(1, 9 - view.obs.drink))

    def _hunt(self, view: _View, targets: set[Pos], limit: int, health: int = 5) -> list[str] | None:
        found = view.nearest_next_to(targets, limit)
        if not found:
            return None
        name = view.creatures.get(found[1], "cow")
        return _approach(view, *found, ["do"] * -(-health // view.damage()) if name != "cow" else ["do"] * 3)

    def _sleep(self, view: _View) -> list[str] | None:
        obs = view.obs
        hostile_near = bool(view.creatures_of("zombie", "skeleton", "arrow"))
        nap = "wake_up" not in view.done and obs.energy < 9 and obs.daylight >= 0.7
        tired = obs.energy <= 3 and (obs.daylight >= 0.5 or obs.energy <= 1)
        if (nap or tired) and not hostile_near and obs.food > 1 and obs.drink > 1:
            return ["sleep"] + ["noop"] * 7
        return None

    def _craft(self, view: _View) -> list[str] | None:
        """Make every missing tool we can afford here (a table, and a furnace for iron, nearby)."""
        if not view.near(view.pos, "table"):
            return None
        inv = dict(view.inv)
        plan: list[str] = []
        for tool, cost in TOOL_COST.items():
            if inv.get(tool, 0) or (tool in NEEDS_FURNACE and not view.near(view.pos, "furnace")):
                continue
            if all(inv.get(k, 0) >= v for k, v in cost.items()):
                for k, v in cost.items():
                    inv[k] -= v
                plan.append("make_" + tool)
        return plan or None

    def _place_progress(self, view: _View) -> list[str] | None:
        """Placements that are achievements by themselves: table, stone, plant."""
        inv, done = view.inv, view.done
        wood = inv.get("wood", 0)
        enough = wood >= self._wood_target(view) or (wood >= TABLE_WOOD and not self._tree_near(view))
        if "place_table" not in done and enough:
            return _place(view, "place_table", WALKABLE)
        if "place_stone" not in done and inv.get("stone", 0) >= 1:
            return _place(view, "place_stone", WALKABLE | {"water"})
        if "place_plant" not in done and inv.get("sapling", 0) >= 1:
            return _place(view, "place_plant", frozenset({"grass"}))
        missing = sum(1 for tool in ("stone_pickaxe", "stone_sword") if not inv.get(tool, 0))
        if "place_furnace" not in done and inv.get("stone", 0) >= FURNACE_STONE + missing:
            at_table = view.near(view.pos, "table")
            return _place(view, "place_furnace", WALKABLE, keep_position=at_table)
        return None

    def _fight_near(self, view: _View) -> list[str] | None:
        zombies = {c for c in view.creatures_of("zombie") if _dist(c, view.pos) <= 3}
        if zombies and view.obs.health >= 3:
            return self._hunt(view, zombies, limit=4, health=5)
        return None

    def _top_up(self, view: _View) -> list[str] | None:
        """Drink and eat before it is urgent, and fill up before dusk (the night is spent indoors)."""
        obs = view.obs
        dusk = 90 <= obs.step % 300 < 140
        if obs.drink <= 5 or (obs.drink <= 7 and dusk) or ("collect_drink" not in view.done and obs.drink < 9):
            plan = self._drink(view, limit=25)
            if plan:
                return plan
        if obs.food <= 6 or "eat_cow" not in view.done:
            plan = self._hunt(view, view.creatures_of("cow"), limit=12 if obs.food > 5 else 25)
            if plan:
                return plan
        if obs.food <= 5:
            return self._seek_cow(view)
        return None

    def _seek_cow(self, view: _View) -> list[str] | None:
        """Walk to where a cow was last seen (cows wander, but not far)."""
        spots = [cell for cell in self.memory.cows if cell in view.dist and cell != view.pos]
        if not spots:
            return None
        target = min(spots, key=lambda cell: (view.dist[cell], cell))
        return [MOVES[step] for step in view.path_to(target)]

    def _wood_target(self, view: _View) -> int:
        inv = view.inv
        need = 0 if "place_table" in view.done else TABLE_WOOD
        need += sum(1 for tool in TOOL_COST if not inv.get(tool, 0) and tool not in NEEDS_FURNACE)
        return min(9, max(need, 1 if "collect_wood" not in view.done else 0))

    def _stone_target(self, view: _View) -> int:
        inv = view.inv
        need = 0 if "place_stone" in view.done else 1
        missing_tools = sum(1 for tool in ("stone_pickaxe", "stone_sword") if not inv.get(tool, 0))
        need += missing_tools
        if not missing_tools and "place_furnace" not in view.done:
            need += FURNACE_STONE  # tools first: they are two achievements for two stones
        return min(9, need)

    def _stock_up(self, view: _View) -> list[str] | None:
        """With nothing better to do, keep stones for a night shelter and wood for a spare table."""
        if view.inv.get("wood_pickaxe", 0) and view.inv.get("stone", 0) < SHELTER_STONES:
            found = view.nearest_next_to(view.cells_of("stone"), limit=12)
            if found:
                return _approach(view, *found, ["do"])
        if view.inv.get("wood", 0) < TABLE_WOOD + 1:
            found = view.nearest_next_to(view.cells_of("tree"), limit=8)
            if found:
                return _approach(view, *found, ["do"])
        return None

    def _tree_near(self, view: _View) -> bool:
        return view.nearest_next_to(view.cells_of("tree"), limit=15) is not None

    def _gather(self, view: _View) -> list[str] | None:
        inv, done = view.inv, view.done
        if inv.get("wood", 0) < self._wood_target(view):
            found = view.nearest_next_to(view.cells_of("tree"))
            if found:
                return _approach(view, *found, ["do"])
        if "collect_sapling" not in done:
            plan = self._sapling(view)
            if plan:
                return plan
        if inv.get("wood_pickaxe", 0):
            targets = set()
            if inv.get("stone", 0) < self._stone_target(view):
                targets |= view.cells_of("stone")
            if not inv.get("coal", 0):
                targets |= view.cells_of("coal")
            if inv.get("stone_pickaxe", 0) and not inv.get("iron", 0):
                targets |= view.cells_of("iron")
            found = view.nearest_next_to(targets)
            if found:
                return _approach(view, *found, ["do"])
        return None

    def _sapling(self, view: _View) -> list[str] | None:
        cells = view.memory.cells
        if cells.get(_add(view.pos, view.facing)) == "grass" and _add(view.pos, view.facing) not in view.creatures:
            return ["do"] * 4
        for d in DIRS:
            ahead = _add(view.pos, (2 * d[0], 2 * d[1]))
            if view.free(_add(view.pos, d)) and cells.get(ahead) == "grass" and ahead not in view.creatures:
                return [MOVES[d]] + ["do"] * 4
        return None

    def _go_craft(self, view: _View) -> list[str] | None:
        """Walk back to a table (and furnace) when we can afford a missing tool, or place a new one."""
        inv = view.inv
        affordable = [
            tool for tool, cost in TOOL_COST.items()
            if not inv.get(tool, 0) and all(inv.get(k, 0) >= v for k, v in cost.items())
        ]  # fmt: skip
        if not affordable:
            return None
        need_furnace = all(tool in NEEDS_FURNACE for tool in affordable)
        plan = self._walk_to_workshop(view, with_furnace=need_furnace)
        if plan is not None:
            return plan
        stone = view.inv.get("stone", 0)
        if need_furnace and stone >= FURNACE_STONE:  # a table is near: put a furnace beside it
            if view.near(view.pos, "table"):
                return _place(view, "place_furnace", WALKABLE, keep_position=True)
            plan = self._walk_to_workshop(view, with_furnace=False)
            if plan is not None:
                return plan
        if inv.get("wood", 0) >= TABLE_WOOD + 1 and (not need_furnace or stone >= FURNACE_STONE):
            return _place(view, "place_table", WALKABLE)
        return None

    def _walk_to_workshop(self, view: _View, with_furnace: bool) -> list[str] | None:
        """The path to the nearest cell with a table (and a furnace) within reach, if one is close."""
        for stand in view.order:
            if view.near(stand, "table") and (not with_furnace or view.near(stand, "furnace")):
                return [MOVES[d] for d in view.path_to(stand)] if view.dist[stand] <= 30 else None
        return None

    def _eat_plant(self, view: _View) -> list[str] | None:
        if "eat_plant" in view.done:
            return None
        ripe = {cell for cell, grown in self.memory.plants.items() if grown >= PLANT_RIPE_STEPS}
        ripe &= view.creatures_of("plant")
        found = view.nearest_next_to(ripe, limit=15)
        return _approach(view, *found, ["do"]) if found else None

    def _hunt_zombie(self, view: _View) -> list[str] | None:
        if "defeat_zombie" in view.done or view.obs.health < 6:
            return None
        return self._hunt(view, view.creatures_of("zombie"), limit=8, health=5)

    def _explore(self, view: _View) -> list[str]:
        """Head for the nearest frontier (known cell next to unknown), preferring the current heading."""
        memory = self.memory
        memory.heading_age += 1
        stuck = len(memory.last_positions) == memory.last_positions.maxlen and len(set(memory.last_positions)) == 1
        if memory.heading_age > 25 or stuck:
            memory.heading = self.rng.choice(DIRS)
            memory.heading_age = 0
        best: tuple[int, Pos] | None = None
        for cell in view.order[1:]:
            if not any(
                0 <= c[0] < AREA and 0 <= c[1] < AREA and c not in memory.cells for c in (_add(cell, d) for d in DIRS)
            ):
                continue
            offset = (cell[0] - view.pos[0]) * memory.heading[0] + (cell[1] - view.pos[1]) * memory.heading[1]
            score = view.dist[cell] + (0 if offset > 0 else 12)
            if best is None or score < best[0]:
                best = (score, cell)
            if best[0] <= 4:
                break
        if best is None:
            return [MOVES[self.rng.choice(DIRS)] for _ in range(3)]
        return [MOVES[d] for d in view.path_to(best[1])]

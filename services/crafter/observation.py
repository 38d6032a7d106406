"""The text observation every Crafter policy sees, and its parser.

The LLM and the scripted teacher read the same text, so the teacher can only act on what a model
could see. ``parse_observation(format_observation(state, n))`` gives back every fact of ``state``
(daylight rounded to two decimals); the "Nearest" line is derived from the map and not parsed back.
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from services.crafter.env import EnvState

HEADER = "=== CRAFTER GAME STATE ==="
MAP_TITLE = "Local Map View"
_DIRECTION_NAMES = {(0, -1): "up", (0, 1): "down", (-1, 0): "left", (1, 0): "right"}
#: Cells worth pointing at in the "Nearest" line, in the order they are listed.
_LANDMARKS = (
    "tree", "water", "stone", "coal", "iron", "diamond", "table", "furnace", "cow", "zombie",
    "skeleton", "plant", "lava",
)  # fmt: skip


class ObservationParseError(ValueError):
    """The text is not an observation in our format."""


class ParsedObservation(BaseModel):
    """The facts of one text observation (the ``EnvState`` fields a policy can see)."""

    step: int
    max_steps: int
    health: int
    food: int
    drink: int
    energy: int
    sleeping: bool
    daylight: float
    position: tuple[int, int]
    facing: tuple[int, int]
    inventory: dict[str, int]
    achievements: list[str]
    local_map: list[list[str]]

    @property
    def centre(self) -> tuple[int, int]:
        """(column, row) of the player in ``local_map``."""
        return len(self.local_map[0]) // 2, len(self.local_map) // 2

    def cell(self, dx: int, dy: int) -> str:
        """The map cell at offset (dx, dy) from the player; "void" outside the view."""
        return _cell(self.local_map, dx, dy)


def _cell(local_map: list[list[str]], dx: int, dy: int) -> str:
    row, col = len(local_map) // 2 + dy, len(local_map[0]) // 2 + dx
    return local_map[row][col] if 0 <= row < len(local_map) and 0 <= col < len(local_map[0]) else "void"


def _offset_words(dx: int, dy: int) -> str:
    parts = []
    if dx:
        parts.append(f"{abs(dx)} {'right' if dx > 0 else 'left'}")
    if dy:
        parts.append(f"{abs(dy)} {'down' if dy > 0 else 'up'}")
    return " ".join(parts) or "here"


def nearest_summary(local_map: list[list[str]]) -> str:
    """'tree 2 left 1 up, water 3 right, ...': the closest cell of each landmark kind in view."""
    col0, row0 = len(local_map[0]) // 2, len(local_map) // 2
    best: dict[str, tuple[int, int, int]] = {}
    for row, cells in enumerate(local_map):
        for col, name in enumerate(cells):
            if name in _LANDMARKS:
                dx, dy = col - col0, row - row0
                key = (abs(dx) + abs(dy), dy, dx)
                if name not in best or key < best[name]:
                    best[name] = key
    parts = [f"{name} {_offset_words(best[name][2], best[name][1])}" for name in _LANDMARKS if name in best]
    return ", ".join(parts) if parts else "nothing notable in view"


def format_observation(state: EnvState, max_steps: int) -> str:
    """The observation text: vitals, position, inventory, achievements, the local map, landmarks."""
    fx, fy = state.facing
    faced = _DIRECTION_NAMES.get((fx, fy), "?")
    ahead = _cell(state.local_map, fx, fy)
    inventory = ", ".join(f"{k}:{v}" for k, v in state.inventory.items()) or "empty"
    height, width = len(state.local_map), len(state.local_map[0])
    lines = [
        HEADER,
        f"Step: {state.step}/{max_steps}",
        f"Health: {state.health}",
        f"Food: {state.food}",
        f"Drink: {state.drink}",
        f"Energy: {state.energy}",
        f"Sleeping: {'yes' if state.sleeping else 'no'}",
        f"Daylight: {state.daylight:.2f} ({'day' if state.daylight >= 0.5 else 'night'})",
        f"Position: [{state.position[0]}, {state.position[1]}]",
        f"Facing: [{fx}, {fy}] ({faced}, towards {ahead})",
        f"Inventory: {inventory}",
        f"Achievements: {', '.join(state.achievements) or 'none'}",
        "",
        f"{MAP_TITLE} ({width}x{height}, rows run north to south, columns west to east; "
        "you are at the centre; move_up goes north):",
        *(" ".join(cells) for cells in state.local_map),
        "",
        f"Nearest: {nearest_summary(state.local_map)}",
    ]
    return "\n".join(lines)


_FIELD = re.compile(r"^([A-Za-z ]+): (.*)$")
_PAIR = re.compile(r"^\[(-?\d+), (-?\d+)\]")
_MAP_SIZE = re.compile(r"\((\d+)x(\d+),")


def _pair(text: str) -> tuple[int, int]:
    match = _PAIR.match(text)
    if not match:
        raise ObservationParseError(f"expected [a, b], got {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_observation(text: str) -> ParsedObservation:
    """Read an observation back from ``format_observation`` text (trailing prompt text is ignored)."""
    lines = text.splitlines()
    try:
        start = lines.index(HEADER)
    except ValueError:
        raise ObservationParseError("no '=== CRAFTER GAME STATE ===' header") from None
    fields: dict[str, str] = {}
    local_map: list[list[str]] = []
    index = start + 1
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.startswith(MAP_TITLE):
            size = _MAP_SIZE.search(line)
            if not size:
                raise ObservationParseError(f"bad map title {line!r}")
            width, height = int(size.group(1)), int(size.group(2))
            local_map = [row.split() for row in lines[index : index + height]]
            if len(local_map) != height or any(len(row) != width for row in local_map):
                raise ObservationParseError("map rows do not match the stated size")
            break
        match = _FIELD.match(line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
    if not local_map or not local_map[0]:
        raise ObservationParseError("no local map")
    try:
        step, max_steps = fields["Step"].split("/")
        inventory: dict[str, int] = {}
        if fields["Inventory"] != "empty":
            for item in fields["Inventory"].split(", "):
                name, count = item.split(":")
                inventory[name] = int(count)
        achievements = [] if fields["Achievements"] == "none" else fields["Achievements"].split(", ")
        return ParsedObservation(
            step=int(step),
            max_steps=int(max_steps),
            health=int(fields["Health"]),
            food=int(fields["Food"]),
            drink=int(fields["Drink"]),
            energy=int(fields["Energy"]),
            sleeping=fields.get("Sleeping", "no") == "yes",
            daylight=float(fields.get("Daylight", "1.0").split()[0]),
            position=_pair(fields["Position"]),
            facing=_pair(fields["Facing"]),
            inventory=inventory,
            achievements=achievements,
            local_map=local_map,
        )
    except (KeyError, ValueError) as exc:
        if isinstance(exc, ObservationParseError):
            raise
        raise ObservationParseError(f"incomplete observation: {exc}") from None

"""Fixed facts about Crafter that several services share (names, not behaviour).

The 22 achievement names live in ``services.traces.achievement_keys``: trace DBs record them, and
the traces area may not import this one.
"""

from __future__ import annotations

#: The 17 Crafter actions; the index is the env's action id.
ACTIONS: tuple[str, ...] = (
    "noop",
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "do",
    "sleep",
    "place_stone",
    "place_table",
    "place_furnace",
    "place_plant",
    "make_wood_pickaxe",
    "make_stone_pickaxe",
    "make_iron_pickaxe",
    "make_wood_sword",
    "make_stone_sword",
    "make_iron_sword",
)

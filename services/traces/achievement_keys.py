"""Reading achievement lists in both key styles that exist in real trace DBs.

synth-ai's reference scripts read ``new_unique`` / ``turned_true`` / ``achievements``, while the
Crafter task app writes ``achievements`` / ``achievements`` / ``final_achievements`` (trace_db.md §6),
so the reference tools see no achievements at all on task-app DBs. We read both, with one precise
rule: a task-app row is read as if its key had been renamed to the reference key. When a row carries
the reference key, that key wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: The 22 Crafter achievements trace DBs record, in the alphabetical order Crafter's own reports use.
ACHIEVEMENTS: tuple[str, ...] = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
)


class KeyStyle(StrEnum):
    REFERENCE = "reference"  # new_unique / turned_true / achievements
    TASK_APP = "task-app"  # achievements / achievements / final_achievements
    MIXED = "mixed"
    NONE = "none"  # no achievement annotations at all


#: (reference key, task-app key) per place an achievement list is stored.
UNIQUE_DELTA_KEYS = ("new_unique", "achievements")
TURNED_TRUE_KEYS = ("turned_true", "achievements")
OUTCOME_KEYS = ("achievements", "final_achievements")


@dataclass
class KeyStyleCounter:
    """Counts which style each parsed row used, to tell the user what the DB holds."""

    reference_rows: int = 0
    task_app_rows: int = 0

    def pick(self, obj: dict[str, Any], keys: tuple[str, str]) -> Any:
        """The list under the reference key, else under the task-app key (None when neither)."""
        ref_key, app_key = keys
        if ref_key in obj:
            self.reference_rows += 1
            return obj[ref_key]
        if app_key in obj:
            self.task_app_rows += 1
            return obj[app_key]
        return None

    @property
    def style(self) -> KeyStyle:
        if self.reference_rows and self.task_app_rows:
            return KeyStyle.MIXED
        if self.reference_rows:
            return KeyStyle.REFERENCE
        if self.task_app_rows:
            return KeyStyle.TASK_APP
        return KeyStyle.NONE

"""The one set of reasons a row is skipped or degraded, for stats, the live preview and the export.

Every reader that drops or degrades a row counts it here, under the same words, so the numbers the
user sees in ``stats``, the Filters preview and an export's manifest agree for the rows they all read.
The exported bytes never change: counting happens beside the output (the reference drops the same
rows silently, or crashes on them).

Achievement rows (``event_rewards`` joined to their event's ``metadata``) are checked by
:func:`achievement_row`; stats and the preview read the unique-achievement rows only, the export also
reads the achievement-delta rows (its turned_true lists), so those are counted under a reason of
their own and never inflate the shared one.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import orjson

# -- LM events and their call records (no example, or a degraded one)
TURN_NOT_INTEGER = "turn is not an integer"
OUTPUT_NOT_OBJECT = "output JSON is not an object"
BAD_CALL_RECORDS = "call_records empty, unreadable or not a list of objects"
NOT_UTF8 = "text is not valid Unicode (cannot be written as UTF-8)"
NO_ASSISTANT_OUTPUT = "call record without assistant output (no text, no tool calls)"
NO_PROMPT = "call record without any prompt message"
#: Degraded, not dropped: the examples are written, turned numbered by position, so per-turn
#: achievements may not attach.
EVENT_METADATA_NOT_OBJECT = "LM event whose metadata is not a JSON object (turn numbered by position)"
#: Reasons whose rows are still written (counted, but not "no example").
DEGRADED = frozenset({EVENT_METADATA_NOT_OBJECT})

# -- reward rows
OUTCOME_NOT_A_NUMBER = "outcome row whose total_reward is not a number"
OUTCOME_METADATA_NOT_OBJECT = "outcome row whose reward_metadata is not a JSON object"

#: Achievement rows by kind: reward_type -> the words used for it.
ACHIEVEMENT_KINDS = {
    "unique_achievement_delta": "unique-achievement row",
    "achievement_delta": "achievement-delta row",
}


def annotation_not_object(reward_type: str) -> str:
    return f"{ACHIEVEMENT_KINDS.get(reward_type, reward_type + ' row')} whose annotation is not a JSON object"


def metadata_not_object(reward_type: str) -> str:
    return f"{ACHIEVEMENT_KINDS.get(reward_type, reward_type + ' row')} whose event metadata is not a JSON object"


def turn_not_integer(reward_type: str) -> str:
    return f"{ACHIEVEMENT_KINDS.get(reward_type, reward_type + ' row')} whose turn is not an integer"


def parse_json(text: Any) -> tuple[Any, bool]:
    """(value, parsed): NULL is (None, True); text that is not JSON is (None, False)."""
    if text is None:
        return None, True
    try:
        return orjson.loads(text), True
    except orjson.JSONDecodeError:
        try:
            return json.loads(text), True
        except (TypeError, ValueError, RecursionError):
            return None, False
    except TypeError:
        return None, False


def count(skipped: MutableMapping[str, int], reason: str, n: int = 1) -> None:
    skipped[reason] = skipped.get(reason, 0) + n


def achievement_row(
    reward_type: str, annotation_text: Any, metadata_text: Any, skipped: MutableMapping[str, int]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(annotation, event metadata) of an achievement row, {} for NULL; None (and one count under
    its reason) when either column holds something that is not a JSON object."""
    annotation, ok = parse_json(annotation_text)
    if not ok or not isinstance(annotation, dict | None):
        count(skipped, annotation_not_object(reward_type))
        return None
    metadata, ok = parse_json(metadata_text)
    if not ok or not isinstance(metadata, dict | None):
        count(skipped, metadata_not_object(reward_type))
        return None
    return annotation or {}, metadata or {}


def total(skipped: MutableMapping[str, int]) -> int:
    return sum(skipped.values())

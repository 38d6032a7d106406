"""What every Crafter policy is asked and how its answer is read: prompt, tool, action parsing.

The LLM policy and the scripted teacher share this module, so a teacher trace and a vendor trace
carry the same system prompt, the same user message shape and the same ``interact_many`` tool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.crafter.facts import ACTIONS

TOOL_NAME = "interact_many"
MAX_ACTIONS = 8

#: The tool every policy answers with (OpenAI "tools" entry).
INTERACT_MANY_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": TOOL_NAME,
        "description": "Execute a short sequence of Crafter actions in order (1-8).",
        "parameters": {
            "type": "object",
            "properties": {
                "actions": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(ACTIONS)},
                    "minItems": 1,
                    "maxItems": MAX_ACTIONS,
                    "description": "Actions to execute in order.",
                }
            },
            "required": ["actions"],
            "additionalProperties": False,
        },
    },
}

SYSTEM_PROMPT = (
    "You are playing Crafter, a 2D survival game. Goal: collect resources, craft tools, survive, and "
    "unlock as many achievements as possible.\n"
    "Rules: trees, stone, water, lava, coal, iron, tables and furnaces block movement; lava kills. "
    "`do` acts on the cell you face (collect, attack, drink, eat) and only works when adjacent. Moving "
    "into a blocked cell only turns you to face it. Food, drink and energy drain over time; health "
    "regenerates only while all three are above zero, otherwise it decays and you die.\n"
    "Strategy: collect wood, place a table, make a wood pickaxe and sword, collect stone, make stone "
    "tools, drink water, eat cows, sleep when energy is low, explore 5-8 moves at a time.\n"
    "Always answer with exactly one interact_many call of 1-8 actions (2-5 is usually best); do not "
    "repeat a sequence that did not work.\n"
    "Actions: " + ", ".join(ACTIONS) + "."
)

_ALIASES = {
    "left": "move_left",
    "right": "move_right",
    "up": "move_up",
    "down": "move_down",
    "interact": "do",
    "use": "do",
    "action": "do",
    "rest": "sleep",
}


def normalise_action(name: object) -> str | None:
    """An action name (aliases, ``craft_*``, int ids accepted), or None when it is not one."""
    if isinstance(name, bool):
        return None
    if isinstance(name, int):
        return ACTIONS[name] if 0 <= name < len(ACTIONS) else None
    if not isinstance(name, str):
        return None
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = _ALIASES.get(key, key)
    if key.startswith("craft_"):
        key = "make_" + key[len("craft_") :]
    return key if key in ACTIONS else None


def actions_from_tool_calls(tool_calls: Sequence[Any]) -> tuple[list[str], str | None]:
    """(actions to run, problem) from an assistant's tool calls; never raises.

    Accepts ``interact_many {actions: [...]}``, ``interact {action}``/``{actions}``, or a tool named
    after an action. Unknown names are dropped and reported; nothing usable gives ``([], problem)``.
    """
    if not tool_calls:
        return [], "no tool call"
    actions: list[str] = []
    dropped: list[str] = []
    for call in tool_calls:
        function = call.get("function", call) if isinstance(call, dict) else {}
        name = function.get("name") if isinstance(function, dict) else None
        raw = function.get("arguments") if isinstance(function, dict) else None
        try:
            args = json.loads(raw) if isinstance(raw, str) else (raw or {})
        except ValueError:
            return [], f"tool arguments are not JSON: {str(raw)[:80]}"
        if not isinstance(args, dict):
            args = {"actions": args} if isinstance(args, list) else {}
        items = args.get("actions", args.get("action"))
        if items is None and normalise_action(name) is not None:
            items = [name]
        if not isinstance(items, list):
            items = [items] if items is not None else []
        for item in items:
            action = normalise_action(item)
            if action is None:
                dropped.append(str(item)[:30])
            else:
                actions.append(action)
    problem = f"unknown actions dropped: {', '.join(dropped)}" if dropped else None
    if not actions:
        return [], problem or "tool call without actions"
    if len(actions) > MAX_ACTIONS:
        return actions[:MAX_ACTIONS], f"{len(actions)} actions given, first {MAX_ACTIONS} kept"
    return actions, problem


def user_message(observation_text: str, previous_calls: Sequence[list[str]] = ()) -> str:
    """The observation plus the last three tool calls, most recent first (task-app shape)."""
    lines = [observation_text.rstrip(), "", "Choose your next actions.", "", "Previous tool calls (most recent first):"]
    recent = list(previous_calls)[-3:][::-1]
    if not recent:
        lines.append("- none")
    for acts in recent:
        lines.append(f"- {TOOL_NAME}: " + json.dumps({"actions": acts}, separators=(",", ":")))
    return "\n".join(lines)

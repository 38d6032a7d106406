"""Caps on echoed input.

Error messages quote what the user gave us (a model name, a TOML key, a path) so the mistake can be
found; a 10 MB value or a file with 200,000 unknown keys must not flood the terminal. Every message
that repeats user input uses :func:`cap_echo`; every list of warnings uses :func:`summarise`.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Longest piece of user input quoted back in one message.
ECHO_LIMIT = 120
#: Most warnings or problems listed one per line before the rest are summarised.
LIST_LIMIT = 50


def cap_echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters in all)"


def summarise(lines: Sequence[str], limit: int = LIST_LIMIT) -> list[str]:
    """The first ``limit`` lines, then one line counting the rest."""
    if len(lines) <= limit:
        return list(lines)
    rest = len(lines) - limit
    return [*lines[:limit], f"… and {rest:,} more like these"]

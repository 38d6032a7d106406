"""Keeping API keys out of messages, logs and reprs.

Every user-facing string that may have seen a key (server error bodies, exception texts) goes
through :func:`redact`; wherever we need to say *which* key was used we show :func:`mask_secret`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Keys shorter than this are masked completely: a prefix and suffix would give most of them away.
_MIN_PARTIAL = 12


def mask_secret(value: str | None) -> str:
    """A recognisable but useless form of a secret: ``sk-ab…89``, ``****`` when short or empty."""
    if not value:
        return "****"
    if len(value) < _MIN_PARTIAL:
        return "****"
    return f"{value[:5]}…{value[-2:]}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by its masked form.

    Longer secrets are replaced first, so a key that contains another one is not half-masked.
    Empty values and values under 4 characters are ignored (they would mangle ordinary text).
    """
    values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, mask_secret(value))
    return text

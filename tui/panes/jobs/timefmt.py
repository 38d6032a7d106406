"""Times as the Jobs pane shows them: backend timestamps (ISO 8601) to minutes, durations to ``1h02m``.

``now`` is always passed in (the pane's clock), so tests and snapshots pin it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset; naive ones are taken as UTC), else None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def short_time(text: str | None, now: datetime | None = None) -> str:
    """``12-07 20:51`` (UTC; the year only when it is not ``now``'s), or the text as given when it is
    not a timestamp."""
    value = parse_time(text)
    if value is None:
        return text or ""
    value = value.astimezone(UTC)
    return value.strftime("%m-%d %H:%M" if now is None or value.year == now.year else "%Y-%m-%d %H:%M")


def duration(seconds: float) -> str:
    """``45s``, ``12m05s``, ``3h07m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def elapsed(start: str | None, end: str | None, now: datetime) -> str:
    """From ``start`` to ``end`` (or to ``now`` while the job runs); empty without a start."""
    began = parse_time(start)
    if began is None:
        return ""
    finished = parse_time(end) or now
    return duration((finished - began).total_seconds())

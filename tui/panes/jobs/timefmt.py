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


def short_time(text: str | None) -> str:
    """``2026-12-07 20:51`` (UTC), or the text as given when it is not a timestamp."""
    value = parse_time(text)
    if value is None:
        return text or ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def duration(seconds: float) -> str:
    """``45s``, ``12m05s``, ``3h07m``."""
    s = max(0, int(round(seconds)))
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

"""Seed ranges as people type them (``0-49``, or one seed ``7``), parsed once for every caller:
``sft-studio collect --seeds``, the Traces pane's collect form and the eval launcher to come.

Seeds are whole numbers of 0 or more, the range is inclusive, and a range that ends before it
starts is refused rather than read as nothing.
"""

from __future__ import annotations

import re

_RANGE = re.compile(r"([0-9]+)\s*(?:-\s*([0-9]+))?")


class SeedRangeError(ValueError):
    """Text that is not a seed range; the message says why, in the collect form's words."""


def parse_seed_range(text: str) -> tuple[int, int]:
    """``"0-49"`` -> ``(0, 49)``, ``"7"`` -> ``(7, 7)``; :class:`SeedRangeError` for empty text, anything
    but ``N`` or ``A-B`` (letters, negative numbers) and ``B < A``."""
    raw = text.strip()
    if not raw:
        raise SeedRangeError("Give a seed range START-END, e.g. 0-49.")
    match = _RANGE.fullmatch(raw)
    if match is None:
        raise SeedRangeError(f"Seeds must look like START-END, e.g. 0-49 (got {raw!r}).")
    start = int(match[1])
    end = start if match[2] is None else int(match[2])
    if end < start:
        raise SeedRangeError(f"The range {start}-{end} is empty: END must be at least START.")
    return start, end

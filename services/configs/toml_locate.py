"""Line numbers for dotted TOML paths, so an error can point at the line a user must fix.

Neither tomllib nor tomlkit reports where a key lives; a light scan of table headers and
``key =`` lines is enough for the configs people write (dotted and quoted keys included).
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^\s*((?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)(?:\s*\.\s*(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+))*)\s*="
)


def _parts(dotted: str) -> list[str]:
    if '"' not in dotted and "'" not in dotted:
        return [part.strip() for part in dotted.split(".")]
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)", dotted)
    return [a or b or c for a, b, c in parts]


def key_lines(text: str) -> dict[str, int]:
    """Dotted path → first 1-based line that defines it (tables and keys)."""
    found: dict[str, int] = {}
    table: list[str] = []
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in line:
                in_multiline = None
            continue
        header = _HEADER.match(line)
        if header and not _KEY.match(line):
            table = _parts(header.group(1))
            found.setdefault(".".join(table), number)
            continue
        key = _KEY.match(line)
        if not key:
            continue
        path = [*table, *_parts(key.group(1))]
        found.setdefault(".".join(path), number)
        rest = line[key.end() :]
        for quote in ('"""', "'''"):
            if rest.count(quote) == 1:
                in_multiline = quote
        inline = rest.strip()
        if inline.startswith("{"):
            for piece in inline.strip("{} #").split(","):
                sub = _KEY.match(piece)
                if sub:
                    found.setdefault(".".join([*path, *_parts(sub.group(1))]), number)
    return found


def line_of(text: str, dotted: str) -> int | None:
    """The line of ``dotted``, else of its nearest enclosing table that exists, else None."""
    return nearest_line(key_lines(text), dotted)


def nearest_line(lines: dict[str, int], dotted: str) -> int | None:
    """``line_of`` over an already computed :func:`key_lines` mapping."""
    parts = dotted.split(".") if dotted else []
    while parts:
        hit = lines.get(".".join(parts))
        if hit is not None:
            return hit
        parts.pop()
    return None

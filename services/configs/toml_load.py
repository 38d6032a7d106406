"""The one way a config's TOML text is parsed, so every command and the pane say the same thing.

``validate`` and ``payload`` read configs with tomllib (synth-ai's CLI does), ``set``, ``sweep`` and the
pane edit them with tomlkit (it keeps comments and layout). Both parsers recurse once per nesting
level, so a 5,000-deep array made the first two crash with RecursionError while the others said
"Invalid TOML"; their error columns also differed by one (tomlkit counts from 0). Everything goes
through here instead: the text's shape is checked first (a UTF-8 byte-order mark, nesting deeper than
:data:`MAX_NESTING`), and a parse error is always reported with tomllib's wording and 1-based line
and column, as editors count them.

A byte-order mark is refused, not skipped: synth-ai's CLI (tomllib) refuses such a file, and the
check must give the CLI's verdict; the message names the BOM so the fix is obvious.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import tomlkit
import tomlkit.exceptions

#: Deepest nesting of arrays and inline tables accepted. Real configs use two or three levels.
MAX_NESTING = 64
BOM = "\ufeff"

_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


class TomlError(ValueError):
    """Text that is not a valid TOML config; ``str()`` is the one message every caller shows."""

    def __init__(self, reason: str, line: int | None, column: int | None) -> None:
        self.reason = reason
        self.line = line
        self.column = column
        where = f"line {line}, column {column}" if line is not None else "the end of the file"
        super().__init__(f"Invalid TOML at {where}: {reason}")


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _too_deep(text: str) -> int | None:
    """The index where nesting first exceeds :data:`MAX_NESTING` (strings and comments skipped)."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return None  # cannot nest that deep: skip the scan (every ordinary config)
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in "\"'":
            triple = text.startswith(ch * 3, i)
            quote = ch * 3 if triple else ch
            j = i + len(quote)
            while j < n:
                if ch == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                if not triple and text[j] == "\n":
                    break
                j += 1
            i = j + len(quote)
            continue
        if ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                return i
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return None


def check_shape(text: str) -> None:
    """Refuse what would crash or mislead a parser: a byte-order mark, nesting past :data:`MAX_NESTING`."""
    if text.startswith(BOM):
        raise TomlError(
            "the file starts with a UTF-8 byte-order mark (BOM), which TOML readers (synth-ai's too) "
            "refuse; save it as UTF-8 without BOM",
            1,
            1,
        )
    index = _too_deep(text)
    if index is not None:
        line, column = _line_col(text, index)
        raise TomlError(f"arrays or inline tables nested more than {MAX_NESTING} levels deep", line, column)


def _from_tomllib(exc: tomllib.TOMLDecodeError) -> TomlError:
    text = str(exc)
    match = _POSITION.search(text)
    if match:
        return TomlError(text[: match.start()].strip(), int(match.group(1)), int(match.group(2)))
    return TomlError(_AT_END.sub("", text).strip(), None, None)


def load_plain(text: str) -> dict[str, Any]:
    """``text`` as plain Python values (tomllib, as synth-ai's CLI reads it); :class:`TomlError` if invalid."""
    check_shape(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _from_tomllib(exc) from None
    except RecursionError:  # cannot happen after check_shape; never let it escape as a crash
        raise TomlError("nested too deeply", None, None) from None


def load_document(text: str) -> tomlkit.TOMLDocument:
    """``text`` as an editable tomlkit document; errors worded and placed exactly as :func:`load_plain`'s."""
    check_shape(text)
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as strict:
            raise _from_tomllib(strict) from None
        except RecursionError:
            pass
        # Only tomlkit refuses it: its message, its position made 1-based like tomllib's.
        reason = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise TomlError(reason, exc.line, exc.col + 1) from None
    except RecursionError:
        raise TomlError("nested too deeply", None, None) from None

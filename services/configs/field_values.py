"""Typed values for config keys: the one rule the pane's form and ``config set`` both apply.

The form used to refuse ``learning_rate = abc`` while ``config set`` wrote ``learning_rate = "abc"``
and exited 0. Both now turn what the user typed into a TOML value here, so a value the form refuses
is refused by the CLI with the same words.
"""

from __future__ import annotations

import re
from typing import Any

import tomlkit
from tomlkit.items import Item

from services.common.echo import cap_echo
from services.configs.document import EditError, literal
from services.configs.fields import BY_PATH, FieldSpec, Kind

#: A word that may stand for a string without quotes in ``config set`` (H100, ft_data/x.jsonl).
BARE_WORD = re.compile(r"[A-Za-z_][\w./:-]*")

_KIND_ERROR = {
    Kind.INT: "must be a whole number",
    Kind.FLOAT: "must be a number",
    Kind.BOOL: "must be true or false",
    Kind.TABLE: "must be an inline table, e.g. {}",
}


def _fits(kind: Kind, value: Any) -> bool:
    if kind is Kind.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is Kind.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.BOOL:
        return isinstance(value, bool)
    if kind is Kind.TABLE:
        return isinstance(value, dict)
    return True


def parse_field(spec: FieldSpec, text: str) -> tuple[Item | None, str | None]:
    """(TOML value or None = remove the key, error) for what was typed into the form's field.

    Text and choice fields take the text as it is; list fields take comma-separated names; numbers,
    booleans and tables take a TOML literal of the right type (``5e-6`` keeps its spelling).
    """
    raw = text.strip()
    if not raw:
        return None, None
    if spec.kind in (Kind.STR, Kind.CHOICE):
        return tomlkit.item(raw), None
    if spec.kind is Kind.LIST:
        return tomlkit.item([part.strip() for part in raw.split(",") if part.strip()]), None
    try:
        item = literal(raw)
    except EditError:
        if spec.kind in _KIND_ERROR:  # "abc" for a number: say what the field wants
            return None, f"{_KIND_ERROR[spec.kind]} ({cap_echo(raw)!r} is not one)"
        return None, f"{cap_echo(raw)!r} is not a TOML value"
    value = item.unwrap() if hasattr(item, "unwrap") else item
    if not _fits(spec.kind, value):
        return None, _KIND_ERROR[spec.kind]
    return item, None


def parse_assignment(path: str, raw: str) -> Item:
    """The value of ``config set PATH=RAW``; :class:`EditError` for a value the form would refuse.

    RAW is a TOML literal (``1e-5``, ``8``, ``true``, ``"H100"``, ``["all-linear"]``). For a known
    text or list key a bare word (``H100``, ``ft_data/x.jsonl``, ``all-linear``) is taken as the form
    takes it; other keys accept a bare word as a string.
    """
    spec = BY_PATH.get(path)
    text = raw.strip()
    try:
        item: Item | None = literal(text)
    except EditError:
        item = None
    if spec is None:
        if item is None and BARE_WORD.fullmatch(text):
            return tomlkit.item(text)  # a bare word (H100, ft_data/x.jsonl) is a string
        if item is None:
            raise EditError(f'{cap_echo(text)!r} is not a TOML value (quote text: "...")')
        return item
    value = item.unwrap() if item is not None and hasattr(item, "unwrap") else None
    if spec.kind in (Kind.STR, Kind.CHOICE):
        if isinstance(value, str):
            return tomlkit.item(value)
        if item is not None and not isinstance(value, str) and text[:1] in "[{":
            raise EditError(f"{path} must be text")
        return tomlkit.item(text)
    if spec.kind is Kind.LIST and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise EditError(f"{path} must be a list of names")
        return tomlkit.item(value)
    result, error = parse_field(spec, text)
    if error:
        raise EditError(f"{path} {error}")
    assert result is not None  # a blank value removes the key before this is called
    return result

"""How the comparison spells settings: as the TOML the user edits (``true``/``false``), not Python."""

from __future__ import annotations

from services.ledger.compare import _text


def test_booleans_are_spelt_as_in_toml() -> None:
    assert _text(True) == "true" and _text(False) == "false"
    assert _text([True, 2]) == "true,2"
    assert _text(0.002) == "0.002" and _text(None) == "—" and _text(3) == "3"

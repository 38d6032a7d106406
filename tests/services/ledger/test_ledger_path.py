"""Where the ledger is: ``--ledger`` beats ``SFT_STUDIO_LEDGER`` beats the data dir's runs.db (the
job store's file); ``off`` stops the hooks but the runs commands still read the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.jobs.store import DB_NAME
from services.ledger.hooks import enabled
from services.ledger.open import ledger_path


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SFT_STUDIO_LEDGER", raising=False)
    assert ledger_path() == tmp_path / "data" / DB_NAME and enabled()
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "repo" / "ledger.db"))
    assert ledger_path() == tmp_path / "repo" / "ledger.db"
    assert ledger_path(tmp_path / "given.db") == tmp_path / "given.db"
    monkeypatch.setenv("SFT_STUDIO_LEDGER", "off")
    assert not enabled() and ledger_path() == tmp_path / "data" / DB_NAME

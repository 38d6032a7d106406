"""The data dir: the platform's user data dir, or SFT_STUDIO_DATA_DIR when set."""

from __future__ import annotations

from pathlib import Path

import pytest
from platformdirs import user_data_path

from services.common.data_dir import data_dir
from services.rollouts.demo import demo_db_path


def test_the_environment_overrides_the_platform_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    assert data_dir() == tmp_path / "data"
    assert demo_db_path() == tmp_path / "data" / "demo" / "traces" / "v3" / "synth_ai.db"
    assert not (tmp_path / "data").exists()  # asking creates nothing


def test_without_the_variable_it_is_the_platform_user_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFT_STUDIO_DATA_DIR", raising=False)
    assert data_dir() == user_data_path("sft-studio", appauthor=False)
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", "")  # empty counts as unset
    assert data_dir() == user_data_path("sft-studio", appauthor=False)

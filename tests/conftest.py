"""Shared fixtures: trace DBs built by our own writer (never binary files of unknown origin)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.traces.achievement_keys import KeyStyle
from tests.support.tracegen import build_db


@pytest.fixture(scope="session")
def app_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small task-app-key DB with every quirk (malformed rows, 0/2 outcome rows, ...)."""
    return build_db(tmp_path_factory.mktemp("app") / "synth_ai.db", style=KeyStyle.TASK_APP)


@pytest.fixture(scope="session")
def ref_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same episodes as ``app_db`` (same seed), with the reference exporter's keys."""
    return build_db(tmp_path_factory.mktemp("ref") / "synth_ai.db", style=KeyStyle.REFERENCE)

"""Shared fixtures: trace DBs built by our own writer (never binary files of unknown origin)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from services.traces.achievement_keys import KeyStyle
from tests.support.tracegen import build_db


def pytest_configure(config: pytest.Config) -> None:
    _own_data_dir()
    _sigint_default()


def _own_data_dir() -> None:
    """The suite never touches the user's data dir (demo DB, index cache, a local backend started by a
    pane test, the runs ledger): unless the caller chose one, it gets a fresh folder, removed at exit.
    Tests that need their own still set ``SFT_STUDIO_DATA_DIR`` with monkeypatch."""
    if os.environ.get("SFT_STUDIO_DATA_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="sft-studio-test-data-")
    os.environ["SFT_STUDIO_DATA_DIR"] = folder

    def clean_up() -> None:
        from services.training.server.lifecycle import stop_server

        with contextlib.suppress(Exception):  # a backend a test started (detached, by design) goes too
            stop_server(Path(folder))
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(clean_up)


def _sigint_default() -> None:
    """Children started by tests get Ctrl-C's default handling even when the suite itself runs as a
    background job of a non-interactive shell (`.ci/run &`), which starts it with SIGINT ignored, an
    ignore every child would inherit: the signal tests would then see Ctrl-C do nothing. A Python
    handler here is reset to the default in each exec'd child."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def app_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small task-app-key DB with every quirk (malformed rows, 0/2 outcome rows, ...)."""
    return build_db(tmp_path_factory.mktemp("app") / "synth_ai.db", style=KeyStyle.TASK_APP)


@pytest.fixture(scope="session")
def ref_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same episodes as ``app_db`` (same seed), with the reference exporter's keys."""
    return build_db(tmp_path_factory.mktemp("ref") / "synth_ai.db", style=KeyStyle.REFERENCE)


@pytest.fixture(autouse=True)
def _no_runs_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports, submits and evals record into the runs ledger (issue 15); tests keep it off so they
    never write the user's real data dir. Ledger tests point SFT_STUDIO_LEDGER at a temp file."""
    monkeypatch.setenv("SFT_STUDIO_LEDGER", "off")

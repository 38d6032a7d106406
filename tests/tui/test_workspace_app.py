"""One workspace for the app (issue 10 item 3): run from a sub-folder, the Configs list and the export
target are the workspace's, and the status line names the workspace and the DB's file name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import Label, OptionList

from services.common.workspace import ENV_VAR
from tests.support.paths import ROOT
from tests.support.pilot import make_app, show_pane, until
from tui.panes.configs.pane import ConfigsPane
from tui.panes.filters.pane import FiltersPane

LORA = "crafter_lora_qwen0p6b.toml"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with one config; the app runs from two folders below it."""
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs" / LORA, tmp_path / "configs" / LORA)
    (tmp_path / "runs" / "today").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "runs" / "today")
    monkeypatch.delenv(ENV_VAR, raising=False)
    return tmp_path.resolve()


async def test_configs_and_exports_are_the_workspaces(workspace: Path, app_db: Path) -> None:
    app = make_app(app_db)
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one("#status-workspace", Label)
        await until(pilot, lambda: "ws " in str(status.content), timeout=30)
        assert str(status.content).endswith(workspace.name)
        assert str(app.query_one("#status-db", Label).content).startswith(f"DB {app_db.name}")
        pane = await show_pane(pilot, "3", ConfigsPane)
        assert pane.config_dir == workspace / "configs"
        files = app.query_one("#cfg-files", OptionList)
        await until(pilot, lambda: files.option_count == 1, timeout=30)
        filters = await show_pane(pilot, "2", FiltersPane)
        assert filters.export_output == workspace / "ft_data" / "crafter_traces.jsonl"
        assert filters.presets_dir == workspace / "configs" / "filters"

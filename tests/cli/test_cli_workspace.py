"""One workspace root for every command (issue 10 item 3): --workspace, SFT_STUDIO_WORKSPACE, the
nearest folder upward holding configs/ or ft_data/, the current folder; never silently another."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.workspace import ENV_VAR
from tui.cli import main


@pytest.fixture
def below_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ft_data").mkdir()
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.delenv(ENV_VAR, raising=False)
    return tmp_path.resolve()


def test_export_lands_in_the_workspace_found_upward(below_workspace: Path, app_db: Path) -> None:
    assert main(["export", "--db", str(app_db)]) == 0
    assert (below_workspace / "ft_data" / "crafter_traces.jsonl").is_file()
    assert not Path("ft_data").exists()  # nothing relative to the current folder


def test_flag_and_environment_choose_it(below_workspace: Path, app_db: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv(ENV_VAR, str(other))
    assert main(["export", "--db", str(app_db)]) == 0
    assert (other / "ft_data" / "crafter_traces.jsonl").is_file()
    flagged = tmp_path / "flagged"
    flagged.mkdir()
    assert main(["--workspace", str(flagged), "export", "--db", str(app_db)]) == 0
    assert (flagged / "ft_data" / "crafter_traces.jsonl").is_file()


def test_a_workspace_that_is_not_a_folder_is_refused(
    below_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--workspace", str(tmp_path / "nope"), "stats"]) == 2
    assert "is not a folder" in capsys.readouterr().err

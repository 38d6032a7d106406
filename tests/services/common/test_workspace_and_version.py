"""Workspace folders named once (under the workspace root found by one rule) and the version
read from the package metadata."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from services.common import version as version_module
from services.common.workspace import (
    ENV_VAR,
    RULE_CWD,
    RULE_ENV,
    RULE_FLAG,
    RULE_UPWARD,
    Workspace,
    WorkspaceError,
    configs_dir,
    default_export,
    filter_presets_dir,
    find_workspace,
    ft_data_dir,
    use_workspace,
)


def test_folders_are_in_the_workspace_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 item 3: from a sub-folder of a workspace, every folder is the workspace's."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    (tmp_path / "configs").mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    root = tmp_path.resolve()
    assert configs_dir() == root / "configs"
    assert filter_presets_dir() == root / "configs" / "filters"
    assert ft_data_dir() == root / "ft_data"
    assert default_export() == root / "ft_data" / "crafter_traces.jsonl"


def test_workspace_rules_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find_workspace(cwd=plain) == Workspace(plain.resolve(), RULE_CWD)
    (tmp_path / "ft_data").mkdir()
    assert find_workspace(cwd=plain) == Workspace(tmp_path.resolve(), RULE_UPWARD)
    other = tmp_path / "other"
    other.mkdir()
    assert find_workspace(cwd=plain, env=str(other)) == Workspace(other.resolve(), RULE_ENV)
    assert find_workspace(plain, cwd=tmp_path, env=str(other)) == Workspace(plain.resolve(), RULE_FLAG)
    with pytest.raises(WorkspaceError, match="is not a folder"):
        find_workspace(tmp_path / "missing", cwd=plain)
    with pytest.raises(WorkspaceError, match="SFT_STUDIO_WORKSPACE"):
        find_workspace(cwd=plain, env=str(tmp_path / "missing"))


def test_the_active_workspace_wins(tmp_path: Path) -> None:
    use_workspace(Workspace(tmp_path, RULE_FLAG))
    try:
        assert configs_dir() == tmp_path / "configs" and default_export() == tmp_path / "ft_data/crafter_traces.jsonl"
    finally:
        use_workspace(None)


def test_folders_follow_a_given_root(tmp_path: Path) -> None:
    assert configs_dir(tmp_path) == tmp_path / "configs"
    assert filter_presets_dir(tmp_path) == tmp_path / "configs" / "filters"
    assert default_export(tmp_path) == tmp_path / "ft_data" / "crafter_traces.jsonl"


def test_version_is_the_installed_packages() -> None:
    assert version_module.package_version() == importlib.metadata.version("sft-studio")


def test_version_without_metadata_says_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module, "_from_dist_info", lambda: None)
    monkeypatch.setattr(importlib.metadata, "version", missing)
    version_module.package_version.cache_clear()
    try:
        assert version_module.package_version() == "unknown"
    finally:
        version_module.package_version.cache_clear()

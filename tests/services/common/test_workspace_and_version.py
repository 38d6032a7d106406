"""Workspace folders named once (relative to a root, the current directory by default) and the version
read from the package metadata."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from services.common import version as version_module
from services.common.workspace import configs_dir, default_export, filter_presets_dir, ft_data_dir


def test_folders_are_relative_to_the_current_directory_by_default() -> None:
    assert configs_dir() == Path("configs") and not configs_dir().is_absolute()
    assert filter_presets_dir() == Path("configs/filters")
    assert ft_data_dir() == Path("ft_data")
    assert default_export() == Path("ft_data/crafter_traces.jsonl")


def test_folders_follow_a_given_root(tmp_path: Path) -> None:
    assert configs_dir(tmp_path) == tmp_path / "configs"
    assert filter_presets_dir(tmp_path) == tmp_path / "configs" / "filters"
    assert default_export(tmp_path) == tmp_path / "ft_data" / "crafter_traces.jsonl"


def test_every_caller_uses_the_workspace_folders() -> None:
    from services.datasets.export import DEFAULT_OUTPUT
    from services.datasets.presets import DEFAULT_PRESET_DIR

    assert default_export() == DEFAULT_OUTPUT and filter_presets_dir() == DEFAULT_PRESET_DIR


def test_version_is_the_installed_packages() -> None:
    assert version_module.package_version() == importlib.metadata.version("sft-studio")


def test_version_without_metadata_says_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module, "version", missing)
    version_module.package_version.cache_clear()
    try:
        assert version_module.package_version() == "unknown"
    finally:
        version_module.package_version.cache_clear()

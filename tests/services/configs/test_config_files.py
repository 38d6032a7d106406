"""The configs of a folder and the 1 MB rule for opening one (the Configs pane's list and open)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.configs.document import ConfigFileError
from services.configs.files import MAX_CONFIG_BYTES, ConfigFile, list_configs, open_config


def test_lists_toml_files_shallow_first_without_the_presets(tmp_path: Path) -> None:
    for name in ("b.toml", "a.toml", "sweeps/x/c.toml", "sweeps/d.toml", "filters/preset.toml", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("[job]\n")
    found = list_configs(tmp_path)
    assert [f.path.relative_to(tmp_path).as_posix() for f in found] == [
        "a.toml",
        "b.toml",
        "sweeps/d.toml",
        "sweeps/x/c.toml",
    ]
    assert all(f.size == 6 and f.readable and not f.too_big for f in found)
    assert list_configs(tmp_path / "missing") == []


def test_facts_of_a_big_and_a_missing_file(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    assert ConfigFile.of(big).too_big
    gone = ConfigFile.of(tmp_path / "gone.toml")
    assert (gone.size, gone.readable, gone.too_big) == (None, False, False)


def test_open_refuses_over_1_mb(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigFileError, match="over 1 MB: not an SFT config"):
        open_config(big)
    ok = tmp_path / "ok.toml"
    ok.write_bytes(b"#" * MAX_CONFIG_BYTES)
    assert open_config(ok).path == ok
    with pytest.raises(ConfigFileError, match="does not exist"):
        open_config(tmp_path / "gone.toml")

"""The SFT configs of a folder, and the one rule for opening a config file (at most 1 MB).

The Configs pane lists a folder through :func:`list_configs` and opens files through
:func:`open_config`; the limit keeps a huge file that is plainly not a config (a dataset picked by
mistake) out of the editor, where loading it would freeze the screen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.common.workspace import PRESETS_SUBFOLDER
from services.configs.document import ConfigDocument, ConfigFileError

#: Files above this size are refused: SFT configs are a few kilobytes.
MAX_CONFIG_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A config file as found on disk: its size (None when it cannot be read) and whether we may read it."""

    path: Path
    size: int | None
    readable: bool

    @classmethod
    def of(cls, path: Path) -> ConfigFile:
        try:
            size: int | None = path.stat().st_size
        except OSError:
            size = None
        return cls(path, size, size is not None and os.access(path, os.R_OK))

    @property
    def too_big(self) -> bool:
        return self.size is not None and self.size > MAX_CONFIG_BYTES


def list_configs(folder: Path) -> list[ConfigFile]:
    """The ``*.toml`` files under ``folder`` (sub-folders too, the filter presets' folder excepted: presets
    are not SFT configs), shallow ones first, then by path; nothing when ``folder`` is not a folder."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*.toml") if p.relative_to(folder).parts[0] != PRESETS_SUBFOLDER]
    found.sort(key=lambda p: (len(p.relative_to(folder).parts), str(p)))
    return [ConfigFile.of(p) for p in found]


def open_config(path: Path) -> ConfigDocument:
    """``path`` loaded for editing; :class:`ConfigFileError` for a file over :data:`MAX_CONFIG_BYTES`
    or one that cannot be read as UTF-8 TOML text."""
    if ConfigFile.of(path).too_big and path.is_file():
        raise ConfigFileError(f"{path} is over 1 MB: not an SFT config.")
    return ConfigDocument.load(path)

"""The workspace: the one folder that holds ``configs/`` (sweeps go beside their base config, in
``configs/sweeps/``), ``configs/filters/`` and ``ft_data/``, whatever folder sft-studio runs from
(issue 10 item 3: run from another folder, the Configs pane said "No configs in configs/" and
exports landed relative to the current directory).

The root, first rule that applies (:func:`find_workspace`):

1. ``--workspace DIR`` (the CLI's flag);
2. the ``SFT_STUDIO_WORKSPACE`` environment variable;
3. the nearest folder, from the current one upward, that holds ``configs/`` or ``ft_data/``;
4. the current folder.

A root given by flag or variable that is not a folder is an error, never silently replaced. The CLI
finds the root once at start and makes it the active one (:func:`use_workspace`); the folder helpers
below default to the active root, read at each call (never frozen at import time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "SFT_STUDIO_WORKSPACE"
#: A folder holding one of these is a workspace (found upward, like synth-ai's trace DB).
MARKERS = ("configs", "ft_data")
#: The sub-folder of the configs folder that holds filter presets (TOML too, but not SFT configs).
PRESETS_SUBFOLDER = "filters"

RULE_FLAG = "--workspace"
RULE_ENV = ENV_VAR
RULE_UPWARD = "found upward"
RULE_CWD = "current folder"


class WorkspaceError(Exception):
    """A workspace named by flag or environment that cannot be one (phrased for the user)."""


@dataclass(frozen=True)
class Workspace:
    """The root (absolute) and the rule that chose it."""

    root: Path
    rule: str


def find_workspace(flag: str | Path | None = None, *, cwd: Path | None = None, env: str | None = None) -> Workspace:
    """The workspace by the rules above; ``env`` None reads ``SFT_STUDIO_WORKSPACE``."""
    env = os.environ.get(ENV_VAR) if env is None else env
    for given, rule in ((flag, RULE_FLAG), (env or None, RULE_ENV)):
        if given is not None:
            root = Path(given).expanduser().resolve()
            if not root.is_dir():
                raise WorkspaceError(f"Workspace {given} (from {rule}) is not a folder.")
            return Workspace(root, rule)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).is_dir() for marker in MARKERS):
            return Workspace(folder, RULE_CWD if folder == here else RULE_UPWARD)
    return Workspace(here, RULE_CWD)


_active: Workspace | None = None


def use_workspace(workspace: Workspace | None) -> None:
    """Make ``workspace`` the one every folder helper defaults to (None: find it at each call)."""
    global _active
    _active = workspace


def current_workspace() -> Workspace:
    """The active workspace, else the one the rules find now."""
    return _active or find_workspace()


def workspace_root() -> Path:
    return current_workspace().root


def configs_dir(root: Path | None = None) -> Path:
    """SFT configs (TOML), for the Configs pane and ``sft-studio config``."""
    return (root or workspace_root()) / "configs"


def filter_presets_dir(root: Path | None = None) -> Path:
    """Filter presets (TOML), saved and loaded by the Filters pane and ``--preset``."""
    return configs_dir(root) / PRESETS_SUBFOLDER


def ft_data_dir(root: Path | None = None) -> Path:
    """Exported SFT datasets (JSONL with their manifests)."""
    return (root or workspace_root()) / "ft_data"


def default_export(root: Path | None = None) -> Path:
    """The export target when none is given (the reference exporter's default file name)."""
    return ft_data_dir(root) / "crafter_traces.jsonl"


def display_path(path: Path) -> str:
    """``path`` as a user reads it: relative to the workspace when it lies inside (``ft_data/x.jsonl``),
    else as given. Screens show it; files and manifests keep the real path."""
    try:
        return str(Path(path).absolute().relative_to(workspace_root().absolute()))
    except ValueError:
        return str(path)

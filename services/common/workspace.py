"""Where sft-studio keeps its files inside a workspace: ``configs/``, ``configs/filters/``, ``ft_data/``.

Each folder is named here once, relative to a workspace root that defaults to the current directory
(so the paths stay relative, resolved where the command or the app runs, as they always were). How
the root itself is found is a later decision; callers that know it pass it.
"""

from __future__ import annotations

from pathlib import Path

#: The current directory, as a relative path: ``HERE / "configs"`` is ``Path("configs")``.
HERE = Path()
#: The sub-folder of the configs folder that holds filter presets (TOML too, but not SFT configs).
PRESETS_SUBFOLDER = "filters"


def configs_dir(root: Path = HERE) -> Path:
    """SFT configs (TOML), for the Configs pane and ``sft-studio config``."""
    return root / "configs"


def filter_presets_dir(root: Path = HERE) -> Path:
    """Filter presets (TOML), saved and loaded by the Filters pane and ``--preset``."""
    return configs_dir(root) / PRESETS_SUBFOLDER


def ft_data_dir(root: Path = HERE) -> Path:
    """Exported SFT datasets (JSONL with their manifests)."""
    return root / "ft_data"


def default_export(root: Path = HERE) -> Path:
    """The export target when none is given (the reference exporter's default file name)."""
    return ft_data_dir(root) / "crafter_traces.jsonl"

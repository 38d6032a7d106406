"""sft-studio's version, read from the installed package's metadata: pyproject.toml is the one place
it is written. Import this only where the version is shown (``--version``, manifests).

The ``Version:`` line of ``sft_studio-*.dist-info/METADATA`` on ``sys.path`` is read directly:
``importlib.metadata`` imports email, csv, tempfile and more (about half of ``sft-studio --version``'s
start-up, issue 10 item 23); it stays the fallback for any other kind of install.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

DISTRIBUTION = "sft-studio"
_DIST_INFO_GLOB = "sft_studio-*.dist-info"


def _from_dist_info() -> str | None:
    """The version in the first ``sft_studio-*.dist-info/METADATA`` on ``sys.path``, as Python finds it."""
    for entry in sys.path:
        folder = Path(entry or ".")
        try:
            infos = sorted(folder.glob(_DIST_INFO_GLOB))
        except OSError:
            continue
        for info in infos:
            try:
                with (info / "METADATA").open(encoding="utf-8") as metadata:
                    for line in metadata:
                        if line.startswith("Version:"):
                            return line.partition(":")[2].strip()
                        if not line.strip():  # the headers end at the first blank line
                            break
            except OSError:
                continue
    return None


@cache
def package_version() -> str:
    """``0.1.0``; ``unknown`` when the sources run without being installed (no metadata to read)."""
    found = _from_dist_info()
    if found:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"

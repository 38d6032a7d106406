"""sft-studio's version, read from the installed package's metadata: pyproject.toml is the one place
it is written. Import this only where the version is shown (``--version``, manifests): reading the
metadata costs a few milliseconds that other commands need not pay."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "sft-studio"


@cache
def package_version() -> str:
    """``0.1.0``; ``unknown`` when the sources run without being installed (no metadata to read)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"

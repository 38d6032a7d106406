"""What an export writes, named once: the subset sizes a user asks for and every target file.

``x.jsonl`` comes with ``x.manifest.json``; each subset size N adds ``x.nN.jsonl`` and its manifest.
The exporter, the Filters pane's export dialog (which asks before overwriting any of them) and the
CLI all take the names and the parsed sizes from here, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class SizesError(ValueError):
    """Subset sizes that cannot be used; the message names the bad item."""


def parse_sizes(text: str | None, *, label: str = "sizes") -> list[int]:
    """``"500, 100,100"`` -> ``[100, 500]``: whole numbers of 1 or more, sorted, each once (one file
    per size); blank items are ignored. ``label`` starts the error message (the CLI's flag name)."""
    sizes: set[int] = set()
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            n = int(item)
        except ValueError:
            raise SizesError(f"{label} takes whole numbers separated by commas, got {item!r}") from None
        if n < 1:
            raise SizesError(f"{label} values must be 1 or more, got {n}")
        sizes.add(n)
    return sorted(sizes)


def check_sizes_fit(sizes: Iterable[int], examples: int) -> None:
    """SizesError when a subset size exceeds the ``examples`` the export holds.

    Such a subset would hold every example under a name that promises N (``x.n999999.jsonl`` with
    5,942 lines): the export refuses instead, and says the largest size that works. The exporter
    checks against the lines it wrote; the pane's dialog against the preview's count first.
    """
    too_big = [n for n in sizes if n > examples]
    if not too_big:
        return
    listed = ", ".join(f"{n:,}" for n in too_big)
    plural = "s" if len(too_big) > 1 else ""
    raise SizesError(
        f"subset size{plural} {listed} larger than the {examples:,} example{'s' if examples != 1 else ''} "
        f"this export holds: choose sizes up to {examples:,} (the main file holds them all)"
    )


def manifest_path(output: Path) -> Path:
    """``x.jsonl`` -> ``x.manifest.json``."""
    return output.with_name(output.stem + ".manifest.json")


def subset_path(output: Path, size: int) -> Path:
    """``x.jsonl`` -> ``x.n100.jsonl``."""
    return output.with_name(f"{output.stem}.n{size}{output.suffix}")


def export_targets(output: Path, sizes: Iterable[int] = ()) -> list[Path]:
    """Every file an export of ``output`` with these subset sizes writes: the JSONL, its manifest,
    then each subset followed by its manifest."""
    targets = [output, manifest_path(output)]
    for n in sizes:
        targets += [subset_path(output, n), manifest_path(subset_path(output, n))]
    return targets

"""The exported datasets of a folder (``ft_data/*.jsonl``), each with its manifest's summary.

An export (Filters pane, ``sft-studio export``) writes ``x.jsonl`` beside ``x.manifest.json``; the Jobs
pane's submit form shows what the manifest says (examples, estimated tokens, the filter that made it)
so the user picks a dataset knowing what is in it. A file without a readable manifest is still
offered, marked so. Only the few fields shown are read (the ledger reads manifests whole).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.datasets.export_targets import manifest_path

#: Manifests above this size are not read (an export's manifest is a few kilobytes).
MAX_MANIFEST_BYTES = 2_000_000
#: Filter fields worth a word in the summary, in this order.
_FILTER_WORDS = (
    ("models", "models"),
    ("min_unique", "min unique"),
    ("max_unique", "max unique"),
    ("min_outcome_reward", "reward ≥"),
    ("max_outcome_reward", "reward ≤"),
    ("require_achievements", "require"),
    ("exclude_achievements", "exclude"),
    ("limit", "limit"),
)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset file and what its manifest says (None where it says nothing)."""

    path: Path
    examples: int | None = None
    tokens: int | None = None
    filter_text: str = ""
    note: str = ""

    def summary(self) -> str:
        """``1,204 examples · ~812,330 tokens · min unique 2`` (or why there is no summary)."""
        if self.note:
            return self.note
        parts = []
        if self.examples is not None:
            parts.append(f"{self.examples:,} examples")
        if self.tokens is not None:
            parts.append(f"~{self.tokens:,} tokens")
        parts.append(f"filter: {self.filter_text or 'none'}")
        return " · ".join(parts)


def _filter_text(spec: Any) -> str:
    if not isinstance(spec, dict):
        return ""
    words = []
    for key, label in _FILTER_WORDS:
        value = spec.get(key)
        if value in (None, [], "", {}):
            continue
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        words.append(f"{label} {shown}")
    return "; ".join(words)


def read_entry(path: Path) -> DatasetEntry:
    """``path`` with its manifest's summary; a missing or unreadable manifest is said, not raised."""
    manifest = manifest_path(path)
    try:
        if manifest.stat().st_size > MAX_MANIFEST_BYTES:
            return DatasetEntry(path, note="manifest too large to read")
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DatasetEntry(path, note="no manifest (not exported by sft-studio)")
    except (OSError, UnicodeDecodeError, ValueError):
        return DatasetEntry(path, note="manifest unreadable")
    if not isinstance(data, dict):
        return DatasetEntry(path, note="manifest unreadable")
    counts_value = data.get("counts")
    counts: dict[str, Any] = counts_value if isinstance(counts_value, dict) else {}
    examples = counts.get("examples")
    tokens = data.get("token_estimate")
    return DatasetEntry(
        path,
        examples=examples if isinstance(examples, int) else None,
        tokens=tokens if isinstance(tokens, int) else None,
        filter_text=_filter_text(data.get("filter")),
    )


def list_datasets(folder: Path) -> list[DatasetEntry]:
    """The ``*.jsonl`` files of ``folder`` (not its sub-folders), newest name order, with summaries."""
    if not folder.is_dir():
        return []
    return [read_entry(p) for p in sorted(folder.glob("*.jsonl"))]

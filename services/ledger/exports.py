"""A comparison of runs as CSV and Markdown, and the files an export of the runs table or of a
comparison is written to.

Here rather than in the Runs pane so ``sft-studio runs compare --format csv|md`` writes the same
text as the pane's e key (the table's own CSV / Markdown is ``services.ledger.table``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from services.common.atomic import write_atomic
from services.ledger.compare import RunComparison


def _ci(pair: tuple[float, float] | None) -> str:
    return "" if pair is None else f"[{pair[0]:+.2f}, {pair[1]:+.2f}]"


def comparison_csv(c: RunComparison) -> str:
    """Settings (one row each, with ``differs``), then one row per score difference."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["setting", *c.ids, "differs"])
    for row in c.settings:
        w.writerow([row.name, *row.values, "yes" if row.differs else ""])
    w.writerow([])
    w.writerow(
        ["run", "against", "score", "against score", "difference", "difference 95% CI", "paired seeds", "verdict"]
    )
    for s in c.scores:
        ci = f"{s.diff_ci[0]:.2f} {s.diff_ci[1]:.2f}" if s.diff_ci else ""
        w.writerow([s.b, s.a, f"{s.score_b:.2f}", f"{s.score_a:.2f}", f"{s.diff:+.2f}", ci, s.paired_seeds, s.verdict])
    for warning in c.warnings:
        w.writerow(["warning", warning])
    return buf.getvalue()


def comparison_markdown(c: RunComparison) -> str:
    """Settings as a table (differing ones in bold with ≠), the score differences, the warnings."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| setting | " + " | ".join(map(cell, c.ids)) + " |", "|---|" + "---|" * len(c.ids)]
    for row in c.settings:
        name = f"**{cell(row.name)}** ≠" if row.differs else cell(row.name)
        lines.append(f"| {name} | " + " | ".join(map(cell, row.values)) + " |")
    if c.scores:
        lines += ["", "| run | against | score | difference [95% CI] | verdict |", "|---|---|---|---|---|"]
        for s in c.scores:
            lines.append(
                f"| {cell(s.b)} | {cell(s.a)} | {s.score_b:.2f} vs {s.score_a:.2f} | {s.diff:+.2f} {_ci(s.diff_ci)} "
                f"| {cell(s.verdict if s.paired_seeds else s.note)} |"
            )
    if c.warnings:
        lines.append("")
        lines += [f"> Warning: {cell(w)}" for w in c.warnings]
    return "\n".join(lines) + "\n"


def export_names(kind: str) -> tuple[str, str]:
    """The CSV and Markdown file names of an export (``table`` or ``comparison``)."""
    return f"runs-{kind}.csv", f"runs-{kind}.md"


def write_exports(folder: Path, kind: str, csv_text: str, md_text: str) -> list[Path]:
    """Both files, atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in export_names(kind)]
    for path, text in zip(paths, (csv_text, md_text), strict=True):
        write_atomic(path, text.encode())
    return paths

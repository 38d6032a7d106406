"""Two dataset checks, each with its source's exact messages.

1. The exporter's own pre-write check (export_trace_sft.py 0.2.10, trace_db.md §8.4): any problem
   aborts the export and nothing is written. We keep one deliberate difference: list content
   (OpenAI segments: images, several text parts) is accepted, because synth-ai's upload validator
   accepts it and the reference's abort throws away a whole export for one image.
2. The checks synth-ai's ``train --type sft`` CLI runs before upload (synth_backend_api.md §4;
   ``synth_ai.learning.sft.data`` 0.2.23). Running them after every export, and as
   ``sft-studio validate FILE``, means a file we write is known to pass the backend's gate before
   anyone spends GPU money.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from services.datasets.validation_rules import (
    EXPORT_FAILURE_HEADER,
    MAX_ISSUES,
    export_failure_text,
    export_problem,
    export_problems,
    export_row_problem,
    line_issue,
    upload_issue,
)

__all__ = [
    "EXPORT_FAILURE_HEADER",
    "MAX_ISSUES",
    "ValidationReport",
    "export_failure_text",
    "export_problem",
    "export_problems",
    "export_row_problem",
    "line_issue",
    "upload_issue",
    "validate_jsonl",
]


class ValidationReport(BaseModel):
    """What the upload validator says about one file."""

    path: Path
    examples: int = 0  # non-blank lines checked
    issues: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def truncated(self) -> bool:
        return len(self.issues) >= MAX_ISSUES

    def failure_text(self) -> str:
        """The CLI's failure block: header line, then one ' - Line N: …' per issue."""
        suffix = f" (showing first {MAX_ISSUES} issues)" if self.truncated else ""
        return "\n - ".join([f"{self.path}: Dataset validation failed{suffix}:", *self.issues])

    def summary(self) -> str:
        return f"{self.path}: OK, {self.examples} SFT example(s)"


def _lines(path: Path) -> Iterator[bytes]:
    r"""The file's lines as Python's text mode splits them (\n, \r\n and \r all end a line)."""
    with path.open("rb") as fh:
        for chunk in fh:  # binary iteration ends a chunk at \n (or at the end of the file)
            if b"\r" not in chunk:
                yield chunk
                continue
            parts = chunk.replace(b"\r\n", b"\n").split(b"\r")
            if not parts[-1]:
                parts.pop()  # the chunk ended with a lone \r: nothing follows it on this line
            yield from parts


def validate_jsonl(path: Path) -> ValidationReport:
    """Check every non-blank line; stop after 20 issues; a file with none is an issue itself."""
    report = ValidationReport(path=path)
    if not path.exists():
        report.issues.append(f"Dataset not found: {path}")
        return report
    try:
        for number, raw in enumerate(_lines(path), start=1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                report.issues.append(f"Line {number}: not UTF-8 text (byte {exc.start + 1} of the line)")
                report.examples += 1
            else:
                if not text:
                    continue
                report.examples += 1
                issue = line_issue(text)
                if issue is not None:
                    report.issues.append(f"Line {number}: {issue}")
            if len(report.issues) >= MAX_ISSUES:
                break
    except OSError as exc:
        report.issues = [f"Cannot read {path}: {exc.strerror or exc}"]
        return report
    if report.examples == 0 and not report.issues:
        report.issues.append("File contains no SFT examples")
    return report

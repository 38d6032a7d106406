"""What checking an SFT config says: findings (who complains, where, why), the CLI's verdict, the payload.

The vocabulary shared by the three parts of a check: ``check`` (what synth-ai 0.2.23's CLI accepts
or refuses), ``payload`` (the body it would POST) and ``advice`` (what it would not tell you). Each
finding is marked with its source: the TOML parser, the CLI, the backend (e.g. no ``gpu_type``: 400
after the upload) or sft-studio's own advice.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from services.configs.toml_locate import key_lines, nearest_line


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Source(StrEnum):
    TOML = "toml"
    CLI = "synth-ai 0.2.23"
    BACKEND = "backend"
    STUDIO = "sft-studio"


class Finding(BaseModel):
    level: Level
    source: Source
    path: str  # dotted key path ("" = the whole file)
    message: str
    line: int | None = None


class ConfigReport(BaseModel):
    path: str
    cli_error: str | None = None
    findings: list[Finding] = Field(default_factory=list)
    payload: dict[str, Any] | None = None  # exactly what the CLI would build, training_file_id None
    extras: dict[str, Any] = Field(default_factory=dict)  # beyond-CLI hyperparameters sft-studio adds
    train_file: str | None = None
    validation_file: str | None = None
    global_batch: int | None = None

    @property
    def cli_accepts(self) -> bool:
        return self.cli_error is None

    @property
    def submittable(self) -> bool:
        return self.cli_accepts and not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.WARNING]

    def at(self, path: str) -> list[Finding]:
        return [f for f in self.findings if f.path == path]


class CliStop(Exception):
    """The CLI stops here with this message."""


class ReportBuilder:
    """The report of one check while it is built: findings get the line of their key in ``text``;
    relative paths resolve from ``cwd``, as the CLI resolves them."""

    def __init__(self, text: str, path: Path, cwd: Path) -> None:
        self.text = text
        self.path = path
        self.cwd = cwd
        self.report = ConfigReport(path=str(path))
        self._lines: dict[str, int] | None = None

    def line(self, dotted: str) -> int | None:
        if self._lines is None:
            self._lines = key_lines(self.text)
        return nearest_line(self._lines, dotted)

    def add(self, level: Level, source: Source, path: str, message: str, line: int | None = None) -> None:
        where = line if line is not None else self.line(path)
        self.report.findings.append(Finding(level=level, source=source, path=path, message=message, line=where))

    def cli_stop(self, message: str, path: str = "", *, finding: str | None = None) -> None:
        """The CLI's verdict (the first stop wins) and its finding (``finding`` words it for the user)."""
        if self.report.cli_error is None:
            self.report.cli_error = message
        self.add(Level.ERROR, Source.CLI, path, finding or message)

    def resolve(self, raw: str) -> Path:
        candidate = Path(raw).expanduser()
        return (candidate if candidate.is_absolute() else self.cwd / candidate).resolve()

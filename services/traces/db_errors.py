"""The errors of reading a trace DB, phrased for the user (no traceback is ever shown).

Apart from :mod:`services.traces.db` (which raises them) so that the CLI can name them in its exit-code
table without importing SQLAlchemy and pydantic at start-up.
"""

from __future__ import annotations


class TraceDBError(Exception):
    """A problem with a trace DB, phrased for the user (no traceback is ever shown)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class DBNotFoundError(TraceDBError):
    pass


class DBMissingError(DBNotFoundError):
    """Nothing at the path given (the reference exporter's "Database not found: PATH")."""


class NotSQLiteError(TraceDBError):
    pass


class NotATraceDBError(TraceDBError):
    pass


class DBLockedError(TraceDBError):
    pass


class MissingSchemaError(TraceDBError):
    """A feature needs a table or column this DB's generation never had."""

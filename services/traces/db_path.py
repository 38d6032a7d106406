"""Where the SQLite file behind a trace-DB path is: the file itself, or a sqld directory's data file.

Standard library only, apart from :mod:`services.traces.db` (SQLAlchemy): the stats cache answers an
unchanged DB from this and a fingerprint, without opening it (issue 10 item 23).
"""

from __future__ import annotations

from pathlib import Path

from services.traces.db_errors import DBMissingError, DBNotFoundError

SQLD_DATA = Path("dbs/default/data")


def resolve_db_path(path: str | Path) -> Path:
    """The SQLite file behind ``path``: the file itself, or a sqld directory's dbs/default/data."""
    p = Path(path).expanduser()
    if p.is_dir():
        data = p / SQLD_DATA
        if data.is_file():
            return data
        raise DBNotFoundError(
            f"{p} is a directory but not a sqld trace DB: {SQLD_DATA} is missing inside it.",
            "Pass the SQLite file itself, or a sqld directory that holds dbs/default/data.",
        )
    if not p.exists():
        raise DBMissingError(
            f"Database not found: {p}",
            "Check the path, or run `sft-studio` from a folder that contains traces/v3/synth_ai.db.",
        )
    if not p.is_file():
        raise DBNotFoundError(f"{p} is not a regular file.")
    return p

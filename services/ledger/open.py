"""Where the ledger is and opening it safely: ``--ledger PATH``, else ``SFT_STUDIO_LEDGER``, else the
data dir's ``runs.db`` (the job store's file: one store). A team can point the variable at a file in
its repository.

Before SQLAlchemy touches the file it is read once, read-only: a file that is not an SQLite database
or whose ``schema_version`` is beyond ours is refused with a message naming it, and nothing is
written (opening through the job store would run migrations, i.e. write).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from services.common.data_dir import data_dir

ENV_VAR = "SFT_STUDIO_LEDGER"
#: ``SFT_STUDIO_LEDGER=off`` stops the automatic recording (the ``runs`` commands then read the default).
OFF_VALUES = ("off", "0", "none", "false")


class LedgerError(Exception):
    """The ledger cannot be used as asked; the message says why and names the file."""


def ledger_path(explicit: Path | str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env and env.strip().lower() not in OFF_VALUES:
        return Path(env).expanduser()
    from services.jobs.store import DB_NAME

    return data_dir() / DB_NAME


def preflight(path: Path) -> int:
    """The file's schema version (0 when it does not exist yet); LedgerError when it is not a
    ledger we can open: not a database, unreadable, or written by a newer sft-studio."""
    from services.jobs.store import MIGRATIONS

    if not path.exists():
        return 0
    if path.is_dir():
        raise LedgerError(f"The runs ledger {path} is a folder, not a file.")
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise LedgerError(f"Cannot open the runs ledger {path}: {exc}.") from None
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "schema_version" not in tables:
            if tables:
                raise LedgerError(f"{path} is an SQLite file but not an sft-studio runs ledger (no schema_version).")
            return 0
        version = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"The runs ledger {path} is corrupt or not a database ({exc}); move it aside or give another "
            "--ledger. Nothing was changed."
        ) from None
    finally:
        conn.close()
    ours = MIGRATIONS[-1][0]
    if version > ours:
        raise LedgerError(
            f"The runs ledger {path} is at schema version {version}, newer than this sft-studio knows "
            f"({ours}); upgrade sft-studio to use it. Nothing was changed."
        )
    return version

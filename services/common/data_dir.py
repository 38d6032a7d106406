"""Where sft-studio keeps its own data (the demo trace DB today; later the local backend's and the
runs ledger's stores): the platform's user data dir (``platformdirs``), or ``SFT_STUDIO_DATA_DIR``
when set (tests and portable setups point it elsewhere, so nothing touches the user's real folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

ENV_VAR = "SFT_STUDIO_DATA_DIR"
APP_NAME = "sft-studio"


def data_dir() -> Path:
    """The data dir, read from the environment at each call (not created here)."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else user_data_path(APP_NAME, appauthor=False)

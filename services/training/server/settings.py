"""What one server process runs with: its data dir, key, stand-ins and how it starts trainers."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from services.training.server.base_models import TinyBuilder, build_tiny_in_child

BACKEND_FOLDER = "backend"
DB_FILE = "backend.db"
TRAINER_MODULE = "services.training.trainer_main"
#: The Python packages the trainer child imports (the optional ``train`` extra).
TRAIN_EXTRA_MODULES = ("torch", "transformers", "peft", "trl", "accelerate")
INSTALL_HINT = (
    "the training stack is not installed: install the optional extra with "
    "`uv sync --extra train` (in the repository) or `pip install 'sft-studio[train]'`, then restart the backend"
)


def backend_dir(data_dir: Path) -> Path:
    """``data_dir/backend``: the database, uploads, job folders, key and pid/port file."""
    return data_dir / BACKEND_FOLDER


@dataclass
class ServerSettings:
    data_dir: Path
    key: str
    #: requested base -> what is trained instead (``--stand-in A=B``); empty by default.
    stand_ins: dict[str, str] = field(default_factory=dict)
    #: The trainer child's command (the job folder is appended). None: the real trainer module.
    #: Tests inject a fake trainer that speaks the protocol without torch.
    trainer_command: list[str] | None = None
    #: Extra environment for the trainer child (e.g. OMP_NUM_THREADS=1 in tests).
    trainer_env: dict[str, str] = field(default_factory=dict)
    tiny_builder: TinyBuilder = build_tiny_in_child
    hub_cache: Path | None = None
    #: SIGTERM first, SIGKILL after this many seconds: a cancel ends the child within 5 s.
    cancel_grace_s: float = 2.0

    @property
    def backend_dir(self) -> Path:
        return backend_dir(self.data_dir)

    def command(self) -> list[str]:
        return list(self.trainer_command) if self.trainer_command else [sys.executable, "-m", TRAINER_MODULE]

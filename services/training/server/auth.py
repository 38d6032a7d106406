"""The local backend's bearer key: ``SFT_STUDIO_BACKEND_KEY`` when set, else one generated on first
start and kept in ``data_dir/backend/api_key`` with mode 0600 (written atomically, so a crash never
leaves half a key that would lock every client out).

The key is compared in constant time and never appears in a log line, event or error body.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from services.common.atomic import write_atomic

KEY_ENV = "SFT_STUDIO_BACKEND_KEY"
KEY_FILE = "api_key"


def key_path(backend_dir: Path) -> Path:
    return backend_dir / KEY_FILE


def load_or_create_key(backend_dir: Path) -> str:
    """The key clients must send; generated (``sk-local-`` + 48 hex) when none exists yet."""
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return from_env
    path = key_path(backend_dir)
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if stored:
        return stored
    backend_dir.mkdir(parents=True, exist_ok=True)
    key = f"sk-local-{secrets.token_hex(24)}"
    write_atomic(path, (key + "\n").encode(), mode=0o600)
    return key


def bearer_matches(header: str | None, key: str) -> bool:
    """``Authorization: Bearer <key>`` with exactly our key (constant-time compare)."""
    if not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(token.strip().encode(), key.encode())

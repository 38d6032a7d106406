"""Project settings that cost every user time: checked here so they do not come back unnoticed."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_uv_does_not_recompile_bytecode_on_every_run() -> None:
    """``[tool.uv] compile-bytecode`` made every ``uv run`` re-check ~2,700 files (~0.25 s, issue 10
    item 19); the venv is compiled once by ``uv sync --compile-bytecode`` (README, CI) instead."""
    uv = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {}).get("uv", {})
    assert "compile-bytecode" not in uv
    assert "uv sync --compile-bytecode" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "uv sync --compile-bytecode" in (ROOT / "README.md").read_text(encoding="utf-8")

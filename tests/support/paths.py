"""Where the repository is, for tests that read shipped files (configs/, README) or run the CLI."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

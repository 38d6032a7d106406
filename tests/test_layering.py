"""The headless core never imports Textual, even lazily at import time of any module."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import services
from tests.support.paths import ROOT


def _imports_textual(modules: list[str]) -> list[str]:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(sorted(n for n in sys.modules if n == 'textual' or n.startswith('textual.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return eval(out.stdout.strip())  # a printed list of module names


def test_every_services_module_is_textual_free() -> None:
    modules = [m.name for m in pkgutil.walk_packages(services.__path__, "services.")]
    assert len(modules) >= 8, modules
    assert _imports_textual(modules) == []


def test_cli_module_is_textual_free() -> None:
    """Headless subcommands (stats, ...) must not pay for, or depend on, the TUI."""
    assert _imports_textual(["tui.cli.dispatch"]) == []

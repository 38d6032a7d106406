"""The layering rule at run time: the headless core and the CLI never import Textual, even lazily at
import time of any module, and ``services`` never imports ``tui``. (import-linter checks the same
statically in .ci/run; this catches imports the static graph cannot see.)"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys

import services
import tui.cli
from tests.support.paths import ROOT


def _loaded_after_import(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'tui') "
        "and not n.startswith('tui.cli') and n != 'tui')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def test_every_services_module_is_textual_and_tui_free() -> None:
    modules = [m.name for m in pkgutil.walk_packages(services.__path__, "services.")]
    assert len(modules) >= 40, modules
    assert _loaded_after_import(modules) == []


def test_every_cli_module_is_textual_free() -> None:
    """Headless commands (stats, export, ...) must not pay for, or depend on, the TUI."""
    modules = ["tui.cli", *(m.name for m in pkgutil.walk_packages(tui.cli.__path__, "tui.cli."))]
    modules = [m for m in modules if m != "tui.cli.__main__"]  # running it would run the command
    assert len(modules) >= 6, modules
    assert _loaded_after_import(modules) == []


def test_the_static_contracts_are_declared() -> None:
    """.ci/run runs lint-imports over these contracts; make sure they stay in pyproject.toml."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = " | ".join(c["name"] for c in config["contracts"])
    for phrase in ("never imports the TUI or Textual", "common imports nothing else", "traces and crafter"):
        assert phrase in names
    assert "lint-imports" in (ROOT / ".ci" / "run").read_text()


def test_no_services_source_mentions_textual() -> None:
    """Belt and braces over the import graph: not even a type-checking-only import of Textual."""
    for path in (ROOT / "services").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("textual", "tui") for n in names), path

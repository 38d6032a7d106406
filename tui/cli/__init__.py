"""The ``sft-studio`` command line: one module per command group; ``main`` is the entry point.

Importing this package must not import Textual: headless commands stay fast and work where no
terminal UI can run.
"""

from tui.cli.dispatch import main

__all__ = ["main"]

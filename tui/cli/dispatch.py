"""The ``sft-studio`` command: the TUI by default, headless subcommands for every pane's work.

Each command group lives in its own module (``add_parsers`` plus its handlers); this one builds the
parser from them and runs a command through :data:`COMMANDS`, a table from command name to handler.
Importing it must not import Textual: headless commands stay fast and work where no terminal UI can
run (``open_app`` imports the app only when it launches it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from tui.cli import collect, config, count, export, stats
from tui.cli.errors import closed_stdout, report
from tui.cli.open_app import open_app

#: ``handler(args, stdout console, stderr console) -> exit code``.
Handler = Callable[[argparse.Namespace, Console, Console], int]

#: Command name -> handler; no command opens the app.
COMMANDS: dict[str, Handler] = {
    "stats": stats.cmd_stats,
    "collect": collect.cmd_collect,
    "demo": collect.cmd_demo,
    "export": export.cmd_export,
    "validate": export.cmd_validate,
    "count": count.cmd_count,
    "config": config.cmd_config,
}


class _Version(argparse.Action):
    """``--version``: reads the package metadata only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from services.common.version import package_version

        sys.stdout.write(f"sft-studio {package_version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sft-studio",
        description="Keyboard-driven SFT loop for Crafter agents: traces, filters, configs, jobs, evals.",
        epilog="Without a subcommand, opens the terminal app.",
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    parser.add_argument("--db", type=Path, help="trace DB to open (file, or sqld directory)")
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="when no trace DB is found, do not build the demo DB on first start (show how to get one)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (stats, collect, export, count, config):
        group.add_parsers(sub)
    return parser


class _Console(Console):
    """Rich's console, but a closed stdout raises BrokenPipeError (Rich exits 1) so ``main`` ends quietly."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except BrokenPipeError:  # `sft-studio --help | head -2`
        return closed_stdout()
    out = _Console()
    err = _Console(stderr=True)
    handler = COMMANDS.get(args.command, open_app)
    try:
        code = handler(args, out, err)
        sys.stdout.flush()  # a pipe closed after the last write shows up here
        return code
    except BrokenPipeError:  # `sft-studio ... | head -2`: quiet, like any Unix tool
        return closed_stdout()
    except (Exception, KeyboardInterrupt) as exc:  # a message, never a traceback; the exit code by type
        return report(exc, err)

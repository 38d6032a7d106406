"""The ``sft-studio`` command: the TUI by default, headless subcommands for every pane's work.

Each command group lives in its own module (``add_parsers`` plus its handlers); this one builds the
parser from them and runs a command through :data:`COMMANDS`, a table from command name to handler.
Importing it must not import Textual: headless commands stay fast and work where no terminal UI can
run (``open_app`` imports the app only when it launches it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from tui.cli import collect, config, count, export, stats
from tui.cli.errors import Terminated, report
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


#: How usage lines name an option's value, by option (argparse would print its ``dest``: ``--db SUB_DB``).
METAVARS: dict[str, str] = {
    "--db": "PATH",
    "--busy-timeout": "SECONDS",
    "--policy": "POLICY",
    "--model": "MODEL",
    "--provider": "PROVIDER",
    "--inference-url": "URL",
    "--seeds": "START-END",
    "--episodes": "N",
    "--max-turns": "N",
    "--concurrency": "N",
    "--tag": "TAG",
    "--min-unique": "N",
    "--max-unique": "N",
    "--exclude-achievement": "NAME",
    "--require-achievement": "NAME",
    "--min-outcome-reward": "X",
    "--max-outcome-reward": "X",
    "--event-reward": "TYPE[:MIN]",
    "--limit": "N",
    "--preset": "FILE",
    "--output": "FILE",
    "--sizes": "N,N,...",
    "--dataset": "FILE",
    "--values": "V,V,...",
    "--out": "DIR",
}


def name_values(parser: argparse.ArgumentParser) -> None:
    """Give every option that takes a value, in this parser and every subparser, its name from
    ``METAVARS`` (else its option name in capitals), and lower-case positionals capitals, so usage
    lines read ``--db PATH``, never an internal ``dest`` such as ``SUB_DB``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                name_values(child)
            continue
        if action.metavar is not None or action.choices is not None or action.nargs == 0:
            continue
        if action.option_strings:
            longest = max(action.option_strings, key=len)
            action.metavar = METAVARS.get(longest, longest.lstrip("-").upper().replace("-", "_"))
        elif action.dest.islower():
            action.metavar = action.dest.upper()


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
    name_values(parser)
    return parser


def _raise_terminated(_signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a headless command runs, SIGTERM unwinds it like Ctrl-C (``Terminated``): temp files
    are removed and child processes stopped on the way out, instead of the default instant death."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Console()
    err = Console(stderr=True)
    handler = COMMANDS.get(args.command)
    try:
        if handler is None:
            return open_app(args, out, err)
        with sigterm_as_interrupt():
            return handler(args, out, err)
    except (Exception, KeyboardInterrupt) as exc:  # a message, never a traceback; the exit code by type
        return report(exc, err)

"""The ``sft-studio`` command: the TUI by default, headless subcommands for every pane's work.

Each command group lives in its own module (``add_parsers`` plus its handlers); this one builds the
parser and runs a command through :data:`COMMANDS`, a table from command name to its module and
handler. Only the module of the command being run is imported (the others get a stub entry in the
parser, with :data:`SUMMARIES` as their help line), and Rich only once a command runs: `--version`
and `--help` start in a few hundredths of a second (issue 10 item 23). Importing this module must not
import Textual: headless commands stay fast and work where no terminal UI can run (``open_app``
imports the app only when it launches it).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.workspace import Workspace, WorkspaceError, find_workspace, use_workspace
from tui.cli.errors import Terminated, UsageError, closed_stdout, report

if TYPE_CHECKING:
    from rich.console import Console

#: ``handler(args, stdout console, stderr console) -> exit code``.
Handler = Callable[[argparse.Namespace, "Console", "Console"], int]

#: Command name -> (module that defines it, handler name in it); no command opens the app.
COMMANDS: dict[str, tuple[str, str]] = {
    "stats": ("tui.cli.stats", "cmd_stats"),
    "collect": ("tui.cli.collect", "cmd_collect"),
    "demo": ("tui.cli.collect", "cmd_demo"),
    "export": ("tui.cli.export", "cmd_export"),
    "validate": ("tui.cli.export", "cmd_validate"),
    "count": ("tui.cli.count", "cmd_count"),
    "config": ("tui.cli.config", "cmd_config"),
    "backend": ("tui.cli.backend", "cmd_backend"),
    "train": ("tui.cli.train", "cmd_train"),
    "jobs": ("tui.cli.jobs", "cmd_jobs"),
    "models": ("tui.cli.jobs", "cmd_models"),
    "eval": ("tui.cli.eval", "cmd_eval"),
    "task-app": ("tui.cli.task_app", "cmd_task_app"),
    "runs": ("tui.cli.runs", "cmd_runs"),
    "sweep": ("tui.cli.sweep", "cmd_sweep"),
}
#: Command name -> its line in `sft-studio --help` (each module's own ``help=``; a test keeps them equal).
SUMMARIES: dict[str, str] = {
    "stats": "trace-DB statistics (the figures of synth-ai's analyze_trace_db.py, plus a header)",
    "collect": "record Crafter rollouts (teacher, random or an OpenAI-compatible model) into a trace DB",
    "demo": "build the demo trace DB (teacher + random policy, ~200 episodes) and print its path",
    "export": "export filtered sessions as chat-format SFT JSONL (the flags of synth-ai's export_trace_sft.py)",
    "validate": "check an SFT JSONL with synth-ai's upload validator (same messages)",
    "count": "count the sessions and examples an export would write (same filter flags as export)",
    "config": "validate SFT configs, show the exact job payload, generate sweeps",
    "backend": "run the local training backend (the Synth learning API on loopback)",
    "train": "submit an SFT job (local or Synth backend) and watch it to the fine-tuned model id",
    "jobs": "list, show, watch and cancel training jobs; print their events and metrics",
    "models": "list the fine-tuned models of a backend",
    "eval": "evaluate a model (or the teacher / random policy) on fixed Crafter seeds; compare two evals",
    "task-app": "serve Crafter rollouts over synth-ai's grpo-crafter task-app contract",
    "runs": "the runs ledger: list runs, show a run's lineage, compare, reproduce, export and import",
    "sweep": "plan, run and follow a sweep (cells over LoRA rank, learning rate, FFT vs LoRA, data size and quality)",
}


def handler_of(command: str | None) -> Handler:
    """The handler of ``command`` (its module imported now), or the app's for no command."""
    if command is None:
        from tui.cli.open_app import open_app

        return open_app
    module, name = COMMANDS[command]
    handler: Handler = getattr(importlib.import_module(module), name)
    return handler


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
    "--data-dir": "DIR",
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


def command_in(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option or --db's value), if any."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--db", "--workspace"):
            skip = True
        elif not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = "*") -> argparse.ArgumentParser:
    """The parser; with ``only`` a command name (or None), only that command's module is imported and
    the other commands are stubs that carry their help line. The default builds every command."""
    parser = argparse.ArgumentParser(
        prog="sft-studio",
        description="Keyboard-driven SFT loop for Crafter agents: traces, filters, configs, jobs, evals.",
        epilog="Without a subcommand, opens the terminal app.",
    )
    parser.add_argument("--version", action=_Version, help="show program's version number and exit")
    parser.add_argument("--db", type=Path, help="trace DB to open (file, or sqld directory)")
    parser.add_argument(
        "--workspace",
        type=Path,
        metavar="DIR",
        help="folder holding configs/ and ft_data/ (default: $SFT_STUDIO_WORKSPACE, else the nearest folder "
        "from here upward that holds one of them, else the current folder)",
    )
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="when no trace DB is found, do not build the demo DB on first start (show how to get one)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = None if only in ("*", None) else COMMANDS[only][0]  # its module defines sibling commands too
    built: set[str] = set()
    for name, (module, _) in COMMANDS.items():
        if only == "*" or module == chosen:
            if module not in built:
                importlib.import_module(module).add_parsers(sub)
                built.add(module)
        else:
            sub.add_parser(name, help=SUMMARIES[name], add_help=False)
    order = list(COMMANDS)  # the modules add theirs in their own order: keep the table's in --help
    sub._choices_actions.sort(key=lambda action: order.index(action.dest))
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


def _consoles() -> tuple[Console, Console]:
    """stdout and stderr consoles whose closed pipe raises BrokenPipeError (Rich would exit 1)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError

    return _Console(), _Console(stderr=True)


def _workspace(flag: Path | None) -> Workspace:
    """The workspace every folder of this run is under (UsageError for a flag or variable that is not a
    folder: never silently another folder)."""
    try:
        return find_workspace(flag)
    except WorkspaceError as exc:
        raise UsageError(
            str(exc), "Pass an existing folder with --workspace DIR, or unset SFT_STUDIO_WORKSPACE."
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser(command_in(words)).parse_args(words)
    except BrokenPipeError:  # `sft-studio --help | head -2`
        return closed_stdout()
    out, err = _consoles()
    try:
        use_workspace(_workspace(args.workspace))
        handler = handler_of(args.command)
        if args.command is None:  # the app handles its own signals
            code = handler(args, out, err)
        else:
            with sigterm_as_interrupt():
                code = handler(args, out, err)
        sys.stdout.flush()  # a pipe closed after the last write shows up here
        return code
    except BrokenPipeError:  # `sft-studio ... | head -2`: quiet, like any Unix tool
        return closed_stdout()
    except (Exception, KeyboardInterrupt) as exc:  # a message, never a traceback; the exit code by type
        return report(exc, err)
    finally:
        use_workspace(None)  # main() called twice in one process (tests) finds it afresh

"""How every command reports failure: one paragraph on stderr, an exit code chosen by the error's type.

Commands raise :class:`CommandError` (exit 1) or :class:`UsageError` (exit 2) with a message and an
optional hint; a :class:`~services.traces.db.TraceDBError` may pass through as it is. ``main`` prints
whatever a command lets escape through :func:`report`, which looks only at the exception's type, never
at its text. :func:`find_db` is the one "which trace DB?" of the headless commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from services.traces.db_errors import TraceDBError
from services.traces.discovery import RULE_FLAG, DBChoice, find_trace_db

if TYPE_CHECKING:  # Rich comes in when something is printed: `--version` and `--help` never load it
    from rich.console import Console

FAILED = 1
USAGE = 2  # argparse's own code for bad flags; ours for bad values too
INTERRUPTED = 130
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process the signal ended


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so every cleanup (temp files, workers) runs."""


#: stdout was closed by the reader (``| head -2``): 128 + SIGPIPE, what a shell shows for a Unix tool.
CLOSED_STDOUT = 141
#: A bug: an exception no command expected (reported with a request to report it).
UNEXPECTED = 2


class CommandError(Exception):
    """A command could not do its work; ``message`` and ``hint`` are phrased for the user."""

    exit_code = FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CommandError):
    """A value on the command line cannot be used (nothing was done)."""

    exit_code = USAGE


#: Exit codes by exception type, most specific first; anything else is UNEXPECTED.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (Terminated, TERMINATED),
    (KeyboardInterrupt, INTERRUPTED),
    (UsageError, USAGE),
    (CommandError, FAILED),
    (TraceDBError, FAILED),
)


def exit_code(exc: BaseException) -> int:
    """The exit code for ``exc``, by its type."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), UNEXPECTED)


def print_error(err: Console, message: str, hint: str = "") -> None:
    """A one-paragraph error on stderr: never wrapped mid-path, never a traceback."""
    from rich.markup import escape

    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(hint, markup=False, highlight=False, soft_wrap=True)


def plain(console: Console, text: str) -> None:
    """A line exactly as the reference scripts print it, on the console's stream (no markup, no wrapping)."""
    print(text, file=sys.stderr if console.stderr else sys.stdout, flush=True)


def report(exc: BaseException, err: Console) -> int:
    """Print what a command let escape and return its exit code, both by the exception's type."""
    if isinstance(exc, KeyboardInterrupt):
        err.print("Interrupted.")
    elif isinstance(exc, CommandError | TraceDBError):
        print_error(err, exc.message, exc.hint)
    else:
        print_error(
            err, f"sft-studio failed: {type(exc).__name__}: {exc}", "Please report this with the command you ran."
        )
    return exit_code(exc)


def closed_stdout() -> int:
    """A reader closed our stdout (``| head``): stop quietly, as Unix tools do, and return 141.

    stdout is pointed at /dev/null first, so the interpreter's final flush cannot raise again and
    print "Exception ignored ... BrokenPipeError" on the way out.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (tests capture it): nothing left to flush
        pass
    return CLOSED_STDOUT


def choose_db(explicit: Path | None) -> DBChoice:
    """The DB of every command and the app, by the one rule of ``services.traces.discovery``: --db, the
    synth-ai locations, then sft-studio's demo DB (when built)."""
    from services.rollouts.demo import demo_db_path

    return find_trace_db(explicit, demo=demo_db_path())


def not_found_hint(choice: DBChoice) -> str:
    """Where we looked, and how to get a DB: the same lines for every command."""
    lines = ["Looked for:", *(f"  {path}" for path in choice.looked)]
    lines.append("Build sft-studio's demo DB with `sft-studio demo`, or pass one with --db PATH.")
    return "\n".join(lines)


def say_choice(choice: DBChoice, err: Console) -> None:
    """On stderr, unless --db named it: which DB and which rule chose it (stdout stays the data)."""
    if choice.path is not None and choice.rule != RULE_FLAG:
        plain(err, f"Using trace DB {choice.path} ({choice.why}).")


def find_db(explicit: Path | None, err: Console) -> Path:
    """The DB to read (``explicit`` as typed, else found by the one rule, said on stderr); CommandError
    (exit 1) listing where we looked when there is none."""
    choice = choose_db(explicit)
    if choice.path is None:
        raise CommandError("No trace DB found.", not_found_hint(choice))
    say_choice(choice, err)
    return choice.path


def db_missing(path: Path, err: Console) -> bool:
    """True, after the reference exporter's "Database not found: PATH", when nothing is at ``path``."""
    if path.exists():
        return False
    plain(err, f"Database not found: {path}")
    return True

"""The ``sft-studio`` command: the TUI by default, headless subcommands for every pane's work.

Importing this module must not import Textual: headless subcommands stay fast and work where no
terminal UI can run. The app is imported only when it is launched.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from services.traces.db import TraceDB, TraceDBError, discovery_candidates, locate_db
from tui.cli.collect import add_parsers as add_collect_parsers
from tui.cli.collect import cmd_collect, cmd_demo
from tui.cli.config import add_parsers as add_config_parsers
from tui.cli.config import cmd_config
from tui.cli.count import add_parsers as add_count_parsers
from tui.cli.count import cmd_count
from tui.cli.export import add_parsers as add_export_parsers
from tui.cli.export import cmd_export, cmd_validate

VERSION = "0.1.0"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sft-studio",
        description="Keyboard-driven SFT loop for Crafter agents: traces, filters, configs, jobs, evals.",
        epilog="Without a subcommand, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"sft-studio {VERSION}")
    parser.add_argument("--db", type=Path, help="trace DB to open (file, or sqld directory)")
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="when no trace DB is found, do not build the demo DB on first start (show how to get one)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    stats = sub.add_parser(
        "stats",
        help="trace-DB statistics (the figures of synth-ai's analyze_trace_db.py, plus a header)",
        description="Print trace-DB statistics. Without --db, looks for traces/v3/synth_ai.db "
        "from the current folder upward, as synth-ai's exporter does.",
    )
    stats.add_argument("--db", type=Path, dest="sub_db", help="trace DB (file, or sqld directory)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument(
        "--busy-timeout", type=float, default=5.0, help="seconds to wait for a writer's lock (default 5)"
    )
    add_collect_parsers(sub)
    add_export_parsers(sub)
    add_count_parsers(sub)
    add_config_parsers(sub)
    return parser


def _error(err: Console, message: str, hint: str = "") -> None:
    """A one-paragraph error on stderr: never wrapped mid-path, never a traceback."""
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(hint, markup=False, highlight=False, soft_wrap=True)


def _find_db(explicit: Path | None, err: Console) -> Path | None:
    found = locate_db(explicit)
    if found is None:
        err.print("[bold red]No trace DB found.[/] Looked for:", highlight=False, soft_wrap=True)
        for c in discovery_candidates():
            err.print(f"  {c}", markup=False, highlight=False, soft_wrap=True)
        err.print("Pass one with --db PATH.", highlight=False, soft_wrap=True)
    return found


def cmd_stats(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.traces.stats import compute_stats
    from services.traces.stats_report import full_report

    path = _find_db(args.sub_db or args.db, err)
    if path is None:
        return 1
    try:
        with TraceDB(path, busy_timeout_s=args.busy_timeout) as db:
            stats = compute_stats(db)
    except TraceDBError as exc:
        _error(err, exc.message, exc.hint)
        return 1
    if args.json:
        sys.stdout.write(stats.model_dump_json(indent=2) + "\n")
    else:
        out.print(full_report(stats), markup=False, highlight=False, end="", soft_wrap=True)
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    """The app on --db, else the DB found, else the demo DB (built by the app on first start)."""
    from services.rollouts.demo import demo_db_path, demo_is_complete
    from tui.app.app import SftStudioApp

    explicit = args.db
    path = locate_db(explicit)
    build = False
    if path is None:
        demo = demo_db_path()
        if demo_is_complete(demo) or (demo.exists() and args.no_demo):
            path = demo
        else:  # first start, or a first start that was interrupted: (complete and) open the demo
            build = not args.no_demo
    app = SftStudioApp(db_path=path, db_explicit=explicit is not None, build_demo=build)
    result = app.run()
    return int(app.return_code or 0) if result is None else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Console()
    err = Console(stderr=True)
    try:
        if args.command == "stats":
            return cmd_stats(args, out, err)
        if args.command == "collect":
            return cmd_collect(args, out, err)
        if args.command == "demo":
            return cmd_demo(out, err)
        if args.command == "export":
            return cmd_export(args, out, err)
        if args.command == "validate":
            return cmd_validate(args, out, err)
        if args.command == "count":
            return cmd_count(args, out, err)
        if args.command == "config":
            return cmd_config(args, out, err)
        return cmd_app(args)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        return 130
    except Exception as exc:  # last resort: a message, never a traceback
        _error(err, f"sft-studio failed: {type(exc).__name__}: {exc}", "Please report this with the command you ran.")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

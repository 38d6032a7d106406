"""`sft-studio stats`: the trace-DB statistics of synth-ai's analyze_trace_db.py, plus a header.

Text (the Traces pane's figures) or ``--json``. An unreadable DB is a one-paragraph error, exit 1.
The figures of an unchanged DB come from the stats cache (``services.traces.stats_cache``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.cli.errors import find_db

if TYPE_CHECKING:  # Rich and the DB layer come in when the command runs, not for `--help`
    from rich.console import Console


def add_parsers(sub: Any) -> None:
    stats = sub.add_parser(
        "stats",
        help="trace-DB statistics (the figures of synth-ai's analyze_trace_db.py, plus a header)",
        description="Print trace-DB statistics. Without --db, uses the DB the app opens: synth-ai's "
        "locations (traces/v3/synth_ai.db from the current folder upward, ...), then sft-studio's demo DB.",
    )
    stats.add_argument("--db", type=Path, dest="sub_db", help="trace DB (file, or sqld directory)")
    stats.add_argument("--json", action="store_true", help="machine-readable output")
    stats.add_argument(
        "--busy-timeout", type=seconds, default=5.0, help="seconds to wait for a writer's lock (default 5)"
    )


def seconds(text: str) -> float:
    """``--busy-timeout``: a finite number >= 0 (nan, inf and -3 were taken: "waited nan s")."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, not {text!r}")
    return value


def cmd_stats(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Raises TraceDBError for a DB that cannot be read (``main`` reports it)."""
    from services.traces.stats_cache import cached_stats
    from services.traces.stats_report import full_report

    path = find_db(args.sub_db or args.db, err)
    # An unchanged DB is answered from the last computation (no SQLAlchemy, no read); see stats_cache.
    stats, _ = cached_stats(path, busy_timeout_s=args.busy_timeout)
    if args.json:
        sys.stdout.write(stats.model_dump_json(indent=2) + "\n")
    else:
        out.print(full_report(stats), markup=False, highlight=False, end="", soft_wrap=True)
    return 0

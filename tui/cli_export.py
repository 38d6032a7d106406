"""`sft-studio export` (every flag of synth-ai's export_trace_sft.py, plus --force/--sizes) and
`sft-studio validate`.

Messages, streams and exit codes follow the reference where it has them; where it prompts or
crashes we print a clear error instead (never an interactive prompt, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from services.trace_db import TraceDB, TraceDBError, locate_db


def add_parsers(sub: Any) -> None:
    e = sub.add_parser(
        "export",
        help="export filtered sessions as chat-format SFT JSONL (flags of synth-ai's export_trace_sft.py)",
        description="Export SFT examples like synth-ai 0.2.10's export_trace_sft.py (same flags, same bytes), "
        "atomically, with a manifest beside the file.",
    )
    e.add_argument("--db", type=Path, dest="sub_db", help="trace DB (default: discovered like the reference)")
    e.add_argument("--output", type=Path, help="destination JSONL (default ft_data/crafter_traces.jsonl)")
    e.add_argument("--model", action="append", dest="models", help="dominant model (repeatable)")
    e.add_argument("--provider", action="append", dest="providers", help="dominant provider (repeatable)")
    e.add_argument("--min-unique", type=int, default=None, help="minimum unique achievements per session")
    e.add_argument("--max-unique", type=int, default=None, help="maximum unique achievements per session")
    e.add_argument("--exclude-achievement", action="append", dest="exclude_achievements",
                   help="ignored for --min/--max-unique (repeatable)")  # fmt: skip
    e.add_argument("--require-achievement", action="append", dest="required_achievements",
                   help="required outcome achievement (repeatable)")  # fmt: skip
    e.add_argument("--min-outcome-reward", type=float, default=None)
    e.add_argument("--max-outcome-reward", type=float, default=None)
    e.add_argument("--event-reward", action="append", dest="event_reward_filters",
                   help="reward_type[:min_total] (repeatable)")  # fmt: skip
    e.add_argument("--limit", type=int, default=None, help="maximum number of examples")
    e.add_argument("--force", action="store_true", help="overwrite an existing output and its manifest")
    e.add_argument("--sizes", help="also write the first N examples for each N, e.g. 100,500,1000")
    v = sub.add_parser("validate", help="check an SFT JSONL like synth-ai's train CLI does before upload")
    v.add_argument("file", type=Path)


def _spec(args: argparse.Namespace, err: Console) -> Any:
    from services.filter_spec import FilterSpec, FilterSpecError, parse_event_reward

    try:
        event_rewards = [f for s in args.event_reward_filters or [] if (f := parse_event_reward(s)) is not None]
    except FilterSpecError as exc:
        print(exc.message, file=sys.stderr)
        return None
    return FilterSpec(
        models=args.models or [],
        providers=args.providers or [],
        min_unique=args.min_unique if args.min_unique is not None else 0,
        max_unique=args.max_unique,
        exclude_achievements=args.exclude_achievements or [],
        require_achievements=args.required_achievements or [],
        min_outcome_reward=args.min_outcome_reward,
        max_outcome_reward=args.max_outcome_reward,
        event_rewards=event_rewards,
        limit=args.limit,
    )


def cmd_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.sft_export import DEFAULT_OUTPUT, ExportError, export_sft

    db_path = args.sub_db or args.db
    if db_path is None:
        db_path = locate_db(None)
        if db_path is None:
            print("No trace database found (looked for traces/v3/synth_ai.db from here upward); "
                  "pass --db PATH.", file=sys.stderr)  # fmt: skip
            return 1
        print(f"Found trace database: {db_path}")
    if not Path(db_path).exists():
        print(f"Database not found: {db_path}", file=sys.stderr)
        return 1
    output = args.output
    if output is None:
        output = DEFAULT_OUTPUT
        print(f"Output will be written to: {output.resolve()}")
    if args.min_unique is None:
        print("Minimum unique achievements filter: 0 (all traces)")
    spec = _spec(args, err)
    if spec is None:
        return 1
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()] if args.sizes else []
    except ValueError:
        print(f"--sizes must be comma-separated whole numbers, got {args.sizes!r}", file=sys.stderr)
        return 1
    try:
        with TraceDB(db_path) as db:
            result = export_sft(db, spec, output, force=args.force, sizes=sizes)
    except (ExportError, TraceDBError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Wrote {result.examples} examples from {result.sessions} session(s) -> {output.resolve()}", file=sys.stderr)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    for what, n in result.skipped.items():
        err.print(f"skipped {n} record(s): {what}", highlight=False, soft_wrap=True, markup=False)
    for subset in result.subsets:
        err.print(f"subset n={subset.size}: {subset.examples} examples -> {subset.path}", highlight=False,
                  soft_wrap=True, markup=False)  # fmt: skip
    err.print(f"manifest: {result.manifest}", highlight=False, soft_wrap=True, markup=False)
    if not result.validation.ok:
        print(result.validation.failure_text(), file=sys.stderr)
        return 1
    return 0


def cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.dataset_validation import validate_jsonl

    report = validate_jsonl(args.file)
    if report.ok:
        out.print(f"{args.file}: OK, {report.examples} SFT example(s)", highlight=False, soft_wrap=True)
        return 0
    print(report.failure_text(), file=sys.stderr)
    return 1

"""The filter flags of synth-ai's export_trace_sft.py, defined once for `export` and `count`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_filter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, dest="sub_db", help="trace DB (default: discovered like the reference)")
    p.add_argument("--model", action="append", dest="models", help="dominant model (repeatable)")
    p.add_argument("--provider", action="append", dest="providers", help="dominant provider (repeatable)")
    p.add_argument("--min-unique", type=int, default=None, help="minimum unique achievements per session")
    p.add_argument("--max-unique", type=int, default=None, help="maximum unique achievements per session")
    p.add_argument("--exclude-achievement", action="append", dest="exclude_achievements",
                   help="ignored for --min/--max-unique (repeatable)")  # fmt: skip
    p.add_argument("--require-achievement", action="append", dest="required_achievements",
                   help="required outcome achievement (repeatable)")  # fmt: skip
    p.add_argument("--min-outcome-reward", type=float, default=None, help="minimum total outcome reward")
    p.add_argument("--max-outcome-reward", type=float, default=None, help="maximum total outcome reward")
    p.add_argument("--event-reward", action="append", dest="event_reward_filters",
                   help="reward_type[:min_total] in event_rewards (repeatable)")  # fmt: skip
    p.add_argument("--limit", type=int, default=None, help="maximum number of examples (1 or more)")
    p.add_argument("--preset", type=Path, help="TOML filter preset; flags given here override its values")


#: The argparse destinations of the filter flags (with ``preset``, everything that decides the spec).
FILTER_DESTS = ("models", "providers", "min_unique", "max_unique", "exclude_achievements", "required_achievements",
                "min_outcome_reward", "max_outcome_reward", "event_reward_filters", "limit")  # fmt: skip


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """FilterSpec fields from the flags actually given (a preset supplies the rest).

    Raises FilterSpecError for a bad --event-reward, with the reference's message.
    """
    from services.datasets.filter_spec import parse_event_reward

    events = [f for s in args.event_reward_filters or [] if (f := parse_event_reward(s)) is not None]
    given = {
        "models": args.models,
        "providers": args.providers,
        "min_unique": args.min_unique,
        "max_unique": args.max_unique,
        "exclude_achievements": args.exclude_achievements,
        "require_achievements": args.required_achievements,
        "min_outcome_reward": args.min_outcome_reward,
        "max_outcome_reward": args.max_outcome_reward,
        "event_rewards": events if args.event_reward_filters else None,
        "limit": args.limit,
    }
    return {k: v for k, v in given.items() if v is not None}

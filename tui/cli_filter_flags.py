"""The filter flags of synth-ai's export_trace_sft.py, defined once for `export` and `count`."""

from __future__ import annotations

import argparse
from pathlib import Path


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

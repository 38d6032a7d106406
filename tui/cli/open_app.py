"""Opening the terminal app (``sft-studio`` without a command): the only CLI module that imports Textual,
and only when the app is launched, so headless commands never load it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from services.traces.discovery import RULE_DEMO
from tui.cli.errors import choose_db

if TYPE_CHECKING:
    from rich.console import Console


def open_app(args: argparse.Namespace, out: Console, err: Console) -> int:
    """The app on the DB of the one rule (--db, synth-ai's locations, the demo DB); the demo DB is built
    (or completed) by the app on first start."""
    from services.rollouts.demo import demo_is_complete
    from tui.app.app import SftStudioApp

    explicit = args.db
    choice = choose_db(explicit)
    path = choice.path
    build = False
    if path is None or (choice.rule == RULE_DEMO and not demo_is_complete(path) and not args.no_demo):
        # first start, or a first start that was interrupted: (complete and) open the demo
        path, build = None, not args.no_demo
    app = SftStudioApp(db_path=path, db_explicit=explicit is not None, db_rule=choice.rule, build_demo=build)
    result = app.run()
    return int(app.return_code or 0) if result is None else 0

"""Opening the terminal app (``sft-studio`` without a command): the only CLI module that imports Textual,
and only when the app is launched, so headless commands never load it."""

from __future__ import annotations

import argparse

from rich.console import Console

from services.traces.db import locate_db


def open_app(args: argparse.Namespace, out: Console, err: Console) -> int:
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

"""``python -m services.training.server serve ...``: the detached start of the embedded backend
(services never import the CLI package, so the embedded start runs this instead of ``sft-studio``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from services.training.server.base_models import parse_stand_ins
from services.training.server.lifecycle import DEFAULT_HOST, BackendError, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.training.server")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--host", default=DEFAULT_HOST)
    s.add_argument("--allow-remote", action="store_true")
    s.add_argument("--data-dir", type=Path)
    s.add_argument("--stand-in", action="append", default=[])
    s.add_argument("--trainer-command", help="a command line for the trainer child (tests: a fake trainer)")
    args = parser.parse_args(argv)
    try:
        serve(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            stand_ins=parse_stand_ins(args.stand_in),
            trainer_command=shlex.split(args.trainer_command) if args.trainer_command else None,
            on_ready=lambda info: print(f"sft-studio backend serving {info.url}", flush=True),
        )
    except (BackendError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

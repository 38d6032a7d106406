"""`sft-studio task-app serve`: our own task app speaking synth-ai's grpo-crafter contract.

Anything written for grpo-crafter (synth-ai 0.2.10's ``run_eval.py --use-rollout``, our eval
launcher's ``--task-app URL``) can play Crafter episodes on it with our deterministic env, our
teacher/random policies or any OpenAI-compatible model, and ``--trace-db`` records each rollout as a
session, as ``synth-ai serve grpo-crafter --trace-db`` does. The work is in
services/evals/task_app/; this module only parses and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from tui.cli.errors import CommandError, UsageError


def add_parsers(sub: Any) -> None:
    task_app = sub.add_parser(
        "task-app",
        help="serve Crafter rollouts over synth-ai's grpo-crafter task-app contract",
        description="A task app speaking synth-ai's grpo-crafter contract (/health, /info, /task_info, "
        "/rollout), backed by sft-studio's deterministic Crafter env and policies.",
    )
    inner = task_app.add_subparsers(dest="task_app_command", metavar="ACTION", required=True)
    serve = inner.add_parser(
        "serve",
        help="run the task app in the foreground (Ctrl-C stops it)",
        description="Serve /health, /info, /task_info and /rollout. Clients send ENVIRONMENT_API_KEY's "
        "value as X-API-Key; the server needs ENVIRONMENT_API_KEY set. A rollout's policy.config names "
        "the model and its OpenAI-compatible inference_url (policy_name crafter-react), or policy_name "
        "teacher / random for sft-studio's own policies.",
    )
    serve.add_argument("--port", type=int, default=8001, help="port (default 8001; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (anyone with the key can play)"
    )
    serve.add_argument("--trace-db", type=Path, help="record every rollout as a session in this trace DB")
    serve.add_argument(
        "--inference-retries",
        type=int,
        default=6,
        help="retries of a failing inference call before the rollout ends partial_policy_error (default 6)",
    )
    serve.add_argument(
        "--inference-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds an inference call may take (default 60)",
    )


def cmd_task_app(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.evals.task_app.rollout import RolloutSettings
    from services.evals.task_app.serve import ServeInfo, TaskAppServeError, serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {args.port}.")
    if args.inference_retries < 0:
        raise UsageError(f"--inference-retries must be 0 or more, got {args.inference_retries}.")
    if args.inference_timeout <= 0:
        raise UsageError(f"--inference-timeout must be positive, got {args.inference_timeout:g}.")
    settings = RolloutSettings(inference_retries=args.inference_retries, inference_timeout_s=args.inference_timeout)

    def ready(info: ServeInfo) -> None:
        out.print(f"sft-studio task app (grpo-crafter) serving [bold]{escape(info.url)}[/]", highlight=False)
        out.print(f"  key: ENVIRONMENT_API_KEY ({escape(info.key_shown)}), sent as X-API-Key", highlight=False)
        if info.trace_db is not None:
            out.print(f"  tracing rollouts into {escape(str(info.trace_db))}", highlight=False)
        out.print("  Ctrl-C stops it", highlight=False)

    try:
        serve(
            host=args.host,
            port=args.port,
            trace_db=args.trace_db,
            allow_remote=args.allow_remote,
            settings=settings,
            on_ready=ready,
        )
    except TaskAppServeError as exc:
        raise CommandError(str(exc)) from None
    return 0

"""`sft-studio train --type sft`: synth-ai 0.2.23's flags with the same meaning, minus its defects.

Checks the config and dataset exactly as `config validate` and `validate` do (nothing is sent if
either refuses), uploads, creates the job once (a client-generated submission id makes a retry
safe), starts it and, unless ``--no-poll``, watches it to the end: exit 0 with the fine-tuned model
id alone on stdout's last line, non-zero with the reason when the job fails (the reference CLI
exits 0). ``--dry-run`` really is one: the plan and the exact payload, nothing sent. ``--poll-timeout``
is a real wall-clock limit. Ctrl-C stops watching; the job goes on and the reattach command is said.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from tui.cli.errors import UsageError, plain

if TYPE_CHECKING:
    from services.jobs.backends import BackendChoice
    from services.jobs.client import LearningClient

from tui.cli.job_common import add_backend_flags, backend_errors, choose_backend, follow, open_backend, open_store


def add_parsers(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="submit an SFT job (local or Synth backend) and watch it to the fine-tuned model id",
        description="Validate a config and dataset, upload, create and start an SFT job, and watch it "
        "(status, progress with ETA, events, loss) until it ends. The fine-tuned model id is printed "
        "alone on the last line of stdout.",
    )
    train.add_argument("--type", default="sft", choices=("sft", "auto"), help="job type (only sft is served)")
    train.add_argument("--config", type=Path, required=True, action="append", metavar="FILE", help="SFT config TOML")
    train.add_argument("--dataset", type=Path, help="training JSONL (else [job].data of the config)")
    train.add_argument("--validation", type=Path, metavar="FILE", help="validation JSONL (else [data].validation_path)")
    add_backend_flags(train)
    train.add_argument("--examples", type=int, metavar="N", help="upload only the first N examples of the dataset")
    train.add_argument(
        "--poll", action=argparse.BooleanOptionalAction, default=True, help="watch the job after starting it"
    )
    train.add_argument(
        "--poll-interval", type=float, metavar="SECONDS", help="seconds between polls (default 5, 1 on loopback)"
    )
    train.add_argument(
        "--poll-timeout", type=float, default=3600.0, metavar="SECONDS", help="stop watching after this (default 3600)"
    )
    train.add_argument("--dry-run", action="store_true", help="check and show the plan and payload; send nothing")
    train.add_argument(
        "--allow-experimental", action="store_true", default=None, help="allow experimental hosted base models"
    )


def cmd_train(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.jobs.submit import plan_submission, submit

    if args.examples is not None and args.examples <= 0:
        raise UsageError("Example limit must be positive", "Pass --examples N with N ≥ 1.")
    if args.poll_interval is not None and args.poll_interval <= 0:
        raise UsageError("--poll-interval must be positive")
    if args.poll_timeout is not None and args.poll_timeout <= 0:
        raise UsageError("--poll-timeout must be positive")
    config: Path = args.config[0]
    choice = choose_backend(args)
    client: LearningClient | None = None
    if choice.kind == "local" and not args.dry_run:
        client = open_backend(choice, err)
    elif choice.kind == "local":
        client = _running_local(choice)
        if client is not None:
            plain(err, f"Backend: {choice.label()}")
    if client is None:
        plain(err, f"Backend: {choice.label()}")
    try:
        with backend_errors():
            plan = plan_submission(
                config,
                args.dataset,
                validation_path=args.validation,
                examples=args.examples,
                choice=choice,
                client=client,
                allow_experimental=args.allow_experimental,
            )
        try:
            if args.dry_run:
                for line in plan.describe():
                    print(line)
                plain(err, "Dry run: nothing was sent.")
                return 0
            for warning in plan.warnings:
                err.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
            if client is None:
                client = open_backend(choice, err, say=False)
            store = open_store()
            with backend_errors():
                job = submit(plan, client, store, on_step=lambda name, text: plain(err, f"  {text}"))
        finally:
            plan.cleanup()
        plain(err, f"✓ Job created (id={job.job_id})")
        backend_flag = "local" if choice.kind == "local" else (args.backend or None)
        if not args.poll:
            plain(err, f"Started job {job.job_id} (polling disabled)")
            plain(
                err,
                f"Watch it: sft-studio jobs watch {job.job_id}"
                + (f" --backend {backend_flag}" if backend_flag else ""),
            )
            print(job.job_id)
            return 0
        return follow(
            client,
            job.job_id,
            err=err,
            out=out,
            poll_interval=args.poll_interval,
            poll_timeout=args.poll_timeout,
            store=store,
            backend_flag=backend_flag,
        )
    finally:
        if client is not None:
            client.close()


def _running_local(choice: BackendChoice) -> LearningClient | None:
    """A client for the local backend only when one is running (a dry run starts nothing)."""
    from services.jobs.backends import open_client
    from services.jobs.errors import BackendError
    from services.training.server.lifecycle import running_server

    if running_server(choice.data_dir) is None:
        return None
    try:
        return open_client(choice)
    except BackendError:
        return None

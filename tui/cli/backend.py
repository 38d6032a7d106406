"""`sft-studio backend serve|status|stop|key`: the local backend (the Synth learning API on loopback,
training with the Hugging Face stack in child processes).

``serve`` runs in the foreground until Ctrl-C; one server per data dir (a second refuses, naming the
first's port). ``status`` says whether one runs and where (exit 1 when none), ``stop`` ends it (jobs
in training are marked failed), ``key`` prints the bearer key clients send. The work is in
services/training/server/lifecycle.py; this module only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from tui.cli.errors import FAILED, CommandError, UsageError


def add_parsers(sub: Any) -> None:
    backend = sub.add_parser(
        "backend",
        help="run the local training backend (the Synth learning API on loopback)",
        description="A local server speaking the Synth learning API (synth-ai's `train --type sft` and "
        "sft-studio's job client drive it unchanged); it trains with TRL/PEFT in child processes.",
    )
    inner = backend.add_subparsers(dest="backend_command", metavar="ACTION", required=True)
    serve = inner.add_parser(
        "serve",
        help="run the backend in the foreground (Ctrl-C stops it)",
        description="Serve the learning API under /api (and /health). Binds 127.0.0.1 unless "
        "--host and --allow-remote say otherwise. Every route but /health needs the key "
        "(`sft-studio backend key`).",
    )
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (anyone with the key can train)"
    )
    serve.add_argument("--data-dir", type=Path, help="where jobs, uploads and models live (default: the data dir)")
    serve.add_argument(
        "--stand-in",
        action="append",
        default=[],
        metavar="REQUESTED=TRAINED",
        help="train TRAINED when a job asks for REQUESTED (e.g. Qwen/Qwen3-0.6B=sft-studio/tiny-qwen3); "
        "said in the job's events, effective_config and model id; repeatable",
    )
    export = inner.add_parser(
        "export-model",
        help="write a trained model as one standalone folder (LoRA merged into its base), for vLLM or an upload",
        description="Write the weights and tokenizer of a model the local backend trained into DIR (new or "
        "empty): a LoRA adapter merged into its base, a full fine-tune copied. Runs in a child process "
        "(it needs the training stack); works whether or not the server is running.",
    )
    export.add_argument("model_id", metavar="ID", help="the model id, e.g. peft:sft-studio/tiny-qwen3:job_…")
    export.add_argument("dest", metavar="DIR", type=Path, help="the folder to write (must not exist or be empty)")
    export.add_argument("--data-dir", type=Path, help="the data dir (default: the data dir)")
    for name, text in (
        ("status", "say whether a backend is running for the data dir, and where (exit 1 when none)"),
        ("stop", "stop the data dir's backend (jobs in training end failed)"),
        ("key", "print the backend's API key (generated on first use, kept 0600 in the data dir)"),
    ):
        action = inner.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("--data-dir", type=Path, help="the data dir (default: the data dir)")
        if name == "status":
            action.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_backend(args: argparse.Namespace, out: Console, err: Console) -> int:
    handler = {"serve": _serve, "status": _status, "stop": _stop, "key": _key, "export-model": _export_model}[
        args.backend_command
    ]
    return handler(args, out, err)


def _serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.training.server.base_models import parse_stand_ins
    from services.training.server.lifecycle import BackendError, serve
    from services.training.server.runner import missing_train_modules
    from services.training.server.settings import INSTALL_HINT

    try:
        stand_ins = parse_stand_ins(args.stand_in)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    missing = missing_train_modules()
    if missing:
        err.print(f"[yellow]Warning:[/] {escape(INSTALL_HINT)}; until then jobs fail.", soft_wrap=True)

    def ready(info: Any) -> None:
        out.print(f"sft-studio backend serving [bold]{escape(info.url)}[/] (data dir {escape(info.data_dir)})")
        out.print("  key: `sft-studio backend key`; Ctrl-C stops it", highlight=False)
        for requested, trained in stand_ins.items():
            out.print(f"  stand-in: jobs for {escape(requested)} train {escape(trained)}", highlight=False)

    try:
        serve(
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            allow_remote=args.allow_remote,
            stand_ins=stand_ins,
            on_ready=ready,
        )
    except BackendError as exc:
        raise CommandError(str(exc)) from None
    return 0


def _status(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.training.server.lifecycle import status_dict

    status = status_dict(args.data_dir)
    if args.json:
        print(json.dumps(status, indent=2))
    elif status["running"]:
        out.print(f"running at {escape(status['url'])} (pid {status['pid']}, since {status['started_at']})")
    else:
        out.print(f"no backend running for {escape(status['data_dir'])}")
    return 0 if status["running"] else FAILED


def _stop(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.training.server.lifecycle import BackendError, stop_server

    try:
        info = stop_server(args.data_dir)
    except BackendError as exc:
        raise CommandError(str(exc)) from None
    if info is None:
        out.print("no backend was running")
    else:
        out.print(f"stopped the backend on port {info.port} (pid {info.pid})")
    return 0


def _key(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.common.data_dir import data_dir
    from services.training.server.auth import load_or_create_key
    from services.training.server.settings import backend_dir

    print(load_or_create_key(backend_dir(args.data_dir or data_dir())))
    return 0


def _export_model(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.training.export_model import ExportError, export_model

    with err.status(f"exporting {escape(args.model_id)} …"):
        try:
            result = export_model(args.model_id, args.dest, data_dir=args.data_dir)
        except ExportError as exc:
            raise CommandError(str(exc)) from None
    how = "LoRA adapter merged into its base" if result.merged else "full weights copied"
    out.print(
        f"exported {escape(result.model_id)} to [bold]{escape(str(result.dest))}[/] ({how})",
        highlight=False,
        soft_wrap=True,
    )
    return 0

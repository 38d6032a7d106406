"""`sft-studio jobs list|show|watch|cancel|events|metrics` and `sft-studio models list`: the jobs and
models of a backend (``--backend local`` = the embedded one, started on demand).

Without ``--backend``, a job submitted from here is looked up on the backend it was submitted to
(the local job store); anything else follows ``train``'s resolution. ``--json`` prints the backend's
answers as data on stdout; the backend and key source go to stderr either way.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.common.echo import cap_echo
from tui.cli.errors import CommandError, UsageError, plain
from tui.cli.job_common import (
    add_backend_flags,
    backend_errors,
    backend_for_job,
    choose_backend,
    event_line,
    follow,
    json_out,
    open_backend,
    open_store,
    sparkline,
)


def add_parsers(sub: Any) -> None:
    jobs = sub.add_parser(
        "jobs",
        help="list, show, watch and cancel training jobs; print their events and metrics",
        description="Training jobs on a backend (--backend local|synth|URL).",
    )
    inner = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    listing = inner.add_parser("list", help="jobs on the backend, newest first", description="Jobs on the backend.")
    listing.add_argument("--status", help="only jobs with this status")
    listing.add_argument("--limit", type=int, default=50, help="at most N jobs (default 50)")
    for name, text in (
        ("show", "one job: status, progress, model, error, latest events"),
        ("watch", "follow a job until it ends (exit 0 and the model id on success)"),
        ("cancel", "cancel a job that has not finished"),
        ("events", "every event of a job"),
        ("metrics", "every metric point of a job (paged)"),
    ):
        action = inner.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        action.add_argument("job_id", metavar="ID")
        if name == "watch":
            action.add_argument("--poll-interval", type=float, metavar="SECONDS", help="default 5 (1 on loopback)")
            action.add_argument("--poll-timeout", type=float, metavar="SECONDS", help="stop watching after this")
        if name == "events":
            action.add_argument("--since", type=int, default=0, metavar="SEQ", help="only events after this seq")
        if name == "metrics":
            action.add_argument("--name", help="only this metric (e.g. train.loss)")
    for action in (listing, *(inner.choices[n] for n in ("show", "watch", "cancel", "events", "metrics"))):
        add_backend_flags(action)
        if action is not inner.choices["watch"]:
            action.add_argument("--json", action="store_true", help="machine-readable output")
    models = sub.add_parser(
        "models",
        help="list the fine-tuned models of a backend",
        description="Fine-tuned models on a backend (--backend local|synth|URL).",
    )
    models_inner = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    models_list = models_inner.add_parser(
        "list", help="fine-tuned models, newest first", description="Fine-tuned models."
    )
    add_backend_flags(models_list)
    models_list.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_jobs(args: argparse.Namespace, out: Console, err: Console) -> int:
    handler = {
        "list": _list,
        "show": _show,
        "watch": _watch,
        "cancel": _cancel,
        "events": _events,
        "metrics": _metrics,
    }[args.jobs_command]
    job_id = getattr(args, "job_id", None)
    if job_id is not None and not job_id.strip():
        raise UsageError("the job id is empty")
    backend = backend_for_job(args, job_id) if job_id else args.backend
    choice = choose_backend(args, backend=backend)
    client = open_backend(choice, err)
    try:
        with backend_errors():
            return handler(args, client, out, err, backend)
    finally:
        client.close()


def _list(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    jobs = client.list_jobs(status=args.status, limit=args.limit)
    store = open_store()
    mine = {r.job_id: r for r in store.list()} if store is not None else {}
    if args.json:
        json_out([{**j.raw, "sft_studio": mine[j.job_id].model_dump() if j.job_id in mine else None} for j in jobs])
        return 0
    if not jobs:
        out.print("No jobs on this backend.")
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("job", "status", "base model", "kind", "created", "fine-tuned model", "config (submitted here)"):
        table.add_column(column)
    for job in jobs:
        record = mine.get(job.job_id)
        table.add_row(
            escape(job.job_id),
            escape(job.status),
            escape(cap_echo(job.base_model or "", 60)),
            escape(job.train_kind or ""),
            escape((job.created_at or "")[:19]),
            escape(job.fine_tuned_model or ""),
            escape(record.config_path.rsplit("/", 1)[-1] if record and record.config_path else ""),
        )
    out.print(table)
    return 0


def _show(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    from services.jobs.poller import JobWatch

    snapshot = JobWatch(client, args.job_id).poll_once()
    job = snapshot.job
    store = open_store()
    record = store.get(job.job_id) if store is not None else None
    if args.json:
        json_out(
            {
                "job": job.raw,
                "progress": {
                    "step": snapshot.step,
                    "total_steps": snapshot.total_steps,
                    "epoch": snapshot.epoch,
                    "tokens_per_s": snapshot.tokens_per_s,
                },
                "terminal": snapshot.terminal,
                "fine_tuned_model": snapshot.fine_tuned_model,
                "error": snapshot.error,
                "events": [e.model_dump() for e in snapshot.events[-20:]],
                "sft_studio": record.model_dump() if record else None,
            }
        )
        return 0
    rows = [
        ("job", job.job_id),
        ("status", job.status),
        ("base model", job.base_model or ""),
        ("kind", job.train_kind or ""),
        ("created", job.created_at or ""),
        ("finished", job.finished_at or ""),
    ]
    if snapshot.total_steps:
        rows.append(("progress", f"step {snapshot.step or 0}/{snapshot.total_steps}"))
    loss = snapshot.curves.get("train.loss") or []
    if loss:
        rows.append(("train loss", f"{sparkline([v for _, v in loss])} {loss[-1][1]:.4f} (step {loss[-1][0]})"))
    val = snapshot.curves.get("val.loss") or []
    if val:
        rows.append(("val loss", f"{val[-1][1]:.4f} (step {val[-1][0]})"))
    if snapshot.tokens_per_s is not None:
        rows.append(("tokens/s", f"{snapshot.tokens_per_s:,.0f}"))
    if snapshot.fine_tuned_model:
        rows.append(("fine-tuned model", snapshot.fine_tuned_model))
    if snapshot.error:
        rows.append(("error", snapshot.error))
    if record is not None:
        rows.append(("config", f"{record.config_path} (sha256 {(record.config_sha256 or '')[:12]})"))
        rows.append(("dataset", f"{record.dataset_path} (sha256 {(record.dataset_sha256 or '')[:12]})"))
        rows.append(("submitted", record.submitted_at))
    table = Table.grid(padding=(0, 2))
    for key, value in rows:
        table.add_row(f"[bold]{escape(key)}[/]", escape(cap_echo(str(value), 2000)))
    out.print(table)
    for event in snapshot.events[-10:]:
        out.print(escape(event_line(event)), highlight=False, soft_wrap=True)
    return 0


def _watch(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    for flag in ("poll_interval", "poll_timeout"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive")
    return follow(
        client,
        args.job_id,
        err=err,
        out=out,
        poll_interval=args.poll_interval,
        poll_timeout=args.poll_timeout,
        store=open_store(),
        backend_flag=backend,
    )


def _cancel(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    from services.jobs.errors import BackendConflict

    try:
        job = client.cancel_job(args.job_id)
    except BackendConflict as exc:
        current = None
        try:
            current = client.get_job(args.job_id).status
        except Exception:
            current = None
        state = f"it already {current}" if current else "it already finished"
        raise CommandError(f"cannot cancel job {args.job_id}: {state} ({exc.message})") from None
    store = open_store()
    if store is not None:
        store.update_status(args.job_id, status=job.status)
    if job.terminal:
        from services.ledger.hooks import on_job_status

        on_job_status(args.job_id, job.status, getattr(job, "finished_at", None) or getattr(job, "updated_at", None))
    if args.json:
        json_out(job.raw)
        return 0
    if job.terminal:
        out.print(f"Job {escape(job.job_id)} is {escape(job.status)}.")
    else:
        out.print(f"Cancel requested for job {escape(job.job_id)} (now {escape(job.status)}); it stops shortly.")
    return 0


def _events(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    seen: set[int] = set()
    since = args.since
    events = []
    while True:
        page = client.events(args.job_id, since_seq=since, limit=200)
        fresh = sorted((e for e in page if e.seq not in seen and e.seq > since), key=lambda e: e.seq)
        if not fresh:
            break
        seen.update(e.seq for e in fresh)
        if args.json:
            events.extend(fresh)
        else:
            for event in fresh:
                out.print(escape(event_line(event)), highlight=False, soft_wrap=True)
        since = fresh[-1].seq
        if len(page) < 200:
            break
    if args.json:
        json_out([e.model_dump() for e in events])
    elif not seen:
        client.get_job(args.job_id)  # an unknown job is an error, not an empty list
        plain(err, "No events.")
    return 0


def _metrics(args: argparse.Namespace, client: Any, out: Console, err: Console, backend: str | None) -> int:
    points = client.metrics(args.job_id, name=args.name)
    if not points:
        client.get_job(args.job_id)
    if args.json:
        json_out([p.model_dump() for p in points])
        return 0
    if not points:
        plain(err, "No metric points.")
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("name", "step", "value", "epoch"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for point in points:
        table.add_row(
            escape(point.name),
            "" if point.step is None else str(point.step),
            f"{point.value:.6g}",
            "" if point.epoch is None else f"{point.epoch:.3f}",
        )
    out.print(table)
    return 0


def cmd_models(args: argparse.Namespace, out: Console, err: Console) -> int:
    choice = choose_backend(args)
    client = open_backend(choice, err)
    try:
        with backend_errors():
            models = client.list_models()
    finally:
        client.close()
    if args.json:
        json_out([m.raw for m in models])
        return 0
    if not models:
        out.print("No fine-tuned models on this backend.")
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("model", "base", "job", "status", "created"):
        table.add_column(column)
    for model in models:
        table.add_row(
            escape(model.id),
            escape(model.base_model or ""),
            escape(model.job_id or ""),
            escape(model.status or ""),
            escape((model.created_at or "")[:19]),
        )
    out.print(table)
    return 0

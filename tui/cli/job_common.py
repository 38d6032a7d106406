"""What `train`, `jobs` and `models` share: the backend flags, opening a client (the backend and key
source always said on stderr), backend errors as command errors, and the watch view.

The live view (Rich ``Live`` on a terminal, plain lines otherwise) shows the status, a progress bar
with ETA, the latest shown events and a loss sparkline; it is drawn on stderr so stdout carries only
the result (the fine-tuned model id, JSON).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from services.common.echo import cap_echo
from services.jobs.errors import BackendError, EnvFileError
from tui.cli.errors import CommandError, UsageError, plain

if TYPE_CHECKING:
    from services.jobs.api_models import JobEvent
    from services.jobs.backends import BackendChoice
    from services.jobs.client import LearningClient
    from services.jobs.poller import JobSnapshot
    from services.jobs.store import JobStore

#: §8: event types the reference hides as noise (we hide them from the live view, not from `jobs events`).
NOISE = frozenset(
    {
        "sft.created",
        "sft.pricing.check.requested",
        "sft.pricing.check.allowed",
        "sft.stage",
        "snapshot.fetch",
        "hatchet.preflight",
        "hatchet.submission.attempt",
        "hatchet.submission.result",
        "sft.running",
        "sft.status",
        "sft.worker.alive",
        "sft.dispatch.selected",
        "sft.config.prepared",
        "sft.strategy.selected",
        "sft.training.args",
        "sft.progress",
        "sft.loss",
        "sft.upstream.status",
    }
)
SPARKS = "▁▂▃▄▅▆▇█"
STATUS_STYLE = {"succeeded": "bold green", "completed": "bold green", "failed": "bold red", "error": "bold red"}


def add_backend_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        metavar="URL|local",
        help="`local` (the embedded backend, started on demand), `synth`, or the learning API's URL "
        "(default: BACKEND_BASE_URL from the environment, --env-file or ./.env, else synth-ai's default)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        action="append",
        metavar="FILE",
        help="read SYNTH_API_KEY and BACKEND_BASE_URL from FILE (after the process environment; never written)",
    )


@contextmanager
def backend_errors() -> Iterator[None]:
    """A :class:`BackendError` becomes a command error: its message and hint, exit 1 (2 for a bad
    ``--env-file``, a command-line value)."""
    try:
        yield
    except EnvFileError as exc:
        raise UsageError(exc.message, exc.hint or "") from None
    except BackendError as exc:
        raise CommandError(exc.message, exc.hint or "") from None


def choose_backend(args: argparse.Namespace, *, backend: str | None = None) -> BackendChoice:
    from services.jobs.backends import resolve_backend

    env_files: list[Path] | None = getattr(args, "env_file", None)
    with backend_errors():
        return resolve_backend(backend or args.backend, env_file=env_files[0] if env_files else None)


def open_backend(choice: BackendChoice, err: Console, *, say: bool = True) -> LearningClient:
    """The client (the local backend started when needed), after saying which backend and key
    (``say=False`` when the caller said it already and nothing new was learnt)."""
    from services.jobs.backends import open_client

    with backend_errors():
        client = open_client(choice)
    if say or choice.kind == "local":
        plain(err, f"Backend: {choice.label()}")
    return client


def open_store() -> JobStore | None:
    """The local job store, or None (with nothing said) when it cannot be opened: a job on the
    backend matters more than our record of it."""
    from services.jobs.store import JobStore

    try:
        return JobStore()
    except Exception:
        return None


def backend_for_job(args: argparse.Namespace, job_id: str) -> str | None:
    """``--backend``, else the backend the job was submitted to from here (the local store)."""
    if args.backend:
        return str(args.backend)
    store = open_store()
    record = store.get(job_id) if store is not None else None
    if record is None:
        return None
    return "local" if record.backend == "local" else record.base_url


def reattach_hint(job_id: str, backend: str | None) -> str:
    flag = f" --backend {backend}" if backend else ""
    return (
        f"The job keeps running. Watch it again: sft-studio jobs watch {job_id}{flag}; "
        f"cancel it: sft-studio jobs cancel {job_id}{flag}"
    )


# ------------------------------------------------------------------------------------ the view


def sparkline(values: list[float], width: int = 48) -> str:
    if not values:
        return ""
    if len(values) > width:  # the latest points, averaged into ``width`` buckets
        size = len(values) / width
        values = [
            sum(values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
            / len(values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
            for i in range(width)
        ]
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * (len(SPARKS) - 1)))] for v in values)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def event_line(event: JobEvent) -> str:
    text = event.message or event.detail or ""
    if not text and event.data:
        text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(event.data.items())[:6])
    return f"[{event.seq}] {event.type} ({event.level}): {cap_echo(text, 300)}"


def render(snapshot: JobSnapshot, started: float, note: str | None = None) -> RenderableType:
    job = snapshot.job
    status = job.status or "?"
    head = Text.assemble(
        ("Job ", "bold"),
        (job.job_id, "bold cyan"),
        "  ",
        (status, STATUS_STYLE.get(status, "yellow")),
        f"  {job.base_model or ''}  elapsed {duration(time.monotonic() - started)}",
    )
    rows: list[RenderableType] = [head]
    if snapshot.total_steps:
        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            ProgressBar(total=float(snapshot.total_steps), completed=float(snapshot.step or 0), width=40),
            Text(
                f"step {snapshot.step or 0}/{snapshot.total_steps}"
                + (f"  epoch {snapshot.epoch:.2f}" if snapshot.epoch is not None else "")
                + (f"  ETA {duration(snapshot.eta_s)}" if snapshot.eta_s is not None else "")
            ),
        )
        rows.append(bar)
    loss = snapshot.curves.get("train.loss") or []
    if loss:
        val = snapshot.curves.get("val.loss") or []
        extra = f"  val {val[-1][1]:.4f}" if val else ""
        rows.append(Text(f"loss {sparkline([v for _, v in loss])} {loss[-1][1]:.4f}{extra}"))
    facts = []
    lr = snapshot.curves.get("train.learning_rate") or []
    if lr:
        facts.append(f"lr {lr[-1][1]:.3g}")
    if snapshot.tokens_per_s is not None:
        facts.append(f"{snapshot.tokens_per_s:,.0f} tokens/s")
    if facts:
        rows.append(Text("  ".join(facts), style="dim"))
    shown = [e for e in snapshot.events if e.type not in NOISE or e.level in ("warning", "error")][-5:]
    for event in shown:
        style = "red" if event.level == "error" else "yellow" if event.level == "warning" else "dim"
        rows.append(Text(event_line(event), style=style, overflow="ellipsis", no_wrap=True))
    if note:
        rows.append(Text(note, style="yellow"))
    return Group(*rows)


class PlainView:
    """The view without a terminal: a line per status change, shown event, and 10 % of progress."""

    def __init__(self, err: Console) -> None:
        self.err = err
        self.status: str | None = None
        self.decile = -1

    def update(self, snapshot: JobSnapshot) -> None:
        if snapshot.job.status != self.status:
            self.status = snapshot.job.status
            plain(self.err, f"[{time.strftime('%H:%M:%S')}] status={self.status}")
        for event in snapshot.new_events:
            if event.type not in NOISE or event.level in ("warning", "error"):
                plain(self.err, f"[{time.strftime('%H:%M:%S')}] {event_line(event)}")
        fraction = snapshot.fraction
        if fraction is not None and int(fraction * 10) > self.decile:
            self.decile = int(fraction * 10)
            loss = snapshot.curves.get("train.loss") or []
            loss_text = f" loss={loss[-1][1]:.4f}" if loss else ""
            eta = f" eta={duration(snapshot.eta_s)}" if snapshot.eta_s is not None else ""
            plain(
                self.err,
                f"[{time.strftime('%H:%M:%S')}] progress {snapshot.step}/{snapshot.total_steps}{loss_text}{eta}",
            )

    def note(self, text: str) -> None:
        plain(self.err, f"[{time.strftime('%H:%M:%S')}] {text}")


def follow(
    client: LearningClient,
    job_id: str,
    *,
    err: Console,
    out: Console,
    poll_interval: float | None,
    poll_timeout: float | None,
    store: JobStore | None,
    backend_flag: str | None,
) -> int:
    """Watch until the job ends: exit 0 and the model id on stdout's last line on success; a command
    error with the reason otherwise; Ctrl-C stops watching (the job goes on)."""
    from rich.live import Live

    from services.jobs.poller import watch

    started = time.monotonic()
    live: Live | None = None
    view = PlainView(err) if not err.is_terminal else None
    last_status: list[str | None] = [None]
    note: list[str | None] = [None]

    def on_snapshot(snapshot: JobSnapshot) -> None:
        note[0] = None
        if view is not None:
            view.update(snapshot)
        elif live is not None:
            live.update(render(snapshot, started))
        if store is not None and snapshot.job.status != last_status[0]:
            last_status[0] = snapshot.job.status
            with suppress(Exception):
                store.update_status(job_id, status=snapshot.job.status)

    def on_error(exc: BackendError, delay: float) -> None:
        text = f"poll failed: {exc.message}; retrying in {delay:.0f} s"
        if view is not None:
            view.note(text)
        elif live is not None and watcher.last is not None:
            live.update(render(watcher.last, started, text))

    from services.jobs.poller import JobWatch

    watcher = JobWatch(client, job_id)
    try:
        with backend_errors():
            if view is None:
                with Live(console=err, refresh_per_second=4, transient=False) as live:
                    result = watch(
                        client,
                        job_id,
                        poll_interval=poll_interval,
                        poll_timeout=poll_timeout,
                        on_snapshot=on_snapshot,
                        on_error=on_error,
                        job_watch=watcher,
                    )
            else:
                result = watch(
                    client,
                    job_id,
                    poll_interval=poll_interval,
                    poll_timeout=poll_timeout,
                    on_snapshot=on_snapshot,
                    on_error=on_error,
                    job_watch=watcher,
                )
    except KeyboardInterrupt:
        err.print(f"Stopped watching job {escape(job_id)}.", highlight=False)
        plain(err, reattach_hint(job_id, backend_flag))
        raise
    snapshot = result.snapshot
    if result.outcome == "timeout":
        status = snapshot.job.status if snapshot is not None else "unknown"
        raise CommandError(
            f"stopped watching after {poll_timeout:g} s (--poll-timeout): job {job_id} is still {status}",
            reattach_hint(job_id, backend_flag),
        )
    assert snapshot is not None
    if store is not None:
        with suppress(Exception):
            store.update_status(
                job_id,
                status=snapshot.job.status,
                fine_tuned_model=snapshot.fine_tuned_model,
                finished_at=snapshot.job.finished_at or snapshot.job.updated_at,
                error=snapshot.error,
            )
    final = snapshot.job.status
    if not snapshot.job.terminal:  # ended by a terminal event before the job record caught up
        final = "succeeded" if snapshot.succeeded else "cancelled" if snapshot.cancelled else "failed"
        final += f" (from the job's events; the job record says {snapshot.job.status or 'nothing'})"
    plain(err, f"Final status: {final}")
    if not snapshot.succeeded:
        raise CommandError(f"job {job_id} {snapshot.job.status or 'failed'}: {snapshot.error or 'no reason given'}")
    if not snapshot.fine_tuned_model:
        raise CommandError(
            f"job {job_id} {snapshot.job.status} but the backend names no fine-tuned model",
            f"Look again later: sft-studio jobs show {job_id}",
        )
    plain(err, f"Fine-tuned model (on stdout): {snapshot.fine_tuned_model}")
    print(snapshot.fine_tuned_model, flush=True)
    return 0


def json_out(value: Any) -> None:
    import json

    print(json.dumps(value, indent=2, ensure_ascii=False, default=str), flush=True)

"""`sft-studio collect` and `sft-studio demo`: recording Crafter rollouts from the shell.

Progress is a Rich bar (episodes, decisions/s, mean unique achievements, tool-call failures);
Ctrl-C stops at once and keeps every finished episode (each is committed on its own).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.rollouts.demo import BUILD_TIME
from services.rollouts.seeds import SeedRangeError, parse_seed_range
from tui.cli.errors import FAILED, INTERRUPTED, CommandError, UsageError, choose_db, not_found_hint, say_choice

if TYPE_CHECKING:  # the collector pulls in crafter and numpy, Rich its widgets: imported only when collecting
    from rich.console import Console

    from services.rollouts.collector import CollectProgress, CollectResult


def _seeds(text: str) -> tuple[int, int]:
    """``--seeds``: the shared seed-range rule, reported as argparse reports a bad value (exit 2)."""
    try:
        return parse_seed_range(text)
    except SeedRangeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: Any) -> None:
    c = sub.add_parser(
        "collect",
        help="record Crafter rollouts (teacher, random or an OpenAI-compatible model) into a trace DB",
        description="Play seeded Crafter episodes with a policy and record them as synth-ai tracing_v3 "
        "sessions. Reruns skip episodes already recorded (same policy, model, seed).",
    )
    c.add_argument("--db", type=Path, dest="sub_db",
                   help="trace DB to append to, created if absent (default: the DB the app opens)")  # fmt: skip
    c.add_argument("--policy", default="teacher", help="teacher (scripted), random, or openai (default teacher)")
    c.add_argument("--model", help="model name (required for openai; recorded in the trace)")
    c.add_argument("--inference-url", help="OpenAI-compatible base URL, e.g. https://api.groq.com/openai")
    c.add_argument("--seeds", type=_seeds, default=(0, 49), help="seed range START-END (default 0-49)")
    c.add_argument("--episodes", type=int, help="number of episodes (default: one per seed)")
    c.add_argument("--max-turns", type=int, default=50, help="decisions per episode (default 50)")
    c.add_argument("--concurrency", type=int, default=4, help="episodes in parallel (default 4)")
    c.add_argument("--reference-keys", action="store_true",
                   help="write achievements with the reference exporter's keys (new_unique/turned_true)")  # fmt: skip
    c.add_argument("--tag", default="", help="extra tag in session ids, to record the same seeds again")
    sub.add_parser(
        "demo",
        help="build the demo trace DB (teacher + random policy, ~200 episodes) and print its path",
        description="Build or complete the demo DB in the user data dir; rerunning adds nothing. "
        f"A build takes {BUILD_TIME}.",
    )


class _Bar:
    """A Rich progress bar fed by collector progress callbacks."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>6.0f} dec/s  mean unique {task.fields[unique]:.1f}"),
            TextColumn("{task.fields[fails]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.last: CollectProgress | None = None
        self.retries_shown = 0

    def update(self, label: str, p: CollectProgress) -> None:
        if p.server_retries > self.retries_shown and p.notice:
            from rich.markup import escape

            # Each retry as it happens, above the bar: a failing server is not silence.
            self.progress.console.print(f"[yellow]Retrying:[/] {escape(p.notice)}", highlight=False, soft_wrap=True)
            self.retries_shown = p.server_retries
        if label not in self.tasks:
            self.tasks[label] = self.progress.add_task(label, total=p.episodes_total, rate=0.0, unique=0.0, fails="")
        fails = f"[yellow]{p.tool_call_failures} bad tool calls[/]" if p.tool_call_failures else ""
        self.progress.update(
            self.tasks[label],
            total=p.episodes_total,
            completed=p.episodes_done,
            rate=p.decisions_per_s,
            unique=p.mean_unique,
            fails=fails,
        )
        self.last = p


#: Exit status after SIGTERM: the shell's 128 + 15, as a process killed by it reports.
TERMINATED = 128 + signal.SIGTERM


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[dict[str, bool]]:
    """SIGTERM stops a collection exactly like Ctrl-C (finished episodes kept, helpers ended, one
    "Interrupted" line); the yielded dict's ``terminated`` says which signal it was (exit 143, not 130).

    The handler hands over to whatever handles SIGINT at that moment (asyncio's runner cancels the
    collection and raises KeyboardInterrupt once its cleanup ran), so both signals take one path.
    """
    state = {"terminated": False}

    def on_term(signum: int, frame: object) -> None:
        state["terminated"] = True
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)  # type: ignore[arg-type]
        else:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (a test calling main() from a worker): leave SIGTERM alone
        yield state
        return
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def _summary(out: Console, result: CollectResult) -> None:
    p = result.progress
    out.print(
        f"Recorded {p.episodes_done} episode(s) ({p.decisions} decisions, {p.decisions_per_s:.0f}/s, "
        f"mean {p.mean_unique:.2f} unique achievements) into {result.db}"
        + (f"; skipped {p.episodes_skipped} already recorded" if p.episodes_skipped else "")
        + (f"; {p.tool_call_failures} decisions without a usable tool call" if p.tool_call_failures else "")
        + (
            f"; {p.episodes_unreached} episode(s) not recorded: none of their decisions got an answer from the model"
            if p.episodes_unreached
            else ""
        )
        + (f"; {p.server_retries} inference call(s) retried" if p.server_retries else ""),
        highlight=False,
        soft_wrap=True,
    )


def _target_db(explicit: Path | None, err: Console) -> Path:
    """--db (created if absent), else the DB the app would open; never a new ./traces/v3/synth_ai.db
    made silently (the next app start would open that one-session DB instead of the user's)."""
    choice = choose_db(explicit)
    if choice.path is None:
        raise UsageError(
            "No trace DB to append to: none found, and collect creates one only where --db says.",
            not_found_hint(choice),
        )
    say_choice(choice, err)
    return choice.path


def cmd_collect(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.rollouts.collector import CollectError, CollectSpec, collect
    from services.traces.achievement_keys import KeyStyle

    db = _target_db(args.sub_db or args.db, err)
    try:
        spec = CollectSpec(
            db=db,
            policy=args.policy,
            model=args.model,
            inference_url=args.inference_url,
            seeds=args.seeds,
            episodes=args.episodes,
            max_turns=args.max_turns,
            concurrency=args.concurrency,
            key_style=KeyStyle.REFERENCE if args.reference_keys else KeyStyle.TASK_APP,
            tag=args.tag,
        )
    except ValueError:
        raise UsageError(f"unknown policy {args.policy!r}: choose teacher, random or openai.") from None
    bar = _Bar(err)
    try:
        with _sigterm_as_interrupt() as signals, bar.progress:
            result = collect(spec, lambda p: bar.update(spec.policy, p))
    except CollectError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        kept = bar.last.episodes_done if bar.last else 0
        err.print(f"Interrupted: {kept} finished episode(s) kept in {db}; episodes in flight were discarded.")
        return TERMINATED if signals["terminated"] else INTERRUPTED
    _summary(out, result)
    if result.stopped:
        err.print(f"[bold red]Stopped early:[/] {result.stopped}", highlight=False, soft_wrap=True)
        return FAILED
    return 0


def cmd_demo(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.rollouts.collector import CollectError
    from services.rollouts.demo import build_demo, demo_db_path, demo_is_complete

    if demo_is_complete():  # nothing to add: no empty progress bars, one line and the path
        err.print("The demo DB is already built; rerunning adds nothing.", highlight=False)
        out.print(str(demo_db_path()), highlight=False, soft_wrap=True)
        return 0
    bar = _Bar(err)
    try:
        with _sigterm_as_interrupt() as signals, bar.progress:
            path = build_demo(on_progress=bar.update)
    except CollectError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        err.print(f"Interrupted: the demo DB at {demo_db_path()} keeps what finished; run again to complete it.")
        return TERMINATED if signals["terminated"] else INTERRUPTED
    out.print(str(path), highlight=False, soft_wrap=True)
    return 0

"""`sft-studio eval`: play a model (or the teacher / random policy) over fixed Crafter seeds and score it;
`sft-studio eval compare A B`: which of two evals is better on their common seeds.

Progress is a Rich bar on stderr (episodes, decisions/s, achievements so far); the results table, or
with ``--json`` one JSON document, goes to stdout. Results are saved under the data dir's ``evals/``
(``--no-save`` skips it). Ctrl-C stops at once and keeps, scores and saves the finished episodes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.cli.errors import FAILED, INTERRUPTED, CommandError, UsageError

if TYPE_CHECKING:  # the launcher pulls in crafter and numpy, Rich its widgets: imported only when evaluating
    from rich.console import Console

    from services.evals.compare import Comparison
    from services.evals.launcher import EvalProgress
    from services.evals.results import EvalResult
    from services.evals.settings import EvalSettings

HELP = "evaluate a model (or the teacher / random policy) on fixed Crafter seeds; compare two evals"


def add_parsers(sub: Any) -> None:
    e = sub.add_parser(
        "eval",
        help=HELP,
        description="Play seeded Crafter episodes with a model served by any OpenAI-compatible server "
        "(--inference-url, or --backend local), or with the teacher / random policy, and report the "
        "Crafter score with a 95 %% CI. Default seeds 10000-10049 (disjoint from the demo DB's 0-119). "
        "`sft-studio eval compare A B` compares two saved evals (ids or JSON files).",
    )
    e.add_argument("--model", help="model id to evaluate (required for --policy openai)")
    e.add_argument(
        "--inference-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000 or https://api.groq.com/openai"
    )
    e.add_argument(
        "--backend", choices=["local"], help="local: the local training backend's /v1 and key (started if needed)"
    )
    e.add_argument(
        "--policy", choices=["openai", "teacher", "random"], help="openai (a model; default), teacher or random"
    )
    e.add_argument(
        "--api-key-env", metavar="VAR", help="environment variable holding the API key (default: chosen by URL)"
    )
    e.add_argument("--seeds", help="seed range START-END (default 10000-10049)")
    e.add_argument("--max-turns", type=int, help="decisions per episode (default 50)")
    e.add_argument("--concurrency", type=int, help="episodes in parallel (default 8)")
    e.add_argument("--temperature", type=float, help="sampling temperature (default 0.2)")
    e.add_argument("--max-tokens", type=int, help="max tokens per answer (default 512)")
    e.add_argument("--top-p", type=float, help="nucleus sampling top_p")
    e.add_argument("--trace-db", type=Path, help="also record every episode as a synth-ai session in this trace DB")
    e.add_argument(
        "--task-app", metavar="URL", help="play through a grpo-crafter task app at URL instead of in-process"
    )
    e.add_argument("--toml", type=Path, help="eval TOML (synth-ai run_eval.py keys, [eval] / [rollout] tables)")
    e.add_argument("--json", action="store_true", help="print one JSON document (episodes + aggregate)")
    e.add_argument("--no-save", action="store_true", help="do not save the results in the data dir")
    e.add_argument("eval_args", nargs="*", metavar="compare A B", help="compare two evals (ids or result JSON paths)")


# ---- settings ------------------------------------------------------------------------------------


def settings_from_args(args: argparse.Namespace, err: Console | None = None) -> EvalSettings:
    """TOML values first, flags over them; UsageError (exit 2) for anything that cannot be used."""
    from services.evals.settings import EvalError, build_settings, seeds_from_spec
    from services.evals.toml_config import read_eval_toml

    values: dict[str, Any] = {}
    try:
        if args.toml is not None:
            toml = read_eval_toml(args.toml)
            values.update(toml.values)
            if err is not None:
                for warning in toml.warnings:
                    err.print(f"[yellow]Warning:[/] {args.toml}: {warning}", highlight=False, soft_wrap=True)
        flags = {
            "model": args.model,
            "inference_url": args.inference_url,
            "backend": args.backend,
            "policy": args.policy,
            "api_key_env": args.api_key_env,
            "max_turns": args.max_turns,
            "concurrency": args.concurrency,
            "temperature": args.temperature,
            "max_tokens": args.max_tokens,
            "top_p": args.top_p,
            "trace_db": args.trace_db,
            "task_app_url": args.task_app,
        }
        values.update({k: v for k, v in flags.items() if v is not None})
        if args.seeds is not None:
            values["seeds"] = seeds_from_spec(args.seeds)
        if isinstance(values.get("trace_db"), str):
            values["trace_db"] = Path(values["trace_db"])
        if "policy" not in values and not values.get("model") and not values.get("inference_url"):
            raise EvalError(
                "Say what to evaluate: --model M with --inference-url URL or --backend local, "
                "or --policy teacher / random."
            )
        settings = build_settings(values)
        settings.model_name()  # a model is named when one is needed
        return settings
    except EvalError as exc:
        raise UsageError(str(exc)) from None


# ---- progress ------------------------------------------------------------------------------------


class _Bar:
    """Episodes done, decisions/s, mean unique and the achievements unlocked so far."""

    def __init__(self, console: Console, label: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>5.1f} dec/s  unique {task.fields[unique]:.1f}"),
            TextColumn("{task.fields[ach]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=total, rate=0.0, unique=0.0, ach="")
        self.retries_shown = 0
        self.started = False

    def stop(self) -> None:
        if self.started:
            self.progress.stop()

    def update(self, p: EvalProgress) -> None:
        if not self.started:  # shown once the preflight passed: a refused eval prints only its error
            self.started = True
            self.progress.start()
        if p.server_retries > self.retries_shown and p.notice:
            from rich.markup import escape

            self.progress.console.print(f"[yellow]Retrying:[/] {escape(p.notice)}", highlight=False, soft_wrap=True)
            self.retries_shown = p.server_retries
        ach = f"{len(p.achievements)}/22 seen"
        if p.tool_call_failures:
            ach += f"  [yellow]{p.tool_call_failures} bad tool calls[/]"
        self.progress.update(
            self.task, total=p.episodes_total, completed=p.episodes_done, rate=p.decisions_per_s,
            unique=p.mean_unique, ach=ach,
        )  # fmt: skip


# ---- output --------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def print_result(out: Console, result: EvalResult, folder: Path | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    episodes = Table(title=f"{result.model}: {len(result.episodes)} episode(s)", title_justify="left")
    for col in ("seed", "unique", "return", "dec", "steps", "died", "bad", "tokens", "ms"):
        episodes.add_column(col, justify="right")
    for e in result.episodes:
        episodes.add_row(
            str(e.seed), str(e.unique), f"{e.total_reward:g}", str(e.decisions), str(e.steps),
            "yes" if e.died else "", str(e.tool_call_failures or ""), str(e.total_tokens or ""),
            f"{e.mean_latency_ms:.0f}",
        )  # fmt: skip
        if e.error:
            episodes.add_row("", f"[red]{escape(e.error)}[/]", end_section=False)
    out.print(episodes)
    a = result.aggregate
    rates = Table(title="Success rate per achievement", title_justify="left")
    for _ in range(2):
        rates.add_column("achievement")
        rates.add_column("rate", justify="right")
    items = list(a.success_rates.items())
    half = (len(items) + 1) // 2
    for left, right in zip(items[:half], [*items[half:], ("", None)], strict=False):
        rates.add_row(left[0], _pct(left[1]), right[0], "" if right[1] is None else _pct(right[1]))
    out.print(rates)
    low, high = a.crafter_score_ci
    mlow, mhigh = a.mean_unique_ci
    lines = [
        f"Crafter score {a.crafter_score:.2f}% (95% CI {low:.2f}-{high:.2f}) over {a.episodes} episode(s)",
        f"mean unique achievements {a.mean_unique:.2f} (95% CI {mlow:.2f}-{mhigh:.2f}), "
        f"mean return {a.mean_return:.2f}, died {a.died}/{a.episodes}",
        f"{a.decisions} decisions, {a.decisions_per_s:.1f}/s; tool-call failures {a.tool_call_failures} "
        f"({_pct(a.tool_call_failure_rate)})"
        + (f"; {a.total_tokens} tokens, {a.tokens_per_s:.0f} tokens/s" if a.total_tokens else "")
        + f"; mean latency {a.mean_latency_ms:.0f} ms",
    ]
    if a.failed_episodes or a.partial_episodes:
        lines.append(f"{a.failed_episodes} failed episode(s) not scored; {a.partial_episodes} partial")
    if folder is not None:
        lines.append(f"saved: {folder} (id {result.eval_id})")
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)


def print_comparison(out: Console, c: Comparison) -> None:
    from rich.table import Table

    table = Table(title=f"A = {c.a_model} ({c.a_id})  vs  B = {c.b_model} ({c.b_id})", title_justify="left")
    for col, justify in (("achievement", "left"), ("A", "right"), ("B", "right"), ("A - B", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for d in c.achievements:
        color = "green" if d.delta > 0 else "red" if d.delta < 0 else "dim"
        table.add_row(d.name, _pct(d.a), _pct(d.b), f"[{color}]{100 * d.delta:+.0f}[/]")
    out.print(table)
    from services.evals.stats_math import p_eq

    low, high = c.score_diff_ci
    mlow, mhigh = c.mean_diff_ci
    out.print(
        f"Crafter score A {c.score_a:.2f}% vs B {c.score_b:.2f}%: {c.score_diff:+.2f} points "
        f"(95% CI {low:+.2f} to {high:+.2f})\n"
        f"unique achievements per seed A {c.mean_unique_a:.2f} vs B {c.mean_unique_b:.2f}: {c.mean_diff:+.2f} "
        f"(95% CI {mlow:+.2f} to {mhigh:+.2f}), paired t test p {p_eq(c.p_value)} on {c.seeds} common seed(s)"
        + (f"; seeds only in A: {c.only_a}, only in B: {c.only_b}" if c.only_a or c.only_b else ""),
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"[bold]Verdict:[/] {c.summary}", highlight=False, soft_wrap=True)


# ---- commands ------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace, out: Console, err: Console) -> int:
    words = list(args.eval_args or [])
    if words:
        if words[0] != "compare":
            raise UsageError(f"unknown eval action {words[0]!r}: the only one is `compare A B`.")
        if len(words) != 3:
            raise UsageError("`sft-studio eval compare` takes two evals: ids or result JSON paths.")
        return cmd_compare(words[1], words[2], args.json, out)
    return _run(args, out, err)


def cmd_compare(a_ref: str, b_ref: str, as_json: bool, out: Console) -> int:
    from services.evals.compare import compare
    from services.evals.results import load_result
    from services.evals.settings import EvalError

    try:
        comparison = compare(load_result(a_ref), load_result(b_ref))
    except EvalError as exc:
        raise CommandError(str(exc)) from None
    if as_json:
        out.print_json(comparison.model_dump_json())
    else:
        print_comparison(out, comparison)
    return 0


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.evals.launcher import run_eval
    from services.evals.lineage import seed_check
    from services.evals.local_backend import with_local_backend
    from services.evals.results import LeakageNote, result_from_run, save_result
    from services.evals.settings import EvalError
    from tui.cli.collect import TERMINATED, _sigterm_as_interrupt

    settings = settings_from_args(args, err)
    try:
        settings = with_local_backend(settings)
    except EvalError as exc:
        raise CommandError(str(exc)) from None
    leakage: LeakageNote | None = None
    if settings.policy == "openai":
        report = seed_check(settings.model_name(), settings.seeds)
        if report is None:
            err.print(
                "Seed check: not done (no training data traced for this model: not a local-backend fine-tune, "
                "or its dataset manifest or trace DB is not here)."
            )
        elif not report.overlap:
            err.print(f"Seed check passed: {report.passed_message}", highlight=False, soft_wrap=True)
        else:
            err.print(f"[bold yellow]Seed leakage:[/] {report.message}", highlight=False, soft_wrap=True)
            leakage = LeakageNote(
                overlap=len(report.overlap), training_seeds=len(report.lineage.seeds), message=report.message
            )
    bar = _Bar(err, settings.model_name(), len(settings.seeds))
    try:
        with _sigterm_as_interrupt() as signals:
            try:
                run = run_eval(settings, bar.update)
            finally:
                bar.stop()
    except EvalError as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:  # before any episode (during preflight): nothing to keep
        err.print("Interrupted before any episode finished; nothing saved.")
        return TERMINATED if signals["terminated"] else INTERRUPTED
    result = result_from_run(run, leakage)
    folder = None if args.no_save or not run.episodes else save_result(result)
    if args.json:
        doc = result.model_dump(mode="json")
        doc["result_dir"] = str(folder) if folder else None
        out.print_json(json.dumps(doc))
    else:
        print_result(out, result, folder)
    if run.stopped == "interrupted":
        err.print(
            f"Interrupted: {len(run.episodes)} finished episode(s) kept"
            + (f" in {folder}" if folder else "")
            + "; episodes in flight were discarded.",
            highlight=False,
            soft_wrap=True,
        )
        return TERMINATED if signals["terminated"] else INTERRUPTED
    if run.stopped:
        err.print(f"[bold red]Stopped early:[/] {run.stopped}", highlight=False, soft_wrap=True)
        return FAILED
    return 0

"""``sft-studio sweep plan|run|status FILE.toml``: sweeps that run themselves (issue 15).

``plan`` expands the plan into cells and shows each cell's estimated cost (examples, tokens, steps,
time from the throughput the runs ledger measured on earlier jobs, else "unknown"); a plan with an
unknown axis or an impossible cell is refused (exit 1) before anything runs. ``run`` does each cell's
export → config → job → eval, skipping finished cells and resuming interrupted ones (``--dry-run``:
what it would do, nothing written or sent). ``status`` shows each cell's state and result (Crafter
score with its 95 % CI). The cell grid goes to stdout; progress lines to stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from tui.cli.errors import CommandError, plain
from tui.cli.job_common import add_backend_flags, choose_backend

if TYPE_CHECKING:
    from rich.console import Console

    from services.sweeps.plan import SweepPlan
    from services.sweeps.state import CellState

HELP = "plan, run and follow a sweep (cells over LoRA rank, learning rate, FFT vs LoRA, data size and quality)"


def add_parsers(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help=HELP,
        description="A sweep plan (TOML) over one or more axes expands to cells; each cell is exported, "
        "trained and evaluated on the plan's fixed seeds. Finished cells are never redone.",
    )
    inner = sweep.add_subparsers(dest="sweep_command", metavar="ACTION", required=True)
    plan = inner.add_parser("plan", help="the cells and their estimated cost; refuses impossible cells")
    run = inner.add_parser("run", help="run every cell not done yet (export → config → job → eval)")
    status = inner.add_parser("status", help="each cell's state and result")
    for parser in (plan, run, status):
        parser.add_argument("plan_file", type=Path, metavar="FILE")
    for parser in (plan, status):
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--backend", metavar="URL|local", help="check the base model for this backend")
    add_backend_flags(run)
    run.add_argument("--dry-run", action="store_true", help="show what would run; write and send nothing")
    run.add_argument("--poll-interval", type=float, metavar="SECONDS", help="seconds between job polls")
    run.add_argument("--poll-timeout", type=float, default=3600.0, metavar="SECONDS", help="per job (default 3600)")


def cmd_sweep(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.sweeps.plan import PlanError
    from services.sweeps.state import StateError

    try:
        if args.sweep_command == "plan":
            return _plan(args, out, err)
        if args.sweep_command == "run":
            return _run(args, out, err)
        return _status(args, out)
    except (PlanError, StateError) as exc:
        raise CommandError(f"Sweep refused: {exc}", "Nothing was run.") from None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _values(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "(base)"


def _plan_table(plan: SweepPlan, actions: dict[str, str] | None = None) -> Table:
    table = Table(title=f"sweep {plan.name}: {len(plan.cells)} cell(s)", title_justify="left")
    for column in ("#", "cell", "examples", "tokens", "steps", "est. time"):
        table.add_column(column, justify="right" if column not in ("cell",) else "left")
    table.add_column("action" if actions is not None else "problems")
    for i, cell in enumerate(plan.cells, 1):
        est = cell.estimate
        note = actions.get(cell.settings_hash, "") if actions is not None else "; ".join(cell.problems)
        table.add_row(
            str(i),
            escape(_values(cell.values)),
            f"{est.examples:,}" if est else "-",
            f"{est.tokens:,}" if est else "-",
            f"{est.steps:,}" if est and est.steps is not None else "-",
            _duration(est.seconds) if est else "-",
            escape(note) if note else "",
            style="red" if cell.problems else None,
        )
    return table


def _totals(plan: SweepPlan) -> str:
    ests = [c.estimate for c in plan.cells if c.estimate]
    seconds = [e.seconds for e in ests if e.seconds is not None]
    source = ests[0].throughput if ests else "unknown"
    total = f"{_duration(sum(seconds))} ({source})" if ests and len(seconds) == len(ests) else source
    seeds = plan.eval.seeds
    return (
        f"Training time, all cells: {total}; eval: {plan.eval.policy} on {len(seeds)} seeds "
        f"{seeds[0]}-{seeds[-1]} × {plan.eval.max_turns} turns per cell. "
        f"Configs → {plan.out_dir}, data → {plan.data_dir}"
    )


def _load(path: Path, backend: str | None) -> SweepPlan:
    from services.sweeps.plan import load_plan

    return load_plan(path, backend=backend)


def _plan(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.sweeps.plan import refusal

    plan = _load(args.plan_file, args.backend)
    problem = refusal(plan)
    if args.json:
        print(json.dumps({"refused": problem, **plan.model_dump(mode="json")}, indent=2))
    else:
        out.print(_plan_table(plan))
        plain(out, _totals(plan))
    if problem:
        raise CommandError(f"Sweep refused: {problem}", "Fix the plan; nothing was run.")
    return 0


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.sweeps.plan import PlanError, refusal
    from services.sweeps.runner import planned_actions, run_sweep

    if args.poll_interval is not None and args.poll_interval <= 0:
        raise CommandError("--poll-interval must be positive")
    plan = _load(args.plan_file, args.backend)
    choice = choose_backend(args, backend=args.backend or plan.backend)
    actions = {cell.settings_hash: action for cell, action in planned_actions(plan)}
    out.print(_plan_table(plan, actions if not refusal(plan) else None))
    plain(err, _totals(plan))
    plain(err, f"Backend: {choice.label()}")
    if args.dry_run:
        problem = refusal(plan)
        if problem:
            raise PlanError(problem)
        plain(err, "Dry run: nothing was written or sent.")
        return 0

    def on_event(name: str, step: str, text: str) -> None:
        style = {"failed": "red", "stopped": "bold red", "done": "green", "warn": "yellow"}.get(step)
        line = escape(f"  [{name}] {text}")
        err.print(f"[{style}]{line}[/]" if style else line, highlight=False, soft_wrap=True)

    try:
        summary = run_sweep(
            plan,
            choice,
            on_event=on_event,
            poll_interval=args.poll_interval,
            poll_timeout=args.poll_timeout,
        )
    except KeyboardInterrupt:
        plain(err, "Stopped: finished cells are kept; `sft-studio sweep run` again resumes the rest.")
        raise
    out.print(_status_table(plan.name, _cells(args.plan_file)))
    plain(err, f"{len(summary.done)} done, {len(summary.skipped)} done before, {len(summary.failed)} failed")
    if summary.stopped:
        raise CommandError(f"Sweep stopped: {summary.stopped}")
    if summary.failed:
        raise CommandError(
            f"{len(summary.failed)} cell(s) failed: {', '.join(summary.failed)}",
            "See `sft-studio sweep status FILE`; `sweep run` again retries them.",
        )
    return 0


def _cells(path: Path) -> list[CellState]:
    from services.sweeps.state import sweep_status

    return sweep_status(path)


def _score(cell: CellState) -> str:
    if cell.crafter_score is None:
        return "-"
    ci = cell.crafter_score_ci
    return f"{cell.crafter_score:.1f}%" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def _status_table(name: str, cells: list[CellState]) -> Table:
    table = Table(title=f"sweep {name}", title_justify="left")
    for column in ("#", "cell", "state", "examples", "model", "Crafter score [95% CI]", "mean unique", "note"):
        table.add_column(column)
    styles = {"done": "green", "skipped": "green", "failed": "red", "stopped": "red", "pending": "dim"}
    for i, cell in enumerate(cells, 1):
        table.add_row(
            str(i),
            escape(_values(cell.values)),
            f"[{styles.get(cell.state, 'yellow')}]{cell.state}[/]",
            str(cell.examples) if cell.examples is not None else "-",
            escape(cell.model or cell.job_id or "-"),
            _score(cell),
            f"{cell.mean_unique:.2f}" if cell.mean_unique is not None else "-",
            escape(cell.error or "; ".join(cell.problems) or _note(cell)),
        )
    return table


def _note(cell: CellState) -> str:
    if cell.ledger_run:
        return f"in the runs ledger already: {cell.ledger_run}"
    return f"seed leakage: {cell.leakage}" if cell.leakage else ""


def _status(args: argparse.Namespace, out: Console) -> int:
    cells = _cells(args.plan_file)
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in cells], indent=2))
        return 0
    from services.sweeps.plan import load_plan

    out.print(_status_table(load_plan(args.plan_file, estimate=False).name, cells))
    return 0

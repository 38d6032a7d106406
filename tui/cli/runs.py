"""``sft-studio runs``: the runs ledger (issue 15) from a shell — list, show (the whole lineage),
compare, reproduce, export, import. ID is a model id, a job id or an eval id.

``--ledger PATH`` (or ``SFT_STUDIO_LEDGER``) chooses the ledger file, so a team can keep one in its
repository; the default is the data dir's ``runs.db`` (the job store's file). A corrupt or newer
ledger is refused with its path named, and only this command fails."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.cli.errors import CommandError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from services.ledger.achievement_data import AchievementData
    from services.ledger.records import Lineage
    from services.ledger.store import Ledger

HELP = "the runs ledger: list runs, show a run's lineage, compare, reproduce, export and import"


def add_parsers(sub: Any) -> None:
    runs = sub.add_parser("runs", help=HELP, description="The runs ledger: every eval traced back to its data.")
    inner = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    actions = {
        "list": inner.add_parser("list", help="one row per model (and per job with no model yet)"),
        "show": inner.add_parser("show", help="a run's lineage: evals, model, job, config, dataset, filter, trace DB"),
        "compare": inner.add_parser("compare", help="runs side by side, differing settings marked, score deltas"),
        "reproduce": inner.add_parser("reproduce", help="rebuild the run's dataset, check its sha256, print commands"),
        "export": inner.add_parser("export", help="the runs table as CSV, Markdown or JSON"),
        "import": inner.add_parser("import", help="record export manifests and eval result JSON files"),
    }
    for parser in actions.values():
        parser.add_argument("--ledger", type=Path, help="ledger file (default: $SFT_STUDIO_LEDGER or data dir runs.db)")
    actions["list"].add_argument("--json", action="store_true", help="machine-readable output")
    actions["show"].add_argument("run_id", metavar="ID")
    actions["show"].add_argument("--json", action="store_true", help="the whole lineage as JSON")
    actions["compare"].add_argument("run_ids", metavar="ID", nargs="+")
    compare_output = actions["compare"].add_mutually_exclusive_group()
    compare_output.add_argument("--json", action="store_true", help="machine-readable output")
    compare_output.add_argument(
        "--format", choices=("csv", "md"), help="the comparison as CSV or Markdown (as the Runs pane's e writes it)"
    )
    actions["reproduce"].add_argument("run_id", metavar="ID")
    actions["reproduce"].add_argument("--json", action="store_true", help="machine-readable output")
    actions["export"].add_argument("--format", choices=("csv", "md"), default="csv", help="table format (default csv)")
    actions["export"].add_argument("--json", action="store_true", help="JSON instead of --format")
    actions["export"].add_argument("--output", type=Path, help="write here (atomically) instead of stdout")
    actions["import"].add_argument("paths", metavar="PATH", nargs="+", type=Path)


def _open(args: argparse.Namespace) -> Ledger:
    from services.ledger.open import LedgerError
    from services.ledger.store import Ledger

    try:
        return Ledger(args.ledger)
    except LedgerError as exc:
        raise CommandError(str(exc)) from None


def cmd_runs(args: argparse.Namespace, out: Console, err: Console) -> int:
    handler = {
        "list": _list,
        "show": _show,
        "compare": _compare,
        "reproduce": _reproduce,
        "export": _export,
        "import": _import,
    }[args.runs_command]
    ledger = _open(args)
    try:
        return handler(args, ledger, out, err)
    finally:
        ledger.close()


def _lineage(ledger: Ledger, run_id: str, *, verify: bool = True) -> Lineage:
    from services.ledger.lineage import UnknownRun, lineage

    if not run_id.strip():
        raise UsageError("the run id is empty")
    try:
        return lineage(ledger, run_id, verify=verify)
    except UnknownRun as exc:
        raise CommandError(str(exc)) from None


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str), flush=True)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ci(pair: tuple[float, float] | None) -> str:
    return "" if pair is None else f"[{pair[0]:.2f}, {pair[1]:.2f}]"


def _list(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from rich.markup import escape
    from rich.table import Table

    from services.ledger.table import run_rows

    rows = run_rows(ledger)
    if args.json:
        _json([r.model_dump(mode="json") for r in rows])
        return 0
    if not rows:
        out.print(f"No runs in {escape(str(ledger.path))} yet (exports, jobs and evals are recorded as they happen).")
        return 0
    columns = ("run", "kind", "base", "dataset", "examples", "filter", "loss", "tok/s", "score % [CI]", "unique")
    cells = [
        [
            escape(r.id),
            escape(r.kind),
            escape(r.base or ""),
            escape(r.dataset or ""),
            str(r.examples or ""),
            escape(r.filter or ""),
            _fmt(r.final_loss, 3),
            _fmt(r.tokens_per_s, 0),
            (f"{r.crafter_score:.2f} {_ci(r.crafter_score_ci)}" if r.crafter_score is not None else ""),
            _fmt(r.mean_unique),
        ]
        for r in rows
    ]
    shown = [i for i in range(len(columns)) if i == 0 or any(row[i] for row in cells)]  # no all-empty columns
    table = Table(box=None, header_style="bold", title=f"Runs in {escape(str(ledger.path))}", title_justify="left")
    for i in shown:
        table.add_column(columns[i], overflow="fold", no_wrap=i in (0, 8))
    for row in cells:
        table.add_row(*(row[i] for i in shown))
    out.print(table)
    n = ledger.counts()
    out.print(f"{len(rows)} run(s), {n['datasets']} dataset(s), {n['evals']} eval(s) recorded.")
    return 0


def _show(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from rich.markup import escape

    from services.ledger.achievement_data import base_model_link

    lin = _lineage(ledger, args.run_id)
    data_link = base_model_link(ledger, lin)
    if args.json:
        _json(
            {
                **lin.model_dump(mode="json"),
                "achievement_data": data_link.model_dump(mode="json") if data_link else None,
            }
        )
        return 0
    p = out.print
    if lin.model is not None:
        m = lin.model
        p(f"[bold]Model[/] {escape(m.model_id)} ({m.kind}{', base ' + escape(m.base) if m.base else ''})")
    for ev in lin.evals:
        p(
            f"[bold]Eval[/] {escape(ev.eval_id)}: Crafter score {ev.score_text()}, mean unique "
            f"{ev.mean_unique:.2f} on {len(ev.seeds)} seeds ({escape(ev.backend)})"
        )
        if ev.result_path:
            p(f"  result: {escape(ev.result_path)}", highlight=False)
    if lin.job is not None:
        j = lin.job
        p(f"[bold]Job[/] {escape(j.job_id)} on {escape(j.backend)} ({escape(j.last_status or 'status unknown')})")
    if lin.facts is not None:
        f = lin.facts
        figures = [f"final loss {f.final_loss:.4f}" if f.final_loss is not None else "",
                   f"val loss {f.final_val_loss:.4f}" if f.final_val_loss is not None else "",
                   f"{f.tokens_per_s:.0f} tokens/s" if f.tokens_per_s is not None else "",
                   f"{f.wall_s:.0f} s" if f.wall_s is not None else ""]  # fmt: skip
        if any(figures):
            p("  " + ", ".join(x for x in figures if x))
    if lin.config is not None:
        p(f"[bold]Config[/] {escape(lin.config.path)} (sha256 {lin.config.sha256[:12]})", highlight=False)
    if lin.dataset is not None:
        d = lin.dataset
        p(f"[bold]Dataset[/] {escape(d.path)} (sha256 {d.sha256[:12]}, {d.examples} examples, {d.tokens} tokens)")
        state = lin.dataset_check.state if lin.dataset_check else "not checked"
        p(f"  file on disk: {state}")
        from services.ledger.table import filter_summary

        p(f"  filter: {escape(filter_summary(d.filter))}")
        p(f"  trace DB: {escape(d.db_path or '?')} (sha256 {(d.db_sha256 or '?')[:12]})", highlight=False)
    if data_link is not None:
        _print_data_link(out, data_link)
    for warning in lin.warnings:
        err.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    return 0


def _compare(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from rich.markup import escape
    from rich.table import Table

    from services.ledger.achievement_data import compare_links
    from services.ledger.compare import compare_runs

    if len(args.run_ids) < 2:
        raise UsageError("compare needs at least two run ids")
    lineages = [_lineage(ledger, r, verify=False) for r in args.run_ids]
    result = compare_runs(lineages)
    links = compare_links(lineages)
    if args.json:
        _json({**result.model_dump(mode="json"), "achievement_data": [x.model_dump(mode="json") for x in links]})
        return 0
    if args.format is not None:
        from services.ledger.exports import comparison_csv, comparison_markdown

        text = comparison_csv(result) if args.format == "csv" else comparison_markdown(result)
        print(text, end="", flush=True)
        return 0
    table = Table(box=None, header_style="bold")
    table.add_column("setting")
    for run_id in result.ids:
        table.add_column(escape(run_id))
    for row in result.settings:
        mark = "[bold yellow]≠ " if row.differs else "  "
        table.add_row(mark + escape(row.name) + ("[/]" if row.differs else ""), *map(escape, row.values))
    out.print(table)
    for s in result.scores:
        ci = f" [{s.diff_ci[0]:+.2f}, {s.diff_ci[1]:+.2f}]" if s.diff_ci else ""
        out.print(
            f"{escape(s.b)} vs {escape(s.a)}: Crafter score {s.score_b:.2f} vs {s.score_a:.2f}, difference "
            f"{s.diff:+.2f}{ci} "
            + (f"(paired on {s.paired_seeds} seeds: {escape(s.verdict)})" if s.paired_seeds else f"({escape(s.note)})"),
            highlight=False,
        )
    for data_link in links:
        _print_data_link(out, data_link)
    for warning in result.warnings:
        err.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    return 0


def _print_data_link(out: Console, pair: AchievementData) -> None:
    """The achievements that changed against the base, with the training data from sessions that
    reached each (``services.ledger.achievement_data``)."""
    from rich.markup import escape
    from rich.table import Table

    from services.ledger.achievement_data import data_lines, table

    base = f"{pair.base_id} (base model)" if pair.base_kind == "base model" else pair.base_id
    seeds = f" on {pair.seeds} common seeds" if pair.seeds else ""
    out.print(
        f"[bold]Achievements gained or lost[/]: {escape(pair.run_id)} vs {escape(base)}{seeds}, with the training "
        "examples and sessions that reached each",
        highlight=False,
        soft_wrap=True,
    )
    for counted, line in data_lines(pair):
        out.print(("  " if counted else "  [yellow]not counted:[/] ") + escape(line), highlight=False, soft_wrap=True)
    if not pair.rows:
        out.print(f"  {escape(pair.note or 'no achievement changed')}", highlight=False, soft_wrap=True)
        return
    headers, rows = table(pair)
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for i, header in enumerate(headers):
        grid.add_column(header, justify="left" if i == 0 else "right", no_wrap=True)
    for row, link in zip(rows, pair.rows, strict=True):
        style = "green" if link.delta > 0 else "red"
        grid.add_row(f"[{style}]{escape(row[0])}[/]", *row[1:3], f"[{style}]{row[3]}[/]", *row[4:])
    out.print(grid)


def _reproduce(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from rich.markup import escape

    from services.ledger.reproduce import reproduce

    report = reproduce(_lineage(ledger, args.run_id, verify=False))
    if args.json:
        _json(report.model_dump(mode="json"))
    else:
        for message in report.messages:
            out.print(escape(message), highlight=False, soft_wrap=True)
        if report.match is not None:
            out.print("[bold green]match[/]" if report.match else "[bold red]mismatch[/]")
        out.print("[bold]Commands that made this run:[/]")
        for command in report.commands:
            print(command, flush=True)
    if report.match is False:
        raise CommandError(f"the rebuilt dataset differs from {report.dataset} (sha256 mismatch)")
    return 0


def _export(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from services.ledger.table import as_csv, as_markdown, run_rows

    rows = run_rows(ledger)
    if args.json:
        text = json.dumps([r.model_dump(mode="json") for r in rows], indent=2, ensure_ascii=False) + "\n"
    else:
        text = as_csv(rows) if args.format == "csv" else as_markdown(rows)
    if args.output is None:
        print(text, end="", flush=True)
        return 0
    from services.common.atomic import write_atomic

    try:
        write_atomic(args.output, text.encode())
    except OSError as exc:
        raise CommandError(f"Cannot write {args.output}: {exc.strerror or exc}") from None
    err.print(f"Wrote {len(rows)} run(s) to {args.output}", highlight=False)
    return 0


def _import(args: argparse.Namespace, ledger: Ledger, out: Console, err: Console) -> int:
    from rich.markup import escape

    from services.ledger.importing import import_path
    from services.ledger.open import LedgerError

    failed = 0
    for path in args.paths:
        try:
            done = import_path(ledger, path)
        except LedgerError as exc:
            failed += 1
            err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            continue
        out.print(f"{done.kind}: {escape(done.message)}", highlight=False, soft_wrap=True)
    if failed:
        raise CommandError(f"{failed} of {len(args.paths)} file(s) could not be imported")
    return 0

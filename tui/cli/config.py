"""`sft-studio config validate|payload|set|sweep`: the Configs pane's work without a screen.

``validate`` exits 1 when synth-ai 0.2.23 would refuse a file or the backend would (no GPU type),
and prints warnings either way. ``payload`` prints the exact JSON body the job-create request
would carry (placeholder file ids). ``set`` edits values from a script with the form's tomlkit
edit. ``sweep`` writes one config per axis value (or, with ``--dry-run``, only shows them).
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from services.common.echo import cap_echo, summarise
from services.configs.advice import is_known_key
from services.configs.check import check_file, check_text
from services.configs.document import ConfigDocument, ConfigFileError, EditError
from services.configs.field_values import parse_assignment
from services.configs.fields import BY_PATH
from services.configs.payload import PayloadUnavailable, payload_json, preview_payload
from services.configs.report import ConfigReport, Level, Source
from services.configs.sweeps import AXIS_HELP, Axis, SweepError, plan_sweep, write_sweep

_STYLE = {Level.ERROR: "bold red", Level.WARNING: "yellow", Level.INFO: "dim"}


def add_parsers(sub: Any) -> None:
    config = sub.add_parser(
        "config",
        help="validate SFT configs, show the exact job payload, generate sweeps",
        description="Work with LoRA/QLoRA/FFT SFT configs (TOML) for the synth-ai 0.2.23 train CLI.",
    )
    inner = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    validate = inner.add_parser(
        "validate",
        help="check configs as synth-ai 0.2.23 would, plus what it silently drops",
        description="Exit status 1 if any file would be refused (by the synth-ai CLI or the backend).",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--dataset", type=Path, help="training JSONL to check the config against")
    validate.add_argument("--quiet", action="store_true", help="errors only")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.add_argument(
        "--backend",
        metavar="URL|local",
        help="check the base model against this backend: `local` = what the local backend trains "
        "(sft-studio/tiny-qwen3, local folders, cached Hugging Face ids); else synth-ai 0.2.23's catalogue",
    )

    payload = inner.add_parser(
        "payload",
        help="print the exact JSON body POSTed to /learning/jobs",
        description="Placeholder file ids stand in for the uploads. By default the body includes "
        "sft-studio's beyond-CLI LoRA extras; --cli-exact prints synth-ai 0.2.23's body exactly.",
    )
    payload.add_argument("file", type=Path, metavar="FILE")
    payload.add_argument("--dataset", type=Path, help="training JSONL (else [job].data)")
    payload.add_argument("--cli-exact", action="store_true", help="exactly what synth-ai 0.2.23 sends (no extras)")

    setter = inner.add_parser(
        "set",
        help="change values in a config (comments and layout kept), like the pane's form",
        description='Each KEY=VALUE sets one dotted key to a TOML value (1e-5, 8, true, "H100", '
        '["all-linear"]); a bare word is taken as a string; KEY= removes the key. Values are checked as '
        "the Configs form checks them, and unknown keys are refused (--allow-new-key). Shows the diff, "
        "re-checks the result, and saves it atomically with a .bak; a result `config validate` would "
        "refuse is not saved (exit 1) unless --force.",
    )
    setter.add_argument("file", type=Path, metavar="FILE")
    setter.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    setter.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    setter.add_argument(
        "--allow-new-key",
        action="store_true",
        help="allow keys sft-studio does not know (a typo such as learnin_rate is refused without it)",
    )
    setter.add_argument("--force", action="store_true", help="save even when `config validate` would refuse the result")

    sweep = inner.add_parser(
        "sweep",
        help="one config per value of one axis",
        description="Axes: " + "; ".join(f"{axis.value}: {text}" for axis, text in AXIS_HELP.items()),
    )
    sweep.add_argument("base", type=Path, metavar="BASE")
    sweep.add_argument("--axis", required=True, choices=[a.value for a in Axis])
    sweep.add_argument("--values", required=True, help="comma-separated values, e.g. 4,8,16,64")
    sweep.add_argument(
        "--hold-global-batch",
        action="store_true",
        help="keep per-device batch × accumulation × GPUs equal to the base's",
    )
    sweep.add_argument("--out", type=Path, help="folder for the cells (default configs/sweeps/<base>-<axis>/)")
    sweep.add_argument("--dry-run", action="store_true", help="show the cells, write nothing")
    sweep.add_argument("--overwrite", action="store_true", help="replace cells that already exist")


def _print_findings(report: ConfigReport, out: Console, *, quiet: bool, infos: bool = True) -> None:
    """One line per finding, user input in them capped; past 50 lines the rest is counted, not listed
    (a file of 200,000 unknown keys must not flood the terminal)."""
    lines: list[str] = []
    for finding in report.findings:
        if quiet and finding.level is not Level.ERROR:
            continue
        if not infos and finding.level is Level.INFO:
            continue
        if finding.source is Source.CLI and report.cli_error and finding.message in report.cli_error:
            continue  # already printed as the CLI's own message
        where = cap_echo(finding.path or "(file)") + (f" (line {finding.line})" if finding.line else "")
        lines.append(
            f"  [{_STYLE[finding.level]}]{finding.level.value}[/] [dim]{escape(finding.source.value)}[/] "
            f"{escape(where)}: {escape(cap_echo(finding.message, 2000))}"
        )
    for line in summarise(lines):
        out.print(line if line.startswith("  [") else f"  [dim]{escape(line)}[/]", highlight=False)


def cmd_config(args: argparse.Namespace, out: Console, err: Console) -> int:
    return ACTIONS[args.config_command](args, out, err)


def _validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.jobs.submit import model_check_for_flag

    model_check = model_check_for_flag(args.backend)
    failed = 0
    results = []
    for path in args.files:
        report = check_file(
            path, dataset=args.dataset, require_dataset=args.dataset is not None, model_check=model_check
        )
        failed += not report.submittable
        if args.json:
            results.append(
                {
                    "file": str(path),
                    "cli_accepts": report.cli_accepts,
                    "submittable": report.submittable,
                    "cli_error": report.cli_error,
                    "findings": [f.model_dump(mode="json") for f in report.findings],
                }
            )
            continue
        verdict = "[green]ok[/]" if report.submittable else "[bold red]refused[/]"
        who = ""
        if not report.cli_accepts:
            who = " (synth-ai 0.2.23 would stop here)"
        elif not report.submittable:
            who = " (synth-ai accepts it; the backend or sft-studio would not)"
        out.print(f"{escape(str(path))}: {verdict}{who}", highlight=False)
        if report.cli_error:
            out.print(
                "  [red]" + escape(cap_echo(report.cli_error, 2000)).replace("\n", "\n  ") + "[/]", highlight=False
            )
        _print_findings(report, out, quiet=args.quiet)
    if args.json:
        out.print_json(json.dumps(results))
    return 1 if failed else 0


def _payload(args: argparse.Namespace, out: Console, err: Console) -> int:
    report = check_file(args.file, dataset=args.dataset, require_dataset=True)
    unreadable = [f for f in report.errors if f.source is Source.TOML]
    if unreadable:  # the one TOML message (as validate, set, sweep and the pane word it)
        err.print(f"[bold red]No payload:[/] {escape(cap_echo(unreadable[0].message, 2000))}", highlight=False)
        return 1
    try:
        body = preview_payload(report, cli_exact=args.cli_exact)
    except PayloadUnavailable as exc:
        err.print(f"[bold red]No payload:[/] {escape(cap_echo(str(exc), 2000))}", highlight=False)
        return 1
    lines = [f"{cap_echo(f.path)}: {cap_echo(f.message, 2000)}" for f in report.errors]
    for line in summarise(lines):
        err.print(f"[bold red]error[/] {escape(line)}", highlight=False)
    # Plain print so the output is exactly the JSON (pipe it to a file or jq).
    print(payload_json(body))
    if report.extras and not args.cli_exact:
        err.print(
            "[dim]beyond the CLI (honoured by backends that support them): "
            + ", ".join(f"hyperparameters.{k}" for k in report.extras)
            + "[/]",
            highlight=False,
        )
    return 1 if report.errors else 0


def _set(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        doc = ConfigDocument.load(args.file)
        for assignment in args.assignments:
            key, sep, raw = assignment.partition("=")
            if not sep or not key.strip():
                err.print(f"[bold red]Not KEY=VALUE:[/] {escape(cap_echo(assignment))}", highlight=False)
                return 1
            key = key.strip()
            if not raw.strip():
                doc.remove_value(key)
                continue
            _check_key(doc, key, allow_new=args.allow_new_key)
            doc.set_value(key, parse_assignment(key, raw))
    except (ConfigFileError, EditError) as exc:
        err.print(f"[bold red]Nothing changed:[/] {escape(str(exc))}", highlight=False)
        return 1
    diff = doc.diff()
    if not diff:
        out.print("No change.")
        return 0
    out.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
    report = check_text(doc.text, args.file)
    if report.cli_error:
        out.print("[red]synth-ai 0.2.23 would stop with:[/]", highlight=False)
        out.print("  [red]" + escape(cap_echo(report.cli_error, 2000)).replace("\n", "\n  ") + "[/]", highlight=False)
    _print_findings(report, out, quiet=False, infos=False)
    refused = not report.submittable
    if args.dry_run:
        out.print("[dim]--dry-run: nothing written.[/]")
        return 1 if refused else 0
    if refused and not args.force:
        err.print(
            "[bold red]Not saved:[/] `sft-studio config validate` would refuse the result (see above); "
            "fix it in the same command, or pass --force to save it anyway.",
            highlight=False,
        )
        return 1
    try:
        doc.save()
    except ConfigFileError as exc:
        err.print(f"[bold red]Not saved:[/] {escape(str(exc))}", highlight=False)
        return 1
    kept = f" (previous version in {escape(doc.last_backup.name)})" if doc.last_backup else ""
    out.print(f"Saved {escape(str(args.file))}{kept}.")
    if refused:
        out.print("[yellow]--force: saved, but the result would be refused at submit time (see above).[/]")
    return 0


def _check_key(doc: ConfigDocument, key: str, *, allow_new: bool) -> None:
    """Refuse a key that is neither known to sft-studio nor already in the file (a typo would be added
    silently and never sent), naming the nearest known key."""
    if allow_new or is_known_key(key) or doc.value(key) is not None:
        return
    close = difflib.get_close_matches(key, list(BY_PATH), n=1, cutoff=0.75)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise EditError(
        f"{cap_echo(key)} is not a key sft-studio knows (synth-ai 0.2.23 would ignore it).{hint} "
        "Pass --allow-new-key to add it anyway."
    )


def _sweep(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        plan = plan_sweep(args.base, args.axis, args.values, out_dir=args.out, hold_global_batch=args.hold_global_batch)
    except SweepError as exc:
        err.print(f"[bold red]Sweep refused:[/] {escape(str(exc))}", highlight=False)
        return 1
    table = Table(title=f"{plan.axis.value} sweep of {plan.base.name} → {plan.out_dir}", title_justify="left")
    table.add_column("file", overflow="fold")  # the name carries the axis value: never cut it short
    for column in ("value", "global batch", "accum.", "examples", "status"):
        table.add_column(column)
    for cell in plan.cells:
        status = "[red]" + escape("; ".join(cell.problems)) + "[/]" if cell.problems else "new"
        if not cell.problems and cell.errors:
            status = "[red]invalid: " + escape(cell.errors[0]) + "[/]"
        elif not cell.problems and cell.exists:
            status = "[yellow]exists[/]"
        table.add_row(
            escape(cell.path.name),
            escape(cell.value),
            str(cell.global_batch or "–"),
            str(cell.gradient_accumulation_steps or "–"),
            str(cell.examples or "–"),
            status,
        )
    out.print(table)
    if args.dry_run:
        out.print("[dim]--dry-run: nothing written.[/]")
        return 0 if plan.writable else 1
    existing = [cell for cell in plan.cells if cell.exists]
    if existing and not args.overwrite:
        err.print(
            f"[bold red]Nothing written:[/] {escape(str(existing[0].path))} already exists "
            f"({len(existing)} of the cells do): pass --overwrite to replace them.",
            highlight=False,
        )
        return 1
    try:
        written = write_sweep(plan, overwrite=args.overwrite)
    except SweepError as exc:
        err.print(f"[bold red]Nothing written:[/] {escape(str(exc))}", highlight=False)
        return 1
    out.print(f"Wrote {len(written) - 1} configs and {escape(written[-1].name)} to {escape(str(plan.out_dir))}")
    return 0


#: ``sft-studio config ACTION`` -> its handler.
ACTIONS: dict[str, Callable[[argparse.Namespace, Console, Console], int]] = {
    "validate": _validate,
    "payload": _payload,
    "set": _set,
    "sweep": _sweep,
}

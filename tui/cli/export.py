"""`sft-studio export` (every flag of synth-ai's export_trace_sft.py, plus --force/--sizes/--preset)
and `sft-studio validate`.

Stdout and stderr lines, and exit codes, are the reference's wherever it has them (so scripts that
wrap export_trace_sft.py keep working); what we add goes to stderr after its last line. Where the
reference prompts (no DB found) or crashes we print a clear error instead: never a prompt, never a
traceback.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.common.workspace import default_export
from services.datasets.export_targets import SizesError, parse_sizes
from services.traces.db_errors import DBMissingError
from tui.cli.errors import FAILED, USAGE, CommandError, UsageError, db_missing, find_db, plain, print_error
from tui.cli.filter_flags import add_filter_flags, flag_overrides

if TYPE_CHECKING:  # imported inside the commands: `sft-studio stats` must not pay for them
    from rich.console import Console

    from services.datasets.filter_spec import FilterSpec
    from services.traces.db import TraceDB


def add_parsers(sub: Any) -> None:
    e = sub.add_parser(
        "export",
        help="export filtered sessions as chat-format SFT JSONL (the flags of synth-ai's export_trace_sft.py)",
        description="Export SFT examples like synth-ai 0.2.10's export_trace_sft.py: same flags, same bytes "
        "on reference-key DBs, task-app achievement keys read too. Written atomically, with a manifest "
        "(<name>.manifest.json) beside the file, then checked with synth-ai's upload validator.",
    )
    add_filter_flags(e)
    e.add_argument("--output", type=Path, help="destination JSONL (default: workspace/ft_data/crafter_traces.jsonl)")
    e.add_argument("--sizes", help="also write the first N examples as <stem>.nN.jsonl, e.g. 100,500,1000")
    e.add_argument("--force", action="store_true", help="overwrite existing output files and manifests")
    v = sub.add_parser(
        "validate",
        help="check an SFT JSONL with synth-ai's upload validator (same messages)",
        description="Run the checks `synth-ai train --type sft` runs before upload. Exit 0 when the file "
        "passes, 1 with synth-ai's failure block otherwise.",
    )
    v.add_argument("file", type=Path)


def _preset(args: argparse.Namespace) -> dict[str, Any]:
    """The preset's filter values ({} without --preset); UsageError when it cannot be used."""
    from services.datasets.presets import PresetError, load_preset

    if args.preset is None:
        return {}
    try:
        return load_preset(args.preset).model_dump()
    except PresetError as exc:  # names the file and the reason
        raise UsageError(f"Cannot use preset {args.preset}: {exc}") from None


def _spec(args: argparse.Namespace, base: dict[str, Any], err: Console) -> FilterSpec | int:
    """The filter: the preset's values, overridden by the flags given; an exit code on error."""
    from services.datasets.filter_spec import FilterSpec, FilterSpecError

    try:
        overrides = flag_overrides(args)
    except FilterSpecError as exc:
        plain(err, exc.message)  # the reference's message and exit code
        return FAILED
    spec = FilterSpec.model_validate({**base, **overrides})
    problems = spec.problems()
    if problems:
        for field, reason in problems.items():
            print_error(err, f"--{field.replace('_', '-')} {reason}.")
        return USAGE
    return spec


def cmd_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.datasets.export import (
        ExportError,
        ExportValidationError,
        NothingMatched,
        export_sft,
    )
    from services.traces.db import TraceDB

    explicit = args.sub_db or args.db
    db_path = find_db(explicit, err)  # where the reference would block on an interactive prompt
    if explicit is None:
        plain(out, f"Found trace database: {db_path}")
    if db_missing(db_path, err):
        return FAILED
    output: Path = args.output
    if output is None:
        output = default_export()
        plain(out, f"Output will be written to: {output.resolve()}")
    base = _preset(args)
    if args.min_unique is None and not base.get("min_unique"):
        plain(out, "Minimum unique achievements filter: 0 (all traces)")
    try:
        sizes = parse_sizes(args.sizes, label="--sizes")
    except SizesError as exc:
        raise UsageError(str(exc)) from None
    spec = _spec(args, base, err)
    if isinstance(spec, int):
        return spec
    warnings: list[str] = []
    try:
        with TraceDB(db_path) as db, _Bar(err) as bar:
            warnings = _warnings(db, spec)
            result = export_sft(db, spec, output, force=args.force, sizes=sizes, session_progress=bar.update)
    except (NothingMatched, ExportValidationError) as exc:
        plain(err, str(exc))  # the reference's message, as it prints it
        for line in warnings:  # ours, after the reference's line
            plain(err, line)
        return FAILED
    except DBMissingError as exc:
        plain(err, exc.message)  # the reference's "Database not found: PATH"
        return FAILED
    except ExportError as exc:
        raise CommandError(str(exc), "No file was written.") from None
    except OSError as exc:
        raise CommandError(f"Cannot write the export: {exc.strerror or exc}.", "No file was written.") from None
    plain(err, f"Wrote {result.examples} examples from {result.sessions} session(s) -> {output.resolve()}")
    plain(err, f"Manifest: {result.manifest.resolve()} (sha256 {result.sha256[:12]}, ~{result.token_estimate} tokens)")
    for sub in result.subsets:
        plain(err, f"Subset: first {sub.examples} examples -> {sub.path.resolve()}")
    for note in result.notes:
        plain(err, f"Note: {note}")
    for reason, count in result.skipped.items():
        plain(err, f"Skipped {count}: {reason}")
    if result.validation.ok:
        plain(err, "synth-ai upload validation: OK")
    else:  # the file is what the reference writes; say it will not upload as is
        plain(err, "Warning: synth-ai's upload validator will refuse this file:")
        plain(err, result.validation.failure_text())
    for line in warnings:
        plain(err, line)
    return 0


def _warnings(db: TraceDB, spec: FilterSpec) -> list[str]:
    """The shared validator's warnings (the Filters pane shows the same words): the reference
    accepts this input, so they never change what is written, only what is said after it."""
    from services.datasets.filter_check import check_filter, needs, read_vocabulary

    vocabulary = read_vocabulary(db, needs(spec))
    return [i.cli_line() for i in check_filter(spec, vocabulary) if i.severity == "warning"]


class _Bar:
    """A Rich bar (sessions done / total) on a terminal; nothing otherwise (logs stay clean)."""

    def __init__(self, err: Console) -> None:
        self.progress: Any = None
        self.task: Any = None
        if err.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            )

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
            self.task = self.progress.add_task("Selecting sessions", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            return
        self.progress.update(self.task, description="Exporting sessions", completed=done, total=total)


def cmd_validate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.datasets.validation import validate_jsonl

    report = validate_jsonl(args.file)
    if report.ok:
        plain(out, report.summary())
        return 0
    plain(err, report.failure_text())
    return FAILED

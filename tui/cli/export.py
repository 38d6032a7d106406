"""`sft-studio export` (every flag of synth-ai's export_trace_sft.py, plus --force/--sizes/--preset)
and `sft-studio validate`.

Stdout and stderr lines, and exit codes, are the reference's wherever it has them (so scripts that
wrap export_trace_sft.py keep working); what we add goes to stderr after its last line. Where the
reference prompts (no DB found) or crashes we print a clear error instead: never a prompt, never a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from services.common.workspace import default_export
from services.datasets.export_targets import SizesError, parse_sizes
from services.traces.db import TraceDB, TraceDBError, discovery_candidates, locate_db
from tui.cli.filter_flags import add_filter_flags, flag_overrides

if TYPE_CHECKING:  # imported inside the commands: `sft-studio stats` must not pay for them
    from services.datasets.filter_spec import FilterSpec

USAGE_ERROR = 2


def add_parsers(sub: Any) -> None:
    e = sub.add_parser(
        "export",
        help="export filtered sessions as chat-format SFT JSONL (the flags of synth-ai's export_trace_sft.py)",
        description="Export SFT examples like synth-ai 0.2.10's export_trace_sft.py: same flags, same bytes "
        "on reference-key DBs, task-app achievement keys read too. Written atomically, with a manifest "
        "(<name>.manifest.json) beside the file, then checked with synth-ai's upload validator.",
    )
    add_filter_flags(e)
    e.add_argument("--output", type=Path, help=f"destination JSONL (default {default_export()})")
    e.add_argument("--sizes", help="also write the first N examples as <stem>.nN.jsonl, e.g. 100,500,1000")
    e.add_argument("--force", action="store_true", help="overwrite existing output files and manifests")
    v = sub.add_parser(
        "validate",
        help="check an SFT JSONL with synth-ai's upload validator (same messages)",
        description="Run the checks `synth-ai train --type sft` runs before upload. Exit 0 when the file "
        "passes, 1 with synth-ai's failure block otherwise.",
    )
    v.add_argument("file", type=Path)


def _error(err: Console, message: str, hint: str = "") -> None:
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        err.print(hint, markup=False, highlight=False, soft_wrap=True)


def _plain(console: Console, text: str) -> None:
    """A line exactly as the reference prints it, on the console's stream (no markup, no wrapping)."""
    print(text, file=sys.stderr if console.stderr else sys.stdout, flush=True)


def _preset(args: argparse.Namespace, err: Console) -> dict[str, Any] | int:
    """The preset's filter values ({} without --preset); an exit code on error."""
    if args.preset is None:
        return {}
    from services.datasets.presets import load_preset

    try:
        return load_preset(args.preset).model_dump()
    except Exception as exc:  # PresetError names the file and the reason
        _error(err, f"Cannot use preset {args.preset}: {exc}")
        return USAGE_ERROR


def _spec(args: argparse.Namespace, base: dict[str, Any], err: Console) -> FilterSpec | int:
    """The filter: the preset's values, overridden by the flags given; an exit code on error."""
    from services.datasets.filter_spec import FilterSpec, FilterSpecError

    try:
        overrides = flag_overrides(args)
    except FilterSpecError as exc:
        _plain(err, exc.message)  # the reference's message and exit code
        return 1
    spec = FilterSpec.model_validate({**base, **overrides})
    problems = spec.problems()
    if problems:
        for field, reason in problems.items():
            _error(err, f"--{field.replace('_', '-')} {reason}.")
        return USAGE_ERROR
    return spec


def _find_db(args: argparse.Namespace, out: Console, err: Console) -> Path | None:
    explicit = args.sub_db or args.db
    if explicit is not None:
        return Path(explicit)
    found = locate_db(None)
    if found is None:  # the reference would block on an interactive prompt here
        err.print("[bold red]No trace DB found.[/] Looked for:", highlight=False, soft_wrap=True)
        for c in discovery_candidates():
            _plain(err, f"  {c}")
        _plain(err, "Pass one with --db PATH.")
        return None
    _plain(out, f"Found trace database: {found}")
    return found


def cmd_export(args: argparse.Namespace, out: Console, err: Console) -> int:
    from services.datasets.export import (
        DEFAULT_OUTPUT,
        NO_EXAMPLES,
        NO_SESSIONS,
        ExportError,
        ExportValidationError,
        export_sft,
    )

    db_path = _find_db(args, out, err)
    if db_path is None:
        return 1
    if not db_path.exists():
        _plain(err, f"Database not found: {db_path}")
        return 1
    output: Path = args.output
    if output is None:
        output = DEFAULT_OUTPUT
        _plain(out, f"Output will be written to: {output.resolve()}")
    base = _preset(args, err)
    if isinstance(base, int):
        return base
    if args.min_unique is None and not base.get("min_unique"):
        _plain(out, "Minimum unique achievements filter: 0 (all traces)")
    try:
        sizes = parse_sizes(args.sizes, label="--sizes")
    except SizesError as exc:
        _error(err, str(exc))
        return USAGE_ERROR
    spec = _spec(args, base, err)
    if isinstance(spec, int):
        return spec
    try:
        with TraceDB(db_path) as db, _Bar(err) as bar:
            result = export_sft(db, spec, output, force=args.force, sizes=sizes, session_progress=bar.update)
    except ExportError as exc:
        if isinstance(exc, ExportValidationError) or str(exc) in (NO_SESSIONS, NO_EXAMPLES):
            _plain(err, str(exc))  # the reference's message, as it prints it
        else:
            _error(err, str(exc), "No file was written.")
        return 1
    except TraceDBError as exc:
        if exc.message.startswith("Database not found"):
            _plain(err, exc.message)
        else:
            _error(err, exc.message, exc.hint)
        return 1
    except OSError as exc:
        _error(err, f"Cannot write the export: {exc.strerror or exc}.", "No file was written.")
        return 1
    _plain(err, f"Wrote {result.examples} examples from {result.sessions} session(s) -> {output.resolve()}")
    _plain(err, f"Manifest: {result.manifest.resolve()} (sha256 {result.sha256[:12]}, ~{result.token_estimate} tokens)")
    for sub in result.subsets:
        _plain(err, f"Subset: first {sub.examples} examples -> {sub.path.resolve()}")
    for note in result.notes:
        _plain(err, f"Note: {note}")
    for reason, count in result.skipped.items():
        _plain(err, f"Skipped {count}: {reason}")
    if result.validation.ok:
        _plain(err, "synth-ai upload validation: OK")
    else:  # the file is what the reference writes; say it will not upload as is
        _plain(err, "Warning: synth-ai's upload validator will refuse this file:")
        _plain(err, result.validation.failure_text())
    return 0


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
        _plain(out, report.summary())
        return 0
    _plain(err, report.failure_text())
    return 1

"""`sft-studio count`: what `export` would write for a filter, without writing it.

Same filter flags as synth-ai's export_trace_sft.py (plus ``--preset FILE``; flags given on the
command line replace the preset's values). Prints Rich tables (counts, funnel, by model, by
achievement, unique-count histogram) or ``--json``. Bad input is a one-line message and exit 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.traces.db_errors import TraceDBError
from tui.cli.errors import FAILED, choose_db, db_missing, find_db, say_choice
from tui.cli.filter_flags import FILTER_DESTS, add_filter_flags, flag_overrides

if TYPE_CHECKING:  # Rich, numpy and the index come in only when counting
    from rich.console import Console

    from services.datasets.filter_spec import FilterSpec
    from services.datasets.preview_models import Preview


def add_parsers(sub: Any) -> None:
    c = sub.add_parser(
        "count",
        help="count the sessions and examples an export would write (same filter flags as export)",
        description="Preview an SFT export: sessions, examples and estimated tokens for a filter, with the "
        "sessions each filter removes. Nothing is written.",
    )
    add_filter_flags(c)
    c.add_argument("--json", action="store_true", help="machine-readable output")


def _spec(args: argparse.Namespace) -> FilterSpec | None:
    """The preset (if any) with the command-line flags laid over it; None after printing why not."""
    from services.datasets.filter_spec import FilterSpec, FilterSpecError

    base = FilterSpec()
    if args.preset is not None:
        from services.datasets.presets import PresetError, load_preset  # tomlkit: only for a preset

        try:
            base = load_preset(args.preset)
        except PresetError as exc:
            print(str(exc), file=sys.stderr)
            return None
    try:
        spec = base.model_copy(update=flag_overrides(args))
    except FilterSpecError as exc:
        print(exc.message, file=sys.stderr)
        return None
    problems = spec.problems()
    if problems:
        field, reason = next(iter(problems.items()))
        print(f"Invalid filter: {field.replace('_', '-')} {reason}.", file=sys.stderr)
        return None
    return spec


def _answer_key(args: argparse.Namespace) -> str | None:
    """The filter as given (flags, and the preset file's bytes): what `count`'s answers are kept under
    (``count_cache``); None when the preset cannot be read (the count then says why)."""
    import hashlib
    import json

    preset = None
    if args.preset is not None:
        try:
            preset = hashlib.sha256(Path(args.preset).read_bytes()).hexdigest()
        except OSError:
            return None
    return json.dumps({"flags": {d: getattr(args, d) for d in FILTER_DESTS}, "preset": preset}, sort_keys=True)


#: The code that maps the flags to a FilterSpec: part of the answers' code stamp.
_SPEC_CODE = (Path(__file__), Path(__file__).with_name("filter_flags.py"))


Keep = Callable[[dict[str, Any]], None]


def _kept(args: argparse.Namespace, db_path: Path | None) -> tuple[dict[str, Any] | None, Keep]:
    """(the answer kept for this filter on ``db_path`` as it is now, or None; a function that keeps a
    new answer for the same filter and DB state, or does nothing where none can be kept)."""
    from services.datasets.count_cache import load_answer, save_answer
    from services.traces.db_path import resolve_db_path
    from services.traces.fingerprint import content_fingerprint, is_settled

    key = _answer_key(args)
    if key is None or db_path is None or not db_path.exists():
        return None, lambda answer: None
    try:
        resolved = resolve_db_path(db_path).resolve()
    except TraceDBError:
        return None, lambda answer: None
    taken_at = time.time()
    fingerprint = content_fingerprint(resolved)  # taken before the count: a write during it shows next time
    if fingerprint is None:
        return None, lambda answer: None
    answer = load_answer(resolved, fingerprint, key, _SPEC_CODE)
    if not is_settled(fingerprint, taken_at):  # just written: a write in the same tick would not show
        return answer, lambda answer: None
    return answer, partial(save_answer, resolved, fingerprint, key, _SPEC_CODE)


def cmd_count(args: argparse.Namespace, out: Console, err: Console) -> int:
    # The same filter on an unchanged DB: the answer the last count gave, without pydantic, the index,
    # numpy or SQLAlchemy. Only a valid filter on a readable DB ever has an answer kept, so every
    # message a miss can print (bad filter, no DB, unreadable DB) is printed as before.
    choice = choose_db(args.sub_db or args.db)
    answer, keep = _kept(args, choice.path)
    answer_cached = answer is not None
    index_cached = True  # an answer from the cache built no index either
    if answer is not None and choice.path is not None:
        say_choice(choice, err)  # what find_db says
        db_path = choice.path
    else:
        spec = _spec(args)
        if spec is None:
            return FAILED
        db_path = find_db(args.sub_db or args.db, err)
        if db_missing(db_path, err):
            return FAILED
        answer, index_cached = _count(db_path, spec, err)
        keep(answer)
    index_build_s = answer["index_build_s"]
    if args.json:
        data = {
            "db": str(db_path),
            "index_build_s": round(index_build_s, 3),
            "index_cached": index_cached,
            **answer["preview"],
            "warnings": answer["warnings"],
            "answer_cached": answer_cached,
        }
        import json

        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        from services.datasets.preview_models import Preview

        result = Preview.model_validate(answer["preview"])
        _print(out, str(db_path), index_build_s, result, index_cached, answer_cached)
    for line in answer["warning_lines"]:  # the Filters pane shows the same words under the field
        print(line, file=sys.stderr)
    return 0


def _count(db_path: Path, spec: FilterSpec, err: Console) -> tuple[dict[str, Any], bool]:
    """(the answer for ``spec``, whether the index came from its cache), counted on the DB's session
    index (built, or read from ``index_cache``). The answer is JSON values only, as ``count_cache``
    keeps it: the preview, the warnings as objects and as the lines printed."""
    from services.datasets.filter_check import check_filter, needs, read_vocabulary
    from services.datasets.index_cache import cached_index
    from services.datasets.preview import preview
    from services.traces.db import TraceDB

    # An unreadable DB raises TraceDBError: ``main`` reports it as for every command ("Error: ...", exit 1).
    with TraceDB(db_path) as db, err.status(f"Indexing {db_path} …"):
        index, from_cache = cached_index(db)  # unchanged DB: the index the last count built
        vocabulary = read_vocabulary(db, needs(spec))
    result = preview(index, spec)
    warnings = [i for i in check_filter(spec, vocabulary) if i.severity == "warning"]
    answer = {
        "index_build_s": index.build_seconds,
        "preview": result.model_dump(mode="json"),
        "warnings": [i.model_dump() for i in warnings],
        "warning_lines": [i.cli_line() for i in warnings],
    }
    return answer, from_cache


def _print(out: Console, db: str, build_s: float, p: Preview, from_cache: bool, answer_cached: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    out.print(f"[bold]Export preview[/] of {escape(db)}", highlight=False, soft_wrap=True)
    counts = Table(show_header=False)
    counts.add_column("what")
    counts.add_column("value", justify="right")
    counts.add_row("sessions in DB", f"{p.sessions_in_db:,}")
    counts.add_row("with LM calls (candidates)", f"{p.candidates:,}")
    counts.add_row("eligible sessions", f"[bold]{p.eligible_sessions:,}[/]")
    counts.add_row("sessions written", f"{p.sessions_written:,}")
    limited = f" (of {p.examples_before_limit:,}, --limit)" if p.examples_before_limit != p.examples else ""
    counts.add_row("examples", f"[bold]{p.examples:,}[/]{limited}")
    counts.add_row("estimated tokens", f"{p.estimated_tokens:,}")
    out.print(counts)
    out.print(f"[dim]Tokens: {escape(p.token_method)}.[/]", soft_wrap=True)
    if answer_cached:
        said = (
            f"Counts read from the cache (DB and filter unchanged; index built in {build_s:.2f} s, "
            f"preview {p.elapsed_ms:.1f} ms)."
        )
    else:
        built = "Index read from the cache (DB unchanged; built" if from_cache else "Index built"
        said = f"{built} in {build_s:.2f} s{')' if from_cache else ''}; this preview took {p.elapsed_ms:.1f} ms."
    out.print(f"[dim]{said}[/]", soft_wrap=True)

    funnel = Table(title="Funnel (exporter order)", title_justify="left")
    funnel.add_column("filter")
    funnel.add_column("removed", justify="right")
    funnel.add_column("remaining", justify="right")
    for step in p.funnel:
        funnel.add_row(escape(step.label), f"{step.removed:,}", f"{step.remaining:,}")
    out.print(funnel)

    models = Table(title="By dominant model (sessions written)", title_justify="left")
    for col in ("model", "provider", "sessions", "examples"):
        models.add_column(col, justify="right" if col in ("sessions", "examples") else "left")
    for row in p.by_model:
        models.add_row(escape(str(row.model)), escape(row.provider), f"{row.sessions:,}", f"{row.examples:,}")
    out.print(models)

    ach = Table(title="By achievement (share of sessions written)", title_justify="left")
    ach.add_column("achievement")
    ach.add_column("sessions", justify="right")
    ach.add_column("share", justify="right")
    ach.add_column("")
    for a in p.by_achievement:
        ach.add_row(escape(a.name), f"{a.sessions:,}", f"{a.share:.0%}", "█" * round(a.share * 20))
    out.print(ach)

    hist = Table(title="Unique achievements per session written", title_justify="left")
    hist.add_column("unique", justify="right")
    hist.add_column("sessions", justify="right")
    hist.add_column("")
    top = max(p.unique_histogram.values(), default=0)
    for k, n in sorted(p.unique_histogram.items()):
        hist.add_row(str(k), f"{n:,}", "█" * max(1, round(n / top * 30)) if top else "")
    out.print(hist)

    for field, reason in p.problems.items():
        out.print(f"[red]problem:[/] {escape(field.replace('_', '-'))}: {escape(reason)}", soft_wrap=True)
    if p.export_error:
        out.print(f"[yellow]export would stop:[/] {escape(p.export_error)}")
    for note in p.notes:
        out.print(f"[dim]note: {escape(note)}[/]")

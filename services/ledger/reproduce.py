"""Reproduce a run: rebuild its dataset byte for byte from the trace DB and print the commands.

The dataset is re-exported with the recorded filter through the same export service, into a temp
folder (never over the user's file, and not recorded in the ledger), and its sha256 compared with the
one recorded: a match proves the file can be rebuilt from the DB; a mismatch says why it may differ
(the DB changed since: its sha256 is compared too). The command lines are those that made the run:
``export`` with the filter's flags, ``train`` with the config and dataset, ``eval`` with the seeds
and settings of each eval.
"""

from __future__ import annotations

import shlex
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from services.ledger.records import EvalInfo, Lineage
from services.ledger.store import sha256_file


class ReproduceReport(BaseModel):
    id: str
    dataset: str | None = None
    expected_sha256: str | None = None
    rebuilt_sha256: str | None = None
    match: bool | None = None  # None: could not rebuild (see messages)
    db_path: str | None = None
    db_sha256_recorded: str | None = None
    db_sha256_now: str | None = None
    messages: list[str] = Field(default_factory=list)
    commands: list[str] = Field(default_factory=list)


def filter_flags(spec: dict[str, Any]) -> list[str]:
    """The export flags that give this filter (``services.datasets.filter_spec.FilterSpec`` fields)."""
    flags: list[str] = []
    for name, flag in (("models", "--model"), ("providers", "--provider"),
                       ("exclude_achievements", "--exclude-achievement"),
                       ("require_achievements", "--require-achievement")):  # fmt: skip
        for value in spec.get(name) or []:
            flags += [flag, str(value)]
    for name in ("min_unique", "max_unique", "min_outcome_reward", "max_outcome_reward", "limit"):
        value = spec.get(name)
        if value is not None and not (name == "min_unique" and value == 0):
            flags += ["--" + name.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
    for event in spec.get("event_rewards") or []:
        flags += ["--event-reward", f"{event.get('reward_type')}:{float(event.get('min_total') or 0):g}"]
    return flags


def _cmd(parts: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in parts)


def eval_command(ev: EvalInfo) -> str:
    from services.evals.results import seeds_text

    s = ev.settings
    parts = ["sft-studio", "eval"]
    if ev.policy != "openai":
        parts += ["--policy", ev.policy]
    else:
        parts += ["--model", ev.model_id]
        if s.get("backend") == "local":
            parts += ["--backend", "local"]
        elif s.get("inference_url"):
            parts += ["--inference-url", str(s["inference_url"])]
    parts += ["--seeds", seeds_text(ev.seeds)]
    for key in ("max_turns", "concurrency", "temperature", "max_tokens", "top_p"):
        if s.get(key) is not None:
            parts += ["--" + key.replace("_", "-"), str(s[key])]
    if s.get("task_app_url"):
        parts += ["--task-app", str(s["task_app_url"])]
    return _cmd(parts)


def commands(lin: Lineage) -> list[str]:
    out: list[str] = []
    d = lin.dataset
    if d is not None:
        export = ["sft-studio", "export"]
        if d.db_path:
            export += ["--db", d.db_path]
        out.append(_cmd([*export, *filter_flags(d.filter), "--output", d.path]))
    if lin.job is not None:
        train = ["sft-studio", "train", "--type", "sft"]
        if lin.job.config_path:
            train += ["--config", lin.job.config_path]
        if lin.job.dataset_path:
            train += ["--dataset", lin.job.dataset_path]
        train += ["--backend", "local" if lin.job.backend == "local" else lin.job.base_url]
        if (
            lin.facts is not None
            and lin.facts.examples
            and d is not None
            and d.examples
            and lin.facts.examples < d.examples
        ):
            train += ["--examples", str(lin.facts.examples)]
        out.append(_cmd(train))
    out += [eval_command(ev) for ev in lin.evals]
    return out


def reproduce(lin: Lineage) -> ReproduceReport:
    report = ReproduceReport(id=lin.id, commands=commands(lin))
    d = lin.dataset
    if d is None:
        report.messages.append("No dataset recorded for this run: nothing to rebuild (only the eval commands).")
        return report
    report.dataset, report.expected_sha256, report.db_path = d.path, d.sha256, d.db_path
    report.db_sha256_recorded = d.db_sha256
    if not d.file_ok:
        report.messages.append(f"The recorded manifest is not trusted: {d.problem}.")
    if not d.db_path or not Path(d.db_path).is_file():
        report.messages.append(f"The trace DB {d.db_path or '(not recorded)'} is not on disk: cannot rebuild.")
        return report
    report.db_sha256_now = sha256_file(Path(d.db_path))  # before the DB is opened (see export._DBHash)
    if d.db_sha256 and report.db_sha256_now != d.db_sha256:
        report.messages.append(
            f"The trace DB changed since the export (sha256 now {report.db_sha256_now[:12]}, recorded "
            f"{d.db_sha256[:12]}): a rebuild may differ."
        )
    from services.datasets.export import ExportError, export_sft
    from services.datasets.filter_spec import FilterSpec
    from services.traces.db import TraceDB
    from services.traces.db_errors import TraceDBError

    try:
        spec = FilterSpec.model_validate(d.filter)
    except ValueError as exc:
        report.messages.append(f"The recorded filter is not valid here: {exc}")
        return report
    with tempfile.TemporaryDirectory(prefix="sft-studio-reproduce-") as tmp:
        try:
            db = TraceDB(Path(d.db_path))
        except TraceDBError as exc:
            report.messages.append(f"Cannot open the trace DB {d.db_path}: {exc}")
            return report
        try:
            result = export_sft(db, spec, Path(tmp) / Path(d.path).name, record=False, workers=0)
        except (ExportError, TraceDBError, OSError) as exc:
            report.messages.append(f"The re-export failed: {exc}")
            return report
        finally:
            db.close()
        report.rebuilt_sha256 = result.sha256
    report.match = report.rebuilt_sha256 == d.sha256
    report.messages.append(
        f"Rebuilt {Path(d.path).name} from {d.db_path}: sha256 {report.rebuilt_sha256[:12]} "
        + (
            "matches the recorded one (byte-identical)."
            if report.match
            else f"differs from the recorded {d.sha256[:12]}."
        )
    )
    return report

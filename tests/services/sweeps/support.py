"""Shared pieces of the sweep tests: a small trace DB, a base config and plan files in a workspace."""

from __future__ import annotations

from pathlib import Path

from services.rollouts.collector import CollectSpec, collect
from tests.services.jobs.support import fake_model, write_config

_DB_CACHE: dict[str, Path] = {}


def trace_db(folder: Path) -> Path:
    """Teacher episodes on 4 seeds, 3 turns each (a few seconds)."""
    path = folder / "traces.db"
    collect(CollectSpec(db=path, policy="teacher", seeds=(1, 4), max_turns=3, concurrency=2))
    return path


def workspace(root: Path, *, local_model: bool = True) -> tuple[Path, Path]:
    """A workspace with ``configs/base.toml`` (LoRA; a local fake base model when ``local_model``) and
    ``traces.db``; returns (base config, trace DB)."""
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "ft_data").mkdir(exist_ok=True)
    model = str(fake_model(root)) if local_model else "Qwen/Qwen3-0.6B"
    base = write_config(root / "configs", model=model, name="base.toml")
    return base, trace_db(root)


def write_plan(root: Path, body: str, name: str = "plan.toml") -> Path:
    path = root / name
    path.write_text(body, encoding="utf-8")
    return path


HEAD = """\
[sweep]
name = "{name}"
base_config = "configs/base.toml"
db = "traces.db"
{extra}
"""


def plan_text(axes: str, *, name: str = "demo", extra: str = "", filter_: str = "", eval_: str = "") -> str:
    text = HEAD.format(name=name, extra=extra)
    if filter_:
        text += f"\n[filter]\n{filter_}\n"
    text += f"\n[axes]\n{axes}\n"
    if eval_:
        text += f"\n[eval]\n{eval_}\n"
    return text

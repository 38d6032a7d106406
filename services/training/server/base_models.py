"""What a job really trains: the base model named in its payload, resolved to a local folder before
the trainer child starts (the server itself loads nothing; it only finds folders).

Order: a stand-in (``--stand-in A=B``) replaces the name first, and is never silent (the caller
records it in events, ``effective_config`` and the model id); then the built-in
``sft-studio/tiny-qwen3`` (built on first use in the data dir), a local folder, or a Hugging Face id
found in the local hub cache. This machine, CI and the demo reach no hub, so an id that is not in the
cache fails with the id and how to fetch it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.training.protocol import TINY_QWEN3

#: ``builder(data_dir) -> folder`` of the built-in tiny model.
TinyBuilder = Callable[[Path], Path]

TINY_BUILD_TIMEOUT_S = 300.0


class BaseModelUnavailable(Exception):
    """The base model cannot be had; the message says which and what to do."""


@dataclass(frozen=True, slots=True)
class ResolvedBase:
    requested: str
    effective: str
    path: Path
    stand_in: bool


def parse_stand_ins(values: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["Qwen/Qwen3-0.6B=sft-studio/tiny-qwen3"]`` -> mapping; ValueError names a malformed one."""
    out: dict[str, str] = {}
    for value in values:
        requested, sep, trained = value.partition("=")
        if not sep or not requested.strip() or not trained.strip():
            raise ValueError(f"--stand-in {value!r}: expected REQUESTED=TRAINED, e.g. Qwen/Qwen3-0.6B={TINY_QWEN3}")
        out[requested.strip()] = trained.strip()
    return out


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it (without importing it)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var])
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def cached_snapshot(model: str, cache: Path | None = None) -> Path | None:
    """The cached snapshot folder of hub id ``model`` (the ``main`` ref, else any with a config.json)."""
    root = (cache or hub_cache_dir()) / ("models--" + model.replace("/", "--"))
    snapshots = root / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = root / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text(encoding="utf-8").strip()
        if (candidate / "config.json").is_file():
            return candidate
    for candidate in sorted(snapshots.iterdir()):
        if (candidate / "config.json").is_file():
            return candidate
    return None


def _already_built_tiny(data_dir: Path) -> Path | None:
    """The built-in model's folder when a complete build is there (checked without torch: the
    module imports the training stack only inside its build functions)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("services.training.tiny_qwen3") is None:
        return None
    module = importlib.import_module("services.training.tiny_qwen3")
    folder_of = getattr(module, "tiny_qwen3_dir", None)
    is_built = getattr(module, "is_built", None)
    if folder_of is None or is_built is None:
        return None
    folder = Path(folder_of(data_dir))
    return folder if is_built(folder) else None


def build_tiny_in_child(data_dir: Path) -> Path:
    """Build (or find) the built-in tiny model in a child process: the builder imports the training
    stack, which the server process must never import. A finished build is found without a child."""
    built = _already_built_tiny(data_dir)
    if built is not None:
        return built
    code = (
        "import sys; from pathlib import Path\n"
        "from services.training.tiny_qwen3 import ensure_tiny_qwen3\n"
        "print(ensure_tiny_qwen3(Path(sys.argv[1])))\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, str(data_dir)],
            capture_output=True,
            text=True,
            timeout=TINY_BUILD_TIMEOUT_S,
            check=False,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
    except subprocess.TimeoutExpired as exc:
        raise BaseModelUnavailable(f"building {TINY_QWEN3} ran past {TINY_BUILD_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BaseModelUnavailable(f"cannot build {TINY_QWEN3}: " + " | ".join(tail))
    lines = proc.stdout.strip().splitlines()
    path = Path(lines[-1]) if lines else None
    if path is None or not path.is_dir():
        raise BaseModelUnavailable(f"building {TINY_QWEN3} gave no model folder")
    return path


def resolve_base(
    requested: str,
    *,
    data_dir: Path,
    stand_ins: Mapping[str, str],
    tiny_builder: TinyBuilder = build_tiny_in_child,
    hub_cache: Path | None = None,
) -> ResolvedBase:
    """The folder to train for ``requested``; raises :class:`BaseModelUnavailable` with the reason."""
    target = stand_ins.get(requested, requested)
    stand_in = target != requested
    if target == TINY_QWEN3:
        return ResolvedBase(requested, target, tiny_builder(data_dir), stand_in)
    folder = Path(target).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise BaseModelUnavailable(f"base model folder {folder} has no config.json (not a transformers model)")
        return ResolvedBase(requested, target, folder.resolve(), stand_in)
    snapshot = cached_snapshot(target, hub_cache)
    if snapshot is not None:
        return ResolvedBase(requested, target, snapshot, stand_in)
    hint = (
        f"fetch it where a hub is reachable (`hf download {target}`) into the Hugging Face cache, "
        f"pass a local folder as the model, or start the server with `--stand-in {target}={TINY_QWEN3}` "
        "to train the built-in tiny model instead"
    )
    raise BaseModelUnavailable(f"base model {target!r} is not in the local Hugging Face cache: {hint}")

"""The synth-ai reference scripts, fetched from PyPI at test time and cached (never a dependency).

The ``synth-ai==0.2.10`` wheel holds ``examples/warming_up_to_rl/analyze_trace_db.py`` and
``export_trace_sft.py``: stdlib-only scripts we run as subprocesses for parity. The wheel is checked
against PyPI's published sha256 before use. Nothing of it is copied into this repository.

A parity test whose reference cannot be had calls :func:`reference_unavailable`: offline on a
developer's machine it skips with the reason; under CI (``CI`` set) it fails, so a green CI run always
means parity was checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
import zipfile
from pathlib import Path
from typing import NoReturn

import pytest

WHEEL_VERSION = "0.2.10"
SCRIPTS = ("analyze_trace_db.py", "export_trace_sft.py")
_SCRIPT_DIR = "examples/warming_up_to_rl/"


class ReferenceUnavailable(RuntimeError):
    """The registry could not be reached and no cached copy exists."""


def reference_unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``; under CI (the ``CI`` environment variable set), fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: parity tests must run there, not skip)", pytrace=False)
    pytest.skip(reason)


def cache_dir() -> Path:
    base = os.environ.get("SFT_STUDIO_TEST_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "sft-studio-tests"
    return root / f"synth-ai-{WHEEL_VERSION}"


def _download_wheel(dest: Path) -> Path:
    # The simple index (PEP 691 JSON form) is what every pip mirror serves.
    index = urllib.request.Request(
        "https://pypi.org/simple/synth-ai/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    filename = f"synth_ai-{WHEEL_VERSION}-py3-none-any.whl"
    try:
        with urllib.request.urlopen(index, timeout=30) as resp:
            meta = json.load(resp)
        wheel = next(f for f in meta["files"] if f["filename"] == filename)
        with urllib.request.urlopen(wheel["url"], timeout=120) as resp:
            data = resp.read()
    except (OSError, StopIteration, KeyError, ValueError) as exc:
        raise ReferenceUnavailable(f"PyPI unreachable for synth-ai=={WHEEL_VERSION}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != wheel["hashes"]["sha256"]:
        raise ReferenceUnavailable("downloaded synth-ai wheel does not match PyPI's sha256")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(dest)
    return dest


def reference_script(name: str) -> Path:
    """Path to a cached reference script (downloading the wheel once if needed)."""
    if name not in SCRIPTS:
        raise ValueError(name)
    root = cache_dir()
    script = root / name
    if script.is_file():
        return script
    wheel = root / f"synth_ai-{WHEEL_VERSION}-py3-none-any.whl"
    if not wheel.is_file():
        _download_wheel(wheel)
    with zipfile.ZipFile(wheel) as zf:
        for s in SCRIPTS:
            tmp = root / f"{s}.part"
            tmp.write_bytes(zf.read(_SCRIPT_DIR + s))
            tmp.replace(root / s)
    return script

"""Parity with the real synth-ai 0.2.23: every case of the accept/reject table through its own code.

synth-ai 0.2.23 is installed with uv into a separate virtual environment (cached under
``~/.cache/sft-studio-tests``; never a dependency, never imported here). One subprocess runs, for
each case, what ``synth-ai train --type sft --config X`` runs before any network I/O: the config
finder's type inference, then ``build_sft_payload``. Our ``cli_error`` must equal its message and
our payload must equal its payload, key order included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from services.sft_config_check import check_text
from tests.test_config_table import CASES

pytestmark = [pytest.mark.network, pytest.mark.slow]

RUNNER = r"""
import json, os, sys
from pathlib import Path
from synth_ai.api.train.builders import build_sft_payload
from synth_ai.api.train.config_finder import discover_configs
out = []
for case in json.loads(Path(sys.argv[1]).read_text()):
    os.chdir(case["cwd"])
    try:
        found = discover_configs([case["config"]], requested_type="sft")
        build = build_sft_payload(
            config_path=found[0].path, dataset_override=Path(case["dataset"]), allow_experimental=None
        )
        out.append({"ok": True, "payload": build.payload})
    except BaseException as exc:  # click exceptions, TrainError, ValueError, TOML errors
        message = getattr(exc, "message", None) or str(exc)
        out.append({"ok": False, "error": message})
Path(sys.argv[2]).write_text(json.dumps(out))
"""


def _cache() -> Path:
    base = os.environ.get("SFT_STUDIO_TEST_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "sft-studio-tests") / "synth-ai-0.2.23-venv"


def _reference_python() -> Path:
    venv = _cache()
    python = venv / "bin" / "python"
    if (venv / ".complete").exists():
        return python
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: cannot build the synth-ai 0.2.23 environment")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([uv, "venv", "-q", "-p", "3.11", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run(
            [uv, "pip", "install", "-q", "synth-ai==0.2.23"],
            check=True,
            capture_output=True,
            timeout=600,
            env={**os.environ, "VIRTUAL_ENV": str(venv)},
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install synth-ai==0.2.23 from the package registry: {exc}")
    (venv / ".complete").touch()
    return python


def test_every_table_case_matches_the_real_cli(tmp_path: Path) -> None:
    python = _reference_python()
    cases = []
    for index, (name, text, _) in enumerate(CASES):
        folder = tmp_path / f"c{index:02d}"
        folder.mkdir()
        (folder / "config.toml").write_text(text)
        (folder / "d.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
        cases.append(
            {
                "name": name,
                "config": str(folder / "config.toml"),
                "cwd": str(folder),
                "dataset": str(folder / "d.jsonl"),
            }
        )
    spec, result = tmp_path / "cases.json", tmp_path / "result.json"
    spec.write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDK_EXPERIMENTAL")}
    env["HOME"] = str(tmp_path)  # synth-ai reads and writes ~/.synth-ai
    # synth-ai 0.2.23 installs SIGINT/SIGTERM handlers that do not exit: a timeout must SIGKILL.
    proc = subprocess.Popen(
        [str(python), "-c", RUNNER, str(spec), str(result)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, err.decode()[-3000:]
    reference = json.loads(result.read_text())
    mismatches = []
    for case, ref in zip(cases, reference, strict=True):
        path = Path(case["config"])
        ours = check_text(path.read_text(), path, cwd=path.parent, dataset=Path(case["dataset"]), require_dataset=True)
        if ref["ok"] != ours.cli_accepts:
            mismatches.append((case["name"], "accept", ref, ours.cli_error))
        elif ref["ok"] and json.dumps(ref["payload"]) != json.dumps(ours.payload):
            mismatches.append((case["name"], "payload", ref["payload"], ours.payload))
        elif not ref["ok"] and ref["error"] != ours.cli_error:
            mismatches.append((case["name"], "message", ref["error"], ours.cli_error))
    assert not mismatches, json.dumps(mismatches, indent=1, default=str)

"""A reader that closes our stdout (``sft-studio ... | head -2``) ends the command quietly, as for any
Unix tool: exit 141 (or 0), nothing on stderr (issue 10 item 18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

CONFIG = ROOT / "configs" / "crafter_lora_qwen0p6b.toml"


def _with_stdout_closed(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``sft-studio ARGS`` with its stdout a pipe whose reader is already gone (EPIPE on write)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, b"", err)


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["stats", "--json"],
        ["count"],
        ["config", "payload", str(CONFIG), "--dataset", "DATASET"],
        ["--help"],
        ["--version"],
    ],
    ids=["stats", "stats-json", "count", "config-payload", "help", "version"],
)
def test_closed_stdout_is_a_quiet_exit(args: list[str], app_db: Path, tmp_path: Path) -> None:
    if args[0] in ("stats", "count"):
        args = [*args, "--db", str(app_db)]
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n')
    args = [str(dataset) if a == "DATASET" else a for a in args]
    result = _with_stdout_closed(args)
    assert result.returncode in (0, 141), result.stderr.decode()
    assert result.stderr.decode().strip() == ""

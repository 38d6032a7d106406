"""Byte parity with synth-ai 0.2.10's export_trace_sft.py over many flag combinations, both key styles.

On the reference-key DB our file equals the reference's byte for byte; on the task-app-key DB
(same seed: the same episodes with the keys renamed) our file equals the reference's output on the
reference-key DB. Error cases compare the message and the exit code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.reference_tools import ReferenceUnavailable, reference_script

pytestmark = pytest.mark.network
ROOT = Path(__file__).resolve().parents[1]

COMBOS: list[list[str]] = [
    [],
    ["--model", "qwen/qwen3-32b"],
    ["--model", "qwen/qwen3-32b", "--model", "gpt-4o-mini"],
    ["--model", "alpha-model"],
    ["--provider", "groq"],
    ["--provider", "unknown"],
    ["--provider", "custom", "--provider", "openai"],
    ["--min-unique", "1"],
    ["--min-unique", "3"],
    ["--max-unique", "4"],
    ["--min-unique", "2", "--max-unique", "5"],
    ["--min-unique", "5", "--exclude-achievement", "collect_wood", "--exclude-achievement", "collect_sapling"],
    ["--require-achievement", "collect_wood"],
    ["--require-achievement", "place_table", "--require-achievement", "make_wood_pickaxe"],
    ["--min-outcome-reward", "4"],
    ["--max-outcome-reward", "3"],
    ["--min-outcome-reward", "2", "--max-outcome-reward", "6"],
    ["--event-reward", "unique_achievement_delta:3"],
    ["--event-reward", "foo"],
    ["--event-reward", ":5"],
    ["--event-reward", "sparse:2", "--event-reward", "achievement_delta:4"],
    ["--limit", "1"],
    ["--limit", "7"],
    ["--model", "qwen/qwen3-32b", "--min-unique", "3", "--limit", "10"],
    ["--provider", "groq", "--require-achievement", "collect_wood", "--event-reward", "unique_achievement_delta"],
]

ERRORS: list[list[str]] = [
    ["--model", "no-such-model"],
    ["--require-achievement", "collect_diamond", "--min-unique", "20"],
    ["--event-reward", "x:abc"],
]


@pytest.fixture(scope="module")
def script() -> Path:
    try:
        return reference_script("export_trace_sft.py")
    except ReferenceUnavailable as exc:
        pytest.skip(f"reference exporter unavailable (PyPI unreachable, nothing cached): {exc}")


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def _ours(db: Path, out: Path, flags: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "tui.cli", "export", "--db", str(db), "--output", str(out), *flags], ROOT)


def _theirs(script: Path, db: Path, out: Path, flags: list[str]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, str(script), "--db", str(db), "--output", str(out), *flags], out.parent)


@pytest.mark.parametrize("flags", COMBOS, ids=lambda f: " ".join(f) or "no-flags")
def test_same_bytes_as_the_reference(flags: list[str], script: Path, ref_db: Path, app_db: Path,
                                     tmp_path: Path) -> None:  # fmt: skip
    theirs = _theirs(script, ref_db, tmp_path / "theirs.jsonl", flags)
    ours_ref = _ours(ref_db, tmp_path / "ours_ref.jsonl", flags, tmp_path)
    ours_app = _ours(app_db, tmp_path / "ours_app.jsonl", flags, tmp_path)
    assert (ours_ref.returncode, ours_app.returncode) == (theirs.returncode, theirs.returncode), (
        theirs.stderr + ours_ref.stderr
    )
    if theirs.returncode != 0:
        last = theirs.stderr.strip().splitlines()[-1]
        assert last in ours_ref.stderr and last in ours_app.stderr
        return
    expected = (tmp_path / "theirs.jsonl").read_bytes()
    assert expected, "the combination should export something"
    assert (tmp_path / "ours_ref.jsonl").read_bytes() == expected
    assert (tmp_path / "ours_app.jsonl").read_bytes() == expected
    assert theirs.stderr.strip().splitlines()[-1].split(" -> ")[0] in ours_ref.stderr


@pytest.mark.parametrize("flags", ERRORS, ids=lambda f: " ".join(f))
def test_same_error_and_exit_code(flags: list[str], script: Path, ref_db: Path, tmp_path: Path) -> None:
    theirs = _theirs(script, ref_db, tmp_path / "theirs.jsonl", flags)
    ours = _ours(ref_db, tmp_path / "ours.jsonl", flags, tmp_path)
    assert theirs.returncode == ours.returncode == 1
    assert theirs.stderr.strip().splitlines()[-1] in ours.stderr
    assert not (tmp_path / "ours.jsonl").exists()
    assert "Traceback" not in ours.stderr

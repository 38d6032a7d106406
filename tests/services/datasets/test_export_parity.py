"""Byte parity with synth-ai 0.2.10's export_trace_sft.py over many flag combinations, both key styles.

On the reference-key DB our file equals the reference's byte for byte; on the task-app-key DB
(same seed: the same episodes with the keys renamed) our file equals the reference's output on the
reference-key DB. Error cases compare the message and the exit code. The reference runs as a
subprocess (stdin closed: it must never prompt); ours runs in-process through the CLI entry point.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from services.traces.achievement_keys import KeyStyle
from services.traces.writer import TraceWriter
from tests.support.reference_tools import ReferenceUnavailable, reference_script, reference_unavailable
from tests.support.tracegen import make_episode
from tui.cli import main

pytestmark = pytest.mark.network

COMBOS: list[list[str]] = [
    [],
    ["--model", "qwen/qwen3-32b"],
    ["--model", "qwen/qwen3-32b", "--model", "gpt-4o-mini"],
    ["--model", "alpha-model"],  # the tie session: its dominant model, and only its own events
    ["--provider", "groq"],
    ["--provider", "custom", "--provider", "openai"],
    ["--min-unique", "1"],
    ["--min-unique", "3"],
    ["--max-unique", "4"],
    ["--min-unique", "2", "--max-unique", "5"],
    ["--min-unique", "5", "--exclude-achievement", "collect_wood", "--exclude-achievement", "collect_sapling"],
    ["--max-unique", "2", "--exclude-achievement", "collect_wood"],
    ["--require-achievement", "collect_wood"],
    ["--require-achievement", "place_table", "--require-achievement", "make_wood_pickaxe"],
    ["--require-achievement", "collect_diamond"],  # only in the second outcome row of one session
    ["--min-outcome-reward", "4"],
    ["--max-outcome-reward", "3"],
    ["--min-outcome-reward", "2", "--max-outcome-reward", "6"],
    ["--event-reward", "unique_achievement_delta:1"],
    ["--event-reward", "unique_achievement_delta:3"],
    ["--event-reward", "foo"],  # a type no row has sums to 0.0 >= 0.0: every session passes
    ["--event-reward", ":5"],  # empty type: ignored
    ["--event-reward", "sparse:2", "--event-reward", "achievement_delta:4"],
    ["--limit", "1"],
    ["--limit", "7"],
    ["--model", "qwen/qwen3-32b", "--min-unique", "3", "--limit", "10"],
    ["--provider", "groq", "--require-achievement", "collect_wood", "--event-reward", "unique_achievement_delta"],
    ["--min-unique", "1", "--max-outcome-reward", "5", "--event-reward", "achievement_delta:2", "--limit", "40"],
]

ERRORS: list[list[str]] = [
    ["--model", "no-such-model"],  # No sessions matched the provided filters.
    ["--require-achievement", "collect_diamond", "--min-unique", "20"],
    ["--require-achievement", "no_such_achievement"],
    ["--provider", "unknown"],  # NULL providers exist, but never as a session's dominant one
    ["--event-reward", "x:abc"],  # Invalid event reward specification 'x:abc'
]


@pytest.fixture(scope="module")
def script() -> Path:
    try:
        return reference_script("export_trace_sft.py")
    except ReferenceUnavailable as exc:
        reference_unavailable(f"reference exporter unavailable (PyPI unreachable, nothing cached): {exc}")


def _theirs(script: Path, db: Path, out: Path, flags: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(script), "--db", str(db), "--output", str(out), *flags]
    return subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def _ours(db: Path, out: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["export", "--db", str(db), "--output", str(out), *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("flags", COMBOS, ids=lambda f: " ".join(f) or "no-flags")
def test_same_bytes_as_the_reference(
    flags: list[str], script: Path, ref_db: Path, app_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = _theirs(script, ref_db, tmp_path / "theirs.jsonl", flags)
    assert theirs.returncode == 0, theirs.stderr
    expected = (tmp_path / "theirs.jsonl").read_bytes()
    assert expected, "the combination should export something"
    code, out, err = _ours(ref_db, tmp_path / "ours_ref.jsonl", flags, capsys)
    assert code == 0, err
    assert (tmp_path / "ours_ref.jsonl").read_bytes() == expected
    assert out == theirs.stdout  # the same stdout lines ("Minimum unique achievements filter: ...")
    wrote = theirs.stderr.strip().splitlines()[-1]
    assert wrote.split(" -> ")[0] in err.splitlines()[0]
    code, _out, err = _ours(app_db, tmp_path / "ours_app.jsonl", flags, capsys)
    assert code == 0, err
    assert (tmp_path / "ours_app.jsonl").read_bytes() == expected


@pytest.mark.parametrize("flags", ERRORS, ids=lambda f: " ".join(f))
def test_same_error_and_exit_code(
    flags: list[str], script: Path, ref_db: Path, app_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = _theirs(script, ref_db, tmp_path / "theirs.jsonl", flags)
    assert theirs.returncode == 1
    for db in (ref_db, app_db):
        code, out, err = _ours(db, tmp_path / "ours.jsonl", flags, capsys)
        assert code == 1
        # the reference's message first, as it prints it; then only our warnings (issue 10 #14: the
        # shared filter validator may warn about accepted input, never change what happens)
        first, *rest = err.splitlines(keepends=True)
        assert first == theirs.stderr
        assert all(line.startswith("Warning: --") for line in rest), rest
        assert out == theirs.stdout
        assert list(tmp_path.glob("ours*")) == [] and list(tmp_path.glob(".ours*")) == []


def test_no_rollout_steps_message(script: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Sessions match, but every call_records value is an empty list: nothing to export."""
    eps = [make_episode(random.Random(i), i, decisions=2, style=KeyStyle.REFERENCE) for i in range(3)]
    for ep in eps:
        for d in ep.decisions:
            assert d.lm is not None
            d.lm.call_records = []
    db = tmp_path / "empty_records.db"
    with TraceWriter(db) as writer:
        writer.write(eps)
    theirs = _theirs(script, db, tmp_path / "theirs.jsonl", [])
    assert (theirs.returncode, theirs.stderr) == (
        1,
        "No rollout steps matched the filters (after session selection).\n",
    )
    code, out, err = _ours(db, tmp_path / "ours.jsonl", [], capsys)
    assert (code, err, out) == (1, theirs.stderr, theirs.stdout)
    assert not (tmp_path / "ours.jsonl").exists()


def test_default_output_path_is_announced_like_the_reference(
    script: Path, ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = subprocess.run(
        [sys.executable, str(script), "--db", str(ref_db), "--limit", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    expected = (tmp_path / "ft_data/crafter_traces.jsonl").read_bytes()
    (tmp_path / "ft_data/crafter_traces.jsonl").unlink()
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["export", "--db", str(ref_db), "--limit", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out == theirs.stdout  # "Output will be written to: <abs>" then the min-unique line
    assert captured.err.splitlines()[0] == theirs.stderr.strip()
    assert (tmp_path / "ft_data/crafter_traces.jsonl").read_bytes() == expected

"""Export under faults (issue 11 items 2, 3, 6, 8, 9): a full disk, signals, an output that is the
source DB, odd rewards and rows the exporter drops. Nothing is left behind, nothing is destroyed,
nothing is dropped without being counted.

The subprocess tests run the real CLI (``python -m tui.cli export``) so that what a user sees (exit
code, message, files in the folder, processes alive) is what is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.common.atomic import AtomicFile
from services.datasets.export import export_sft, manifest_path
from services.datasets.filter_spec import FilterSpec
from services.datasets.preview import preview as preview_of
from services.datasets.session_index import SessionIndex
from services.traces import skipped
from services.traces.achievement_keys import KeyStyle
from services.traces.db import TraceDB
from services.traces.stats import compute_stats
from tests.support.paths import ROOT
from tests.support.tracegen import ODD_TOTAL_REWARDS, build_db, set_total_rewards
from tui.cli import main

#: The CLI, with the export's part worker for any size when the first argument is "1".
_CLI = """
import sys
import services.datasets.export as export
if sys.argv[1] == "1":
    export.PARALLEL_MIN_EVENTS = 1
from tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _argv(workers: bool, *args: str) -> list[str]:
    return [sys.executable, "-c", _CLI, "1" if workers else "0", *args]


def _cli(*args: str, workers: bool = False, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sft-studio ARGS``; ``limit_bytes`` caps the size of any file it writes (RLIMIT_FSIZE,
    SIGXFSZ ignored so a write past it fails with EFBIG, as on a full disk)."""

    def limit() -> None:
        if limit_bytes is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        _argv(workers, *args), cwd=ROOT, capture_output=True, text=True, preexec_fn=limit, timeout=300
    )


def _stray(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def trace_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_db(tmp_path_factory.mktemp("db") / "t.db", sessions=60, decisions=8)


# -- item 2: a full disk leaves no temp file


@pytest.mark.slow
@pytest.mark.parametrize("workers", [False, True], ids=["one-process", "worker"])
@pytest.mark.parametrize("limit", [1, 4096, 100_000])
def test_full_disk_leaves_no_temp_files(trace_db: Path, tmp_path: Path, limit: int, workers: bool) -> None:
    out = tmp_path / "out" / "x.jsonl"
    out.parent.mkdir()
    args = ("export", "--db", str(trace_db), "--output", str(out), "--sizes", "5")
    proc = _cli(*args, workers=workers, limit_bytes=limit)
    assert proc.returncode == 1, proc.stderr
    assert "No file was written" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == []


def test_discard_removes_the_temp_when_close_fails(tmp_path: Path) -> None:
    """A full disk makes the buffered close raise (it flushes): the temp goes anyway."""
    f = AtomicFile(tmp_path / "x.jsonl")
    f.write(b"x" * 10)
    real = f.fh

    class FailingClose:
        closed = False

        def close(self) -> None:
            real.close()
            raise OSError(28, "No space left on device")

    f.fh = FailingClose()  # type: ignore[assignment]
    f.discard()
    assert list(tmp_path.iterdir()) == []


# -- item 3: signals leave no temp file and no worker


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone: it holds no file and runs no code)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _wait_for(condition: Callable[[], bool], deadline_s: float = 60.0) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Big enough that an export with its worker runs for seconds on a loaded machine."""
    return build_db(tmp_path_factory.mktemp("big") / "t.db", sessions=600, decisions=12, quirks=False)


#: (signal, expected exit code): SIGTERM and SIGINT unwind (143, 130); SIGKILL cannot be caught.
SIGNALS = [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGKILL, -signal.SIGKILL)]
RUNS = 2


def _signal_run(db: Path, folder: Path, sig: int, code: int) -> None:
    """One export with its worker, signalled once the worker writes its part."""
    args = ("export", "--db", str(db), "--output", str(folder / "x.jsonl"), "--sizes", "10", "--force")
    proc = subprocess.Popen(_argv(True, *args), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def worker_writing() -> bool:
        return any(p.name.startswith(".x.jsonl.part.") for p in folder.iterdir()) and bool(_children(proc.pid))

    try:
        assert _wait_for(worker_writing), "the export's worker never started"
        workers = _children(proc.pid)
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    if sig != signal.SIGKILL:
        assert "Interrupted" in stderr
    assert _wait_for(lambda: not any(_alive(w) for w in workers), 30), "a worker outlived the export"
    if sig == signal.SIGKILL:  # nothing can clean up after SIGKILL: the next export to the target does
        assert any(str(proc.pid) in name for name in _stray(folder))
        again = _cli(*args)
        assert again.returncode == 0, again.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), SIGNALS, ids=[s.name for s, _ in SIGNALS])
def test_a_signal_leaves_no_temp_file_and_no_worker(big_db: Path, tmp_path: Path, sig: int, code: int) -> None:
    other = [tmp_path / "notes.tmp", tmp_path / f".x.jsonl.{os.getpid()}.0123abcd.tmp", tmp_path / ".x.jsonl.1.tmp"]
    for path in other:  # not stale temps of this export: another pattern, a live pid
        path.write_text("keep")
    for _run in range(RUNS):
        _signal_run(big_db, tmp_path, sig, code)
        assert _stray(tmp_path) == sorted(p.name for p in other)
    assert all(p.read_text() == "keep" for p in other)


# -- item 6: the source DB is never an output


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("force", [True, False], ids=["force", "no-force"])
@pytest.mark.parametrize("case", ["same", "symlink", "hardlink", "wal", "journal", "shm-symlink", "manifest"])
def test_the_source_db_is_never_an_output(tmp_path: Path, case: str, force: bool) -> None:
    db = build_db(tmp_path / "self.db", sessions=4, decisions=2, quirks=False)
    before = _sha(db)
    out = {
        "same": db,
        "symlink": tmp_path / "link.jsonl",
        "hardlink": tmp_path / "hard.jsonl",
        "wal": tmp_path / "self.db-wal",
        "journal": tmp_path / "self.db-journal",
        "shm-symlink": tmp_path / "shm-link.jsonl",
        "manifest": tmp_path / "self.jsonl",  # its manifest would be self.manifest.json: made the DB below
    }[case]
    if case == "symlink":
        out.symlink_to(db)
    elif case == "hardlink":
        os.link(db, out)
    elif case == "shm-symlink":
        out.symlink_to(tmp_path / "self.db-shm")  # dangling: the side file does not exist yet
    elif case == "manifest":
        db = db.rename(tmp_path / "self.manifest.json")
    code = main(["export", "--db", str(db), "--output", str(out), *(["--force"] if force else [])])
    assert code == 1
    assert _sha(db) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_an_output_inside_the_sqld_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sqld = tmp_path / "synth_ai.db"
    data = build_db(sqld / "dbs" / "default" / "data", sessions=4, decisions=2, quirks=False)
    before = _sha(data)
    for out in (data, sqld / "dbs" / "default" / "x.jsonl"):
        assert main(["export", "--db", str(sqld), "--output", str(out), "--force"]) == 1
        assert "refusing to overwrite it" in capsys.readouterr().err
    assert _sha(data) == before
    assert not (sqld / "dbs" / "default" / "x.jsonl").exists()


# -- items 8 and 9: odd rewards and dropped rows are counted, the same way by stats, preview and export


def _counts(db: Path) -> tuple[dict[str, int], dict[str, int], dict[str, int], int]:
    """(stats' reasons, the preview's reasons, the export's manifest reasons, examples exported)."""
    with TraceDB(db) as trace_db:
        stats = compute_stats(trace_db).header.malformed.by_reason()
        index = SessionIndex.build(trace_db)
        out = db.with_suffix(".jsonl")
        result = export_sft(trace_db, FilterSpec(), out, force=True)
    manifest = json.loads(manifest_path(out).read_text(encoding="utf-8"))
    assert manifest["skipped"] == result.skipped
    return stats, {**index.skipped, **index.rows_skipped}, result.skipped, result.examples


def _edit(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        with conn:
            return conn.execute(sql).rowcount
    finally:
        conn.close()


@pytest.fixture
def clean_db(tmp_path: Path) -> Path:
    return build_db(tmp_path / "t.db", sessions=30, decisions=6, quirks=False, style=KeyStyle.REFERENCE)


def test_odd_total_rewards_are_read_by_one_reader_and_counted_alike(clean_db: Path) -> None:
    set_total_rewards(clean_db, ODD_TOTAL_REWARDS)
    proc = _cli("stats", "--db", str(clean_db))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "ValueError" not in proc.stderr
    stats, preview, export, _examples = _counts(clean_db)
    odd = stats[skipped.OUTCOME_NOT_A_NUMBER]
    assert odd >= 3 and preview[skipped.OUTCOME_NOT_A_NUMBER] == export[skipped.OUTCOME_NOT_A_NUMBER] == odd


def test_records_without_output_are_counted(clean_db: Path) -> None:
    _stats, _preview, before, examples = _counts(clean_db)
    assert skipped.NO_ASSISTANT_OUTPUT not in before
    changed = _edit(
        clean_db,
        """UPDATE events SET call_records = '[{"messages": 5}]' WHERE id IN (
               SELECT id FROM events WHERE event_type = 'cais' AND call_records IS NOT NULL ORDER BY id LIMIT 10)""",
    )
    assert changed == 10
    _stats, preview, export, after = _counts(clean_db)
    assert after == examples - 10
    assert export[skipped.NO_ASSISTANT_OUTPUT] == preview[skipped.NO_ASSISTANT_OUTPUT] == 10


def test_corrupt_event_metadata_is_counted(clean_db: Path) -> None:
    changed = _edit(
        clean_db,
        """UPDATE events SET metadata = '{"turn": 1, broken' WHERE id IN (
               SELECT event_id FROM event_rewards WHERE reward_type = 'unique_achievement_delta'
               AND reward_value > 0 ORDER BY id LIMIT 7)""",
    )
    assert changed == 7
    stats, preview, export, _examples = _counts(clean_db)
    kind = "unique_achievement_delta"
    assert stats[skipped.metadata_not_object(kind)] == preview[skipped.metadata_not_object(kind)] == 7
    assert export[skipped.metadata_not_object(kind)] == 7
    lm = export.get(skipped.EVENT_METADATA_NOT_OBJECT, 0)
    assert lm == preview.get(skipped.EVENT_METADATA_NOT_OBJECT, 0)  # the LM events among them: degraded


def test_corrupt_annotations_count_the_same_everywhere(clean_db: Path) -> None:
    unique = _edit(
        clean_db,
        """UPDATE event_rewards SET annotation = 'not json' WHERE id IN (SELECT id FROM event_rewards
               WHERE reward_type = 'unique_achievement_delta' AND reward_value > 0 ORDER BY id LIMIT 13)""",
    )
    deltas = _edit(
        clean_db,
        """UPDATE event_rewards SET annotation = '[1]' WHERE id IN (SELECT id FROM event_rewards
               WHERE reward_type = 'achievement_delta' AND reward_value > 0 ORDER BY id LIMIT 4)""",
    )
    assert (unique, deltas) == (13, 4)
    stats, preview, export, _examples = _counts(clean_db)
    reason = skipped.annotation_not_object("unique_achievement_delta")
    assert stats[reason] == preview[reason] == export[reason] == 13
    assert export[skipped.annotation_not_object("achievement_delta")] == 4  # only the export reads these


def test_corrupt_lm_event_metadata_is_counted_as_degraded(clean_db: Path) -> None:
    _stats, _preview, _before, examples = _counts(clean_db)
    changed = _edit(
        clean_db,
        """UPDATE events SET metadata = 'oops' WHERE id IN (
               SELECT id FROM events WHERE event_type = 'cais' AND call_records IS NOT NULL ORDER BY id LIMIT 9)""",
    )
    assert changed == 9
    _stats, preview, export, after = _counts(clean_db)
    assert after == examples  # still written (turn by position), but counted
    assert export[skipped.EVENT_METADATA_NOT_OBJECT] == preview[skipped.EVENT_METADATA_NOT_OBJECT] == 9
    with TraceDB(clean_db) as trace_db:
        notes = preview_of(SessionIndex.build(trace_db), FilterSpec()).notes
    assert f"9 LM record(s) written degraded ({skipped.EVENT_METADATA_NOT_OBJECT})." in notes
    assert not any("give no example" in n and skipped.EVENT_METADATA_NOT_OBJECT in n for n in notes)

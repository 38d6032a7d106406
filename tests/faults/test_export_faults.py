"""Export under faults (issue 11 items 2, 3, 6, 8, 9): a full disk, signals, an output that is the
source DB, odd rewards and rows the exporter drops. Nothing is left behind, nothing is destroyed,
nothing is dropped without being counted.

The subprocess tests run the real CLI (``python -m tui.cli export``) so that what a user sees (exit
code, message, files in the folder, processes alive) is what is checked.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.common.atomic import AtomicFile
from tests.support.paths import ROOT
from tests.support.tracegen import build_db

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

"""The one atomic writer: temp beside the target, fsync, rename, folder fsync; modes kept; no temp
left behind on any failure, including a full disk that makes close() raise."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import services.common.atomic as atomic
from services.common.atomic import AtomicFile, atomic_output, backup_path, write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, "No space left on device")


class FullDisk:
    """A file object on a full disk: writes are buffered, then flush and close raise ENOSPC (close
    does release the descriptor, as a buffered file's close does when its final flush fails)."""

    def __init__(self, real: Any, *, write_fails: bool = False) -> None:
        self.real = real
        self.write_fails = write_fails
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.write_fails:
            raise _enospc()
        return len(data)

    def flush(self) -> None:
        raise _enospc()

    def fileno(self) -> int:
        return int(self.real.fileno())

    def close(self) -> None:
        self.real.close()
        raise _enospc()


def _full_disk(monkeypatch: pytest.MonkeyPatch, *, write_fails: bool = False) -> None:
    real = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: FullDisk(real(fd, *a, **k), write_fails=write_fails))


def test_new_file_gets_the_umask_mode_and_no_temp_remains(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "a.txt"
    write_atomic(target, b"one\n")
    assert target.read_bytes() == b"one\n"
    assert _mode(target) == 0o644
    assert _temps(tmp_path) == []
    assert not backup_path(target).exists()


def test_replacing_keeps_the_mode_and_backup_holds_the_old_bytes_with_that_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.toml"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o600)
    write_atomic(target, b"new\n", backup=True)
    assert target.read_bytes() == b"new\n" and _mode(target) == 0o600
    bak = backup_path(target)
    assert bak.read_bytes() == b"old\n" and _mode(bak) == 0o600
    os.chmod(target, 0o640)
    write_atomic(target, b"newer\n", backup=True)  # one backup: the previous content, the original's mode
    assert bak.read_bytes() == b"new\n" and _mode(bak) == 0o640
    assert _mode(target) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.toml", "secret.toml.bak"]


def test_no_backup_of_a_file_that_did_not_exist(tmp_path: Path) -> None:
    write_atomic(tmp_path / "n.txt", b"x", backup=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.txt"]


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_a_failing_write_leaves_the_old_file_intact_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "c.toml"
    target.write_bytes(b"old\n")

    def boom(*args: object) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(atomic.os, failing, boom)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(target, b"new\n", backup=True)
    assert target.read_bytes() == b"old\n"
    assert _temps(tmp_path) == []
    assert not backup_path(target).exists()


def test_a_failing_write_to_a_new_file_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _full_disk(monkeypatch, write_fails=True)
    with pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "new.txt", b"data")
    assert caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_discard_after_a_close_that_raises_enospc_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"previous export\n")
    _full_disk(monkeypatch)
    out = AtomicFile(target)
    out.write(b"x" * 100)
    assert _temps(tmp_path) == [out.tmp.name]
    with pytest.raises(OSError) as caught:
        out.commit()
    assert caught.value.errno == errno.ENOSPC
    out.discard()  # close() raises ENOSPC again inside: the temp still goes
    assert _temps(tmp_path) == []
    assert target.read_bytes() == b"previous export\n"


def test_discard_never_raises_even_when_close_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _full_disk(monkeypatch)
    out = AtomicFile(tmp_path / "t.bin")
    out.discard()
    assert _temps(tmp_path) == []


def test_streaming_publish_then_discard_keeps_the_published_file(tmp_path: Path) -> None:
    target = tmp_path / "big.jsonl"
    out = AtomicFile(target, digest=True)
    for i in range(3):
        out.write(f"line {i}\n".encode())
    out.flush()
    assert out.tmp.read_bytes() == b"line 0\nline 1\nline 2\n" and not target.exists()
    out.publish()
    out.discard()  # on every path out: after publish it does nothing
    assert target.read_bytes() == b"line 0\nline 1\nline 2\n"
    assert out.size == 21
    assert out.hexdigest() == hashlib.sha256(target.read_bytes()).hexdigest()
    assert _temps(tmp_path) == []


def test_atomic_output_discards_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "x.pkl"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("stopped")
    assert target.read_bytes() == b"old" and _temps(tmp_path) == []


def test_scratch_files_skip_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise AssertionError("fsync on a scratch file")

    monkeypatch.setattr(atomic.os, "fsync", no_fsync)
    with atomic_output(tmp_path / "chunk.pkl", durable=False) as out:
        out.write(b"chunk")
    assert (tmp_path / "chunk.pkl").read_bytes() == b"chunk"


def test_explicit_mode_wins_over_the_targets(tmp_path: Path) -> None:
    target = tmp_path / "m.txt"
    target.write_bytes(b"a")
    os.chmod(target, 0o644)
    write_atomic(target, b"b", mode=0o600)
    assert _mode(target) == 0o600


def test_a_missing_folder_is_an_oserror_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "such.txt", b"x")
    assert list(tmp_path.iterdir()) == []

"""Replacing a file safely: the one way sft-studio writes configs, presets, exports and scratch files.

A temp file beside the target (same folder, so the rename cannot cross file systems) is written,
flushed and fsynced, then renamed over the target, then the folder is fsynced so the rename itself
survives a crash. A reader therefore sees the old file or the new one, never half of either, and a
failure at any point leaves the old file exactly as it was and no temp behind. The temp (and the
optional ``.bak`` of the old bytes) gets the replaced file's permission bits, so a 0600 file stays
0600; a new file gets what ``open()`` would give (0666 less the umask).

``AtomicFile`` is the streaming form (open, write, commit, publish, or discard) for writers that
produce data as they go; ``write_atomic`` writes bytes in one call.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


def backup_path(path: Path) -> Path:
    """``x.toml`` -> ``x.toml.bak``: where ``write_atomic(..., backup=True)`` keeps the old bytes."""
    return path.with_name(path.name + ".bak")


def temp_path(target: Path) -> Path:
    """A fresh temp name beside ``target``: ``.<name>.<pid>.<8 hex>.tmp``. The pid says whose it is, so
    a later run can tell a temp left by a killed writer (``remove_stale_temps``) from a live one."""
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temps of ``target`` (``temp_path``'s exact pattern) whose writer process is gone:
    what a SIGKILLed writer left. Never another file, never a live writer's temp. Returns what went."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.([0-9]+)\.[0-9a-f]{{8}}\.tmp")
    removed: list[Path] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        path = target.parent / name
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed


def existing_mode(path: Path) -> int | None:
    """The permission bits of ``path`` (following a link), or None when nothing is there."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: some file systems refuse a folder fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicFile:
    """A temp file beside ``target``, written in pieces.

    ``commit`` flushes, fsyncs and closes it; ``publish`` renames it over the target (and fsyncs the
    folder); ``discard`` removes it and never raises, also when closing fails (a full disk makes the
    buffered close raise): call it on every path out, it does nothing after ``publish``.

    ``mode``: the temp's permission bits (default: the target's when it exists, else 0666 less the
    umask). ``durable=False`` skips the fsyncs (scratch files nobody needs after a crash).
    ``digest=True`` keeps a sha256 of what was written (``hexdigest``).
    """

    def __init__(
        self,
        target: Path,
        *,
        mode: int | None = None,
        durable: bool = True,
        digest: bool = False,
        buffering: int = 1 << 20,
    ) -> None:
        self.target = target
        self.durable = durable
        self.size = 0
        self._hash = hashlib.sha256() if digest else None
        mode = existing_mode(target) if mode is None else mode
        self.tmp = temp_path(target)
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # exact bits: the umask does not apply to fchmod
            self.fh: BinaryIO = os.fdopen(fd, "wb", buffering=buffering)
        except BaseException:
            os.close(fd)
            self.tmp.unlink(missing_ok=True)
            raise
        self.committed = False

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.size += len(data)
        if self._hash is not None:
            self._hash.update(data)

    def flush(self) -> None:
        """Push buffered bytes to the temp file (to read it back before ``commit``)."""
        self.fh.flush()

    def hexdigest(self) -> str:
        if self._hash is None:
            raise ValueError("this AtomicFile keeps no digest (digest=False)")
        return self._hash.hexdigest()

    def commit(self) -> None:
        """Flush, fsync and close the temp (once; again does nothing)."""
        if self.committed:
            return
        self.fh.flush()
        if self.durable:
            os.fsync(self.fh.fileno())
        self.fh.close()
        self.committed = True

    def publish(self) -> None:
        """Commit if not done, rename the temp over the target, make the rename durable."""
        self.commit()
        os.replace(self.tmp, self.target)
        if self.durable:
            fsync_folder(self.target.parent)

    def discard(self) -> None:
        """Remove the temp: never raises, and the unlink does not depend on the close succeeding."""
        try:
            if not self.fh.closed:
                self.fh.close()
        except OSError:
            pass
        finally:
            with suppress(OSError):
                self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_output(
    target: Path, *, mode: int | None = None, durable: bool = True, digest: bool = False
) -> Iterator[AtomicFile]:
    """``with atomic_output(p) as out: out.write(...)``: published when the block ends normally,
    discarded when it raises (the keywords are AtomicFile's)."""
    out = AtomicFile(target, mode=mode, durable=durable, digest=digest)
    try:
        yield out
        out.publish()
    finally:
        out.discard()


def write_atomic(path: Path, data: bytes, *, backup: bool = False, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically; ``backup`` first keeps the old bytes (if any) in
    ``<name>.bak``, itself written atomically with the old file's permission bits. Raises OSError;
    on any failure ``path`` is unchanged and no temp file is left."""
    with atomic_output(path, mode=mode) as out:
        out.write(data)
        out.commit()  # the new bytes are safe on disk before the backup is touched
        old_mode = existing_mode(path)
        if backup and old_mode is not None:
            write_atomic(backup_path(path), path.read_bytes(), mode=old_mode)


def keep_best_effort(path: Path, data: bytes) -> bool:
    """Write a cache file atomically, creating its folder; a cache that cannot be written is no error
    (False). Results kept between commands (stats, counts, the DB hash, the session index) use it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError:
        return False
    return True

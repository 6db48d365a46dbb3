"""One exchange per state file: a lock file beside it says which process serves it, and where.

``<state>.lock`` holds ``{"pid": ..., "url": ...}`` of the exchange serving ``<state>``,
under an OS lock (``flock``; on Windows a byte-range lock) that the serving process
holds for as long as it runs. The OS drops the lock when that process ends, however it
ends, so liveness needs no guessing from pids: a lock file whose lock is free is stale,
whatever it says. A second keyless kernel reads the URL and uses that exchange; a second
``python -m trading_kit serve`` on the same file refuses to start.

The lock file is never deleted: unlinking a locked file lets a process that opened the
old one and a process that creates a new one both "hold" the lock.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..private_files import create_private

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

except ImportError:  # Windows: lock one byte far past the content, so it stays readable
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 1 << 30, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class Holder:
    """The process serving a state file, and its URL once it is listening."""

    pid: int | None
    url: str | None


class StateFileInUse(RuntimeError):
    """Another live process serves this state file."""

    def __init__(self, state: Path, holder: Holder) -> None:
        where = f" at {holder.url}" if holder.url else " (still starting)"
        super().__init__(
            f"{state} is already served by process {holder.pid}{where}; "
            "use that exchange, or stop it before serving this file again."
        )
        self.holder = holder


def lock_path(state: str | os.PathLike[str]) -> Path:
    return Path(str(state) + ".lock")


def holder(state: str | os.PathLike[str]) -> Holder | None:
    """The live process serving ``state``, or ``None`` when no process does."""
    path = lock_path(state)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if _try_lock(fd):
            return None  # nobody holds it: a stale file (its process is gone)
        return _read(path)
    finally:
        os.close(fd)  # closing drops the probe's lock, if it took one


def _read(path: Path) -> Holder:
    try:
        values = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):  # being rewritten this very moment
        values = {}
    return Holder(values.get("pid"), values.get("url"))


class ExchangeLock:
    """This process's claim on a state file; ``publish`` the URL, ``release`` when done."""

    def __init__(self, state: Path, fd: int) -> None:
        self.state = state
        self.path = lock_path(state)
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state: str | os.PathLike[str]) -> ExchangeLock:
        """Claim ``state`` or raise :class:`StateFileInUse`; creates both files private."""
        state = Path(state)
        state.parent.mkdir(parents=True, exist_ok=True)
        path = lock_path(state)
        create_private(path)
        fd = os.open(path, os.O_RDWR)
        if not _try_lock(fd):
            os.close(fd)
            raise StateFileInUse(state, _read(path))
        lock = cls(state, fd)
        lock._write(None)
        create_private(state)  # before SQLite opens it, so its -wal and -shm are private too
        return lock

    def __repr__(self) -> str:
        return f"ExchangeLock({str(self.path)!r}, held={self._fd is not None})"

    def publish(self, url: str) -> None:
        """Tell other processes where this exchange listens."""
        self._write(url)

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def _write(self, url: str | None) -> None:
        assert self._fd is not None, "the lock was released"
        content = json.dumps({"pid": os.getpid(), "url": url}).encode()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, content)

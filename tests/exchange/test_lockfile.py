"""One exchange per state file: a second server on the same file refuses, in one line.

Real processes: ``python -m trading_kit serve`` started twice on one state file, a port
already in use, and a server killed with SIGKILL (its lock dies with it).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_kit.exchange import lockfile

SERVE = [sys.executable, "-m", "trading_kit", "serve", "--port", "0", "--clock", "manual"]


class Server:
    """``serve`` in a child process; ``url`` once it listens."""

    def __init__(self, db: Path, *extra: str) -> None:
        self.process = subprocess.Popen(
            [*SERVE, "--db", str(db), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        assert "local exchange on http://" in line, self.process.stderr.read()  # type: ignore[union-attr]
        self.url = line.split(" on ", 1)[1].split()[0]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.communicate(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "state.sqlite")
    yield running
    running.stop()


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVE[:-4], *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_second_server_on_the_same_state_file_refuses(server: Server, tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    holder = lockfile.holder(db)
    assert holder is not None and holder.url == server.url
    assert holder.pid == server.process.pid
    second = run_serve("--port", "0", "--db", str(db))
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"already served by process {server.process.pid} at {server.url}" in lines[0]
    assert second.stdout == ""


def test_a_port_in_use_is_one_line_and_creates_no_file(server: Server, tmp_path: Path) -> None:
    other = tmp_path / "other" / "state.sqlite"
    second = run_serve("--port", str(server.port), "--db", str(other))
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: port {server.port} on 127.0.0.1 is in use (another exchange or program "
        "listens there); choose another with --port"
    ]
    assert not other.parent.exists()


def test_a_killed_servers_lock_is_free_again(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    first = Server(db)
    first.stop(signal.SIGKILL)
    assert lockfile.lock_path(db).exists()  # the file stays; its lock died with the process
    assert lockfile.holder(db) is None
    second = Server(db)
    try:
        assert lockfile.holder(db) == lockfile.Holder(second.process.pid, second.url)
    finally:
        second.stop()
    assert lockfile.holder(db) is None  # released on a clean stop


def test_state_and_lock_files_are_private(server: Server, tmp_path: Path) -> None:
    files = sorted(tmp_path.glob("state.sqlite*"))
    assert {f.name for f in files} >= {"state.sqlite", "state.sqlite.lock"}
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_in_process_lock_refuses_a_second_claim(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    lock = lockfile.ExchangeLock.acquire(db)
    try:
        lock.publish("http://127.0.0.1:1")
        with pytest.raises(lockfile.StateFileInUse, match=r"http://127\.0\.0\.1:1"):
            lockfile.ExchangeLock.acquire(db)
    finally:
        lock.release()
    lockfile.ExchangeLock.acquire(db).release()

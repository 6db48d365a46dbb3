"""Fixtures for the order tests: the local exchange on loopback, a counting (and, when
asked, connection-dropping) proxy in front of it, and ``Orders`` bound to either."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest

from trading_kit.config import Settings
from trading_kit.exchange import ManualClock
from trading_kit.exchange.server import RunningExchange
from trading_kit.http import HttpStack
from trading_kit.orders import Orders

#: The same Tuesday, 20:30 New York time: closed (after the post-market session).
CLOSED_TIME = pd.Timestamp("2024-03-06T01:30:00Z")


class Proxy:
    """A loopback HTTP proxy to ``target`` that counts requests and injects faults.

    ``faults`` maps ``(method, path)`` to a list of actions used up one request at a
    time: ``"drop"`` forwards the request and then closes the connection without an
    answer (the order exists; the client never hears so: the ambiguous failure
    idempotent submission must survive), ``"lose"`` closes it without forwarding
    (the request never arrived), ``"hide"`` answers 404 without forwarding, an int
    forwards and then answers with that status (a gateway's 504), ``"hold"``
    forwards, sets ``held`` and keeps the answer until ``release`` is set (a client
    killed while it waits), a callable forwards, is called, then answers, and bytes
    forward and then answer 200 with those bytes as the body.
    """

    def __init__(self, target: str, faults: dict[tuple[str, str], list[Any]] | None = None) -> None:
        self.target = urlsplit(target)
        self.faults = {key: list(actions) for key, actions in (faults or {}).items()}
        self.requests: list[tuple[str, str]] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, reason: str, headers: list, content: bytes) -> None:
                head = [f"HTTP/1.1 {status} {reason}"]
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        head.append(f"{key}: {value}")
                head.append(f"Content-Length: {len(content)}")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + content)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urlsplit(self.path).path
                with proxy._lock:
                    proxy.requests.append((self.command, path))
                    actions = proxy.faults.get((self.command, path))
                    action = actions.pop(0) if actions else None
                if action == "lose":
                    self.close_connection = True
                    return
                if action == "hide":
                    body_404 = b'{"code":40410000,"message":"order not found"}'
                    self._answer(404, "Not Found", [("Content-Type", "application/json")], body_404)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.target.hostname, proxy.target.port, timeout=10
                )
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                content = reply.read()
                upstream.close()
                if action == "drop":
                    self.close_connection = True
                    return
                if action == "hold":
                    proxy.held.set()
                    proxy.release.wait(60)
                    self.close_connection = True
                    return
                if callable(action):
                    action()
                if isinstance(action, bytes):
                    self._answer(200, "OK", [("Content-Type", "application/json")], action)
                    return
                if isinstance(action, int):
                    self._answer(action, "Gateway Timeout", [], b"upstream timed out")
                    return
                self._answer(reply.status, reply.reason, reply.getheaders(), content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._gate: socket.socket | None = None
        self._shut = False

    def shut(self, how: str) -> None:
        """Make connecting fail until :meth:`open`: ``"refuse"`` (nothing listens) or
        ``"timeout"`` (the accept queue is full, so a connect hangs: a connect timeout).
        Call it before entering the ``with`` block; serving starts at ``open()``."""
        self._shut = True
        listener = self.server.socket
        if how == "refuse":
            listener.close()  # the port stays bound by a socket that does not listen
            gate = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            gate.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            gate.bind(self.server.server_address)
            self.server.socket = gate
        else:
            listener.listen(0)  # Linux then queues one connection and drops further SYNs
            self._gate = socket.create_connection(self.server.server_address)

    def open(self) -> None:
        """Let connections in again (see :meth:`shut`)."""
        if not self._shut:
            return
        self._shut = False
        if self._gate is not None:
            self.server.socket.accept()[0].close()
            self._gate.close()
            self._gate = None
        self.server.socket.listen(128)
        self._thread.start()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for m, p in self.requests
                if (method is None or m == method) and (path is None or p == path)
            )

    def __enter__(self) -> Proxy:
        if not self._shut:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        if self._gate is not None:
            self._gate.close()


def make_stack(url: str, tmp_path: Path) -> HttpStack:
    return HttpStack(
        Settings(
            trading_url=url,
            data_url=url,
            cache_path=tmp_path / "http_cache.sqlite",
            backoff_initial=0.01,
            backoff_max=0.05,
            read_timeout=5.0,
            max_attempts=3,
            requests_per_minute=100_000,  # the client's limiter is tested elsewhere
        )
    )


@pytest.fixture
def clock(manual_clock: ManualClock) -> ManualClock:
    return manual_clock


@pytest.fixture
def running(running_exchange: RunningExchange) -> RunningExchange:
    return running_exchange


@pytest.fixture
def new_orders(tmp_path: Path) -> Iterator[Callable[..., Orders]]:
    """``new_orders(url, **options)``: an ``Orders`` on ``url`` with a journal in tmp_path."""
    stacks: list[HttpStack] = []

    def make(url: str, **options: object) -> Orders:
        stack = make_stack(url, tmp_path)
        stacks.append(stack)
        options.setdefault("journal_path", tmp_path / "order_journal.sqlite")
        return Orders(stack=stack, **options)  # type: ignore[arg-type]

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def orders(running: RunningExchange, new_orders: Callable[..., Orders]) -> Orders:
    return new_orders(running.url)


@pytest.fixture
def proxy(running: RunningExchange) -> Iterator[Proxy]:
    with Proxy(running.url) as p:
        yield p


class SmallDisk:
    """A real filesystem a test can fill up and free again (the disk-full cases).

    As root, a 4 MB tmpfs mounted at ``path``; as another user, a directory made
    read-only, which fails writes the same way. ``fill()`` and ``free()`` switch it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.mounted = False
        if os.geteuid() == 0:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)],
                capture_output=True,
            )
            if done.returncode != 0:
                pytest.skip("needs a tmpfs mount (root without CAP_SYS_ADMIN cannot fill a disk)")
            self.mounted = True

    def fill(self) -> None:
        if not self.mounted:
            for item in (self.path, *self.path.iterdir()):
                item.chmod(0o500 if item.is_dir() else 0o400)
            return
        with open(self.path / "ballast", "wb", buffering=0) as ballast:  # nothing left to flush
            try:
                while True:
                    ballast.write(b"\0" * 65536)
                    ballast.flush()
            except OSError:
                pass

    def free(self) -> None:
        if not self.mounted:
            for item in (self.path, *self.path.iterdir()):
                item.chmod(0o700 if item.is_dir() else 0o600)
            return
        (self.path / "ballast").unlink(missing_ok=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
        else:
            self.free()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    disk = SmallDisk(tmp_path / "disk")
    yield disk
    disk.close()

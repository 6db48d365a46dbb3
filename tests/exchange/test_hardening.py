"""The exchange on loopback: a foreign Host is refused, keys can be required, idle or
trickling connections are closed. Real sockets against a running server."""

from __future__ import annotations

import http.client
import json
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from trading_kit.exchange import Exchange, start_exchange
from trading_kit.exchange.server import RunningExchange

KEYS = {"APCA-API-KEY-ID": "k", "APCA-API-SECRET-KEY": "s"}


@pytest.fixture
def quick_idle(exchange: Exchange) -> Iterator[RunningExchange]:
    """The exchange with a 0.5 s idle timeout, so the tests wait little."""
    with start_exchange(exchange, idle_timeout=0.5) as running:
        yield running


def get(running: RunningExchange, host: str, path: str = "/v2/clock") -> tuple[int, dict]:
    connection = http.client.HTTPConnection(running.host, running.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        for name, value in KEYS.items():
            connection.putheader(name, value)
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:1", "[::1]", "[::1]:8765", "127.9.9.9"],
)
def test_loopback_host_names_are_served(running_exchange: RunningExchange, host: str) -> None:
    status, body = get(running_exchange, host)
    assert status == 200 and "is_open" in body


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8765",
        "127.0.0.1.evil.example",
        "localhost.evil.example",
        "10.0.0.1",
        "[::2]:80",
        "127.0.0.1:http",
        "",
    ],
)
def test_a_foreign_host_is_refused(running_exchange: RunningExchange, host: str) -> None:
    """DNS rebinding: a web page's name resolving to 127.0.0.1 must not reach the exchange."""
    status, body = get(running_exchange, host)
    assert status == 403
    assert body["code"] == 40310000 and "forbidden host" in body["message"]


def wait_closed(sock: socket.socket, trickle: bytes = b"", deadline: float = 30.0) -> bool:
    """True once the server closes ``sock``; sends one byte of ``trickle`` every 0.1 s."""
    end = time.monotonic() + deadline
    for byte in [*trickle, *([None] * int(deadline * 10))]:
        if time.monotonic() > end:
            break
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            try:
                return sock.recv(1024) == b""
            except ConnectionResetError:
                return True
        if byte is not None:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                return True
    return False


def test_a_connection_that_sends_nothing_is_closed(quick_idle: RunningExchange) -> None:
    with socket.create_connection((quick_idle.host, quick_idle.port)) as sock:
        assert wait_closed(sock)


def test_a_trickled_request_head_is_cut_off(quick_idle: RunningExchange) -> None:
    """One byte every 0.1 s of a head that never ends: closed, not kept waiting."""
    head = b"GET /v2/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 600
    with socket.create_connection((quick_idle.host, quick_idle.port)) as sock:
        assert wait_closed(sock, trickle=head)


def test_a_kept_alive_connection_stays_usable_between_requests(
    quick_idle: RunningExchange,
) -> None:
    connection = http.client.HTTPConnection(quick_idle.host, quick_idle.port, timeout=10)
    try:
        for _ in range(3):
            connection.request("GET", "/v2/clock", headers=KEYS)
            reply = connection.getresponse()
            assert reply.status == 200
            reply.read()
    finally:
        connection.close()


def test_serve_requires_the_keys_it_was_given() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trading_kit",
            "serve",
            "--port",
            "0",
            "--key",
            "K1",
            "--secret",
            "S1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert "keys required" in line, process.stderr.read() if process.stderr else ""
        url = line.split(" on ", 1)[1].split()[0]
        host, port = url.removeprefix("http://").rsplit(":", 1)

        def status(key: str, secret: str) -> int:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            try:
                headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
                connection.request("GET", "/v2/account", headers=headers)
                return connection.getresponse().status
            finally:
                connection.close()

        assert status("K1", "S1") == 200
        assert status("K1", "wrong") == 401
        assert status("local", "local") == 401
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_serve_refuses_half_a_key_pair() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trading_kit", "serve", "--port", "0", "--key", "K1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "error: give both --key and --secret, or neither"

"""Run the exchange on loopback: in a background thread (tests, notebooks) or in the foreground.

Only loopback hosts are accepted: the exchange has paper money but real credentials may be
sent to it, and it has no TLS. A browser page can still reach a loopback server through a
name it controls (DNS rebinding), so a request whose ``Host`` is not a loopback name is
refused. uvicorn's access log is off so that no request line (and so nothing a client put
in a URL) is logged; headers are never logged by uvicorn anyway. A connection that sends
no complete request head within the idle timeout is closed, so idle or trickling
connections cannot pile up.

Starting order, so that a failure leaves nothing behind: bind the port (a port in use is
a one-line error before any file exists), then claim the state file (``lockfile``), then
open the exchange on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import create_app
from .core import Exchange
from .lockfile import ExchangeLock

STARTUP_TIMEOUT = 10.0
#: Seconds a connection may stay open without a complete request head (and idle
#: between requests: uvicorn's keep-alive timeout).
IDLE_TIMEOUT = 5.0
CODE_FORBIDDEN = 40310000


class PortInUse(RuntimeError):
    """The port is taken; nothing was started or created."""


def check_loopback(host: str) -> None:
    """Refuse anything but 127.0.0.0/8, ::1 and ``localhost``."""
    if not _is_loopback_name(host):
        raise ValueError(f"the local exchange only listens on loopback, not on {host!r}")


def _is_loopback_name(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback_host_header(value: bytes) -> bool:
    """A ``Host`` header naming a loopback address, with or without a port."""
    text = value.decode("latin-1").strip()
    if text.startswith("["):  # [::1]:8765
        host, _, rest = text[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return False
    else:
        host, _, port = text.partition(":")
        if port and not port.isdigit():
            return False
    return _is_loopback_name(host)


class LoopbackHostMiddleware:
    """Refuse a request whose ``Host`` is not 127.0.0.1, localhost or [::1] (any port)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v for k, v in scope["headers"] if k == b"host"), None)
            if host is not None and not _loopback_host_header(host):
                await _refuse(scope, send)
                return
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = orjson.dumps(
        {
            "code": CODE_FORBIDDEN,
            "message": "forbidden host: the local exchange answers only to 127.0.0.1, "
            "localhost and [::1]",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _IdleClosingProtocol(H11Protocol):
    """uvicorn's h11 protocol, also closing connections that never finish a request head.

    uvicorn arms its keep-alive timer only after a response and cancels it on any byte,
    so a connection that opens and sends nothing, or trickles a head, would stay forever.
    """

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        upgraded = self.transport.get_protocol() is not self  # now a websocket's
        if self.cycle is not cycle or upgraded:  # a complete request head arrived
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()  # the next head must arrive in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_overdue)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:  # no request in progress
            self.transport.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on a loopback ``host``; :class:`PortInUse` if ``port`` is taken."""
    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as problem:
        sock.close()
        if problem.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on {host} is in use (another exchange or program listens "
                "there); choose another with --port"
            ) from None
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: ASGIApp, idle_timeout: float = IDLE_TIMEOUT) -> uvicorn.Config:
    """How every exchange is served: loopback Host only, idle connections closed, no logs."""
    return uvicorn.Config(
        LoopbackHostMiddleware(app),
        http=_IdleClosingProtocol,
        timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
    )


class RunningExchange:
    """A server thread; ``url`` to point clients at, ``stop()`` (or ``with``) to end it.

    ``sock`` is a socket from :func:`bind` (else one is bound to ``host``/``port``);
    ``lock`` the claim on the exchange's state file, published with the URL and
    released on ``stop()``.
    """

    def __init__(
        self,
        exchange: Exchange,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        lock: ExchangeLock | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.exchange = exchange
        self._sock = sock if sock is not None else bind(host, port)
        self.url = url_of(self._sock)
        self.host, self.port = self._sock.getsockname()[:2]
        self._lock = lock
        self.app = create_app(exchange)  # also answers in-process requests (connect(exchange=))
        self._server = uvicorn.Server(uvicorn_config(self.app, idle_timeout))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"trading-kit-exchange-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local exchange did not start")
            time.sleep(0.005)
        if lock is not None:
            lock.publish(self.url)

    def __repr__(self) -> str:
        return f"RunningExchange(url={self.url!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def streams(self) -> Any:
        """The websocket hub (its connections and price publishers), for tests and tools."""
        return self.app.state.streams

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit, wait for the thread, release the port and the state file."""
        self._server.should_exit = True
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> RunningExchange:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_exchange(
    exchange: Exchange | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    idle_timeout: float = IDLE_TIMEOUT,
    **exchange_kwargs: Any,
) -> RunningExchange:
    """Serve ``exchange`` (or a new ``Exchange(**exchange_kwargs)``) in a daemon thread."""
    check_loopback(host)
    if exchange is None:
        exchange = Exchange(**exchange_kwargs)
    elif exchange_kwargs:
        raise TypeError("pass either an exchange or keyword arguments to build one, not both")
    return RunningExchange(exchange, host, port, idle_timeout=idle_timeout)


def serve(
    exchange: Exchange,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    sock: socket.socket | None = None,
    lock: ExchangeLock | None = None,
) -> None:
    """Serve in the foreground until interrupted (``python -m trading_kit serve``).

    ``lock``, the claim on the exchange's state file, is released when serving ends.
    """
    sock = sock if sock is not None else bind(host, port)
    server = uvicorn.Server(uvicorn_config(create_app(exchange)))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        exchange.close()
        if lock is not None:
            lock.release()

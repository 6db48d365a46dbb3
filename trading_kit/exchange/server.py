"""Run the exchange on loopback: in a background thread (tests, notebooks) or in the foreground.

Only loopback hosts are accepted: the exchange has paper money but real credentials may be
sent to it, and it has no TLS. uvicorn's access log is off so that no request line (and so
nothing a client put in a URL) is logged; headers are never logged by uvicorn anyway.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import create_app
from .core import Exchange

STARTUP_TIMEOUT = 10.0


def check_loopback(host: str) -> None:
    """Refuse anything but 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the local exchange only listens on loopback, not on {host!r}")


def _bind(host: str, port: int) -> socket.socket:
    check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _config(exchange: Exchange) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(exchange),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        date_header=False,
    )


class RunningExchange:
    """A server thread; ``url`` to point clients at, ``stop()`` (or ``with``) to end it."""

    def __init__(self, exchange: Exchange, host: str, port: int) -> None:
        self.exchange = exchange
        self._sock = _bind(host, port)
        bound_port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound_port}"
        self.host, self.port = host, bound_port
        self._server = uvicorn.Server(_config(exchange))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"trading-kit-exchange-{bound_port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local exchange did not start")
            time.sleep(0.005)

    def __repr__(self) -> str:
        return f"RunningExchange(url={self.url!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit, wait for the thread, release the port."""
        self._server.should_exit = True
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()

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
    **exchange_kwargs: Any,
) -> RunningExchange:
    """Serve ``exchange`` (or a new ``Exchange(**exchange_kwargs)``) in a daemon thread."""
    check_loopback(host)
    if exchange is None:
        exchange = Exchange(**exchange_kwargs)
    elif exchange_kwargs:
        raise TypeError("pass either an exchange or keyword arguments to build one, not both")
    return RunningExchange(exchange, host, port)


def serve(exchange: Exchange, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve in the foreground until interrupted (``python -m trading_kit serve``)."""
    sock = _bind(host, port)
    server = uvicorn.Server(_config(exchange))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        exchange.close()

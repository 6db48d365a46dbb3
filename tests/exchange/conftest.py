"""Helpers for the exchange tests; the exchange fixtures themselves are in tests/conftest.py."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

HEADERS = {"APCA-API-KEY-ID": "test-key", "APCA-API-SECRET-KEY": "test-secret"}


@contextlib.contextmanager
def serve_app(app: Starlette) -> Iterator[str]:
    """Serve any Starlette app on 127.0.0.1 (a free port) in a thread; yields its base URL.

    Used for tests of route groups mounted in a bare app, without the full exchange.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5.0)
        sock.close()

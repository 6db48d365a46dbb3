"""A total time limit per call, across retries, that no server can stretch.

The timeouts requests offers are per socket operation: a server that sends one byte every
two seconds never trips a 30 s read timeout, and five attempts of 30 s each take minutes.
A :class:`Deadline` bounds the whole call instead; a watchdog thread enforces it on the
connection in use by shutting its socket down when the deadline passes, whichever phase
(connecting, sending, reading the head or the body) the attempt is in.

The connection in use is found through urllib3's connection class: ``watched_pools()``
gives pool classes whose connections report themselves to the attempt that is running
on their thread when they send a request.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class DeadlineExceeded(requests.Timeout):
    """The call's total deadline passed before a complete answer arrived."""


class Deadline:
    """``seconds`` from now; time spent waiting for the rate budget is added back."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return self._at - self._clock()

    def extend(self, seconds: float) -> None:
        """Waiting for our own rate limiter is not the server being slow: it does not count."""
        self._at += max(seconds, 0.0)

    @property
    def at(self) -> float:
        return self._at


class Watch:
    """One attempt under the watchdog: the connection it uses, and whether time ran out."""

    def __init__(self) -> None:
        self.expired = False
        self._connection: HTTPConnection | None = None
        self._done = False
        self._lock = threading.Lock()

    def attach(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            expired = self.expired
        if expired:
            _shut(connection)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            connection = self._connection
        if connection is not None:
            _shut(connection)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._connection = None


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked reading it


class _Watchdog:
    """One daemon thread for every attempt of the process: a heap of deadlines."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, at: float) -> Watch:
        watch = Watch()
        with self._wake:
            heapq.heappush(self._heap, (at, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="trading-kit-deadline", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is watch:  # sooner than anything the thread waits for
                self._wake.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                at, _, watch = self._heap[0]
                delay = at - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            watch.expire()


_WATCHDOG = _Watchdog()
_current = threading.local()  # the watch of the attempt running on this thread


@contextlib.contextmanager
def watched(deadline: Deadline) -> Iterator[Watch]:
    """Run one attempt under the watchdog; ``watch.expired`` tells whether time ran out."""
    watch = _WATCHDOG.watch(deadline.at)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        watch.finish()


class _Reporting:
    """Mixin for urllib3 connections: tell the running attempt which connection it uses."""

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Reporting, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Reporting, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def watched_pools() -> dict[str, type[HTTPConnectionPool]]:
    """Pool classes for ``PoolManager.pool_classes_by_scheme``."""
    return {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}

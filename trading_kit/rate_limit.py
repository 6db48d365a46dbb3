"""A client-side rolling-window rate limiter shared by every thread of a client.

Alpaca allows 200 requests a minute per account. The limiter sits below the cache
(in the HTTP adapter), so cache hits never spend the budget. It also obeys the
server's own ``X-RateLimit-*`` headers: when the server says the budget is spent,
every thread waits for the server's reset time, whatever the local count says.

A request counts from the moment it is sent until one window after its answer came
back (``hold()``): the server counts it when it arrives, which is somewhere in between,
so the budget as the server sees it is never exceeded by our own pace, however long
the request took or however requests from many threads overtook each other on the way.

Written by hand rather than taken from pyrate-limiter because it has to merge the
server's view into its own and report the budget left (``status()``), which no
limiter library exposes; it is one lock and one deque. The clock and the sleep are
injectable, so its rules are tested by counting, not by timing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitStatus:
    """The request budget as this client sees it now."""

    limit: int
    remaining: int
    resets_in: float
    window_seconds: float
    server_limit: int | None = None
    server_remaining: int | None = None

    def __str__(self) -> str:
        return (
            f"{self.remaining}/{self.limit} requests left in the rolling "
            f"{self.window_seconds:g} s window (fully reset in {self.resets_in:.1f} s)"
        )


class RateLimiter:
    """At most ``limit`` sends per rolling ``window`` seconds, across threads."""

    def __init__(
        self,
        limit: int = 200,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock  # injectable, so the rules are tested without waiting
        self._sleep = sleep
        self._wall_clock = wall_clock  # the server's reset time is in epoch seconds
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._server_blocked_until = 0.0
        self._server_limit: int | None = None
        self._server_remaining: int | None = None
        self._quiet = True  # nothing sent in the window: the next answer tells the server's count

    def acquire(self) -> float:
        """Block until a request may be sent, then count it; returns seconds waited."""
        return self._take()[1]

    @contextmanager
    def hold(self) -> Iterator[float]:
        """Count a request while it is under way and from its answer on: wrap the send."""
        sent_at, waited = self._take()
        try:
            yield waited
        finally:
            with self._lock:  # move its count from the send to the answer
                self._forget_one(sent_at)  # gone if already older than the window
                self._sent.append(self._clock())

    def _forget_one(self, sent_at: float) -> None:
        """Drop one count made at ``sent_at``. The counts are in time order and a request
        in flight was counted among the newest, so it is looked for from that end: the
        search stays short however many counts a fast in-process client has made."""
        sent = self._sent
        for back, when in enumerate(reversed(sent)):
            if when == sent_at:
                del sent[len(sent) - 1 - back]
                return
            if when < sent_at:
                return

    def _take(self) -> tuple[float, float]:
        started = self._clock()
        while True:
            with self._lock:
                now = self._clock()
                self._forget_before(now - self.window)
                wait = self._server_blocked_until - now
                if wait <= 0 and len(self._sent) >= self.limit:
                    wait = self._sent[0] + self.window - now
                if wait <= 0:
                    self._sent.append(now)
                    return now, now - started
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take in the server's ``X-RateLimit-*`` headers from a response.

        The first answer after a quiet window says how much of the budget the server had
        already counted: what another process on the account (or this one before a
        restart) used is counted here too, as if sent now, so it is not spent twice.
        (Our other requests under way then may be counted twice: a few, erring on the
        safe side.)
        """
        try:
            limit = headers.get("X-RateLimit-Limit")
            remaining = headers.get("X-RateLimit-Remaining")
            reset = headers.get("X-RateLimit-Reset")
            with self._lock:
                if limit is not None:
                    self._server_limit = int(limit)
                if remaining is not None:
                    self._server_remaining = int(remaining)
                    if self._quiet and int(remaining) > 0:
                        used_elsewhere = (self._server_limit or self.limit) - int(remaining) - 1
                        self._sent.extend([self._clock()] * max(used_elsewhere, 0))
                    self._quiet = False
                if remaining is not None and int(remaining) <= 0 and reset is not None:
                    delay = max(float(reset) - self._wall_clock(), 0.0)
                    self._server_blocked_until = self._clock() + min(delay, self.window)
        except ValueError:
            return  # a malformed header is the server's problem, not a reason to fail

    def block_for(self, seconds: float) -> None:
        """Hold every thread back, e.g. after a 429 with ``Retry-After``."""
        with self._lock:
            until = self._clock() + max(seconds, 0.0)
            self._server_blocked_until = max(self._server_blocked_until, until)

    def status(self) -> RateLimitStatus:
        with self._lock:
            now = self._clock()
            self._forget_before(now - self.window)
            remaining = self.limit - len(self._sent)
            server_fresh = self._server_remaining != 0 or now < self._server_blocked_until
            if self._server_remaining is not None and server_fresh:
                remaining = min(remaining, self._server_remaining)
            resets_in = (self._sent[-1] + self.window - now) if self._sent else 0.0
            resets_in = max(resets_in, self._server_blocked_until - now, 0.0)
            return RateLimitStatus(
                limit=self.limit,
                remaining=max(remaining, 0),
                resets_in=resets_in,
                window_seconds=self.window,
                server_limit=self._server_limit,
                server_remaining=self._server_remaining,
            )

    def _forget_before(self, horizon: float) -> None:
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
            self._quiet = not self._sent

"""The ASGI app: trading and data routes on one port, admin routes, auth, Alpaca-style errors.

Auth is a plain ASGI middleware (not ``BaseHTTPMiddleware``, which costs a task per request):
both ``APCA-API-KEY-ID`` and ``APCA-API-SECRET-KEY`` must be present and non-empty, and must
match the configured pair when there is one. Header values are compared and dropped, never
logged. Every failure — bad JSON, unknown route, wrong method, a bug — leaves as
``{"code", "message"}`` JSON.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from collections import deque
from typing import Any

import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..rules import rfc3339, to_utc
from .account_config import account_config_routes
from .assets import asset_routes
from .calendar import SPAN_END
from .calendar_api import calendar_routes
from .core import Exchange
from .portfolio_history import portfolio_history_routes
from .streams import StreamHub, stream_routes
from .trading_api import in_thread, json, read_json, trading_routes
from .watchlists import watchlist_routes
from .wire import (
    AlpacaError,
    bad_request,
    conflict,
    internal,
    method_not_allowed,
    not_found,
    rate_limited,
    unauthorized,
)

log = logging.getLogger(__name__)

_KEY_HEADER = b"apca-api-key-id"
_SECRET_HEADER = b"apca-api-secret-key"


async def _send_error(
    send: Send, error: AlpacaError, headers: list[tuple[bytes, bytes]] | tuple = ()
) -> None:
    """Answer from a raw ASGI middleware (no Response object there)."""
    body = orjson.dumps(error.body())
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """Require Alpaca's key headers on every request (optionally a specific pair)."""

    def __init__(self, app: ASGIApp, credentials: tuple[str, str] | None) -> None:
        self.app = app
        self.expected = (
            None if credentials is None else (credentials[0].encode(), credentials[1].encode())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = secret = b""
        for name, value in scope["headers"]:
            if name == _KEY_HEADER:
                key = value
            elif name == _SECRET_HEADER:
                secret = value
        authorized = bool(key.strip()) and bool(secret.strip())
        if authorized and self.expected is not None:
            authorized = hmac.compare_digest(key, self.expected[0]) & hmac.compare_digest(
                secret, self.expected[1]
            )
        if not authorized:
            await _send_error(send, unauthorized())
            return
        await self.app(scope, receive, send)


#: The budget advertised when no limit is enforced: more than any client sends in a minute,
#: over loopback or in process (a replay), so the headers never make one wait.
UNENFORCED_BUDGET = 1_000_000


class RateLimitMiddleware:
    """Alpaca's ``X-RateLimit-Limit/Remaining/Reset`` on every answer; opt-in, 429 past it.

    The count is a sliding minute, as Alpaca's 200 requests per minute. ``Reset`` is the
    Unix time (seconds) when the oldest request in the window leaves it. Without a
    ``per_minute`` nothing is refused and the headers advertise ``UNENFORCED_BUDGET``.
    """

    def __init__(self, app: ASGIApp, per_minute: int | None) -> None:
        self.app = app
        self.enforced = per_minute is not None
        self.per_minute = per_minute if per_minute is not None else UNENFORCED_BUDGET
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def _count(self) -> tuple[bool, list[tuple[bytes, bytes]]]:
        now, wall = time.monotonic(), time.time()
        with self._lock:
            while self._times and now - self._times[0] >= 60:
                self._times.popleft()
            limited = self.enforced and len(self._times) >= self.per_minute
            if not limited:
                self._times.append(now)
            remaining = max(self.per_minute - len(self._times), 0)
            resets_in = self._times[0] + 60 - now if self._times else 0.0
        headers = [
            (b"x-ratelimit-limit", str(self.per_minute).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(math.ceil(wall + resets_in)).encode()),
        ]
        if limited:
            headers.append((b"retry-after", str(max(math.ceil(resets_in), 1)).encode()))
        return limited, headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/admin/"):
            await self.app(scope, receive, send)
            return
        limited, headers = self._count()
        if limited:
            await _send_error(send, rate_limited(), headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class InternalErrorMiddleware:
    """A bug answers 500 in Alpaca's shape and leaves the keep-alive connection open.

    Starlette's own last-resort handler re-raises after answering, and uvicorn then
    closes the connection, so the client's next (valid) request on it was reset.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:
            log.error("internal error on %s %s: %r", scope["method"], scope["path"], error)
            if started:  # half an answer is on the wire: only closing can end it
                raise
            await _send_error(send, internal())


def admin_routes(exchange: Exchange) -> list[BaseRoute]:
    """``/admin/clock``: read the exchange time; step a manual clock (tests, notebooks)."""

    def clock_state() -> dict[str, Any]:
        now = exchange.engine.now()
        return {
            "now": rfc3339(now),
            "manual": exchange.manual_clock,
            "is_open": bool(exchange.market.hours.is_open(now)),
        }

    async def get_clock(request: Request) -> Response:
        return json(await in_thread(exchange.run, clock_state))

    async def post_clock(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or len(body) != 1 or not ({"advance", "set"} & set(body)):
            raise bad_request('body must be {"advance": "5min"} or {"set": "<RFC 3339 time>"}')
        if not exchange.manual_clock:
            raise conflict("the exchange clock is not manual")

        def change() -> dict[str, Any]:  # matching a long step runs in the thread pool
            try:
                now = exchange.clock.now()
                if "advance" in body:
                    delta = pd.Timedelta(body["advance"])
                    if delta < pd.Timedelta(0):
                        raise ValueError("negative")
                    target = now + delta
                else:
                    target = to_utc(body["set"])
                if not now <= target < SPAN_END:
                    raise ValueError(f"the clock moves forward only, and not past {SPAN_END.year}")
                exchange.set_time(target)
            except (ValueError, TypeError, OverflowError) as error:
                raise bad_request(f"invalid clock change: {error}") from None
            return exchange.run(clock_state)

        return json(await in_thread(change))

    return [
        Route("/admin/clock", get_clock, methods=["GET"]),
        Route("/admin/clock", post_clock, methods=["POST"]),
    ]


def _data_routes(exchange: Exchange) -> list[BaseRoute]:
    """Engineer M's market-data routes (``/v2/stocks/...``), when that module is present."""
    try:
        from .data_api import data_routes
    except ImportError:  # pragma: no cover - only while the data API is being written
        log.warning("trading_kit.exchange.data_api is missing: /v2/stocks routes are off")
        return []
    return list(data_routes(exchange.market, exchange.clock))


async def _alpaca_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AlpacaError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found("endpoint not found").response()
    if exc.status_code == 405:
        return method_not_allowed().response()
    code = exc.status_code * 100_000
    return AlpacaError(exc.status_code, code, str(exc.detail).lower()).response()


def create_app(exchange: Exchange) -> Starlette:
    """The whole exchange as one Starlette app."""
    streams = StreamHub(exchange, exchange.stream_symbol_limit)
    routes = [
        *trading_routes(exchange),
        *account_config_routes(exchange, exchange.settings),
        *portfolio_history_routes(exchange),
        *watchlist_routes(exchange, exchange.settings),
        *asset_routes(exchange.market),
        *calendar_routes(exchange),
        *_data_routes(exchange),
        *admin_routes(exchange),
        *stream_routes(streams),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            AlpacaError: _alpaca_error,
            HTTPException: _http_error,
        },
    )
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(AuthMiddleware, credentials=exchange.credentials)
    app.add_middleware(RateLimitMiddleware, per_minute=exchange.rate_limit or None)
    app.state.exchange = exchange
    app.state.streams = streams
    return app

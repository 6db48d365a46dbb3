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
from starlette.types import ASGIApp, Receive, Scope, Send

from ..rules import rfc3339
from .core import Exchange
from .trading_api import in_thread, json, read_json, trading_routes
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


async def _send_error(send: Send, error: AlpacaError) -> None:
    """Answer from a raw ASGI middleware (no Response object there)."""
    body = orjson.dumps(error.body())
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
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


class RateLimitMiddleware:
    """At most ``per_minute`` requests in any sliding minute, then 429 (Alpaca's 200/min)."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.per_minute = per_minute
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            now = time.monotonic()
            with self._lock:
                while self._times and now - self._times[0] >= 60:
                    self._times.popleft()
                limited = len(self._times) >= self.per_minute
                if not limited:
                    self._times.append(now)
            if limited:
                await _send_error(send, rate_limited())
                return
        await self.app(scope, receive, send)


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
                if "advance" in body:
                    delta = pd.Timedelta(body["advance"])
                    if delta < pd.Timedelta(0):
                        raise ValueError("negative")
                    exchange.advance(delta)
                else:
                    exchange.set_time(pd.Timestamp(body["set"]))
            except (ValueError, TypeError) as error:
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


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %r", request.method, request.url.path, exc)
    return internal().response()


def create_app(exchange: Exchange) -> Starlette:
    """The whole exchange as one Starlette app."""
    routes = [*trading_routes(exchange), *_data_routes(exchange), *admin_routes(exchange)]
    app = Starlette(
        routes=routes,
        exception_handlers={
            AlpacaError: _alpaca_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    app.add_middleware(AuthMiddleware, credentials=exchange.credentials)
    if exchange.rate_limit:
        app.add_middleware(RateLimitMiddleware, per_minute=exchange.rate_limit)
    app.state.exchange = exchange
    return app

"""Alpaca's trading REST routes (``/v2/account``, ``/v2/orders``, ``/v2/positions`` ...).

Each route parses its HTTP input on the event loop, then hands one plain call to the
engine through ``Exchange.run`` (catch up, operate, persist) *in the thread pool*, where
the JSON is rendered too. The market-data routes do the same (``data_api.py``): one
convention for every route. Why the thread pool and not inline on the event loop: an
engine call holds the exchange lock, may match a day of minutes for thousands of orders
after a clock jump, and commits to SQLite; a data page takes tens of milliseconds to
build. Inline, any of these stalls every other connection, ``GET /v2/clock`` included;
in a worker thread the loop keeps accepting and answering, and the lock (not the loop)
orders the engine calls. The hop costs about 45 microseconds per request (``in_thread``);
``bench/bench_exchange.py`` measures the whole (section c: throughput, ``/v2/clock``
latency and server CPU per request under 1-64 concurrent clients).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import NEW_YORK, to_utc
from .core import Exchange
from .order_request import number
from .wire import bad_request, json_response, malformed_body

T = TypeVar("T")
MAX_ORDERS_LIMIT = 500
MAX_ACTIVITIES_PAGE = 100
json = json_response  # the routes' one way to answer JSON


async def in_thread(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in the event loop's default thread pool.

    Cheaper than Starlette's ``run_in_threadpool`` (about 45 us a hop here against 65:
    no anyio capacity limiter or cancel scope around each call).
    """
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(call, *args))


async def read_json(request: Request) -> Any:
    """The request body as JSON; malformed bodies are a 400, as on Alpaca."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise malformed_body() from None


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise bad_request(f"invalid {name}")


def query_time(request: Request, name: str) -> pd.Timestamp | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return to_utc(value)
    except (ValueError, TypeError):
        raise bad_request(f"invalid {name}") from None


def query_date(request: Request, name: str) -> dt.date | None:
    """A YYYY-MM-DD (or RFC 3339, whose date part counts) parameter; years 1-9999 parse."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r} (use YYYY-MM-DD)") from None


def query_choice(request: Request, name: str, choices: tuple[str, ...], default: str | None) -> Any:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in choices:
        raise bad_request(f"invalid {name}")
    return value.lower()


def query_list(request: Request, name: str) -> list[str]:
    """A comma-separated parameter as upper-case items (``symbols``, ``activity_types``)."""
    value = request.query_params.get(name) or ""
    return [item.strip().upper() for item in value.split(",") if item.strip()]


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        result = int(value)
    except ValueError:
        raise bad_request(f"invalid {name}") from None
    if not lo <= result <= hi:
        raise bad_request(f"{name} must be between {lo} and {hi}")
    return result


def trading_routes(exchange: Exchange) -> list[BaseRoute]:
    """All trading routes, bound to one exchange."""
    engine = exchange.engine

    async def answer(operation: Callable[..., Any], *args: Any, status: int = 200) -> Response:
        """``exchange.run(operation, *args)`` in a worker thread, rendered there too."""

        def work() -> Response:
            return json(exchange.run(operation, *args), status)

        return await in_thread(work)

    # --- account -----------------------------------------------------------------------
    async def get_account(request: Request) -> Response:
        return await answer(engine.account_json)

    async def get_activities(request: Request) -> Response:
        kind = request.path_params.get("activity_type")
        types = [kind] if kind else query_list(request, "activity_types")
        category = query_choice(request, "category", ("trade_activity", "non_trade_activity"), None)
        if category == "non_trade_activity":
            types = ["NON_TRADE"]  # the exchange books fills only
        date = query_date(request, "date")
        after, until = query_time(request, "after"), query_time(request, "until")
        if date is not None and (after is not None or until is not None):
            raise bad_request("date cannot be combined with after or until")
        kwargs = {
            "direction": query_choice(request, "direction", ("asc", "desc"), "desc"),
            "page_size": query_int(request, "page_size", MAX_ACTIVITIES_PAGE, 1, 100),
            "page_token": request.query_params.get("page_token") or None,
            "after": after,
            "until": until,
            "date": date,
        }
        return await answer(lambda: engine.activities_json(types or None, **kwargs))

    # --- orders ------------------------------------------------------------------------
    async def post_order(request: Request) -> Response:
        body = await read_json(request)
        return await answer(engine.submit, body)

    async def get_orders(request: Request) -> Response:
        symbols = query_list(request, "symbols")
        kwargs = {
            "status": query_choice(request, "status", ("open", "closed", "all"), "open"),
            "limit": query_int(request, "limit", 50, 1, MAX_ORDERS_LIMIT),
            "after": query_time(request, "after"),
            "until": query_time(request, "until"),
            "direction": query_choice(request, "direction", ("asc", "desc"), "desc"),
            "nested": query_bool(request, "nested"),
            "side": query_choice(request, "side", ("buy", "sell"), None),
            "symbols": set(symbols) if symbols else None,
        }
        return await answer(lambda: engine.list_orders(**kwargs))

    async def delete_orders(request: Request) -> Response:
        return await answer(engine.cancel_all, status=207)

    async def get_order(request: Request) -> Response:
        nested = query_bool(request, "nested", True)
        order_id = request.path_params["order_id"]
        return await answer(lambda: engine.order_json(engine.get_order(order_id), nested=nested))

    async def get_order_by_client_id(request: Request) -> Response:
        client_id = request.query_params.get("client_order_id")
        if not client_id:
            raise bad_request("client_order_id is required")
        return await answer(lambda: engine.order_json(engine.get_by_client_id(client_id)))

    async def patch_order(request: Request) -> Response:
        body = await read_json(request)
        return await answer(engine.replace, request.path_params["order_id"], body)

    async def delete_order(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        await in_thread(exchange.run, engine.cancel, order_id)
        return Response(status_code=204)

    # --- positions ---------------------------------------------------------------------
    async def get_positions(request: Request) -> Response:
        return await answer(engine.positions_json)

    async def get_position(request: Request) -> Response:
        key = request.path_params["symbol_or_asset_id"]
        return await answer(lambda: engine.position_json(engine.get_position(key), engine.now()))

    async def delete_position(request: Request) -> Response:
        key = request.path_params["symbol_or_asset_id"]
        params = dict(request.query_params)
        qty = number(params, "qty")
        percentage = number(params, "percentage")
        return await answer(engine.close_position, key, qty, percentage)

    async def delete_positions(request: Request) -> Response:
        cancel = query_bool(request, "cancel_orders")
        return await answer(engine.close_all, cancel, status=207)

    # --- clock -------------------------------------------------------
    async def get_clock(request: Request) -> Response:
        def clock() -> dict[str, Any]:
            now = engine.now()
            hours = exchange.market.hours

            def ny(t: Any) -> str:
                return pd.Timestamp(t).tz_convert(NEW_YORK).isoformat()

            return {
                "timestamp": ny(now),
                "is_open": bool(hours.is_open(now)),
                "next_open": ny(hours.next_open(now)),
                "next_close": ny(hours.next_close(now)),
            }

        return await answer(clock)

    return [
        Route("/v2/account", get_account, methods=["GET"]),
        Route("/v2/account/activities", get_activities, methods=["GET"]),
        Route("/v2/account/activities/{activity_type}", get_activities, methods=["GET"]),
        Route("/v2/orders", get_orders, methods=["GET"]),
        Route("/v2/orders", post_order, methods=["POST"]),
        Route("/v2/orders", delete_orders, methods=["DELETE"]),
        Route("/v2/orders:by_client_order_id", get_order_by_client_id, methods=["GET"]),
        Route("/v2/orders/{order_id}", get_order, methods=["GET"]),
        Route("/v2/orders/{order_id}", patch_order, methods=["PATCH"]),
        Route("/v2/orders/{order_id}", delete_order, methods=["DELETE"]),
        Route("/v2/positions", get_positions, methods=["GET"]),
        Route("/v2/positions", delete_positions, methods=["DELETE"]),
        Route("/v2/positions/{symbol_or_asset_id}", get_position, methods=["GET"]),
        Route("/v2/positions/{symbol_or_asset_id}", delete_position, methods=["DELETE"]),
        Route("/v2/clock", get_clock, methods=["GET"]),
    ]

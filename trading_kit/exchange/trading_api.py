"""Alpaca's trading REST routes (``/v2/account``, ``/v2/orders``, ``/v2/positions`` ...).

Each route parses its HTTP input, hands a plain call to the engine through
``Exchange.run`` (catch up, operate, persist) and renders the result. Handlers are
``async`` and do their short, lock-guarded work inline: no thread-pool hop per request,
which is most of a loopback round trip.
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import NEW_YORK, to_utc
from .core import Exchange
from .order_request import bad_request, number
from .wire import AlpacaError

MAX_ORDERS_LIMIT = 500


class FastJSON(Response):
    """JSON rendered by orjson (several times faster than the stdlib on order payloads)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json(payload: Any, status: int = 200) -> FastJSON:
    return FastJSON(payload, status_code=status)


async def read_json(request: Request) -> Any:
    """The request body as JSON; malformed bodies are a 400, as on Alpaca."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AlpacaError(400, 40010000, "request body format is invalid") from None


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


def query_choice(request: Request, name: str, choices: tuple[str, ...], default: str | None) -> Any:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() not in choices:
        raise bad_request(f"invalid {name}")
    return value.lower()


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
    run = exchange.run

    # --- account -----------------------------------------------------------------------
    async def get_account(request: Request) -> Response:
        return json(run(engine.account_json))

    async def get_activities(request: Request) -> Response:
        activity_type = request.path_params.get("activity_type")
        if activity_type is None:
            types = request.query_params.get("activity_types")
            activity_type = types.split(",")[0].strip().upper() if types else None
        direction = query_choice(request, "direction", ("asc", "desc"), "desc")
        page_size = query_int(request, "page_size", 100, 1, 100)
        return json(run(engine.activities_json, activity_type, direction, page_size))

    # --- orders ------------------------------------------------------------------------
    async def post_order(request: Request) -> Response:
        body = await read_json(request)
        return json(run(engine.submit, body))

    async def get_orders(request: Request) -> Response:
        symbols = request.query_params.get("symbols")
        kwargs = {
            "status": query_choice(request, "status", ("open", "closed", "all"), "open"),
            "limit": query_int(request, "limit", 50, 1, MAX_ORDERS_LIMIT),
            "after": query_time(request, "after"),
            "until": query_time(request, "until"),
            "direction": query_choice(request, "direction", ("asc", "desc"), "desc"),
            "nested": query_bool(request, "nested"),
            "side": query_choice(request, "side", ("buy", "sell"), None),
            "symbols": {s.strip().upper() for s in symbols.split(",") if s.strip()}
            if symbols
            else None,
        }
        return json(run(engine.list_orders, **kwargs))

    async def delete_orders(request: Request) -> Response:
        return json(run(engine.cancel_all), status=207)

    async def get_order(request: Request) -> Response:
        nested = query_bool(request, "nested", True)
        order_id = request.path_params["order_id"]
        return json(run(lambda: engine.order_json(engine.get_order(order_id), nested=nested)))

    async def get_order_by_client_id(request: Request) -> Response:
        client_id = request.query_params.get("client_order_id")
        if not client_id:
            raise bad_request("client_order_id is required")
        return json(run(lambda: engine.order_json(engine.get_by_client_id(client_id))))

    async def patch_order(request: Request) -> Response:
        body = await read_json(request)
        return json(run(engine.replace, request.path_params["order_id"], body))

    async def delete_order(request: Request) -> Response:
        run(engine.cancel, request.path_params["order_id"])
        return Response(status_code=204)

    # --- positions ---------------------------------------------------------------------
    async def get_positions(request: Request) -> Response:
        return json(run(engine.positions_json))

    async def get_position(request: Request) -> Response:
        key = request.path_params["symbol_or_asset_id"]
        return json(run(lambda: engine.position_json(engine.get_position(key), engine.now())))

    async def delete_position(request: Request) -> Response:
        key = request.path_params["symbol_or_asset_id"]
        params = dict(request.query_params)
        qty = number(params, "qty")
        percentage = number(params, "percentage")
        return json(run(engine.close_position, key, qty, percentage))

    async def delete_positions(request: Request) -> Response:
        cancel = query_bool(request, "cancel_orders")
        return json(run(engine.close_all, cancel), status=207)

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

        return json(run(clock))

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

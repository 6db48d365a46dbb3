"""Alpaca's wire conventions: every JSON shape and every error the local exchange answers with.

Alpaca sends decimals as JSON strings (``"qty": "10"``), unset values as ``null``,
timestamps as RFC 3339, and errors as ``{"code": 40010001, "message": "..."}``. Keeping
the renderings (order, position, account, activity, trade update, asset) and the error
factories in one place is what lets alpaca-py's pydantic models parse every response
unchanged, and keeps one status convention across the routes:

==========================  ======  ========  ============================================
factory                     status  code      when (as Alpaca answers)
==========================  ======  ========  ============================================
``malformed_body``          400     40010000  the body is not JSON
``bad_request``             422     40010001  trading API: a field or parameter is invalid
``invalid_query``           400     40010001  market-data API: a query parameter is invalid
``unauthorized``            401     40110000  missing or wrong key headers
``forbidden``               403     40310000  buying power, available qty, wash trade ...
``not_found``               404     40410000  no such order, position, asset, route
``method_not_allowed``      405     40510000
``conflict``                409     40910000  the clock is not manual (admin route)
``unprocessable``           422     42210000  a rule refuses an otherwise valid request
``rate_limited``            429     42910000
``internal``                500     50010000  a bug (never a stack trace)
``unavailable``             503     50310000  a change the exchange could not persist
==========================  ======  ========  ============================================

The trading API answers invalid fields with 422 and the data API answers invalid query
parameters with 400, both with code 40010001: that is Alpaca's own split, kept per route.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from ..rules import rfc3339
from .ledger import MARGIN_MULTIPLIER, AccountNumbers
from .orders import Fill, Order, Position, TradeUpdate, asset_id

# Alpaca's error codes, by meaning (observed on the paper API).
CODE_MALFORMED = 40010000
CODE_BAD_REQUEST = 40010001
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_METHOD_NOT_ALLOWED = 40510000
CODE_CONFLICT = 40910000
CODE_UNPROCESSABLE = 42210000
CODE_RATE_LIMITED = 42910000
CODE_INTERNAL = 50010000
CODE_UNAVAILABLE = 50310000


class AlpacaError(Exception):
    """An error the exchange answers with an Alpaca-style body instead of a 500."""

    def __init__(
        self, status: int, code: int, message: str, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra  # Alpaca adds context to some errors, e.g. buying_power, cost_basis

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **(self.extra or {})}

    def response(self) -> Response:
        return json_response(self.body(), self.status)


# ------------------------------------------------------------------------------ errors
def malformed_body() -> AlpacaError:
    return AlpacaError(400, CODE_MALFORMED, "request body format is invalid")


def bad_request(message: str) -> AlpacaError:
    """Trading API: a field or parameter it cannot use (Alpaca: 422 with 40010001)."""
    return AlpacaError(422, CODE_BAD_REQUEST, message)


def invalid_query(message: str) -> AlpacaError:
    """Market-data API: a query parameter it cannot use (Alpaca: 400 with 40010001)."""
    return AlpacaError(400, CODE_BAD_REQUEST, message)


def unauthorized() -> AlpacaError:
    return AlpacaError(401, CODE_UNAUTHORIZED, "request is not authorized")


def forbidden(message: str, **extra: Any) -> AlpacaError:
    return AlpacaError(403, CODE_FORBIDDEN, message, extra=extra or None)


def not_found(message: str) -> AlpacaError:
    return AlpacaError(404, CODE_NOT_FOUND, message)


def method_not_allowed() -> AlpacaError:
    return AlpacaError(405, CODE_METHOD_NOT_ALLOWED, "method not allowed")


def conflict(message: str) -> AlpacaError:
    return AlpacaError(409, CODE_CONFLICT, message)


def unprocessable(message: str) -> AlpacaError:
    return AlpacaError(422, CODE_UNPROCESSABLE, message)


def rate_limited() -> AlpacaError:
    return AlpacaError(429, CODE_RATE_LIMITED, "rate limit exceeded")


def internal() -> AlpacaError:
    return AlpacaError(500, CODE_INTERNAL, "internal server error")


def unavailable(message: str) -> AlpacaError:
    return AlpacaError(503, CODE_UNAVAILABLE, message)


def insufficient_qty(
    symbol: str, requested: Decimal, existing: Decimal, held: Decimal, available: Decimal
) -> AlpacaError:
    """403 for selling (or covering) more than the position has free, with Alpaca's numbers."""
    available = max(available, Decimal(0))
    return forbidden(
        f"insufficient qty available for order (requested: {decimal_str(requested)}, "
        f"available: {decimal_str(available)})",
        symbol=symbol,
        existing_qty=decimal_str(existing),
        held_for_orders=decimal_str(held),
        available=decimal_str(available),
    )


def error_response(status: int, code: int, message: str) -> Response:
    return json_response({"code": code, "message": message}, status)


# ------------------------------------------------------------------------------ values
def decimal_str(value: Decimal | float | int | None) -> str | None:
    """A number as Alpaca writes it: a plain decimal string, no exponent, no trailing zeros."""
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def money(value: Decimal, places: int = 4) -> str | None:
    """An amount rounded to ``places`` (Alpaca's account and position figures)."""
    return decimal_str(value.quantize(Decimal(1).scaleb(-places)))


class FastJSON(Response):
    """JSON rendered by orjson (several times faster than the stdlib on order payloads)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(payload: Any, status: int = 200) -> FastJSON:
    return FastJSON(payload, status_code=status)


# ------------------------------------------------------------------------------ shapes
def order_json(order: Order, legs: list[Order] | None = None) -> dict[str, Any]:
    """The order as Alpaca's ``/v2/orders`` endpoints return it (``legs`` when nested)."""
    return {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": rfc3339(order.created_at),
        "updated_at": rfc3339(order.updated_at or order.created_at),
        "submitted_at": rfc3339(order.submitted_at or order.created_at),
        "filled_at": rfc3339(order.filled_at),
        "expired_at": rfc3339(order.expired_at),
        "expires_at": rfc3339(order.expires_at),
        "canceled_at": rfc3339(order.canceled_at),
        "failed_at": rfc3339(order.failed_at),
        "replaced_at": rfc3339(order.replaced_at),
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": asset_id(order.symbol),
        "symbol": order.symbol,
        "asset_class": "us_equity",
        "notional": decimal_str(order.notional),
        "qty": decimal_str(order.qty),
        "filled_qty": decimal_str(order.filled_qty),
        "filled_avg_price": decimal_str(order.filled_avg_price),
        "order_class": order.order_class,
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "position_intent": order.position_intent,
        "time_in_force": order.time_in_force,
        "limit_price": decimal_str(order.limit_price),
        "stop_price": decimal_str(order.stop_price),
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": None if legs is None else [order_json(leg) for leg in legs],
        "trail_percent": decimal_str(order.trail_percent),
        "trail_price": decimal_str(order.trail_price),
        "hwm": decimal_str(order.hwm),
        "subtag": None,
        "source": None,
    }


def position_json(
    position: Position,
    *,
    current: Decimal,
    lastday: Decimal,
    qty_available: Decimal,
    asset: dict[str, Any],
) -> dict[str, Any]:
    """``GET /v2/positions/{symbol}``: the position marked at ``current``, against ``lastday``."""
    market_value = position.qty * current
    cost = position.cost_basis
    unrealized = market_value - cost
    intraday = market_value - position.qty * lastday
    return {
        "asset_id": asset_id(position.symbol),
        "symbol": position.symbol,
        "exchange": asset.get("exchange", "NASDAQ"),
        "asset_class": "us_equity",
        "asset_marginable": bool(asset.get("marginable", True)),
        "qty": decimal_str(position.qty),
        "qty_available": decimal_str(qty_available),
        "avg_entry_price": money(position.avg_entry_price),
        "side": "long" if position.qty > 0 else "short",
        "market_value": money(market_value),
        "cost_basis": money(cost),
        "unrealized_pl": money(unrealized),
        "unrealized_plpc": money(unrealized / abs(cost), 10) if cost else "0",
        "unrealized_intraday_pl": money(intraday),
        "unrealized_intraday_plpc": (
            money(intraday / abs(position.qty * lastday), 10) if lastday else "0"
        ),
        "current_price": decimal_str(current),
        "lastday_price": decimal_str(lastday),
        "change_today": money((current - lastday) / lastday, 10) if lastday else "0",
    }


def account_json(
    *,
    account_id: str,
    account_number: str,
    created_at: dt.datetime,
    shorting_enabled: bool,
    cash: Decimal,
    numbers: AccountNumbers,
    last_equity: Decimal,
    balance_asof: dt.date,
) -> dict[str, Any]:
    """``GET /v2/account``: a margin account (multiplier 2), no options, no crypto."""
    n = numbers
    return {
        "id": account_id,
        "account_number": account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": money(n.buying_power),
        "regt_buying_power": money(n.buying_power),
        "non_marginable_buying_power": money(max(cash, Decimal(0))),
        "options_buying_power": "0",
        "cash": decimal_str(cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "portfolio_value": money(n.equity),
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": rfc3339(created_at),
        "trade_suspended_by_user": False,
        "multiplier": decimal_str(MARGIN_MULTIPLIER),
        "shorting_enabled": shorting_enabled,
        "equity": money(n.equity),
        "last_equity": money(last_equity),
        "long_market_value": money(n.long_market_value),
        "short_market_value": money(n.short_market_value),
        "position_market_value": money(n.long_market_value - n.short_market_value),
        "initial_margin": money(n.initial_margin),
        "maintenance_margin": money(n.maintenance_margin),
        "last_maintenance_margin": money(n.maintenance_margin),
        "sma": money(max(cash, Decimal(0))),
        "options_approved_level": 0,
        "options_trading_level": 0,
        "balance_asof": balance_asof.isoformat(),
    }


def activity_json(fill: Fill) -> dict[str, Any]:
    """A ``FILL`` entry of ``GET /v2/account/activities``."""
    return {
        "id": fill.id,
        "account_id": fill.account_id,
        "activity_type": "FILL",
        "transaction_time": rfc3339(fill.time),
        "type": "fill" if fill.leaves_qty == 0 else "partial_fill",
        "price": decimal_str(fill.price),
        "qty": decimal_str(fill.qty),
        "side": fill.side,
        "symbol": fill.symbol,
        "leaves_qty": decimal_str(fill.leaves_qty),
        "order_id": fill.order_id,
        "cum_qty": decimal_str(fill.cum_qty),
        "order_status": "filled" if fill.leaves_qty == 0 else "partially_filled",
    }


def trade_update_json(update: TradeUpdate) -> dict[str, Any]:
    """The ``data`` of a ``trade_updates`` stream message, as Alpaca sends it."""
    body: dict[str, Any] = {
        "event": update.event,
        "timestamp": rfc3339(update.timestamp),
        "order": order_json(update.order, list(update.legs) if update.order.leg_ids else None),
    }
    if update.execution_id is not None:
        body["execution_id"] = update.execution_id
        body["price"] = decimal_str(update.price)
        body["qty"] = decimal_str(update.qty)
        body["position_qty"] = decimal_str(update.position_qty)
    return body


def asset_json(asset: dict[str, Any]) -> dict[str, Any]:
    """A market's asset dict in Alpaca's ``/v2/assets`` shape."""
    fractionable = bool(asset.get("fractionable", True))
    return {
        "id": asset_id(asset["symbol"]),
        "class": "us_equity",
        "exchange": asset.get("exchange", "NASDAQ"),
        "symbol": asset["symbol"],
        "name": asset.get("name", asset["symbol"]),
        "status": asset.get("status", "active"),
        "tradable": bool(asset.get("tradable", True)),
        "marginable": bool(asset.get("marginable", True)),
        "maintenance_margin_requirement": 30,
        "margin_requirement_long": "30",
        "margin_requirement_short": "30",
        "shortable": bool(asset.get("shortable", True)),
        "easy_to_borrow": bool(asset.get("easy_to_borrow", True)),
        "fractionable": fractionable,
        "attributes": ["fractional_eh_enabled"] if fractionable else [],
    }

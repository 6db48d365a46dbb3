"""Parse and validate an order request body the way Alpaca's API does, before any state is read.

This module only checks the shape of a request (fields, types, increments, class rules);
rules that need the account or the market (buying power, available qty, asset flags,
bracket prices against the base price) live in ``checks.py``. Keeping them apart lets the
shape rules be tested as a table without an exchange. Its errors come from ``wire.py``.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal, DecimalException
from typing import Any

from ..rules import on_tick
from .wire import bad_request, unprocessable

SIDES = ("buy", "sell")
TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIFS = ("day", "gtc", "opg", "cls", "ioc", "fok")
CLASSES = ("", "simple", "bracket", "oco", "oto")
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")

_ORDER_FIELDS = frozenset(
    {
        "symbol",
        "qty",
        "notional",
        "side",
        "type",
        "order_type",
        "time_in_force",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "extended_hours",
        "client_order_id",
        "order_class",
        "take_profit",
        "stop_loss",
        "position_intent",
        "legs",
    }
)
_REPLACE_FIELDS = frozenset(
    {"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"}
)
MAX_CLIENT_ORDER_ID = 128
#: Every quantity, price and amount is below this. A trillion is beyond any real order, and
#: it keeps qty x price within Decimal's 28 digits at four places, so no later arithmetic
#: (costs, averages, buying power) can overflow into a raw ``decimal.InvalidOperation``.
MAX_NUMBER = Decimal(10) ** 12
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclasses.dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None
    order_class: str = ""
    take_profit_limit: Decimal | None = None
    stop_loss_stop: Decimal | None = None
    stop_loss_limit: Decimal | None = None
    position_intent: str | None = None

    @property
    def fractional(self) -> bool:
        return self.notional is not None or (
            self.qty is not None and self.qty != self.qty.to_integral_value()
        )


@dataclasses.dataclass(frozen=True)
class ReplaceRequest:
    qty: Decimal | None = None
    time_in_force: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    client_order_id: str | None = None


def number(body: dict[str, Any], name: str, label: str | None = None) -> Decimal | None:
    """A decimal field sent as a JSON number or string; ``None`` when absent or null."""
    value = body.get(name)
    label = label or name
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise bad_request(f"invalid {label}")
    text = str(value).strip()
    if not _NUMBER.match(text):  # no NaN, Infinity or "1_000", which Decimal would accept
        raise bad_request(f"invalid {label}")
    try:
        result = Decimal(text)
    except DecimalException:  # an exponent beyond Decimal's range
        raise bad_request(
            f"invalid {label}: {value} is out of range (must be below 1e12)"
        ) from None
    if result.copy_abs() >= MAX_NUMBER:  # copy_abs: no context, so no Overflow either
        raise bad_request(f"invalid {label}: {value} is out of range (must be below 1e12)")
    return result


def check_price(value: Decimal | None, label: str) -> None:
    """Alpaca's minimum pricing: cents at or above $1, four places below."""
    if value is None:
        return
    if value <= 0:
        raise unprocessable(f"{label} must be > 0")
    if not on_tick(value):
        raise unprocessable(
            f"invalid {label} {value}. sub-penny increment does not fulfill minimum pricing criteria"
        )


def _choice(
    body: dict[str, Any], name: str, choices: tuple[str, ...], required: bool
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required")
        return None
    if not isinstance(value, str) or value.lower() not in choices:
        raise bad_request(f"invalid {name}")
    return value.lower()


def _nested(body: dict[str, Any], name: str, allowed: frozenset[str]) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(f"invalid {name}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise bad_request(f'unknown field "{name}.{unknown[0]}"')
    return value


def _client_order_id(body: dict[str, Any]) -> str | None:
    value = body.get("client_order_id")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request("invalid client_order_id")
    if len(value) > MAX_CLIENT_ORDER_ID:
        raise bad_request("client_order_id must be no more than 128 characters")
    return value


def parse_order(body: Any) -> OrderRequest:
    """Validate a ``POST /v2/orders`` body; raise ``AlpacaError`` with Alpaca's code and message."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    unknown = sorted(set(body) - _ORDER_FIELDS)
    if unknown:
        raise bad_request(f'unknown field "{unknown[0]}"')
    if body.get("legs"):
        raise unprocessable("multi-leg (mleg) option orders are not supported")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise bad_request("symbol is required")
    side = _choice(body, "side", SIDES, required=True)
    order_type = _choice(body, "type", TYPES, required=False) or _choice(
        body, "order_type", TYPES, required=False
    )
    if order_type is None:
        raise bad_request("type is required")
    tif = _choice(body, "time_in_force", TIFS, required=True)
    order_class = _choice(body, "order_class", CLASSES, required=False) or ""
    if order_class == "simple":
        order_class = ""
    intent = _choice(body, "position_intent", INTENTS, required=False)
    extended = body.get("extended_hours", False)
    if extended is None:
        extended = False
    if not isinstance(extended, bool):
        raise bad_request("invalid extended_hours")

    qty = number(body, "qty")
    notional = number(body, "notional")
    if qty is None and notional is None:
        raise bad_request("qty or notional is required")
    if qty is not None and notional is not None:
        raise bad_request("only one of qty or notional can be specified")
    if qty is not None and qty <= 0:
        raise bad_request("qty must be > 0")
    if notional is not None and notional <= 0:
        raise bad_request("notional must be > 0")
    if notional is not None and notional != notional.quantize(Decimal("0.01")):
        raise bad_request("notional must be limited to 2 decimal places")
    if qty is not None and qty != qty.quantize(Decimal("1e-9")):
        raise bad_request("qty must be limited to 9 decimal places")

    limit_price = number(body, "limit_price")
    stop_price = number(body, "stop_price")
    trail_price = number(body, "trail_price")
    trail_percent = number(body, "trail_percent")
    take_profit = _nested(body, "take_profit", frozenset({"limit_price"}))
    stop_loss = _nested(body, "stop_loss", frozenset({"stop_price", "limit_price"}))
    tp_limit = (
        number(take_profit, "limit_price", "take_profit.limit_price") if take_profit else None
    )
    sl_stop = number(stop_loss, "stop_price", "stop_loss.stop_price") if stop_loss else None
    sl_limit = number(stop_loss, "limit_price", "stop_loss.limit_price") if stop_loss else None

    if order_class == "oco" and limit_price is None:
        limit_price = tp_limit
    if order_type in ("limit", "stop_limit") and limit_price is None:
        raise bad_request(f"limit_price is required for {order_type} orders")
    if order_type in ("stop", "stop_limit") and stop_price is None:
        raise bad_request(f"stop_price is required for {order_type} orders")
    if order_type in ("market", "stop", "trailing_stop") and limit_price is not None:
        raise unprocessable(f"limit_price is not allowed for {order_type} orders")
    if order_type in ("market", "limit", "trailing_stop") and stop_price is not None:
        raise unprocessable(f"stop_price is not allowed for {order_type} orders")
    if order_type == "trailing_stop":
        if (trail_price is None) == (trail_percent is None):
            raise bad_request("exactly one of trail_price or trail_percent is required")
        if trail_price is not None:
            check_price(trail_price, "trail_price")
        if trail_percent is not None and not (0 < trail_percent < 100):
            raise unprocessable("trail_percent must be > 0 and < 100")
        if tif not in ("day", "gtc"):
            raise unprocessable("trailing stop orders must be DAY or GTC orders")
    elif trail_price is not None or trail_percent is not None:
        raise unprocessable(
            f"trail_price and trail_percent are not allowed for {order_type} orders"
        )

    for value, label in (
        (limit_price, "limit_price"),
        (stop_price, "stop_price"),
        (tp_limit, "take_profit.limit_price"),
        (sl_stop, "stop_loss.stop_price"),
        (sl_limit, "stop_loss.limit_price"),
    ):
        check_price(value, label)

    fractional = notional is not None or (qty is not None and qty != qty.to_integral_value())
    if fractional:
        if tif != "day":
            raise unprocessable("fractional orders must be DAY orders")
        if order_class:
            raise unprocessable("fractional orders must be simple orders")
        if order_type == "trailing_stop":
            raise unprocessable("fractional orders are not supported for trailing_stop orders")
    if notional is not None and order_type != "market":
        raise unprocessable("notional orders must be market orders")
    if extended and order_type != "limit":
        raise bad_request('only type="limit" is allowed for extended hours orders')
    if extended and tif != "day":
        raise bad_request('only time_in_force="day" is allowed for extended hours orders')
    if extended and order_class == "bracket":
        raise unprocessable("extended hours are not supported for bracket orders")
    if tif in ("opg", "cls") and order_type not in ("market", "limit"):
        raise unprocessable(f"{tif} orders must be market or limit orders")

    _check_class(order_class, order_type, tif, take_profit, stop_loss, tp_limit, sl_stop)
    return OrderRequest(
        symbol=symbol.strip().upper(),
        side=side or "buy",
        type=order_type,
        time_in_force=tif or "day",
        qty=qty,
        notional=notional,
        limit_price=limit_price,
        stop_price=stop_price,
        trail_price=trail_price,
        trail_percent=trail_percent,
        extended_hours=extended,
        client_order_id=_client_order_id(body),
        order_class=order_class,
        take_profit_limit=tp_limit,
        stop_loss_stop=sl_stop,
        stop_loss_limit=sl_limit,
        position_intent=intent,
    )


def _check_class(
    order_class: str,
    order_type: str,
    tif: str | None,
    take_profit: dict[str, Any] | None,
    stop_loss: dict[str, Any] | None,
    tp_limit: Decimal | None,
    sl_stop: Decimal | None,
) -> None:
    if not order_class:
        if take_profit is not None or stop_loss is not None:
            raise unprocessable("take_profit and stop_loss require order_class bracket, oco or oto")
        return
    if tif not in ("day", "gtc"):
        raise unprocessable(f"{order_class} orders must be DAY or GTC orders")
    if order_class == "bracket":
        if tp_limit is None:
            raise bad_request("bracket orders require take_profit.limit_price")
        if sl_stop is None:
            raise bad_request("bracket orders require stop_loss.stop_price")
        if order_type not in ("market", "limit", "stop", "stop_limit"):
            raise unprocessable("bracket orders must be market, limit, stop or stop_limit orders")
    elif order_class == "oco":
        if tp_limit is None:
            raise bad_request("oco orders require take_profit.limit_price")
        if sl_stop is None:
            raise bad_request("oco orders require stop_loss.stop_price")
        if order_type != "limit":
            raise unprocessable("oco orders must be limit orders")
    elif order_class == "oto":
        if (tp_limit is None) == (sl_stop is None):
            raise bad_request("oto orders require exactly one of take_profit or stop_loss")
        if order_type not in ("market", "limit", "stop", "stop_limit"):
            raise unprocessable("oto orders must be market, limit, stop or stop_limit orders")


def parse_replace(body: Any) -> ReplaceRequest:
    """Validate a ``PATCH /v2/orders/{id}`` body."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    unknown = sorted(set(body) - _REPLACE_FIELDS)
    if unknown:
        raise bad_request(f'unknown field "{unknown[0]}"')
    qty = number(body, "qty")
    if qty is not None and qty <= 0:
        raise bad_request("qty must be > 0")
    limit_price = number(body, "limit_price")
    stop_price = number(body, "stop_price")
    check_price(limit_price, "limit_price")
    check_price(stop_price, "stop_price")
    trail = number(body, "trail")
    if trail is not None and trail <= 0:
        raise bad_request("trail must be > 0")
    return ReplaceRequest(
        qty=qty,
        time_in_force=_choice(body, "time_in_force", TIFS, required=False),
        limit_price=limit_price,
        stop_price=stop_price,
        trail=trail,
        client_order_id=_client_order_id(body),
    )

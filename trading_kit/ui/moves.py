"""Moving an open order's price from the chart: snap to the tick, then validate locally.

A dragged line lands on an arbitrary float. It is rounded to Alpaca's tick first (a
drag is imprecise, so that is not an error), then the order *as it would be after the
move* is run through ``OrderSpec``: the same rules the ticket and the executor use, so
a move the broker would refuse is refused here, with our message, before any request.
A bracket leg is also checked against its sibling and entry (take profit above the stop
loss for a long, and so on).

A move can also turn a resting order into one that trades at once: a buy limit at or
above the ask, a sell limit at or below the bid, a stop the market is already through.
:func:`marketable` says so (and why), so the chart asks before sending such a move.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pandas as pd

from ..errors import OrderValidationError
from ..orders.spec import OrderSpec
from ..rules import to_tick
from .overlays import parent_of, price_text


def snap_to_tick(price: float) -> Decimal:
    """``price`` rounded to Alpaca's tick: $0.01 at or above $1, $0.0001 below."""
    if not math.isfinite(price):
        raise OrderValidationError(f"the new price {price!r} is not a number.", field=None)
    return to_tick(price)


def _value(row: pd.Series, name: str) -> Any:
    value = row.get(name)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # numpy scalars too
        return float(value)
    return value


def _simple_spec(row: pd.Series, **changes: Any) -> dict[str, Any]:
    fields = {
        "symbol": row["symbol"],
        "side": row["side"],
        "type": row["type"],
        "time_in_force": row["time_in_force"],
        "extended_hours": bool(row.get("extended_hours", False)),
    }
    for name in ("qty", "notional", "limit_price", "stop_price", "trail_price", "trail_percent"):
        fields[name] = _value(row, name)
    if fields["qty"] is not None:
        fields["notional"] = None
    fields.update(changes)
    return fields


def check_move(orders: pd.DataFrame, order_id: str, field: str, price: float) -> Decimal:
    """The validated new ``field`` price of ``order_id``; ``OrderValidationError`` if refused."""
    new = snap_to_tick(price)
    row = orders.loc[order_id]
    OrderSpec.from_dict(_simple_spec(row, **{field: new}))
    parent_id = parent_of(orders, order_id)
    if parent_id is not None and parent_id in orders.index:
        _check_legs(orders, orders.loc[parent_id], order_id, field, new)
    return new


def _check_legs(
    orders: pd.DataFrame, parent: pd.Series, moved_id: str, field: str, new: Decimal
) -> None:
    """The parent's class rules with the moved leg's new price in place."""
    legs = {leg_id: orders.loc[leg_id] for leg_id in parent["legs"] or () if leg_id in orders.index}
    spec: dict[str, Any] = _simple_spec(parent, order_class=parent["order_class"])
    if parent["status"] in ("filled", "partially_filled"):
        # The entry has traded: only the exits' order relative to each other still matters.
        spec.update(type="market", limit_price=None, stop_price=None)
    for leg_id, leg in legs.items():
        moved = {field: new} if leg_id == moved_id else {}
        if leg["type"] == "limit":
            spec["take_profit_limit_price"] = moved.get("limit_price", _value(leg, "limit_price"))
        elif leg["type"] in ("stop", "stop_limit"):
            spec["stop_loss_stop_price"] = moved.get("stop_price", _value(leg, "stop_price"))
            if leg["type"] == "stop_limit":
                spec["stop_loss_limit_price"] = moved.get("limit_price", _value(leg, "limit_price"))
    if spec["order_class"] == "oco":  # the parent is itself the take-profit limit
        spec["take_profit_limit_price"] = _value(parent, "limit_price")
        spec["limit_price"] = None
    OrderSpec.from_dict(spec)


def marketable(
    order_type: str, side: str, field: str, price: float, bid: float | None, ask: float | None
) -> str | None:
    """Why an order moved to ``price`` would trade at once, or ``None`` if it would rest.

    A stop-limit's limit only matters once its stop has triggered, so moving it never
    makes the order trade by itself.
    """
    buy = side == "buy"
    if field == "limit_price" and order_type == "limit":
        if buy and ask is not None and price >= ask:
            return f"a buy limit at {price_text(price)} is at or above the ask {price_text(ask)}"
        if not buy and bid is not None and price <= bid:
            return f"a sell limit at {price_text(price)} is at or below the bid {price_text(bid)}"
    if field == "stop_price" and order_type in ("stop", "stop_limit"):
        if buy and ask is not None and price <= ask:
            return (
                f"a buy stop at {price_text(price)} is at or below the ask {price_text(ask)}: "
                "it would trigger now"
            )
        if not buy and bid is not None and price >= bid:
            return (
                f"a sell stop at {price_text(price)} is at or above the bid {price_text(bid)}: "
                "it would trigger now"
            )
    return None

"""What the chart draws over the candles, read from the orders and positions frames.

Pure functions of DataFrames (the column contracts of ``trading_kit.orders.frames``),
so the overlays for a known set of orders are tested without a chart or a server:
open limit / stop levels (one ``Level`` per price an order rests at), fills (one
``Fill`` per order that traded) and the position's average entry price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

#: Statuses whose resting price can be moved with a replace (Alpaca refuses held legs).
MOVABLE_STATUSES = frozenset({"new", "accepted", "partially_filled"})
FILLED_STATUSES = frozenset({"filled", "partially_filled"})
_SHORT_TYPE = {
    "market": "MKT",
    "limit": "LMT",
    "stop": "STP",
    "stop_limit": "STP LMT",
    "trailing_stop": "TRAIL",
}


@dataclass(frozen=True)
class Level:
    """A horizontal price line: an open order's limit or stop, or the average entry."""

    price: float
    kind: str  # "limit", "stop" or "entry"
    label: str
    side: str  # "buy" / "sell" for orders, "long" / "short" for the entry
    order_id: str | None = None
    field: str | None = None  # "limit_price" / "stop_price": what a drag replaces
    editable: bool = False

    @property
    def key(self) -> str:
        """Which line this is, across redraws: the order and the price field it draws."""
        return f"{self.order_id}:{self.field}" if self.order_id else f"entry:{self.side}"

    def moved(self, price: float, order_id: str | None = None) -> Level:
        """This level at ``price`` (and the id of the order that replaced the old one)."""
        return replace(
            self,
            price=price,
            order_id=order_id or self.order_id,
            label=relabel(self.label, price),
        )


@dataclass(frozen=True)
class Fill:
    """An order's (average) fill: when, at what price, how much, which way."""

    time: pd.Timestamp
    price: float
    qty: float
    side: str
    order_id: str


def price_text(price: float) -> str:
    """A price as traders write it: cents at or above $1, four decimals below."""
    return f"{price:,.2f}" if abs(price) >= 1 else f"{price:.4f}"


def relabel(label: str, price: float) -> str:
    """Replace the price at the end of a label (``"BUY 10 LMT 150.00"``)."""
    head, _, _ = label.rpartition(" ")
    return f"{head} {price_text(price)}"


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _size(row: pd.Series) -> str:
    if _present(row.get("qty")):
        return f"{row['qty']:g}"
    if _present(row.get("notional")):
        return f"${row['notional']:,.2f}"
    return ""


def order_levels(orders: pd.DataFrame, symbol: str) -> list[Level]:
    """The limit and stop prices of ``symbol``'s open orders, one level per price."""
    levels: list[Level] = []
    if orders.empty:
        return levels
    mine = orders[orders["symbol"] == symbol]
    for order_id, row in mine.iterrows():
        head = (
            f"{str(row['side']).upper()} {_size(row)} {_SHORT_TYPE.get(row['type'], row['type'])}"
        )
        movable = row["status"] in MOVABLE_STATUSES and row["type"] != "trailing_stop"
        both = row["type"] == "stop_limit"
        for field, kind in (("limit_price", "limit"), ("stop_price", "stop")):
            price = row.get(field)
            if not _present(price):
                continue
            suffix = f" {kind}" if both else ""
            levels.append(
                Level(
                    price=float(price),
                    kind=kind,
                    label=f"{head}{suffix} {price_text(float(price))}",
                    side=str(row["side"]),
                    order_id=str(order_id),
                    field=field,
                    editable=movable,
                )
            )
    return levels


def fills(orders: pd.DataFrame, symbol: str) -> list[Fill]:
    """``symbol``'s orders that traded, at their average fill price, oldest first."""
    if orders.empty:
        return []
    mine = orders[
        (orders["symbol"] == symbol)
        & orders["status"].isin(FILLED_STATUSES)
        & orders["filled_at"].notna()
        & orders["filled_avg_price"].notna()
    ].sort_values("filled_at")
    return [
        Fill(
            time=row["filled_at"],
            price=float(row["filled_avg_price"]),
            qty=float(row["filled_qty"]),
            side=str(row["side"]),
            order_id=str(order_id),
        )
        for order_id, row in mine.iterrows()
    ]


def entry_level(positions: pd.DataFrame, symbol: str) -> Level | None:
    """The position's average entry price, or ``None`` when flat."""
    if positions.empty or symbol not in positions.index:
        return None
    row = positions.loc[symbol]
    price = float(row["avg_entry_price"])
    if not _present(price) or not row["qty"]:
        return None
    side = (
        str(row["side"]) if _present(row.get("side")) else ("long" if row["qty"] > 0 else "short")
    )
    label = f"{side.upper()} {abs(float(row['qty'])):g} avg {price_text(price)}"
    return Level(price=price, kind="entry", label=label, side=side)


def parent_of(orders: pd.DataFrame, order_id: str) -> str | None:
    """The id of the bracket / oco / oto order whose ``legs`` include ``order_id``."""
    if orders.empty or "legs" not in orders:
        return None
    for parent_id, legs in orders["legs"].items():
        if isinstance(legs, (list, tuple)) and order_id in legs:
            return str(parent_id)
    return None

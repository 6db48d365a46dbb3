"""Orders and positions as the engine holds them, and their Alpaca JSON shapes.

Quantities and money are ``Decimal`` so that the account arithmetic is exact (the
conservation property test relies on it); market prices arrive as floats and are
converted once, at the fill.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pandas as pd

from ..rules import rfc3339
from .wire import decimal_str

#: Statuses from which an order can still trade or be canceled.
OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "partially_filled",
        "held",
        "pending_new",
        "pending_cancel",
        "pending_replace",
    }
)
#: Terminal statuses.
CLOSED_STATUSES = frozenset(
    {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}
)

_ASSET_NAMESPACE = uuid.UUID("6f1f5c1e-9d59-4b43-9b43-2a5f0e1d8c11")


def asset_id(symbol: str) -> str:
    """A stable asset id per symbol, the same on every machine and after a restart."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A market float as a Decimal at its printed precision (cents, or 4 places below $1)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(round(value, 4)))
    return Decimal(value)


@dataclasses.dataclass
class Order:
    """One order, including its internal matching state (``triggered``, ``parent_id``)."""

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    created_at: dt.datetime
    qty: Decimal | None = None
    notional: Decimal | None = None
    order_class: str = ""
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    hwm: Decimal | None = None
    extended_hours: bool = False
    status: str = "accepted"
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    updated_at: dt.datetime | None = None
    submitted_at: dt.datetime | None = None
    filled_at: dt.datetime | None = None
    expired_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    canceled_at: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    replaced_at: dt.datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    position_intent: str | None = None
    parent_id: str | None = None
    leg_ids: list[str] = dataclasses.field(default_factory=list)
    triggered: bool = False  # stop-limit: stop reached, now a resting limit
    since: dt.datetime | None = None  # market data strictly after this time can still fill it
    hold_price: Decimal | None = None  # price per share that an open buy holds of buying power

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_qty(self) -> Decimal:
        return (self.qty or Decimal(0)) - self.filled_qty

    def touch(self, now: dt.datetime) -> None:
        self.updated_at = now

    # --- persistence -------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Every field, JSON-serialisable, for the store."""
        state: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                value = {"d": str(value)}
            elif isinstance(value, dt.datetime):
                value = {"t": value.isoformat()}
            state[field.name] = value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Order:
        values: dict[str, Any] = {}
        for name, value in state.items():
            if isinstance(value, dict) and "d" in value:
                value = Decimal(value["d"])
            elif isinstance(value, dict) and "t" in value:
                value = pd.Timestamp(value["t"])
            values[name] = value
        return cls(**values)

    # --- wire --------------------------------------------------------------------------
    def to_json(self, legs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The order as Alpaca's ``/v2/orders`` endpoints return it."""
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at or self.created_at),
            "submitted_at": rfc3339(self.submitted_at or self.created_at),
            "filled_at": rfc3339(self.filled_at),
            "expired_at": rfc3339(self.expired_at),
            "expires_at": rfc3339(self.expires_at),
            "canceled_at": rfc3339(self.canceled_at),
            "failed_at": rfc3339(self.failed_at),
            "replaced_at": rfc3339(self.replaced_at),
            "replaced_by": self.replaced_by,
            "replaces": self.replaces,
            "asset_id": asset_id(self.symbol),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": decimal_str(self.notional),
            "qty": decimal_str(self.qty),
            "filled_qty": decimal_str(self.filled_qty),
            "filled_avg_price": decimal_str(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent,
            "time_in_force": self.time_in_force,
            "limit_price": decimal_str(self.limit_price),
            "stop_price": decimal_str(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": legs,
            "trail_percent": decimal_str(self.trail_percent),
            "trail_price": decimal_str(self.trail_price),
            "hwm": decimal_str(self.hwm),
            "subtag": None,
            "source": None,
        }


@dataclasses.dataclass
class Position:
    """A net position: positive qty long, negative short; ``cost_basis`` is signed too."""

    symbol: str
    qty: Decimal = Decimal(0)
    cost_basis: Decimal = Decimal(0)

    @property
    def avg_entry_price(self) -> Decimal:
        if self.qty == 0:
            return Decimal(0)
        return self.cost_basis / self.qty

    def apply_fill(self, side: str, qty: Decimal, price: Decimal) -> None:
        """Update qty and cost basis; reducing a position releases cost at the average price."""
        signed = qty if side == "buy" else -qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            self.cost_basis += signed * price
            self.qty += signed
            return
        if abs(signed) <= abs(self.qty):
            remaining = self.qty + signed
            self.cost_basis = self.cost_basis * remaining / self.qty if self.qty else Decimal(0)
            self.qty = remaining
            return
        # flips side: the remainder opens a new position at the fill price
        remaining = self.qty + signed
        self.qty = remaining
        self.cost_basis = remaining * price

    def to_state(self) -> dict[str, str]:
        return {"symbol": self.symbol, "qty": str(self.qty), "cost_basis": str(self.cost_basis)}

    @classmethod
    def from_state(cls, state: dict[str, str]) -> Position:
        return cls(state["symbol"], Decimal(state["qty"]), Decimal(state["cost_basis"]))

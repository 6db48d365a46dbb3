"""The exchange's records: orders, positions, fills, and the trade updates they emit.

Quantities and money are ``Decimal`` so that the account arithmetic is exact (the
conservation property test relies on it); market prices arrive as floats and are
converted once, at the fill. How these look on the wire is ``wire.py``'s business.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from decimal import Decimal
from typing import Any

import pandas as pd

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
#: Statuses in which an order is working at the exchange (it can fill or trigger).
LIVE_STATUSES = frozenset({"accepted", "new", "partially_filled"})
#: Terminal statuses.
CLOSED_STATUSES = frozenset(
    {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}
)

_ASSET_NAMESPACE = uuid.UUID("6f1f5c1e-9d59-4b43-9b43-2a5f0e1d8c11")


@functools.lru_cache(maxsize=16_384)
def asset_id(symbol: str) -> str:
    """A stable asset id per symbol, the same on every machine and after a restart
    (remembered: every order and position shown carries it)."""
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
    released: bool = False  # a bracket's stop loss: live for matching while it shows "held"
    since: dt.datetime | None = None  # market data strictly after this time can still fill it
    hold_price: Decimal | None = None  # price per share that an open buy holds of buying power

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def live(self) -> bool:
        """Can trade now: working, or a released stop-loss leg that still shows ``held``."""
        return self.status in LIVE_STATUSES or (self.status == "held" and self.released)

    @property
    def leaves_qty(self) -> Decimal:
        return (self.qty or Decimal(0)) - self.filled_qty

    def snapshot(self) -> Order:
        """A copy that later changes to this order do not reach (for trade updates)."""
        return dataclasses.replace(self, leg_ids=list(self.leg_ids))

    # --- persistence -------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Every field, JSON-serialisable, for the store (written at every change)."""
        state: dict[str, Any] = {}
        for name in _ORDER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, Decimal):
                value = {"d": str(value)}
            elif isinstance(value, dt.datetime):
                value = {"t": _isoformat(value)}
            state[name] = value
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


_ORDER_FIELDS = tuple(field.name for field in dataclasses.fields(Order))


@functools.lru_cache(maxsize=4096)
def _isoformat(value: dt.datetime) -> str:
    """Remembered: an order's times repeat across its fields and its changes."""
    return value.isoformat()


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


@dataclasses.dataclass(frozen=True)
class Fill:
    """One execution: a ``FILL`` account activity and a trade update's ``execution_id``."""

    id: str  # "<yyyymmddhhmmssfff>::<execution_id>", ordered by time then by execution
    account_id: str
    order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    time: pd.Timestamp
    leaves_qty: Decimal
    cum_qty: Decimal

    @property
    def execution_id(self) -> str:
        return self.id.split("::", 1)[1]

    def to_state(self) -> dict[str, str]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "order_id": self.order_id,
            "symbol": self.symbol,
            "side": self.side,
            "qty": str(self.qty),
            "price": str(self.price),
            "transaction_time": self.time.isoformat(),
            "leaves_qty": str(self.leaves_qty),
            "cum_qty": str(self.cum_qty),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Fill:
        """Also reads the activity bodies (Alpaca JSON) that earlier versions stored."""
        return cls(
            id=state["id"],
            account_id=state["account_id"],
            order_id=state["order_id"],
            symbol=state["symbol"],
            side=state["side"],
            qty=Decimal(state["qty"]),
            price=Decimal(state["price"]),
            time=pd.Timestamp(state["transaction_time"]),
            leaves_qty=Decimal(state["leaves_qty"]),
            cum_qty=Decimal(state["cum_qty"]),
        )


@dataclasses.dataclass(frozen=True)
class TradeUpdate:
    """An order event as Alpaca's ``trade_updates`` stream carries it.

    ``order`` (and its ``legs``) are snapshots taken when the event happened, so the last
    update of an order shows what ``GET /v2/orders/{id}`` shows. ``execution_id``, ``price``,
    ``qty`` and ``position_qty`` are set on ``fill`` and ``partial_fill`` only.
    """

    event: str  # accepted new fill partial_fill canceled expired replaced rejected ...
    order: Order
    timestamp: pd.Timestamp
    legs: tuple[Order, ...] = ()
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None

"""Orders, positions, account and activities from Alpaca JSON to typed Python and pandas.

The column lists below are a contract: the blotter and the price chart read them, so
their order is fixed, timestamps are tz-aware UTC, prices and quantities are floats,
and an empty result is an empty frame with the same columns and dtypes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..rules import to_utc

Record = Mapping[str, Any]

ORDER_FLOATS = (
    "qty",
    "notional",
    "filled_qty",
    "filled_avg_price",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "hwm",
)
ORDER_TIMES = ("created_at", "submitted_at", "filled_at", "canceled_at", "expired_at")
ORDER_COLUMNS = (
    "client_order_id",
    "symbol",
    "side",
    "type",
    "order_class",
    "qty",
    "notional",
    "filled_qty",
    "filled_avg_price",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "hwm",
    "time_in_force",
    "extended_hours",
    "status",
    "created_at",
    "submitted_at",
    "filled_at",
    "canceled_at",
    "expired_at",
    "replaced_by",
    "replaces",
    "legs",
)
POSITION_COLUMNS = (
    "qty",
    "side",
    "avg_entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "change_today",
    "qty_available",
)
ACCOUNT_FIELDS = (
    "equity",
    "cash",
    "buying_power",
    "long_market_value",
    "short_market_value",
    "portfolio_value",
    "last_equity",
    "day_pl",
    "status",
)
ACTIVITY_COLUMNS = (
    "activity_type",
    "transaction_time",
    "type",
    "symbol",
    "side",
    "qty",
    "price",
    "cum_qty",
    "leaves_qty",
    "order_id",
    "order_status",
)
ACTIVITY_FLOATS = ("qty", "price", "cum_qty", "leaves_qty")
ACTIVITY_TIMES = ("transaction_time",)


def number(value: Any) -> float:
    """Alpaca's decimal strings (or null) as a float (NaN)."""
    if value is None or value == "":
        return float("nan")
    return float(value)


def timestamp(value: Any) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return _timestamp_of_text(value)
    return to_utc(value)


@functools.lru_cache(maxsize=4096)
def _timestamp_of_text(text: str) -> pd.Timestamp:
    """Remembered: an order's times repeat across its fields (created, submitted,
    updated, filled at one instant) and across the answers that show it."""
    return to_utc(text)


def order_class_name(value: Any) -> str:
    """Alpaca writes a simple order's class as ``""``; we write ``"simple"``."""
    return str(value) if value else "simple"


def flatten_orders(records: Iterable[Record]) -> list[Record]:
    """Parents followed by their nested legs, each order once."""
    seen: set[str] = set()
    rows: list[Record] = []
    for record in records:
        for row in (record, *(record.get("legs") or ())):
            if row["id"] not in seen:
                seen.add(row["id"])
                rows.append(row)
    return rows


def orders_frame(records: Iterable[Record]) -> pd.DataFrame:
    """Orders indexed by ``id`` with ``ORDER_COLUMNS``; nested legs become rows too."""
    rows = flatten_orders(records)
    data: dict[str, Any] = {}
    for name in ORDER_COLUMNS:
        if name in ORDER_FLOATS:
            data[name] = np.array([number(r.get(name)) for r in rows], dtype="float64")
        elif name in ORDER_TIMES:
            data[name] = _times([r.get(name) for r in rows])
        elif name == "extended_hours":
            data[name] = np.array([bool(r.get(name)) for r in rows], dtype=bool)
        elif name == "legs":
            data[name] = _objects([[leg["id"] for leg in r.get("legs") or ()] for r in rows])
        elif name == "order_class":
            data[name] = text([order_class_name(r.get(name)) for r in rows])
        elif name == "type":
            data[name] = text([r.get("type") or r.get("order_type") for r in rows])
        else:
            data[name] = text([r.get(name) for r in rows])
    index = pd.Index([r["id"] for r in rows], name="id", dtype="str")
    return pd.DataFrame(data, index=index, columns=list(ORDER_COLUMNS))


def positions_frame(records: Sequence[Record]) -> pd.DataFrame:
    """Positions indexed by ``symbol`` with ``POSITION_COLUMNS`` (floats; ``side`` text)."""
    rows = sorted(records, key=lambda r: r["symbol"])
    data = {
        name: text([r.get(name) for r in rows])
        if name == "side"
        else np.array([number(r.get(name)) for r in rows], dtype="float64")
        for name in POSITION_COLUMNS
    }
    index = pd.Index([r["symbol"] for r in rows], name="symbol", dtype="str")
    return pd.DataFrame(data, index=index, columns=list(POSITION_COLUMNS))


def activities_frame(records: Sequence[Record]) -> pd.DataFrame:
    """Account activities (fills) indexed by ``id``, oldest first."""
    rows = sorted(records, key=lambda r: str(r.get("transaction_time") or r.get("date") or ""))
    data: dict[str, Any] = {}
    for name in ACTIVITY_COLUMNS:
        if name in ACTIVITY_FLOATS:
            data[name] = np.array([number(r.get(name)) for r in rows], dtype="float64")
        elif name in ACTIVITY_TIMES:
            data[name] = _times([r.get(name) or r.get("date") for r in rows])
        else:
            data[name] = text([r.get(name) for r in rows])
    index = pd.Index([r.get("id") for r in rows], name="id", dtype="str")
    return pd.DataFrame(data, index=index, columns=list(ACTIVITY_COLUMNS))


def text(values: list[Any]) -> Any:
    """A text column in pandas' string dtype (missing values are NaN), empty or not."""
    return pd.array(values, dtype="str")


def _objects(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _times(values: list[Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([timestamp(v) or pd.NaT for v in values], dtype="datetime64[ns, UTC]")


# -- typed objects ----------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """One order as the broker last reported it; ``raw`` keeps Alpaca's full JSON.

    Numbers are floats (NaN when unset) and times tz-aware UTC, as in the frame;
    ``legs`` holds the child orders of a bracket, oco or oto order. ``series`` and
    ``frame`` are the same data as a row of :func:`orders_frame`.
    """

    id: str
    client_order_id: str
    symbol: str
    side: str
    type: str
    order_class: str
    qty: float
    notional: float
    filled_qty: float
    filled_avg_price: float
    limit_price: float
    stop_price: float
    trail_price: float
    trail_percent: float
    hwm: float
    time_in_force: str
    extended_hours: bool
    status: str
    created_at: pd.Timestamp | None
    submitted_at: pd.Timestamp | None
    filled_at: pd.Timestamp | None
    canceled_at: pd.Timestamp | None
    expired_at: pd.Timestamp | None
    replaced_by: str | None
    replaces: str | None
    legs: tuple[Order, ...] = ()
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, record: Record) -> Order:
        values: dict[str, Any] = {}
        for name in ORDER_COLUMNS:
            if name in ORDER_FLOATS:
                values[name] = number(record.get(name))
            elif name in ORDER_TIMES:
                values[name] = timestamp(record.get(name))
            elif name == "legs":
                values[name] = tuple(cls.from_json(leg) for leg in record.get("legs") or ())
            elif name == "order_class":
                values[name] = order_class_name(record.get(name))
            elif name == "type":
                values[name] = record.get("type") or record.get("order_type")
            elif name == "extended_hours":
                values[name] = bool(record.get(name))
            else:
                values[name] = record.get(name)
        return cls(id=record["id"], raw=dict(record), **values)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_filled(self) -> bool:
        return self.status == "filled"

    @property
    def frame(self) -> pd.DataFrame:
        """This order and its legs as rows of the orders frame."""
        return orders_frame([self.raw])

    @property
    def series(self) -> pd.Series:
        """This order as one row (a Series named by the order id)."""
        return self.frame.iloc[0]

    def _repr_html_(self) -> str:  # notebooks show the row, not a wall of fields
        return self.frame._repr_html_()  # type: ignore[operator]

    def __str__(self) -> str:
        size = f"{self.qty:g}" if self.qty == self.qty else f"${self.notional:,.2f}"
        price = next(
            (
                f" @ {label} {value:g}"
                for label, value in (("limit", self.limit_price), ("stop", self.stop_price))
                if value == value
            ),
            "",
        )
        return f"{self.side} {size} {self.symbol} {self.type}{price} [{self.status}] {self.id}"


OPEN_STATUSES = frozenset(
    {
        "new",
        "accepted",
        "partially_filled",
        "held",
        "pending_new",
        "pending_cancel",
        "pending_replace",
        "accepted_for_bidding",
        "calculated",
    }
)
TERMINAL_STATUSES = frozenset(
    {
        "filled",
        "canceled",
        "expired",
        "replaced",
        "rejected",
        "done_for_day",
        "stopped",
        "suspended",
    }
)


@dataclass(frozen=True)
class Account:
    """The account's money, with ``day_pl`` = equity - last_equity; ``series`` for pandas."""

    equity: float
    cash: float
    buying_power: float
    long_market_value: float
    short_market_value: float
    portfolio_value: float
    last_equity: float
    day_pl: float
    status: str
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, record: Record) -> Account:
        values = {
            name: number(record.get(name))
            for name in ACCOUNT_FIELDS
            if name not in ("day_pl", "status")
        }
        return cls(
            **values,
            day_pl=values["equity"] - values["last_equity"],
            status=str(record.get("status")),
            raw=dict(record),
        )

    @property
    def series(self) -> pd.Series:
        return pd.Series(
            {name: getattr(self, name) for name in ACCOUNT_FIELDS}, name="account", dtype=object
        )

    def _repr_html_(self) -> str:
        return self.series.to_frame()._repr_html_()  # type: ignore[operator]

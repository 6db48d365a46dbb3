"""Round trips: fills matched first in, first out, and the trade statistics they give.

Each symbol keeps a queue of open lots. A fill first closes lots on the other side,
oldest first, and whatever is left of it opens a lot of its own, so a sale larger
than the long position closes it and opens a short with the rest (a flip, in one
fill). Quantities are exact decimals: fractional fills close lots to the last share.

One round trip is the part of one entry order closed by one exit order: partial
fills of the same two orders are one round trip (quantity-weighted prices, the first
entry time, the last exit time), and an entry closed by two exit orders is two.
Fills without an order id are each their own order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .inputs import SIDE_SIGNS, fills_frame

ROUND_TRIP_COLUMNS = (
    "symbol",
    "direction",
    "qty",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "pnl",
    "return",
    "holding_time",
    "entry_order_id",
    "exit_order_id",
)
OPEN_LOT_COLUMNS = ("symbol", "direction", "qty", "entry_time", "entry_price", "entry_order_id")
TRADE_STATS = (
    "round_trips",
    "win_rate",
    "average_win",
    "average_loss",
    "profit_factor",
    "expectancy",
    "total_pnl",
    "largest_win",
    "largest_loss",
    "average_holding_time",
)


@dataclass
class _Lot:
    """An open part of an entry fill: signed quantity left, its price, time and order."""

    qty: Decimal
    price: float
    time: pd.Timestamp
    order: str


@dataclass(frozen=True)
class _Match:
    symbol: str
    qty: Decimal
    sign: int  # +1: a long closed by a sale, -1: a short closed by a purchase
    entry: _Lot
    exit_price: float
    exit_time: pd.Timestamp
    exit_order: str


def round_trips(fills: Any) -> pd.DataFrame:
    """Closed round trips, in the order they closed (``ROUND_TRIP_COLUMNS``).

    ``fills``: ``Orders.get_activities()``, ``orders.history()`` or a frame with
    ``symbol side qty price time`` (see :func:`.inputs.fills_frame`). ``pnl`` is in
    dollars, ``return`` is the pnl over the entry's cost (for a short: its proceeds).
    """
    return fifo(fills)[0]


def open_lots(fills: Any) -> pd.DataFrame:
    """What is left open after the fills: one row per open lot (``OPEN_LOT_COLUMNS``)."""
    return fifo(fills)[1]


def fifo(fills: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`round_trips` and :func:`open_lots` from one pass over the fills."""
    matches, lots = _match(fills_frame(fills))
    return _round_trip_frame(matches), _open_lot_frame(lots)


def _open_lot_frame(lots: dict[str, deque[_Lot]]) -> pd.DataFrame:
    rows = [
        (
            symbol,
            "long" if lot.qty > 0 else "short",
            float(abs(lot.qty)),
            lot.time,
            lot.price,
            lot.order,
        )
        for symbol, queue in lots.items()
        for lot in queue
    ]
    frame = pd.DataFrame(rows, columns=list(OPEN_LOT_COLUMNS))
    return frame.astype({"qty": "float64", "entry_price": "float64"}).assign(
        entry_time=pd.DatetimeIndex(frame["entry_time"], dtype="datetime64[ns, UTC]")
    )


def trade_stats(trips: pd.DataFrame) -> pd.Series:
    """Statistics of round trips (:func:`round_trips`): ``TRADE_STATS``.

    A win has pnl above 0; a round trip at exactly 0 is neither win nor loss but
    counts in ``win_rate``'s denominator. ``profit_factor`` is gross profit over
    gross loss (inf without losses); ``expectancy`` the mean pnl per round trip.
    """
    pnl = trips["pnl"].to_numpy(dtype="float64")
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    count = len(pnl)
    gross_loss = -losses.sum()
    values: dict[str, Any] = {
        "round_trips": count,
        "win_rate": len(wins) / count if count else np.nan,
        "average_win": wins.mean() if len(wins) else np.nan,
        "average_loss": losses.mean() if len(losses) else np.nan,
        "profit_factor": (wins.sum() / gross_loss if gross_loss else np.inf) if count else np.nan,
        "expectancy": pnl.mean() if count else np.nan,
        "total_pnl": pnl.sum(),
        "largest_win": wins.max() if len(wins) else np.nan,
        "largest_loss": losses.min() if len(losses) else np.nan,
        "average_holding_time": trips["holding_time"].mean() if count else pd.NaT,
    }
    return pd.Series(values, index=list(TRADE_STATS), name="trades", dtype=object)


def _match(fills: pd.DataFrame) -> tuple[list[_Match], dict[str, deque[_Lot]]]:
    """FIFO over every fill: the closing matches, and the lots still open per symbol."""
    lots: dict[str, deque[_Lot]] = {}
    matches: list[_Match] = []
    for number, row in enumerate(fills.itertuples(index=False)):
        queue = lots.setdefault(row.symbol, deque())
        order = row.order_id if isinstance(row.order_id, str) else f"fill-{number}"
        left = Decimal(repr(float(row.qty))) * SIDE_SIGNS[row.side]
        while left and queue and (queue[0].qty > 0) != (left > 0):
            lot = queue[0]
            closed = min(abs(left), abs(lot.qty))
            sign = 1 if lot.qty > 0 else -1
            matches.append(_Match(row.symbol, closed, sign, lot, row.price, row.time, order))
            lot.qty -= sign * closed
            left += sign * closed
            if not lot.qty:
                queue.popleft()
        if left:
            queue.append(_Lot(left, float(row.price), row.time, order))
    return matches, lots


def _round_trip_frame(matches: list[_Match]) -> pd.DataFrame:
    rows = list(_merged(matches))
    frame = pd.DataFrame(rows, columns=list(ROUND_TRIP_COLUMNS))
    for name in ("entry_time", "exit_time"):
        frame[name] = pd.DatetimeIndex(frame[name], dtype="datetime64[ns, UTC]")
    frame = frame.astype(
        {n: "float64" for n in ("qty", "entry_price", "exit_price", "pnl", "return")}
    )
    frame["holding_time"] = frame["exit_time"] - frame["entry_time"]
    frame.index.name = "round_trip"
    return frame


def _merged(matches: list[_Match]) -> Iterator[tuple[Any, ...]]:
    """One row per (symbol, entry order, exit order), in the order each first closed."""
    groups: dict[tuple[str, str, str], list[_Match]] = {}
    for match in matches:
        groups.setdefault((match.symbol, match.entry.order, match.exit_order), []).append(match)
    for (symbol, entry_order, exit_order), parts in groups.items():
        qty = float(sum((p.qty for p in parts), Decimal(0)))
        entry_price = sum(float(p.qty) * p.entry.price for p in parts) / qty
        exit_price = sum(float(p.qty) * p.exit_price for p in parts) / qty
        sign = parts[0].sign
        pnl = sign * qty * (exit_price - entry_price)
        yield (
            symbol,
            "long" if sign > 0 else "short",
            qty,
            min(p.entry.time for p in parts),
            max(p.exit_time for p in parts),
            entry_price,
            exit_price,
            pnl,
            pnl / (qty * entry_price),
            None,
            entry_order,
            exit_order,
        )

"""Market frames as the records Alpaca's market data speaks, for REST and the stream alike.

A bar, quote or trade is written with the same keys and types whether ``GET
/v2/stocks/...`` returns it or the websocket pushes it, so one instant reads the same
on both. Columns are converted whole (one numpy pass per column), never row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .market import VENUES, Market

#: (Alpaca's key, the frame's column, whether Alpaca writes it as an integer)
Fields = tuple[tuple[str, str, bool], ...]

BAR_FIELDS: Fields = (
    ("o", "open", False),
    ("h", "high", False),
    ("l", "low", False),
    ("c", "close", False),
    ("v", "volume", True),
    ("n", "trade_count", True),
    ("vw", "vwap", False),
)
QUOTE_FIELDS: Fields = (
    ("bp", "bid_price", False),
    ("bs", "bid_size", True),
    ("ap", "ask_price", False),
    ("as", "ask_size", True),
)
TRADE_FIELDS: Fields = (("p", "price", False), ("s", "size", True), ("i", "id", True))


def records(
    frame: pd.DataFrame,
    fields: Fields,
    constant: Mapping[str, Any] | None = None,
    times: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """One dict per row: ``constant`` keys, then ``"t"`` from ``times`` if given, then ``fields``."""
    keys = [key for key, _, _ in fields]
    columns = [
        _ints(frame[column]) if whole else _floats(frame[column]) for _, column, whole in fields
    ]
    if times is not None:
        keys.insert(0, "t")
        columns.insert(0, times)
    base = dict(constant or {})
    rows = []
    for row in zip(*columns, strict=True):
        record = base.copy()
        record.update(zip(keys, row, strict=True))
        rows.append(record)
    return rows


def quote_constants(market: Market, symbol: str) -> dict[str, Any]:
    """The keys every quote of ``symbol`` shares: its venue on both sides, condition, tape."""
    venue, tape = venue_of(market, symbol)
    return {"bx": venue, "ax": venue, "c": ["R"], "z": tape}


def trade_constants(market: Market, symbol: str) -> dict[str, Any]:
    """The keys every trade of ``symbol`` shares: its venue, condition, tape."""
    venue, tape = venue_of(market, symbol)
    return {"x": venue, "c": ["@"], "z": tape}


def venue_of(market: Market, symbol: str) -> tuple[str, str]:
    """The (exchange code, tape) Alpaca writes for the symbol's listing venue."""
    asset = market.asset(symbol) or {}
    return VENUES.get(asset.get("exchange", ""), ("V", "C"))


def _ints(values: pd.Series) -> list[int]:
    return np.rint(values.to_numpy(dtype=np.float64)).astype(np.int64).tolist()


def _floats(values: pd.Series) -> list[float]:
    return values.to_numpy(dtype=np.float64).tolist()

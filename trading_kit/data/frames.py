"""Alpaca market-data JSON to pandas DataFrames, column by column.

Layouts follow alpaca-py's ``.df`` so habits carry over: bars, quotes and trades are
indexed by (``symbol``, ``timestamp``), latest values and snapshots by ``symbol``;
timestamps are tz-aware UTC. Every builder returns a frame with the full set of
columns and dtypes even when there is no data.

Records are pulled apart with ``operator.itemgetter`` into columns and handed to
pandas whole; no per-record object is ever built (that is alpaca-py's slow path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

Record = Mapping[str, Any]

# (wire key, column name, dtype)
BAR_FIELDS = (
    ("o", "open", "float64"),
    ("h", "high", "float64"),
    ("l", "low", "float64"),
    ("c", "close", "float64"),
    ("v", "volume", "int64"),
    ("n", "trade_count", "int64"),
    ("vw", "vwap", "float64"),
)
QUOTE_FIELDS = (
    ("bx", "bid_exchange", "object"),
    ("bp", "bid_price", "float64"),
    ("bs", "bid_size", "float64"),
    ("ax", "ask_exchange", "object"),
    ("ap", "ask_price", "float64"),
    ("as", "ask_size", "float64"),
    ("c", "conditions", "object"),
    ("z", "tape", "object"),
)
TRADE_FIELDS = (
    ("x", "exchange", "object"),
    ("p", "price", "float64"),
    ("s", "size", "float64"),
    ("i", "id", "object"),
    ("c", "conditions", "object"),
    ("z", "tape", "object"),
)
FIELDS = {"bars": BAR_FIELDS, "quotes": QUOTE_FIELDS, "trades": TRADE_FIELDS}
_MISSING = {"float64": np.nan, "int64": 0, "object": None}


def series_frame(kind: str, by_symbol: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Bars, quotes or trades (``kind``) of many symbols, indexed by (symbol, timestamp)."""
    fields = FIELDS[kind]
    symbols: list[str] = []
    records: list[Record] = []
    for symbol in sorted(by_symbol):
        rows = by_symbol[symbol]
        symbols.extend([symbol] * len(rows))
        records.extend(rows)
    columns = _columns(records, fields)
    index = pd.MultiIndex.from_arrays(
        [pd.Index(symbols, dtype="object"), _timestamps(records)], names=["symbol", "timestamp"]
    )
    return pd.DataFrame(columns, index=index)


def latest_frame(kind: str, by_symbol: Mapping[str, Record]) -> pd.DataFrame:
    """One latest quote or trade per symbol, indexed by ``symbol``, with its ``timestamp``."""
    symbols = sorted(by_symbol)
    records = [by_symbol[s] for s in symbols]
    columns = {"timestamp": _timestamps(records), **_columns(records, FIELDS[kind])}
    return pd.DataFrame(columns, index=pd.Index(symbols, name="symbol", dtype="object"))


SNAPSHOT_PARTS = (
    ("latestTrade", "latest_trade", "trades"),
    ("latestQuote", "latest_quote", "quotes"),
    ("minuteBar", "minute_bar", "bars"),
    ("dailyBar", "daily_bar", "bars"),
    ("prevDailyBar", "prev_daily_bar", "bars"),
)


def snapshot_frame(by_symbol: Mapping[str, Mapping[str, Record | None]]) -> pd.DataFrame:
    """Snapshots flattened into ``<part>_<field>`` columns, plus ``change_today``.

    ``change_today`` is the fraction the daily close moved from the previous daily
    close: the number a researcher scanning a watchlist wants first.
    """
    symbols = sorted(by_symbol)
    index = pd.Index(symbols, name="symbol", dtype="object")
    parts = []
    for wire, prefix, kind in SNAPSHOT_PARTS:
        records = [by_symbol[s].get(wire) or {} for s in symbols]
        columns = {"timestamp": _timestamps(records), **_columns(records, FIELDS[kind])}
        parts.append(
            pd.DataFrame(columns, index=index)
            .add_prefix(f"{prefix}_")
            .drop(columns=[f"{prefix}_{c}" for c in ("conditions", "tape") if kind != "bars"])
        )
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)
    frame["change_today"] = frame["daily_bar_close"] / frame["prev_daily_bar_close"] - 1.0
    return frame


def _columns(records: Sequence[Record], fields: Iterable[tuple[str, str, str]]) -> dict:
    fields = tuple(fields)
    keys = [key for key, _, _ in fields]
    try:
        values = (
            list(zip(*map(itemgetter(*keys), records), strict=True))
            if records
            else [()] * len(keys)
        )
    except KeyError:  # a field this feed leaves out: fill the gaps, slower but rare
        values = [tuple(r.get(k, _MISSING[dtype]) for r in records) for k, _, dtype in fields]
    columns = {}
    for (_, name, dtype), column in zip(fields, values, strict=True):
        if dtype == "object":
            columns[name] = pd.array(column, dtype="object")
        else:
            array = np.asarray(column, dtype="float64")
            if dtype == "int64":
                array = np.nan_to_num(array).astype("int64")
            columns[name] = array
    return columns


def _timestamps(records: Sequence[Record]) -> pd.DatetimeIndex:
    stamps = [r.get("t") for r in records]
    return pd.DatetimeIndex(pd.to_datetime(stamps, utc=True, format="ISO8601"), name="timestamp")

"""Alpaca market-data JSON to pandas DataFrames, column by column.

Layouts follow alpaca-py's ``.df`` so habits carry over: bars, quotes and trades are
indexed by (``symbol``, ``timestamp``), latest values and snapshots by ``symbol``;
timestamps are tz-aware UTC. Every builder returns a frame with the full set of
columns and dtypes even when there is no data.

Records are pulled apart into numpy columns, one list pass per field, and handed to
pandas whole; no per-record object is ever built (that is alpaca-py's slow path).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
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


@dataclass(frozen=True)
class Page:
    """One decoded page of bars, quotes or trades: columns per symbol, and the next token."""

    columns: Mapping[str, Mapping[str, np.ndarray]]
    next_page_token: str | None
    rows: int


def decode_page(kind: str, content: bytes | Mapping[str, Any]) -> Page:
    """A JSON page (its bytes, or already decoded) of bars, quotes or trades as columns.

    The records of all symbols are decoded in one pass per field (one timestamp parse
    per page, however many symbols share it); each symbol's columns are views of those.
    """
    body = orjson.loads(content) if isinstance(content, bytes) else content
    by_symbol = body.get(kind) or {}
    records = [record for rows in by_symbol.values() for record in rows]
    decoded = _columns(records, FIELDS[kind], with_time=True)
    bounds = np.cumsum([0, *(len(rows) for rows in by_symbol.values())]).tolist()
    columns = {
        symbol: {name: column[a:b] for name, column in decoded.items()}
        for symbol, a, b in zip(by_symbol, bounds[:-1], bounds[1:], strict=True)
    }
    return Page(columns, body.get("next_page_token"), len(records))


def series_frame(kind: str, pages: Iterable[Page]) -> pd.DataFrame:
    """Bars, quotes or trades of many symbols, indexed by (symbol, timestamp).

    Each symbol's parts are copied once, straight into the frame's own blocks (one 2-D
    array per dtype), and the index is built from codes: a million bars are otherwise
    copied three times and their timestamps hashed."""
    by_symbol: dict[str, list[Mapping[str, np.ndarray]]] = {}
    for page in pages:
        for symbol, columns in page.columns.items():
            if len(columns["timestamp"]):
                by_symbol.setdefault(symbol, []).append(columns)
    symbols = sorted(by_symbol)
    parts = [columns for symbol in symbols for columns in by_symbol[symbol]]
    counts = [sum(len(c["timestamp"]) for c in by_symbol[s]) for s in symbols]
    if not parts:
        parts = [_columns([], FIELDS[kind], with_time=True)]
    stamps = np.concatenate([c["timestamp"] for c in parts])
    index = _series_index(symbols, counts, stamps)
    names_of: dict[str, list[str]] = {}
    for _, name, dtype in FIELDS[kind]:
        names_of.setdefault(dtype, []).append(name)
    blocks = []
    for dtype, names in names_of.items():
        block = np.empty((len(names), len(stamps)), dtype=dtype)
        for row, name in zip(block, names, strict=True):
            np.concatenate([c[name] for c in parts], out=row)
        blocks.append(pd.DataFrame(block.T, columns=names, index=index, copy=False))
    return pd.concat(blocks, axis=1)[[name for _, name, _ in FIELDS[kind]]]


def _series_index(symbols: list[str], counts: list[int], stamps: np.ndarray) -> pd.MultiIndex:
    """The (symbol, timestamp) index of rows sorted by symbol, as ``from_arrays`` makes
    it (sorted levels), from codes: the symbols' are runs, and times in increasing order
    (one symbol) are their own level."""
    symbol_codes = np.repeat(np.arange(len(symbols)), counts)
    if (stamps[1:] > stamps[:-1]).all():
        time_codes, times = np.arange(len(stamps)), stamps
    else:
        time_codes, times = pd.factorize(stamps, sort=True)
    return pd.MultiIndex(
        levels=[pd.Index(symbols, dtype="object"), pd.DatetimeIndex(times).tz_localize("UTC")],
        codes=[symbol_codes, time_codes],
        names=["symbol", "timestamp"],
        verify_integrity=False,
    )


def frame_page(kind: str, frame: pd.DataFrame) -> Page:
    """A frame from ``series_frame`` back into columns per symbol (views, no copies), so
    frames can be joined by ``series_frame`` exactly as pages are."""
    symbols = frame.index.get_level_values("symbol").to_numpy()
    stamps = frame.index.get_level_values("timestamp").tz_convert(None).to_numpy("datetime64[ns]")
    columns = {"timestamp": stamps} | {name: frame[name].to_numpy() for _, name, _ in FIELDS[kind]}
    return Page(split_by_symbol(symbols, columns), None, len(symbols))


def split_by_symbol(
    symbols: np.ndarray, columns: Mapping[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Rows sorted by symbol as columns per symbol: one slice (a view) each."""
    cuts = [0, *(np.flatnonzero(symbols[1:] != symbols[:-1]) + 1).tolist(), len(symbols)]
    return {
        str(symbols[a]): {name: column[a:b] for name, column in columns.items()}
        for a, b in itertools.pairwise(cuts)
        if b > a
    }


def latest_frame(kind: str, by_symbol: Mapping[str, Record]) -> pd.DataFrame:
    """One latest quote or trade per symbol, indexed by ``symbol``, with its ``timestamp``."""
    symbols = sorted(by_symbol)
    index = pd.Index(symbols, name="symbol", dtype="object")
    return _record_frame([by_symbol[s] for s in symbols], FIELDS[kind], index)


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
        parts.append(
            _record_frame(records, FIELDS[kind], index)
            .add_prefix(f"{prefix}_")
            .drop(columns=[f"{prefix}_{c}" for c in ("conditions", "tape") if kind != "bars"])
        )
    frame = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=index)
    frame["change_today"] = frame["daily_bar_close"] / frame["prev_daily_bar_close"] - 1.0
    return frame


def _columns(
    records: Sequence[Record], fields: Iterable[tuple[str, str, str]], with_time: bool = False
) -> dict[str, np.ndarray]:
    """One array per field (and ``timestamp``, naive UTC, when asked), a list pass per key."""
    columns: dict[str, np.ndarray] = {}
    if with_time:
        stamps = [r.get("t") for r in records]
        parsed = (
            pd.to_datetime(stamps, utc=True, format="ISO8601")
            if stamps
            else pd.DatetimeIndex([], tz="UTC")
        )
        columns["timestamp"] = parsed.tz_convert(None).to_numpy("datetime64[ns]")
    for key, name, dtype in fields:
        try:
            values = [r[key] for r in records]
        except KeyError:  # a field this feed leaves out
            values = [r.get(key, _MISSING[dtype]) for r in records]
        if dtype == "object":
            column = np.empty(len(values), dtype=object)
            column[:] = values
        elif dtype == "int64":
            try:
                column = np.array(values, dtype="int64")  # counts are whole numbers
            except (TypeError, OverflowError):  # a null among them
                column = typed(np.array(values, dtype="float64"), dtype)
        else:
            column = np.array(values, dtype="float64")
        columns[name] = column
    return columns


def typed(column: np.ndarray, dtype: str) -> np.ndarray:
    """A decoded column in its frame dtype (counts arrive as floats: whole numbers, NaN as 0)."""
    if dtype == "int64" and column.dtype != np.int64:
        return np.nan_to_num(column).astype("int64")
    return column


def _record_frame(records: Sequence[Record], fields: tuple, index: pd.Index) -> pd.DataFrame:
    """One row per record: ``timestamp`` (tz-aware UTC) and the typed fields."""
    columns = _columns(records, fields, with_time=True)
    stamps = pd.DatetimeIndex(columns.pop("timestamp")).tz_localize("UTC")
    return pd.DataFrame({"timestamp": stamps, **columns}, index=index)

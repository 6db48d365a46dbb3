"""The plain inputs of the analytics, checked once at the door.

Every analytics function takes pandas objects a researcher already has: an equity
series (a replay's record, or ``Orders.get_portfolio_history()``), fills (``Orders.
get_activities()``, ``orders.history()``, or any frame with ``symbol side qty price
time``), bars (``MarketData.get_bars()``) and the order journal (``orders.history()``).
This module turns each into one canonical shape, or raises :class:`AnalyticsError`
naming the argument, the value as given and what to pass instead, so the functions
behind it never see a half-usable input.

Times: naive timestamps are read as UTC (Alpaca's convention, as ``rules.to_utc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import AnalyticsError

#: Canonical fills: one row per execution, oldest first (ties keep their given order).
FILL_COLUMNS = ("time", "symbol", "side", "qty", "price", "order_id")
#: Fill sides and the sign they give the position; Alpaca's activities say ``sell_short``.
SIDE_SIGNS = {"buy": 1, "sell": -1, "sell_short": -1}
#: Where the fill columns come from: an orders frame (``orders.history()``: one fill per
#: order, at its average price), else ``Orders.get_activities()`` or generic names.
ORDER_FILL_SOURCES = {"time": "filled_at", "qty": "filled_qty", "price": "filled_avg_price"}
ACTIVITY_SOURCES = {"time": ("time", "transaction_time")}
FILL_HINT = (
    "pass Orders.get_activities(), orders.history(), or a frame with columns "
    "symbol, side, qty, price, time"
)
#: Columns of ``orders.history()`` the execution analytics read.
JOURNAL_COLUMNS = (
    "symbol",
    "side",
    "type",
    "status",
    "qty",
    "filled_qty",
    "filled_avg_price",
    "submitted_at",
    "filled_at",
    "arrival_price",
    "slippage",
    "slippage_bps",
)


def utc_index(index: Any, argument: str) -> pd.DatetimeIndex:
    """``index`` as a tz-aware UTC DatetimeIndex (naive read as UTC)."""
    if not isinstance(index, pd.DatetimeIndex):
        raise AnalyticsError(
            f"{argument} must be indexed by time (a DatetimeIndex), got a "
            f"{type(index).__name__}; set the timestamps as the index "
            f"(e.g. {argument}.set_index('timestamp')).",
            argument=argument,
        )
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def equity_series(value: Any, argument: str = "equity") -> pd.Series:
    """Account value over time: float64, UTC, strictly increasing times, all > 0.

    Takes a Series, or a frame with an ``equity`` column (``get_portfolio_history()``).
    """
    if isinstance(value, pd.DataFrame) and "equity" in value.columns:
        value = value["equity"]
    if not isinstance(value, pd.Series):
        raise AnalyticsError(
            f"{argument} must be a pandas Series of account values indexed by time (or a "
            f"frame with an 'equity' column), got {type(value).__name__}.",
            argument=argument,
        )
    index = utc_index(value.index, argument)
    numbers = pd.to_numeric(value, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    series = pd.Series(numbers, index=index, name=value.name or "equity")
    if not index.is_monotonic_increasing:
        series = series.sort_index(kind="stable")
    if series.index.has_duplicates:
        stamp = series.index[series.index.duplicated()][0]
        raise AnalyticsError(
            f"{argument} has more than one value at {stamp}; keep one value per time "
            f"(e.g. {argument}[~{argument}.index.duplicated(keep='last')]).",
            argument=argument,
        )
    bad = ~np.isfinite(series.to_numpy()) | (series.to_numpy() <= 0)
    if bad.any():
        stamp = series.index[bad.argmax()]
        raise AnalyticsError(
            f"{argument} must be a positive number at every time; at {stamp} it is "
            f"{_scalar(value.loc[value.index[bad.argmax()]])!r}. Drop the times before the "
            "account was funded, or fill gaps (e.g. .ffill()).",
            argument=argument,
        )
    if len(series) < 2:
        raise AnalyticsError(
            f"{argument} needs at least two values to have a return; got {len(series)}.",
            argument=argument,
        )
    return series


def fills_frame(value: Any, argument: str = "fills") -> pd.DataFrame:
    """Fills as ``FILL_COLUMNS`` (UTC times, positive float qty and price), oldest first.

    Rows of an orders frame that never filled (``filled_qty`` 0 or missing) are not
    fills and are dropped; anything else that is not a usable fill is an error.
    """
    if value is None:
        return _empty_fills()
    if not isinstance(value, pd.DataFrame):
        raise AnalyticsError(
            f"{argument} must be a DataFrame of fills, got {type(value).__name__}; {FILL_HINT}.",
            argument=argument,
        )
    orders = "filled_qty" in value.columns
    source = {
        name: _first_present(
            value,
            (ORDER_FILL_SOURCES[name],)
            if orders and name in ORDER_FILL_SOURCES
            else ACTIVITY_SOURCES.get(name, (name,)),
        )
        for name in FILL_COLUMNS
    }
    missing = [n for n in ("time", "symbol", "side", "qty", "price") if source[n] is None]
    if missing:
        raise AnalyticsError(
            f"{argument} has no column for {', '.join(missing)} (it has "
            f"{', '.join(map(str, value.columns)) or 'none'}); {FILL_HINT}.",
            argument=argument,
        )
    frame = value
    if orders:  # keep the orders that filled
        frame = value[pd.to_numeric(value["filled_qty"], errors="coerce").fillna(0) > 0]
    qty = _numbers(frame[source["qty"]])
    price = _numbers(frame[source["price"]])
    side = frame[source["side"]].astype("str").str.lower().to_numpy()
    times = _times(frame[source["time"]], argument, source["time"])
    if source["order_id"] is not None:
        order_id = frame[source["order_id"]].astype("str").to_numpy()
    elif frame.index.name == "id":  # an orders frame / history is indexed by order id
        order_id = frame.index.astype("str").to_numpy()
    else:
        order_id = np.full(len(frame), None, dtype=object)
    fills = pd.DataFrame(
        {
            "time": times,
            "symbol": frame[source["symbol"]].astype("str").str.upper().array,
            "side": side,
            "qty": qty,
            "price": price,
            "order_id": order_id,
        },
        columns=list(FILL_COLUMNS),
    )
    _check_rows(fills, frame, argument, source)
    return fills.sort_values("time", kind="stable").reset_index(drop=True)


def _check_rows(
    fills: pd.DataFrame, given: pd.DataFrame, argument: str, source: Mapping[str, str | None]
) -> None:
    symbols = fills["symbol"]
    checks = (
        ("symbol", symbols.isna() | (symbols.str.strip() == ""), "a symbol"),
        ("side", ~fills["side"].isin(list(SIDE_SIGNS)), "buy, sell or sell_short"),
        ("qty", ~(fills["qty"] > 0), "a number above 0"),
        ("price", ~(fills["price"] > 0), "a price above 0"),
        ("time", fills["time"].isna(), "a time"),
    )
    for name, bad, wanted in checks:
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            column = source[name] or name
            raise AnalyticsError(
                f"{argument} row {_scalar(given.index[row])!r}: {column}="
                f"{_scalar(given[column].iloc[row])!r} must be {wanted}; fix or drop that row.",
                argument=argument,
            )


def bars_by_symbol(value: Any, argument: str = "prices") -> dict[str, pd.DataFrame]:
    """Bars per symbol, each indexed by the bar's start (UTC) with at least ``close``.

    Takes ``MarketData.get_bars()`` (indexed by ``symbol``, ``timestamp``), a frame of
    closes with one column per symbol, or a Series of closes named by its symbol.
    Like Alpaca's bars, a row is labelled by the *start* of its bar.
    """
    if isinstance(value, pd.Series):
        if not isinstance(value.name, str):
            raise AnalyticsError(
                f"{argument}: a Series of closes must be named by its symbol "
                f"(e.g. close.rename('AAPL')), got name={value.name!r}.",
                argument=argument,
            )
        value = value.to_frame(value.name)
    if not isinstance(value, pd.DataFrame):
        raise AnalyticsError(
            f"{argument} must be bars from MarketData.get_bars(), a frame of closes with one "
            f"column per symbol, or a Series of closes; got {type(value).__name__}.",
            argument=argument,
        )
    if isinstance(value.index, pd.MultiIndex):
        if "symbol" not in value.index.names or "close" not in value.columns:
            raise AnalyticsError(
                f"{argument}: a frame indexed by {list(value.index.names)} must be bars as "
                "MarketData.get_bars() gives them (index symbol, timestamp; a close column).",
                argument=argument,
            )
        groups: Iterable[tuple[Any, pd.DataFrame]] = (
            (symbol, part.droplevel("symbol"))
            for symbol, part in value.groupby(level="symbol", sort=True)
        )
    else:
        groups = ((column, value[[column]].set_axis(["close"], axis=1)) for column in value)
    bars: dict[str, pd.DataFrame] = {}
    for symbol, part in groups:
        columns = [c for c in ("open", "high", "low", "close") if c in part.columns]
        frame = part[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
        frame.index = utc_index(frame.index, argument)
        frame = frame[frame["close"].notna()].sort_index(kind="stable")
        if not frame.empty:
            bars[str(symbol).upper()] = frame[~frame.index.duplicated(keep="last")]
    if not bars:
        raise AnalyticsError(
            f"{argument} has no prices (no non-missing close); pass bars that cover the "
            "equity series.",
            argument=argument,
        )
    return bars


def journal_frame(value: Any, argument: str = "journal") -> pd.DataFrame:
    """``orders.history()`` as given, once it has every column the analytics read."""
    if not isinstance(value, pd.DataFrame):
        raise AnalyticsError(
            f"{argument} must be the order journal, orders.history() (a DataFrame); got "
            f"{type(value).__name__}.",
            argument=argument,
        )
    missing = [c for c in JOURNAL_COLUMNS if c not in value.columns]
    if missing:
        raise AnalyticsError(
            f"{argument} has no {', '.join(missing)} column; pass orders.history(), which "
            "adds the quote at submission and the slippage to the orders frame.",
            argument=argument,
        )
    return value


def _scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value a user typed (``0.0``, not ``np.float64``)."""
    return value.item() if isinstance(value, np.generic) else value


def _empty_fills() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex([], dtype="datetime64[ns, UTC]"),
            "symbol": pd.array([], dtype="str"),
            "side": pd.array([], dtype="str"),
            "qty": np.array([], dtype="float64"),
            "price": np.array([], dtype="float64"),
            "order_id": np.array([], dtype=object),
        }
    )


def _first_present(frame: pd.DataFrame, names: Iterable[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _numbers(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _times(column: pd.Series, argument: str, name: str | None) -> pd.Series:
    try:
        return pd.to_datetime(column, utc=True, format="ISO8601").reset_index(drop=True)
    except (ValueError, TypeError):
        raise AnalyticsError(
            f"{argument}: column {name} must hold times (datetimes or ISO 8601 text); "
            f"first value {column.iloc[0] if len(column) else None!r}.",
            argument=argument,
        ) from None

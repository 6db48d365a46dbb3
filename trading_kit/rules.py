"""Market conventions both sides share: the price tick, the ticker, UTC, RFC 3339, New York.

The client (order validation, the widgets, the data client) and the local exchange each
need these rules, and a rule written twice drifts. This module is the one place; it
imports neither side, only the standard library, numpy and pandas.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

#: The zone of the US equity sessions (and of every time a researcher reads on screen).
NEW_YORK = "America/New_York"

# -- the tick -------------------------------------------------------------------------
CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")


def tick_size(price: Decimal) -> Decimal:
    """Alpaca's minimum price increment: $0.01 at or above $1, $0.0001 below."""
    return CENT if abs(price) >= 1 else SUB_PENNY


def tick_sizes(prices: np.ndarray) -> np.ndarray:
    """``tick_size`` for an array of float prices."""
    return np.where(np.abs(np.asarray(prices, dtype=np.float64)) >= 1.0, 0.01, 0.0001)


def on_tick(price: Decimal) -> bool:
    """True when ``price`` is a whole number of ticks."""
    return price == price.quantize(tick_size(price))


def to_tick(price: Decimal | float | str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``price`` rounded to the tick (half up unless told otherwise)."""
    value = (
        price
        if isinstance(price, Decimal)
        else Decimal(repr(price) if isinstance(price, float) else str(price))
    )
    return value.quantize(tick_size(value), rounding=rounding)


def to_ticks(prices: np.ndarray) -> np.ndarray:
    """Float prices rounded to the tick (vectorised; for simulated price paths)."""
    p = np.asarray(prices, dtype=np.float64)
    return np.where(np.abs(p) >= 1.0, np.round(p, 2), np.round(p, 4))


# -- the ticker -----------------------------------------------------------------------
_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,11}$")
TICKER_HINT = "use e.g. 'AAPL' or 'BRK.B' (letters, digits, '.' or '-', at most 12 characters)"


def ticker(value: Any) -> str | None:
    """``value`` as an upper-case ticker, or ``None`` if it cannot be one."""
    name = value.strip().upper() if isinstance(value, str) else None
    return name if name and _TICKER.match(name) else None


# -- time -----------------------------------------------------------------------------
def to_utc(value: Any) -> pd.Timestamp:
    """A timestamp in UTC; a naive value is read as UTC (Alpaca's convention)."""
    if type(value) is pd.Timestamp and value.tzinfo is dt.timezone.utc:
        return value  # already: the exchange asks this several times a replayed minute
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


#: The times a request may name: Alpaca's data begins in the 2010s and no session is
#: scheduled this side of 2100, so anything outside is a typo, refused before it is sent.
EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")


def user_time(value: Any) -> pd.Timestamp:
    """A time as a user gives it (date string, datetime, Timestamp), in UTC.

    Raises ``ValueError`` whose message completes "<name>=<value as given> ...", so each
    caller can name the argument in its own error. Numbers are refused rather than guessed
    at: 1704153600 may be seconds, milliseconds or nanoseconds since 1970, and pandas
    would read nanoseconds (a moment in January 1970).
    """
    if isinstance(value, (bool, int, float, np.number)):
        raise ValueError(
            "is a number, which could be seconds, milliseconds or nanoseconds since 1970; "
            "pass a date such as '2024-01-02', a datetime, or pd.Timestamp(value, unit='s') "
            "for epoch seconds"
        )
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise ValueError(
            "is not a date or time; use e.g. '2024-01-02', '2024-01-02T14:30:00Z', "
            "a datetime or a pandas Timestamp"
        )
    stamp = to_utc(stamp)
    if not EARLIEST <= stamp < LATEST:
        raise ValueError(
            f"is outside the years {EARLIEST.year} to {LATEST.year - 1}, which no market "
            "data or order can name"
        )
    return stamp


def rfc3339(value: dt.datetime | None) -> str | None:
    """A tz-aware time as Alpaca writes it: UTC, ``Z``, microseconds when present."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime on the wire; use tz-aware UTC")
    if isinstance(value, pd.Timestamp):
        return _timestamp_text(value)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)
def _timestamp_text(value: pd.Timestamp) -> str:
    """Remembered: an order's times are written at every answer that shows it, and a
    replay shows the same few instants thousands of times."""
    moment = value.tz_convert("UTC").to_pydatetime(warn=False)
    return moment.isoformat().replace("+00:00", "Z")

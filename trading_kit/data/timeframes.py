"""The bar timeframes a user may ask for, as Alpaca spells them."""

from __future__ import annotations

import datetime as dt

from ..errors import MarketDataError

TIMEFRAMES: tuple[str, ...] = (
    "1Min",
    "5Min",
    "15Min",
    "30Min",
    "1Hour",
    "4Hour",
    "1Day",
    "1Week",
    "1Month",
)
_BY_LOWER = {name.lower(): name for name in TIMEFRAMES}

# How far back a request without ``start`` looks: a few hundred bars of each kind.
_DEFAULT_LOOKBACK = {
    "Min": dt.timedelta(days=5),
    "Hour": dt.timedelta(days=60),
    "Day": dt.timedelta(days=365),
    "Week": dt.timedelta(days=5 * 365),
    "Month": dt.timedelta(days=10 * 365),
}


def parse_timeframe(timeframe: object) -> str:
    """Alpaca's timeframe string for ``"5Min"``, ``"5min"`` or an alpaca-py ``TimeFrame``."""
    text = getattr(timeframe, "value", timeframe)
    if isinstance(text, str) and text.strip().lower() in _BY_LOWER:
        return _BY_LOWER[text.strip().lower()]
    raise MarketDataError(
        f"Unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)} "
        "(or an alpaca-py TimeFrame with one of those values)."
    )


_UNIT = {
    "Min": dt.timedelta(minutes=1),
    "Hour": dt.timedelta(hours=1),
    "Day": dt.timedelta(days=1),
    "Week": dt.timedelta(weeks=1),
    "Month": dt.timedelta(days=31),
}


def default_lookback(timeframe: str) -> dt.timedelta:
    """The span fetched when no ``start`` is given (documented on ``get_bars``)."""
    unit = timeframe.lstrip("0123456789")
    return _DEFAULT_LOOKBACK[unit]


def span_for(timeframe: str, bars: int) -> dt.timedelta:
    """A span surely holding ``bars`` bars: markets trade about a third of the clock."""
    amount = int(timeframe[: len(timeframe) - len(timeframe.lstrip("0123456789"))])
    unit = timeframe.lstrip("0123456789")
    return _UNIT[unit] * amount * bars * 3 + dt.timedelta(days=7)


def duration(timeframe: str) -> dt.timedelta:
    """How long one bar lasts (a month counted as 31 days): a bar stamped ``t`` is
    complete once ``t + duration`` has passed."""
    amount = int(timeframe[: len(timeframe) - len(timeframe.lstrip("0123456789"))])
    return _UNIT[timeframe.lstrip("0123456789")] * amount

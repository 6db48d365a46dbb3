"""How many bars make a year: the one number every annualised metric depends on.

Annualising a minute-bar Sharpe ratio with 252 (a daily factor) understates it by
``sqrt(390)``; annualising NYSE minutes as if the market never closed overstates it by
``sqrt(525_600 / 98_280)``. So the factor is derived from the bars themselves and the
market they trade on, and the tear sheet says which it used:

==========================  ============================  ==================
bars                        NYSE sessions                 always open (24/7)
==========================  ============================  ==================
intraday, every ``k`` min   252 × session minutes / ``k`` 365 × 1,440 / ``k``
daily                       252                           365
weekly, monthly, …          365.25 days / spacing, rounded (52, 12, 4, 1)
==========================  ============================  ==================

A NYSE session is the regular one (9:30–16:00 New York, 390 minutes) when every bar
falls inside it, else the extended day (4:00–20:00, 960 minutes). The market is taken
as always open, unless told, when the bars show trading while NYSE is closed (see
``_market_of``). The spacing of the bars is the most common gap between consecutive
times, so nights, weekends and holidays do not stretch it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from empyrical.periods import APPROX_BDAYS_PER_YEAR

from ..errors import AnalyticsError
from ..rules import NEW_YORK

NYSE = "nyse"
ALWAYS_OPEN = "24/7"
MARKETS = (NYSE, ALWAYS_OPEN)
#: NYSE sessions in a year (empyrical's and the industry's convention).
SESSIONS_PER_YEAR = APPROX_BDAYS_PER_YEAR
DAYS_PER_YEAR = 365
REGULAR_SESSION = (dt.time(9, 30), dt.time(16, 0))
EXTENDED_SESSION = (dt.time(4, 0), dt.time(20, 0))
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class BarFrequency:
    """The bars' spacing, their market, and the periods per year that follow."""

    bar: pd.Timedelta
    market: str
    periods_per_year: float
    rule: str  # how periods_per_year was reached, for the reader

    def __str__(self) -> str:
        return f"{_bar_text(self.bar)} bars, {self.rule}"


def bar_frequency(
    index: pd.DatetimeIndex, market: str | None = None, periods_per_year: float | None = None
) -> BarFrequency:
    """The frequency of bars at ``index`` (UTC) on ``market`` (``"nyse"``, ``"24/7"`` or
    ``None`` to infer); ``periods_per_year`` overrides the derived factor."""
    if market is not None and market not in MARKETS:
        raise AnalyticsError(
            f"market={market!r} is not one of {', '.join(MARKETS)}; use 'nyse' for US "
            "equities, '24/7' for a market that never closes (crypto).",
            argument="market",
        )
    bar = spacing(index)
    local = index.tz_convert(NEW_YORK)
    market = market or _market_of(local, bar)
    if periods_per_year is not None:
        if isinstance(periods_per_year, bool) or not (
            isinstance(periods_per_year, int | float) and periods_per_year > 0
        ):
            raise AnalyticsError(
                f"periods_per_year={periods_per_year!r} must be a number above 0 "
                "(e.g. 252 for daily NYSE bars).",
                argument="periods_per_year",
            )
        return BarFrequency(bar, market, float(periods_per_year), "periods per year as given")
    if bar >= 7 * DAY:
        periods = float(round(pd.Timedelta(days=365.25) / bar))
        return BarFrequency(bar, market, periods, f"{periods:,.0f} a year")
    if market == ALWAYS_OPEN:
        periods = DAYS_PER_YEAR * (DAY / bar)
        return BarFrequency(
            bar,
            market,
            periods,
            f"always open: {DAYS_PER_YEAR} × {DAY / bar:,.4g} = {periods:,.0f} a year",
        )
    if bar >= DAY:
        periods = SESSIONS_PER_YEAR / (bar / DAY)
        return BarFrequency(bar, market, periods, f"NYSE: {periods:,.4g} sessions a year")
    opens, closes = REGULAR_SESSION if _within(local, REGULAR_SESSION) else EXTENDED_SESSION
    session = pd.Timedelta(hours=closes.hour - opens.hour, minutes=closes.minute - opens.minute)
    per_session = session / bar
    name = "regular" if opens == REGULAR_SESSION[0] else "extended"
    periods = SESSIONS_PER_YEAR * per_session
    return BarFrequency(
        bar,
        market,
        periods,
        f"NYSE {name} sessions: {per_session:,.4g} × {SESSIONS_PER_YEAR} = {periods:,.0f} a year",
    )


def spacing(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The most common gap between consecutive times (the bar length)."""
    gaps = index[1:] - index[:-1]
    gaps = gaps[gaps > pd.Timedelta(0)]
    if len(gaps) == 0:
        raise AnalyticsError(
            "the equity series needs at least two distinct times to tell its bar length.",
            argument="equity",
        )
    counts = pd.Series(gaps).value_counts(sort=False)
    # the most common gap; on a tie the shortest (a daily series over a holiday week)
    return pd.Timedelta(counts[counts == counts.max()].index.min())


def _market_of(local: pd.DatetimeIndex, bar: pd.Timedelta) -> str:
    """NYSE unless the bars show trading when it is closed: intraday bars on a weekend or
    outside 4:00–20:00 New York; daily bars a week or more without a weekend gap. (Daily
    bars are not judged by weekday: labelled at midnight UTC, Monday's is Sunday evening
    in New York.)"""
    if bar < DAY:
        closed = (local.day_of_week >= 5).any() or not _within(local, EXTENDED_SESSION)
        return ALWAYS_OPEN if closed else NYSE
    gaps = local[1:] - local[:-1]
    every_day = local[-1] - local[0] >= 7 * DAY and bool((gaps <= DAY).all())
    return ALWAYS_OPEN if every_day else NYSE


def _within(local: pd.DatetimeIndex, session: tuple[dt.time, dt.time]) -> bool:
    minutes = local.hour * 60 + local.minute + local.second / 60
    opens = session[0].hour * 60 + session[0].minute
    closes = session[1].hour * 60 + session[1].minute
    return bool(((minutes >= opens) & (minutes <= closes)).all())


def _bar_text(bar: pd.Timedelta) -> str:
    for unit, size in (
        ("day", DAY),
        ("hour", pd.Timedelta(hours=1)),
        ("minute", pd.Timedelta(minutes=1)),
    ):
        if bar >= size and bar % size == pd.Timedelta(0):
            return f"{bar // size}-{unit}"
    return str(bar)

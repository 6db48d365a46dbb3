"""Periods per year: derived from the bars and their market, stated, and overridable."""

from __future__ import annotations

import pandas as pd
import pytest

from trading_kit.analytics import bar_frequency
from trading_kit.errors import AnalyticsError


def _minutes(start: str, end: str, step: str = "1min") -> pd.DatetimeIndex:
    """Bars of every session day in New York time from ``start`` to ``end`` each day."""
    days = pd.bdate_range("2024-03-04", "2024-03-08")
    stamps = [
        pd.date_range(f"{day:%Y-%m-%d} {start}", f"{day:%Y-%m-%d} {end}", freq=step) for day in days
    ]
    return pd.DatetimeIndex(stamps[0].append(stamps[1:])).tz_localize("America/New_York")


# The expected factors worked out by hand: sessions × bars per session, or days × bars per day.
CASES = [
    ("daily NYSE sessions", pd.bdate_range("2024-01-02", periods=60, tz="UTC"), None, 252),
    ("1-minute, regular session", _minutes("09:31", "16:00"), None, 252 * 390),
    ("5-minute, regular session", _minutes("09:35", "16:00", "5min"), None, 252 * 78),
    ("hourly, regular session", _minutes("10:00", "16:00", "1h"), None, 252 * 6.5),
    ("1-minute, extended hours", _minutes("04:01", "20:00"), None, 252 * 960),
    (
        "1-minute, always open",
        pd.date_range("2024-03-02", periods=3000, freq="1min", tz="UTC"),
        None,
        365 * 1440,
    ),
    (
        "hourly, always open",
        pd.date_range("2024-03-01", periods=500, freq="1h", tz="UTC"),
        None,
        365 * 24,
    ),
    ("daily, always open", pd.date_range("2024-01-01", periods=90, freq="D", tz="UTC"), None, 365),
    ("daily, told always open", pd.bdate_range("2024-01-02", periods=60, tz="UTC"), "24/7", 365),
    ("1-minute weekdays told 24/7", _minutes("09:31", "16:00"), "24/7", 365 * 1440),
    (
        "daily window ends (Friday's at Saturday 00:00 New York)",
        (pd.bdate_range("2024-01-02", periods=60) + pd.Timedelta(days=1)).tz_localize(
            "America/New_York"
        ),
        None,
        252,
    ),
    (
        "1-minute at night on a weekday: not NYSE",
        pd.date_range("2024-03-05 06:00", periods=120, freq="1min", tz="UTC"),
        None,
        365 * 1440,
    ),
    ("weekly", pd.date_range("2020-01-03", periods=100, freq="W-FRI", tz="UTC"), None, 52),
    ("monthly", pd.date_range("2020-01-31", periods=40, freq="ME", tz="UTC"), None, 12),
    ("quarterly", pd.date_range("2015-03-31", periods=30, freq="QE", tz="UTC"), None, 4),
]


@pytest.mark.parametrize(("name", "index", "market", "expected"), CASES, ids=[c[0] for c in CASES])
def test_periods_per_year(
    name: str, index: pd.DatetimeIndex, market: str | None, expected: float
) -> None:
    frequency = bar_frequency(index.tz_convert("UTC"), market)
    assert frequency.periods_per_year == pytest.approx(expected)
    assert f"{expected:,.0f}" in str(frequency) or frequency.periods_per_year == expected


def test_a_holiday_does_not_stretch_the_bar() -> None:
    # Daily bars around Good Friday 2024 (29 March) and a weekend: still one-day bars.
    days = pd.DatetimeIndex(
        ["2024-03-26", "2024-03-27", "2024-03-28", "2024-04-01", "2024-04-02"], tz="UTC"
    )
    frequency = bar_frequency(days)
    assert frequency.bar == pd.Timedelta(days=1)
    assert frequency.periods_per_year == 252


def test_a_partial_first_day_does_not_change_the_factor() -> None:
    # A replay that starts at 14:00: the session is still 390 minutes long.
    index = _minutes("09:31", "16:00")
    index = index[index >= pd.Timestamp("2024-03-04 14:00", tz="America/New_York")]
    assert bar_frequency(index.tz_convert("UTC")).periods_per_year == 252 * 390


def test_an_explicit_factor_wins_and_says_so() -> None:
    frequency = bar_frequency(
        pd.bdate_range("2024-01-02", periods=10, tz="UTC"), periods_per_year=250
    )
    assert frequency.periods_per_year == 250
    assert "as given" in str(frequency)


@pytest.mark.parametrize(
    ("options", "argument", "shown"),
    [
        ({"market": "crypto"}, "market", "'crypto'"),
        ({"periods_per_year": 0}, "periods_per_year", "0"),
        ({"periods_per_year": "252"}, "periods_per_year", "'252'"),
        ({"periods_per_year": True}, "periods_per_year", "True"),
    ],
)
def test_bad_options_are_named(options: dict, argument: str, shown: str) -> None:
    with pytest.raises(AnalyticsError) as caught:
        bar_frequency(pd.bdate_range("2024-01-02", periods=10, tz="UTC"), **options)
    assert caught.value.argument == argument
    assert f"{argument}={shown}" in str(caught.value)

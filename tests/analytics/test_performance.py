"""Performance metrics cross-checked against hand calculations on small series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_kit.analytics import buy_and_hold, drawdown, drawdown_periods, performance
from trading_kit.analytics.performance import exposure, traded_value
from trading_kit.errors import AnalyticsError

DAYS = pd.DatetimeIndex(["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"], tz="UTC")
EQUITY = pd.Series([100.0, 110.0, 99.0, 121.0], index=DAYS)


def test_ratios_by_hand_on_daily_bars() -> None:
    metrics = performance(EQUITY)["strategy"]
    r = np.array([0.10, -0.10, 121 / 99 - 1])
    mean, std = r.mean(), math.sqrt(((r - r.mean()) ** 2).sum() / 2)  # sample std
    downside = math.sqrt((0.10**2) / 3)  # root mean square of the negative returns, over all 3
    annual = 1.21 ** (252 / 3) - 1
    assert metrics["total_return"] == pytest.approx(0.21)
    assert metrics["annual_return"] == pytest.approx(annual)
    assert metrics["annual_volatility"] == pytest.approx(std * math.sqrt(252))
    assert metrics["sharpe"] == pytest.approx(mean / std * math.sqrt(252))
    assert metrics["sortino"] == pytest.approx(mean / downside * math.sqrt(252))
    assert metrics["max_drawdown"] == pytest.approx(-0.10)
    assert metrics["calmar"] == pytest.approx(annual / 0.10)
    # without fills: nothing to say about exposure or turnover
    assert np.isnan(metrics[["exposure", "traded_value", "annual_turnover"]].astype(float)).all()


def test_minute_bars_annualise_with_390_a_session() -> None:
    index = pd.date_range("2024-03-05 14:31", periods=390, freq="1min", tz="UTC")
    rng = np.random.default_rng(7)
    equity = pd.Series(100_000 * np.cumprod(1 + rng.normal(0, 1e-4, 390)), index=index)
    metrics = performance(equity)["strategy"]
    r = equity.pct_change().dropna().to_numpy()
    assert metrics["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252 * 390))
    assert metrics["annual_volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(98_280))
    # the same minutes read as a 24/7 market annualise by 525,600 instead
    always = performance(equity, market="24/7")["strategy"]
    assert always["sharpe"] / metrics["sharpe"] == pytest.approx(math.sqrt(525_600 / 98_280))


def test_drawdown_dates_by_hand() -> None:
    equity = pd.Series(
        [100, 120, 90, 130, 125, 104, 110],
        index=pd.bdate_range("2024-03-04", periods=7, tz="UTC"),
        dtype=float,
    )
    t = equity.index
    under = drawdown(equity)
    assert under.to_numpy() == pytest.approx([0, 0, -0.25, 0, 125 / 130 - 1, -0.2, 110 / 130 - 1])
    periods = drawdown_periods(equity)
    assert len(periods) == 2
    first, second = periods.iloc[0], periods.iloc[1]
    # 120 -> 90 is the deepest (-25%, recovered by 130), then 130 -> 104 (-20%, not recovered)
    assert (first["peak"], first["trough"], first["recovery"]) == (t[1], t[2], t[3])
    assert first["depth"] == pytest.approx(-0.25)
    assert first["duration"] == t[3] - t[1]
    assert (second["peak"], second["trough"]) == (t[3], t[5])
    assert pd.isna(second["recovery"])  # still under water at the end
    assert second["duration"] == t[6] - t[3]
    assert performance(equity)["strategy"]["max_drawdown"] == pytest.approx(first["depth"])


def test_a_series_that_only_rises_has_no_drawdown() -> None:
    equity = pd.Series([1.0, 2.0, 3.0], index=DAYS[:3])
    assert drawdown_periods(equity).empty
    assert performance(equity)["strategy"]["max_drawdown"] == 0
    assert np.isnan(performance(equity)["strategy"]["calmar"])


FILLS = pd.DataFrame(
    {
        "symbol": ["AAPL", "AAPL", "MSFT", "MSFT"],
        "side": ["buy", "sell", "buy", "sell"],
        "qty": [10, 10, 2, 2],
        "price": [100.0, 101.0, 50.0, 49.0],
        "time": pd.to_datetime(
            ["2024-03-05 00:00", "2024-03-06 00:00", "2024-03-06 12:00", "2024-03-06 13:00"],
            utc=True,
        ),
    }
)


def test_exposure_counts_bars_held_or_traded_within() -> None:
    # Bars: 4-5, 5-6, 6-7 March. AAPL is held through 5-6 (bought at 5th 00:00, sold at
    # 6th 00:00: a fill at a bar's end belongs to the next bar); MSFT is a round trip
    # inside 6-7. So 2 of 3 bars are exposed.
    from trading_kit.analytics.inputs import fills_frame

    assert exposure(DAYS, fills_frame(FILLS)) == pytest.approx(2 / 3)
    metrics = performance(EQUITY, fills=FILLS)["strategy"]
    assert metrics["exposure"] == pytest.approx(2 / 3)
    value = 10 * 100 + 10 * 101 + 2 * 50 + 2 * 49
    assert metrics["traded_value"] == pytest.approx(value)
    years = 3 / 252
    assert metrics["annual_turnover"] == pytest.approx(value / 2 / EQUITY.mean() / years)
    # from 6 March 00:00 on: the AAPL sale at that very time, and the MSFT round trip
    assert traded_value(DAYS[2:], fills_frame(FILLS)) == pytest.approx(10 * 101 + 2 * 50 + 2 * 49)


def test_a_position_opened_before_the_series_counts_as_held() -> None:
    early = FILLS.iloc[:1].assign(time=pd.Timestamp("2024-01-02", tz="UTC"))
    from trading_kit.analytics.inputs import fills_frame

    assert exposure(DAYS, fills_frame(early)) == 1.0


def test_buy_and_hold_splits_capital_and_never_peeks() -> None:
    # Daily bars labelled by their start (as MarketData gives them): the close of the
    # 4 March bar is known at 5 March 00:00.
    starts = pd.DatetimeIndex(["2024-03-03", "2024-03-04", "2024-03-05", "2024-03-06"], tz="UTC")
    bars = pd.DataFrame(
        {"close": [10.0, 20.0, 30.0, 40.0, 100.0, 100.0, 50.0, 200.0]},
        index=pd.MultiIndex.from_product([["AAA", "BBB"], starts], names=["symbol", "timestamp"]),
    )
    held = buy_and_hold(bars, DAYS, capital=1000.0)
    # At 4 March 00:00 the last known closes are the 3 March bars: 10 and 100.
    # 500 / 10 = 50 AAA, 500 / 100 = 5 BBB.
    assert held.to_numpy() == pytest.approx(
        [50 * 10 + 5 * 100, 50 * 20 + 5 * 100, 50 * 30 + 5 * 50, 50 * 40 + 5 * 200]
    )
    metrics = performance(EQUITY, benchmark=held)
    assert metrics.columns.tolist() == ["strategy", "buy_and_hold"]
    assert metrics.loc["total_return", "buy_and_hold"] == pytest.approx(3000 / 1000 - 1)


def test_a_benchmark_equal_to_the_strategy_has_beta_one_alpha_zero() -> None:
    metrics = performance(EQUITY, benchmark=EQUITY.rename("same"))
    assert metrics.loc["beta", "strategy"] == pytest.approx(1.0)
    assert metrics.loc["alpha", "strategy"] == pytest.approx(0.0, abs=1e-12)
    assert metrics.loc["sharpe", "same"] == pytest.approx(metrics.loc["sharpe", "strategy"])


def test_naive_times_are_utc() -> None:
    naive = EQUITY.set_axis(DAYS.tz_localize(None))
    assert performance(naive).equals(performance(EQUITY))


BAD_EQUITY = [
    ("a list", [1, 2, 3], "equity", "pandas Series"),
    ("no time index", pd.Series([1.0, 2.0]), "equity", "indexed by time"),
    ("a missing value", EQUITY.where(EQUITY != 99.0), "equity", "nan"),
    ("a zero", EQUITY.replace(99.0, 0.0), "equity", "is 0.0"),
    ("one value", EQUITY.iloc[:1], "equity", "at least two"),
    ("twice the same time", EQUITY.set_axis(DAYS[[0, 1, 1, 2]]), "equity", "more than one value"),
]


@pytest.mark.parametrize(
    ("name", "equity", "argument", "said"), BAD_EQUITY, ids=[b[0] for b in BAD_EQUITY]
)
def test_bad_equity_is_named(name: str, equity: object, argument: str, said: str) -> None:
    with pytest.raises(AnalyticsError) as caught:
        performance(equity)
    assert caught.value.argument == argument
    assert said in str(caught.value)


def test_a_benchmark_that_starts_late_is_refused() -> None:
    late = EQUITY.iloc[1:].rename("late")
    with pytest.raises(AnalyticsError, match="benchmark starts at 2024-03-05") as caught:
        performance(EQUITY, benchmark=late)
    assert caught.value.argument == "benchmark"


def test_prices_that_start_late_say_where_to_start() -> None:
    bars = pd.DataFrame(
        {"close": [1.0, 2.0]},
        index=pd.MultiIndex.from_product([["AAA"], DAYS[2:]], names=["symbol", "timestamp"]),
    )
    with pytest.raises(AnalyticsError, match=r"request bars from at least 2024-03-03") as caught:
        buy_and_hold(bars, DAYS)
    assert caught.value.argument == "prices"

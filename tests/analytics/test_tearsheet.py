"""The TearSheet: its tables agree with the functions and the exchange's ledger; its figures
show New York time, fold long series without losing the worst point, and say what they show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SESSION_TIME
from tests.orders.conftest import make_stack
from trading_kit.analytics import (
    TearSheet,
    buy_and_hold,
    performance,
    round_trips,
    tearsheet,
    trade_stats,
)
from trading_kit.analytics.figures import MAX_CANDLES, MAX_POINTS
from trading_kit.data import MarketData
from trading_kit.errors import AnalyticsError
from trading_kit.exchange import Exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders

NY = "America/New_York"
MINUTES = pd.date_range("2024-03-05 14:31", periods=390, freq="1min", tz="UTC")


def minute_bars(symbol: str, closes: np.ndarray, starts: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "open": closes - 0.01,
            "high": closes + 0.05,
            "low": closes - 0.05,
            "close": closes,
            "volume": 100.0,
        },
        index=pd.MultiIndex.from_product([[symbol], starts], names=["symbol", "timestamp"]),
    )


@pytest.fixture
def replayed() -> dict:
    """A day of minutes: equity, fills and bars as a replay would record them."""
    rng = np.random.default_rng(3)
    closes = 170 + np.cumsum(rng.normal(0, 0.05, 390))
    equity = pd.Series(100_000 + np.cumsum(rng.normal(0, 15, 390)), index=MINUTES)
    fills = pd.DataFrame(
        {
            "symbol": "AAPL",
            "side": ["buy", "sell", "sell", "buy"],
            "qty": [100, 100, 50, 50],
            "price": [170.0, 170.5, 171.0, 171.2],
            "time": MINUTES[[10, 60, 100, 200]],
        }
    )
    bars = minute_bars("AAPL", closes, MINUTES - pd.Timedelta("1min"))
    return {"equity": equity, "fills": fills, "prices": bars}


def test_the_tables_are_the_functions_results(replayed: dict) -> None:
    sheet = tearsheet(**replayed)
    equity = replayed["equity"]
    held = buy_and_hold(replayed["prices"], equity.index, capital=float(equity.iloc[0]))
    expected = performance(equity, fills=replayed["fills"], benchmark=held)
    pd.testing.assert_frame_equal(sheet.metrics, expected)
    pd.testing.assert_frame_equal(sheet.round_trips, round_trips(replayed["fills"]))
    pd.testing.assert_series_equal(sheet.trades, trade_stats(sheet.round_trips))
    assert sheet.round_trips["pnl"].tolist() == pytest.approx([50.0, -10.0])
    assert sheet.open_lots.empty
    assert sheet.frequency.periods_per_year == 98_280
    assert sheet.slippage is None and sheet.limit_orders is None


def test_it_reads_well_in_a_notebook(replayed: dict) -> None:
    sheet = tearsheet(**replayed)
    headline = sheet.headline()
    assert headline.startswith("2024-03-05 09:31 → 2024-03-05 16:00 New York · 390 points")
    assert "98,280 a year" in headline
    worst = sheet.drawdowns.iloc[0]
    assert f"max drawdown {worst['depth']:.2%}" in headline
    assert f"trough {worst['trough'].tz_convert(NY):%Y-%m-%d %H:%M}" in headline
    tables = sheet.summary()
    assert list(tables) == ["performance", "round trips"]
    performance_table = tables["performance"]
    assert (
        performance_table.loc["total_return", "strategy"]
        == f"{sheet.metrics.loc['total_return', 'strategy']:.2%}"
    )
    assert performance_table.loc["traded_value", "strategy"] == "$51,160.00"
    assert performance_table.loc["traded_value", "buy_and_hold"] == "—"
    assert tables["round trips"].loc["round_trips", "all"] == "2"
    html = sheet._repr_html_()
    assert "<table" in html and "sharpe" in html and "win_rate" in html
    assert repr(sheet).startswith("TearSheet: 2024-03-05 09:31")
    assert len(html) < 20_000  # a notebook's stored output stays small


def test_no_benchmark_when_told(replayed: dict) -> None:
    sheet = tearsheet(**replayed, benchmark=False)
    assert sheet.benchmark is None
    assert list(sheet.metrics.columns) == ["strategy"]


def test_round_trips_closed_before_the_equity_starts_are_left_out(replayed: dict) -> None:
    early = pd.DataFrame(
        {
            "symbol": "AAPL",
            "side": ["buy", "sell"],
            "qty": [1, 1],
            "price": [100.0, 90.0],
            "time": pd.to_datetime(["2024-03-04 15:00", "2024-03-04 16:00"], utc=True),
        }
    )
    sheet = tearsheet(replayed["equity"], fills=pd.concat([early, replayed["fills"]]))
    assert sheet.round_trips["pnl"].tolist() == pytest.approx([50.0, -10.0])


def test_equity_figure_in_new_york_time_with_the_drawdown_beneath(replayed: dict) -> None:
    sheet = tearsheet(**replayed)
    figure = sheet.equity_figure()
    strategy, benchmark, under = figure.data
    assert pd.Timestamp(strategy.x[0]) == pd.Timestamp("2024-03-05 09:31")  # New York wall clock
    assert strategy.y[-1] == pytest.approx(replayed["equity"].iloc[-1])
    assert benchmark.y[0] == pytest.approx(replayed["equity"].iloc[0])  # rescaled to one start
    assert min(under.y) == pytest.approx(sheet.metrics.loc["max_drawdown", "strategy"] * 100)
    assert under.yaxis == "y2"


def test_a_long_series_is_folded_but_keeps_its_worst_point() -> None:
    index = pd.date_range("2024-01-01", periods=100_000, freq="1min", tz="UTC")
    rng = np.random.default_rng(11)
    equity = pd.Series(1e5 * np.cumprod(1 + rng.normal(0, 1e-4, len(index))), index=index)
    sheet = tearsheet(equity)
    figure = sheet.equity_figure()
    strategy, under = figure.data
    assert len(strategy.x) <= MAX_POINTS and len(under.x) <= MAX_POINTS
    assert min(under.y) == pytest.approx(sheet.metrics.loc["max_drawdown", "strategy"] * 100)
    assert strategy.y[-1] == pytest.approx(equity.iloc[-1])
    assert "one point per 50 bars" in figure.layout.title.text


def test_monthly_returns_follow_new_york_months() -> None:
    # 1 March 02:00 UTC is still 29 February in New York.
    times = pd.to_datetime(
        ["2024-02-28 21:00", "2024-03-01 02:00", "2024-03-15 20:00", "2024-04-02 20:00"], utc=True
    )
    equity = pd.Series([100.0, 110.0, 99.0, 108.9], index=times)
    figure = tearsheet(equity, market="nyse", periods_per_year=252).monthly_returns_figure()
    heat = figure.data[0]
    grid = np.array(heat.z, dtype=float)
    assert list(heat.y) == ["2024 (+8.9%)"]
    assert grid[0, 1] == pytest.approx(10.0)  # February: 100 -> 110
    assert grid[0, 2] == pytest.approx(-10.0)  # March: 110 -> 99
    assert grid[0, 3] == pytest.approx(10.0)  # April: 99 -> 108.9
    assert np.isnan(grid[0, 0]) and heat.text[0][1] == "+10.00%"


def test_trades_on_the_price(replayed: dict) -> None:
    sheet = tearsheet(**replayed)
    figure = sheet.trades_figure()
    names = [trace.name for trace in figure.data]
    assert names == [
        "AAPL",
        "winning round trips (1)",
        "losing round trips (1)",
        "buys (2)",
        "sells (2)",
    ]
    candles, winners, losers, buys, sells = figure.data
    assert list(sells.y) == [170.5, 171.0]
    assert len(candles.x) == 390
    assert pd.Timestamp(buys.x[0]) == pd.Timestamp("2024-03-05 09:41")  # New York
    assert list(buys.y) == [170.0, 171.2]
    assert list(winners.y[:2]) == [170.0, 170.5]  # entry -> exit of the winning trip
    assert list(losers.y[:2]) == [171.0, 171.2]
    with pytest.raises(AnalyticsError, match="no prices for 'MSFT'") as caught:
        sheet.trades_figure("msft")
    assert caught.value.argument == "symbol"


def test_many_bars_fold_into_exact_candles() -> None:
    starts = pd.date_range("2024-03-04 14:30", periods=3 * MAX_CANDLES, freq="1min", tz="UTC")
    closes = 100 + np.sin(np.arange(len(starts)) / 10)
    bars = minute_bars("AAPL", closes, starts)
    equity = pd.Series(1e5, index=starts + pd.Timedelta("1min"))
    equity.iloc[-1] = 1.01e5
    fills = pd.DataFrame(
        {"symbol": ["AAPL"], "side": ["buy"], "qty": [1], "price": [100.0], "time": [starts[5]]}
    )
    figure = tearsheet(equity, fills=fills, prices=bars).trades_figure("AAPL")
    candles = figure.data[0]
    assert len(candles.x) == MAX_CANDLES
    flat = bars.droplevel("symbol")
    assert candles.high[0] == pytest.approx(flat["high"].iloc[:3].max())
    assert candles.low[0] == pytest.approx(flat["low"].iloc[:3].min())
    assert candles.open[0] == flat["open"].iloc[0] and candles.close[0] == flat["close"].iloc[2]
    assert "candles of 3 bars" in figure.layout.title.text


def test_figures_need_what_they_draw(replayed: dict) -> None:
    sheet = tearsheet(replayed["equity"])
    assert list(sheet.figures()) == ["equity", "monthly_returns"]
    with pytest.raises(AnalyticsError, match=r"journal=orders\.history"):
        sheet.slippage_figure()
    with pytest.raises(AnalyticsError, match="no fills to draw"):
        sheet.trades_figure()
    with pytest.raises(AnalyticsError, match="no prices for 5"):
        tearsheet(**replayed).trades_figure(5)


def test_a_journal_without_fills_shows_no_slippage_table(replayed: dict, orders: Orders) -> None:
    orders.place_order("MSFT", qty=5, side="buy", type="limit", limit_price=1.00)
    sheet = tearsheet(replayed["equity"], journal=orders.history())
    assert sheet.slippage.empty
    assert list(sheet.summary()) == ["performance", "round trips"]  # nothing final yet either
    assert len(sheet.slippage_figure().data) == 2
    assert "no filled order had a quote" in sheet.slippage_figure().layout.title.text


def test_a_replay_on_the_local_exchange_adds_up(
    orders: Orders, exchange: Exchange, running_exchange: RunningExchange, tmp_path: Path
) -> None:
    """Trade minute by minute as notebook 04 does; the tear sheet agrees with the ledger."""
    equity = {SESSION_TIME: orders.get_account().equity}
    held = 0
    for minute in range(1, 61):
        now = exchange.set_time(SESSION_TIME + pd.Timedelta(minutes=minute))
        wanted = 100 if (minute // 10) % 2 == 0 else -50  # long, then short, in turns
        if wanted != held:
            side = "buy" if wanted > held else "sell"
            # the pre-trade checks refuse a flip in one order: close, then open
            for qty in (abs(held), abs(wanted)) if held * wanted < 0 else (abs(wanted - held),):
                if qty:
                    orders.place_order("AAPL", qty=qty, side=side)
            held = wanted
        equity[now] = orders.get_account().equity
    orders.close_position("AAPL")
    exchange.advance("1min")
    end = exchange.clock.now()
    equity[end] = orders.get_account().equity
    series = pd.Series(equity)
    data = MarketData(stack=make_stack(running_exchange.url, tmp_path))
    bars = data.get_bars("AAPL", "1Min", SESSION_TIME - pd.Timedelta("1min"), end)
    sheet = tearsheet(series, fills=orders.get_activities(), prices=bars, journal=orders.history())

    assert isinstance(sheet, TearSheet)
    # flat at both ends: the round trips' P&L is the change in equity, to the cent
    assert sheet.open_lots.empty
    assert sheet.trades["total_pnl"] == pytest.approx(series.iloc[-1] - series.iloc[0], abs=0.01)
    directions = sheet.round_trips["direction"].value_counts().to_dict()
    # long from minutes 1, 20, 40 and 60 (closed at once), short from 10, 30 and 50
    assert directions == {"long": 4, "short": 3}
    assert sheet.round_trips["holding_time"].iloc[-1] == pd.Timedelta(0)
    # 61 bars; held from the 15:01 bar to the 15:59 bar; flat after the 16:00 fills
    assert sheet.metrics.loc["exposure", "strategy"] == pytest.approx(59 / 61)
    assert sheet.slippage.loc[("all", "all"), "orders"] == len(sheet.journal)
    execution = sheet.summary()["slippage vs arrival mid"]
    assert list(execution.index) == ["all", "side: buy", "side: sell", "type: market"]
    assert execution.loc["all", "orders"] == str(len(sheet.journal))
    weighted = sheet.slippage.loc[("all", "all"), "weighted_bps"]
    assert execution.loc["all", "weighted_bps"] == f"{weighted:+.2f}"
    slippage = sheet.slippage_figure()
    shown = np.concatenate([np.asarray(trace.x, dtype=float) for trace in slippage.data])
    assert np.sort(shown) == pytest.approx(np.sort(sheet.journal["slippage_bps"].to_numpy()))
    assert list(sheet.figures()) == ["equity", "monthly_returns", "trades_AAPL", "slippage"]

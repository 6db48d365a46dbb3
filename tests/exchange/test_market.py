"""NYSE hours, clocks, the simulated market and the replay market."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from alpaca.trading.models import Calendar

from trading_kit.exchange import wire
from trading_kit.exchange.calendar import MarketHours
from trading_kit.exchange.clock import ManualClock, RealtimeClock
from trading_kit.exchange.market import (
    BAR_COLUMNS,
    TICK_COLUMNS,
    UNIVERSE,
    ReplayMarket,
    SimulatedMarket,
    parse_timeframe,
)

T = pd.Timestamp
HOURS = MarketHours()


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket()


# -- MarketHours ---------------------------------------------------------------------------


def test_regular_session_edges_in_winter_and_summer() -> None:
    assert not HOURS.is_open(utc("2024-01-02 14:29:59"))
    assert HOURS.is_open(utc("2024-01-02 14:30"))  # 09:30 EST
    assert HOURS.is_open(utc("2024-01-02 20:59:59"))
    assert not HOURS.is_open(utc("2024-01-02 21:00"))
    assert HOURS.is_open(utc("2024-07-02 13:30"))  # 09:30 EDT
    assert not HOURS.is_open(utc("2024-07-02 20:00"))


def test_half_day_closes_at_13_and_after_hours_end_at_17() -> None:
    assert HOURS.is_open(utc("2024-11-29 17:59"))
    assert not HOURS.is_open(utc("2024-11-29 18:00"))  # 13:00 EST
    assert HOURS.is_extended(utc("2024-11-29 21:59"))
    assert not HOURS.is_extended(utc("2024-11-29 22:00"))  # 17:00 EST
    assert HOURS.session_close(utc("2024-11-29 15:00")) == utc("2024-11-29 18:00")


def test_holiday_is_closed_all_day() -> None:
    for hour in range(24):
        t = utc("2024-12-25") + pd.Timedelta(hours=hour)
        assert not HOURS.is_open(t) and not HOURS.is_extended(t)
    assert HOURS.next_open(utc("2024-12-24 23:00")) == utc("2024-12-26 14:30")


def test_extended_hours_windows() -> None:
    assert not HOURS.is_extended(utc("2024-01-02 08:59"))  # 03:59 EST
    assert HOURS.is_extended(utc("2024-01-02 09:00"))  # 04:00 EST
    assert not HOURS.is_extended(utc("2024-01-02 15:00"))  # regular session
    assert HOURS.is_extended(utc("2024-01-03 00:59"))  # 19:59 EST
    assert not HOURS.is_extended(utc("2024-01-03 01:00"))  # 20:00 EST
    assert not HOURS.is_extended(utc("2024-01-06 15:00"))  # Saturday


def test_session_close_and_next_open_close() -> None:
    # Pre-market: today's close. After the close: the next session's close (day orders).
    assert HOURS.session_close(utc("2024-01-02 12:00")) == utc("2024-01-02 21:00")
    assert HOURS.session_close(utc("2024-01-02 22:00")) == utc("2024-01-03 21:00")
    assert HOURS.session_close(utc("2024-01-05 22:00")) == utc("2024-01-08 21:00")
    assert HOURS.next_open(utc("2024-01-02 15:00")) == utc("2024-01-03 14:30")
    assert HOURS.next_close(utc("2024-01-02 15:00")) == utc("2024-01-02 21:00")


def test_calendar_rows_match_alpaca_and_parse_with_alpaca_py() -> None:
    rows = HOURS.calendar(T("2024-11-27").date(), T("2024-12-02").date())
    assert [r["date"] for r in rows] == ["2024-11-27", "2024-11-29", "2024-12-02"]
    half = rows[1]
    assert half == {
        "date": "2024-11-29",
        "open": "09:30",
        "close": "13:00",
        "session_open": "0400",
        "session_close": "1700",
        "settlement_date": "2024-12-02",
    }
    assert rows[0]["close"] == "16:00" and rows[0]["session_close"] == "2000"
    parsed = Calendar(**dict(rows[1]))
    assert parsed.close.hour == 13
    assert HOURS.calendar("2024-12-25", "2024-12-25") == []


def test_settlement_is_t_plus_2_before_may_2024() -> None:
    before = HOURS.calendar("2024-05-24", "2024-05-24")[0]
    after = HOURS.calendar("2024-05-28", "2024-05-28")[0]
    assert before["settlement_date"] == "2024-05-29"  # Fri + 2 sessions (Monday a holiday)
    assert after["settlement_date"] == "2024-05-29"


def test_always_open_trades_every_minute() -> None:
    hours = MarketHours(always_open=True)
    saturday = utc("2024-01-06 03:17")
    assert hours.is_open(saturday) and not hours.is_extended(saturday)
    minutes, regular = hours.minutes(utc("2024-01-06"), utc("2024-01-07"))
    assert len(minutes) == 1440 and regular.all()
    assert hours.next_open(saturday) == utc("2024-01-06 05:00")  # New York midnight
    assert len(hours.calendar("2024-01-06", "2024-01-07")) == 2


def test_minutes_of_a_session_day() -> None:
    minutes, regular = HOURS.minutes(utc("2024-01-02"), utc("2024-01-03 07:00"))
    assert len(minutes) == 16 * 60 and regular.sum() == 390
    assert T(minutes[0], tz="UTC") == utc("2024-01-02 09:00")
    assert T(minutes[-1], tz="UTC") == utc("2024-01-03 00:59")


# -- clocks ------------------------------------------------------------------------------


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock("2024-01-02T14:30:00.1234567Z")
    assert clock.now() == utc("2024-01-02 14:30:00.123456")  # truncated to microseconds
    assert clock.advance("5min") == utc("2024-01-02 14:35:00.123456")
    assert clock.advance(pd.Timedelta(seconds=1)).second == 1
    clock.set("2024-01-03")
    with pytest.raises(ValueError, match="backwards"):
        clock.set("2024-01-02")
    with pytest.raises(ValueError, match="backwards"):
        clock.advance("-1s")
    assert clock.now() == utc("2024-01-03")


def test_manual_clock_is_thread_safe() -> None:
    clock = ManualClock("2024-01-02T00:00:00Z")

    def step() -> None:
        for _ in range(500):
            clock.advance("1s")

    threads = [threading.Thread(target=step) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == utc("2024-01-02") + pd.Timedelta(seconds=2000)


def test_realtime_clock_is_utc_wall_time() -> None:
    now = RealtimeClock().now()
    assert str(now.tz) == "UTC" and now.nanosecond == 0
    assert abs(now - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(seconds=5)


# -- the simulated market ----------------------------------------------------------------


def test_universe_and_assets(market: SimulatedMarket) -> None:
    symbols = market.symbols()
    assert {"AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "SPY", "QQQ"} <= set(symbols)
    assert {"IBM", "BRK.B", "ZYME"} <= set(symbols)  # the US-listed universe, not a showcase
    assert 5_000 <= len(symbols) <= 8_000
    asset = market.asset("SPY")
    assert asset is not None and asset["exchange"] == "ARCA" and asset["tradable"]
    assert market.asset("NOPE") is None
    with pytest.raises(KeyError):
        market.ticks("NOPE", utc("2024-01-02"), utc("2024-01-03"))


def test_prices_are_deterministic_across_instances() -> None:
    a, b = SimulatedMarket(), SimulatedMarket()
    day = (utc("2024-03-05"), utc("2024-03-06"))
    pd.testing.assert_frame_equal(a.bars("AAPL", "1Min", *day), b.bars("AAPL", "1Min", *day))
    pd.testing.assert_frame_equal(a.ticks("TSLA", *day), b.ticks("TSLA", *day))
    assert a.quote_at("NVDA", utc("2024-03-05 15:00:07")) == b.quote_at(
        "NVDA", utc("2024-03-05 15:00:07")
    )


def test_a_minute_does_not_depend_on_the_range_asked() -> None:
    wide = SimulatedMarket().bars("MSFT", "1Min", utc("2024-02-20"), utc("2024-03-10"))
    narrow = SimulatedMarket().bars(
        "MSFT", "1Min", utc("2024-03-05 15:00"), utc("2024-03-05 15:10")
    )
    pd.testing.assert_frame_equal(wide.loc[narrow.index], narrow)


def test_symbols_have_distinct_plausible_prices(market: SimulatedMarket) -> None:
    closes = {
        s: market.bars(s, "1Day", utc("2024-03-01"), utc("2024-03-02"))["close"].iloc[0]
        for s in ("AAPL", "MSFT", "SPY", "TSLA")
    }
    for symbol, close in closes.items():
        base = UNIVERSE[symbol].base_price
        assert 0.5 * base < close < 1.6 * base
    assert len(set(closes.values())) == 4


def _aggregate_by_hand(minutes: pd.DataFrame) -> dict[str, float]:
    return {
        "open": minutes["open"].iloc[0],
        "high": minutes["high"].max(),
        "low": minutes["low"].min(),
        "close": minutes["close"].iloc[-1],
        "volume": minutes["volume"].sum(),
        "trade_count": minutes["trade_count"].sum(),
        "vwap": round((minutes["vwap"] * minutes["volume"]).sum() / minutes["volume"].sum(), 4),
    }


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        ("2024-03-05", "2024-03-05 14:30", "2024-03-05 21:00"),  # EST
        ("2024-07-02", "2024-07-02 13:30", "2024-07-02 20:00"),  # EDT
        ("2024-11-29", "2024-11-29 14:30", "2024-11-29 18:00"),  # half day
    ],
)
def test_daily_bar_is_the_regular_session_of_one_minute_bars(
    market: SimulatedMarket, day: str, open_utc: str, close_utc: str
) -> None:
    daily = market.bars("AAPL", "1Day", utc(day), utc(day) + pd.Timedelta(days=1))
    assert len(daily) == 1
    midnight_ny = T(day).tz_localize("America/New_York").tz_convert("UTC")
    assert daily.index[0] == midnight_ny  # e.g. 2024-03-05T05:00:00Z
    minutes = market.bars("AAPL", "1Min", utc(open_utc), utc(close_utc))
    assert minutes.index[0] == utc(open_utc)
    assert minutes.index[-1] == utc(close_utc) - pd.Timedelta(minutes=1)
    expected = _aggregate_by_hand(minutes)
    for column, value in expected.items():
        assert daily[column].iloc[0] == pytest.approx(value, abs=1e-9), column


def test_hour_and_five_minute_bars_aggregate_the_minutes(market: SimulatedMarket) -> None:
    start, end = utc("2024-03-05 09:00"), utc("2024-03-06 01:00")
    minutes = market.bars("SPY", "1Min", start, end)
    for timeframe, rule in (("1Hour", "1h"), ("5Min", "5min"), ("4Hour", "4h")):
        bars = market.bars("SPY", timeframe, start, end)
        for stamp, row in bars.iterrows():
            chunk = minutes[(minutes.index >= stamp) & (minutes.index < stamp + pd.Timedelta(rule))]
            expected = _aggregate_by_hand(chunk)
            assert row["open"] == expected["open"] and row["close"] == expected["close"]
            assert row["high"] == expected["high"] and row["low"] == expected["low"]
            assert row["volume"] == expected["volume"]
    hourly = market.bars("SPY", "1Hour", start, end)
    assert hourly.index[0] == utc("2024-03-05 09:00")  # pre-market minutes are included
    assert hourly["volume"].sum() == minutes["volume"].sum()


def test_weekly_and_monthly_bars_are_new_york_calendar_buckets(market: SimulatedMarket) -> None:
    weekly = market.bars("QQQ", "1Week", utc("2024-03-04 05:00"), utc("2024-03-16"))
    assert list(weekly.index) == [utc("2024-03-04 05:00"), utc("2024-03-11 04:00")]  # Mondays
    daily = market.bars("QQQ", "1Day", utc("2024-03-04 05:00"), utc("2024-03-09"))
    assert weekly["volume"].iloc[0] == daily["volume"].sum()
    assert weekly["close"].iloc[0] == daily["close"].iloc[-1]
    monthly = market.bars("QQQ", "1Month", utc("2024-01-01 05:00"), utc("2024-04-01"))
    assert list(monthly.index) == [
        utc("2024-01-01 05:00"),
        utc("2024-02-01 05:00"),
        utc("2024-03-01 05:00"),
    ]


def test_holiday_and_weekend_have_no_bars(market: SimulatedMarket) -> None:
    assert market.bars("AAPL", "1Min", utc("2024-12-25"), utc("2024-12-26")).empty
    assert market.ticks("AAPL", utc("2024-12-25 05:00"), utc("2024-12-26 05:00")).empty
    assert market.bars("AAPL", "1Day", utc("2024-01-06"), utc("2024-01-08")).empty
    # Friday's after-hours end at 20:00 EST (01:00Z); Monday's pre-market starts 09:00Z.
    assert market.bars("AAPL", "1Min", utc("2024-01-06 01:00"), utc("2024-01-08 09:00")).empty


def test_bars_never_include_unfinished_minutes(market: SimulatedMarket) -> None:
    end = utc("2024-03-05 15:00:30")
    minutes = market.bars("AAPL", "1Min", utc("2024-03-05"), end)
    assert minutes.index[-1] == utc("2024-03-05 14:59")
    daily = market.bars("AAPL", "1Day", utc("2024-03-05"), end)  # the bar in progress
    assert daily["close"].iloc[0] == minutes["close"].iloc[-1]
    full = market.bars("AAPL", "1Day", utc("2024-03-05"), utc("2024-03-06"))
    assert daily["volume"].iloc[0] < full["volume"].iloc[0]


def test_ticks_are_quotes_around_the_last_trade(market: SimulatedMarket) -> None:
    # The curated tickers and every 100th listing (prices from the symbol's hash).
    for symbol in sorted(UNIVERSE) + market.symbols()[::100]:
        ticks = market.ticks(symbol, utc("2024-03-05"), utc("2024-03-06"))
        assert list(ticks.columns) == TICK_COLUMNS
        assert len(ticks) == 960 and ticks.index.tz is not None
        assert (ticks["bid_price"] < ticks["price"]).all()
        assert (ticks["price"] < ticks["ask_price"]).all()
        spread_bps = (ticks["ask_price"] - ticks["bid_price"]) / ticks["price"] * 1e4
        assert spread_bps.max() < 20
        assert (ticks["bid_size"] > 0).all() and (ticks["ask_size"] > 0).all()
        cents = ticks["price"] * 100
        assert np.allclose(cents, cents.round())


def test_ticks_match_bars_and_point_quotes(market: SimulatedMarket) -> None:
    start = utc("2024-03-05 14:30")
    ticks = market.ticks("AAPL", start, start + pd.Timedelta(minutes=10))
    minutes = market.bars("AAPL", "1Min", start, start + pd.Timedelta(minutes=10))
    assert (ticks["price"].to_numpy() == minutes["open"].to_numpy()).all()
    quote = market.quote_at("AAPL", start)
    trade = market.trade_at("AAPL", start)
    assert quote["bid_price"] == ticks["bid_price"].iloc[0]
    assert quote["ask_price"] == ticks["ask_price"].iloc[0]
    assert trade["price"] == ticks["price"].iloc[0]


def test_quotes_move_within_a_minute(market: SimulatedMarket) -> None:
    minute = utc("2024-03-05 15:00")
    seen = [market.quote_at("TSLA", minute + pd.Timedelta(seconds=s)) for s in range(0, 60, 5)]
    assert [q["t"] for q in seen] == [minute + pd.Timedelta(seconds=s) for s in range(0, 60, 5)]
    assert len({(q["bid_price"], q["ask_price"]) for q in seen}) > 1
    later = market.quote_at("TSLA", minute + pd.Timedelta(seconds=7, milliseconds=300))
    assert later["t"] == minute + pd.Timedelta(seconds=5)
    trade = market.trade_at("TSLA", minute + pd.Timedelta(seconds=25))
    assert trade["t"] == minute + pd.Timedelta(seconds=20)
    assert trade["exchange"] == "Q" and trade["tape"] == "C"


def test_latest_trade_over_the_weekend_is_fridays_last(market: SimulatedMarket) -> None:
    saturday = market.trade_at("AAPL", utc("2024-01-06 15:00"))
    sunday = market.trade_at("AAPL", utc("2024-01-07 15:00"))
    assert saturday == sunday
    assert saturday["t"] == utc("2024-01-06 00:59:50")  # Friday 19:59:50 EST


def test_volume_is_u_shaped_and_lower_in_extended_hours(market: SimulatedMarket) -> None:
    minutes = market.bars("AAPL", "1Min", utc("2024-03-05"), utc("2024-03-06 07:00"))
    regular = minutes[
        (minutes.index >= utc("2024-03-05 14:30")) & (minutes.index < utc("2024-03-05 21:00"))
    ]
    first, middle, last = regular.iloc[:15], regular.iloc[180:195], regular.iloc[-15:]
    assert first["volume"].mean() > 2 * middle["volume"].mean()
    assert last["volume"].mean() > 2 * middle["volume"].mean()
    pre = minutes[minutes.index < utc("2024-03-05 14:30")]
    assert pre["volume"].mean() < 0.2 * middle["volume"].mean()
    assert ((minutes["vwap"] >= minutes["low"]) & (minutes["vwap"] <= minutes["high"])).all()
    assert (minutes["trade_count"] >= 1).all()


def test_daily_volatility_is_realistic(market: SimulatedMarket) -> None:
    daily = market.bars("AAPL", "1Day", utc("2022-01-01"), utc("2024-01-01"))
    returns = np.log(daily["close"]).diff().dropna()
    assert 0.008 < returns.std() < 0.03


def test_cost_is_proportional_to_the_range_not_the_epoch() -> None:
    """A day's prices are built from that day's block alone, never from the years before
    it: counted in blocks built, not in seconds (the speed is measured in
    bench/bench_exchange_data.py, where a loaded machine cannot fail a test)."""
    for day in ("2090-03-01", "2024-03-05", "1990-03-01"):
        fresh = SimulatedMarket()
        ticks = fresh.ticks("AAPL", utc(day), utc(day) + pd.Timedelta(days=1))
        assert len(ticks) > 0
        assert 1 <= len(fresh._cache) <= 2, (day, len(fresh._cache))
    fresh = SimulatedMarket()
    bars = fresh.bars("AAPL", "1Min", utc("2023-01-01"), utc("2023-06-01"))
    assert len(bars) > 95_000
    assert len(fresh._cache) <= 152  # at most one block per day of the range


def test_adjustment_is_accepted_but_changes_nothing(market: SimulatedMarket) -> None:
    day = (utc("2024-03-05"), utc("2024-03-06"))
    raw = market.bars("AAPL", "1Day", *day)
    for adjustment in ("split", "dividend", "all"):
        pd.testing.assert_frame_equal(market.bars("AAPL", "1Day", *day, adjustment), raw)
    with pytest.raises(ValueError, match="adjustment"):
        market.bars("AAPL", "1Day", *day, "bogus")


def test_timeframe_grammar() -> None:
    assert str(parse_timeframe("15Min")) == "15Min"
    assert str(parse_timeframe("1H")) == "1Hour"
    assert str(parse_timeframe("3Month")) == "3Month"
    for bad in ("0Min", "60Min", "24Hour", "2Day", "5Month", "1Sec", "", "Min"):
        with pytest.raises(ValueError, match="timeframe"):
            parse_timeframe(bad)


def test_always_open_market_trades_on_weekends() -> None:
    m = SimulatedMarket(MarketHours(always_open=True))
    ticks = m.ticks("AAPL", utc("2024-01-06"), utc("2024-01-07"))
    assert len(ticks) == 1440
    daily = m.bars("AAPL", "1Day", utc("2024-01-06"), utc("2024-01-07 05:00"))
    minutes = m.bars("AAPL", "1Min", utc("2024-01-06 05:00"), utc("2024-01-07 05:00"))
    assert len(daily) == 1 and daily["volume"].iloc[0] == minutes["volume"].sum()


# -- the replay market ---------------------------------------------------------------------


def _as_alpaca_df(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for symbol, frame in frames.items():
        index = pd.MultiIndex.from_arrays(
            [[symbol] * len(frame), frame.index], names=["symbol", "timestamp"]
        )
        parts.append(frame.set_axis(index))
    return pd.concat(parts)


@pytest.fixture(scope="module")
def replay_source(market: SimulatedMarket) -> dict[str, pd.DataFrame]:
    span = (utc("2024-03-04"), utc("2024-03-07"))
    return {s: market.bars(s, "1Min", *span) for s in ("AAPL", "SPY")}


def test_replay_round_trips_one_minute_bars(replay_source: dict[str, pd.DataFrame]) -> None:
    replay = ReplayMarket(_as_alpaca_df(replay_source))
    assert replay.symbols() == ["AAPL", "SPY"]
    assert str(replay.resolution) == "1Min"
    out = replay.bars("AAPL", "1Min", utc("2024-03-04"), utc("2024-03-07"))
    pd.testing.assert_frame_equal(out[BAR_COLUMNS], replay_source["AAPL"][BAR_COLUMNS])


def test_replay_resamples_like_the_simulation(
    market: SimulatedMarket, replay_source: dict[str, pd.DataFrame]
) -> None:
    replay = ReplayMarket(_as_alpaca_df(replay_source))
    span = (utc("2024-03-05"), utc("2024-03-06 07:00"))
    for timeframe in ("5Min", "1Hour", "1Day"):
        pd.testing.assert_frame_equal(
            replay.bars("SPY", timeframe, *span), market.bars("SPY", timeframe, *span)
        )


def test_replay_refuses_a_finer_timeframe(replay_source: dict[str, pd.DataFrame]) -> None:
    five = {
        s: SimulatedMarket().bars(s, "5Min", utc("2024-03-05"), utc("2024-03-06"))
        for s in replay_source
    }
    replay = ReplayMarket(_as_alpaca_df(five))
    assert str(replay.resolution) == "5Min"
    with pytest.raises(wire.AlpacaError) as caught:
        replay.bars("AAPL", "1Min", utc("2024-03-05"), utc("2024-03-06"))
    assert caught.value.status == 422 and "finer" in caught.value.message
    assert len(replay.bars("AAPL", "15Min", utc("2024-03-05"), utc("2024-03-06"))) > 0


def test_replay_quotes_follow_the_last_finished_bar(replay_source: dict[str, pd.DataFrame]) -> None:
    replay = ReplayMarket(_as_alpaca_df(replay_source))
    bars = replay_source["AAPL"]
    first = bars.index[0]
    assert replay.quote_at("AAPL", first) is None  # its close is not known yet
    t = utc("2024-03-05 15:00:30")
    trade = replay.trade_at("AAPL", t)
    assert trade["price"] == bars.loc[utc("2024-03-05 14:59"), "close"]
    assert trade["t"] == utc("2024-03-05 15:00")
    quote = replay.quote_at("AAPL", t)
    assert quote["bid_price"] < trade["price"] < quote["ask_price"]
    ticks = replay.ticks("AAPL", utc("2024-03-05 15:00"), utc("2024-03-05 15:10"))
    assert len(ticks) == 10
    assert (
        ticks["price"].to_numpy() == bars["close"].loc[utc("2024-03-05 14:59") :].iloc[:10]
    ).all()
    assert replay.asset("AAPL")["symbol"] == "AAPL" and replay.asset("MSFT") is None


def test_replay_rejects_a_frame_without_the_alpaca_layout() -> None:
    with pytest.raises(ValueError, match="symbol, timestamp"):
        ReplayMarket(pd.DataFrame({"close": [1.0]}))

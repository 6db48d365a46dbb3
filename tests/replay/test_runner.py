"""``tk.replay``: the step loop, what the strategy sees, what the result records."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd
import pytest

import trading_kit as tk
from tests.replay.conftest import Crossover, expected_fills
from trading_kit.replay import Bar, ReplayResult, Step
from trading_kit.rules import NEW_YORK

MINUTE = pd.Timedelta("1min")


def test_the_crossover_fills_where_the_rule_changes_its_mind(two_days: pd.DataFrame) -> None:
    result = tk.replay(two_days, Crossover(two_days), checks=False, progress=False)
    expected = expected_fills(two_days)
    assert len(expected) > 20
    fills = result.fills.assign(price=result.fills["price"].round(2))
    columns = ["time", "symbol", "side", "qty", "price"]
    pd.testing.assert_frame_equal(fills[columns], expected[columns], check_dtype=False)
    signed = np.where(fills["side"] == "sell", 1.0, -1.0) * fills["price"] * fills["qty"]
    assert result.equity.iloc[-1] == pytest.approx(100_000 + signed.sum(), abs=1e-6)
    assert (result.positions["AAPL"].iloc[-2:] == 0).all()  # flat into every close
    assert not result.interrupted and result.steps == result.total_steps == len(two_days)


def test_the_result_is_stamped_at_each_bars_end(two_days: pd.DataFrame) -> None:
    result = tk.replay(two_days, lambda step, kit: None, cash=5_000, progress=False)
    starts = two_days.index.get_level_values("timestamp")
    assert list(result.equity.index) == list(starts + MINUTE)
    assert (result.equity == 5_000).all()
    assert list(result.positions.index) == list(starts + MINUTE)
    assert result.fills.empty and list(result.fills.columns) == [
        "time",
        "symbol",
        "side",
        "qty",
        "price",
        "order_id",
    ]
    assert "780 of 780 steps" in repr(result)


def test_the_strategy_sees_each_closed_bar_and_never_the_future(two_days: pd.DataFrame) -> None:
    closes = two_days["close"].droplevel("symbol")
    seen: list[tuple[Any, ...]] = []

    def look(step: Step, kit: tk.Kit) -> None:
        bar = step["AAPL"]
        history = bar.history
        clock = kit.orders.get_account()  # the exchange's time is the step's
        assert isinstance(bar, Bar) and step.time == bar.time + MINUTE
        assert history.time[-1] == bar.time.tz_convert(None).to_datetime64()
        assert history.close[-1] == bar.close == closes[bar.time]
        assert len(history) == len(history.close) == len(history.time)
        assert history.close.base is not None  # a view of the tape, not a copy
        quote = kit.data.get_latest_quote("AAPL")
        assert quote["timestamp"].iloc[0] == step.time  # the latest price is this close
        seen.append((len(history), step.time, clock.equity))

    result = tk.replay(two_days.iloc[:50], look, progress=False)
    assert [n for n, *_ in seen] == list(range(1, 51))
    assert result.steps == 50


def test_history_before_start_is_there_from_the_first_step(two_days: pd.DataFrame) -> None:
    lengths: list[int] = []

    def count(step: Step, kit: tk.Kit) -> None:
        lengths.append(len(step["AAPL"].history))
        if len(lengths) == 1:
            frame = step["AAPL"].history.frame()
            assert frame.index[-1] == step["AAPL"].time and len(frame) == 391

    result = tk.replay(two_days, count, start="2024-03-05", end="2024-03-05T15:00Z", progress=False)
    assert lengths[0] == 391  # Monday's 390 bars, then Tuesday 09:30
    assert result.equity.index[0] == pd.Timestamp("2024-03-05T14:31Z")  # 09:30's end
    assert result.equity.index[-1] == pd.Timestamp("2024-03-05T15:00Z")  # 10:59's end
    assert result.steps == 30


def test_several_symbols_are_stepped_together(basket: pd.DataFrame) -> None:
    steps: list[tuple[pd.Timestamp, list[str], dict[str, int]]] = []

    def record(step: Step, kit: tk.Kit) -> None:
        lengths = {s: len(h) for s, h in step.histories.items()}
        steps.append((step.time, list(step), lengths))
        if step.time.tz_convert(NEW_YORK).strftime("%H:%M") == "10:00":
            kit.orders.place_order("NVDA", qty=5, side="buy")

    result = tk.replay(basket, record, progress=False)
    first = steps[0]
    assert first[1] == ["AAPL", "MSFT", "NVDA"] and first[2] == {"AAPL": 1, "MSFT": 1, "NVDA": 1}
    in_gap = next(s for s in steps if s[0].tz_convert(NEW_YORK).strftime("%H:%M") == "11:15")
    assert in_gap[1] == ["AAPL", "NVDA"]  # no MSFT bar closed then
    assert in_gap[2]["MSFT"] == 90 and in_gap[2]["AAPL"] == 105  # its history waits
    assert result.steps == 390
    assert list(result.positions.columns) == ["AAPL", "MSFT", "NVDA"]
    assert result.positions["NVDA"].iloc[-1] == 5 and result.positions["AAPL"].abs().sum() == 0
    assert list(result.fills["symbol"]) == ["NVDA"]


def test_resting_orders_fill_between_steps_by_the_exchanges_rules(two_days: pd.DataFrame) -> None:
    """A limit buy below the market rests; it fills when the clock reaches a quote at or
    below it, and that step's bar already shows the position."""
    day = two_days.loc["AAPL"].loc["2024-03-05", "close"]
    top = day.index.get_loc(day.idxmax())  # placed at the day's high, the price comes down
    later = day.iloc[top + 1 : -1]  # the last bar closes with the session: too late
    limit = round(float(later.min()) + 0.01, 2)  # the ask gets there
    assert day.iloc[top] + 0.01 > limit
    expected = later.index[later + 0.01 <= limit][0] + MINUTE
    positions: dict[pd.Timestamp, float] = {}

    def buy_the_dip(step: Step, kit: tk.Kit) -> None:
        if step["AAPL"].time == day.index[top]:
            order = kit.orders.place_order(
                "AAPL", qty=10, side="buy", type="limit", limit_price=limit
            )
            assert order.status in ("accepted", "new")
        positions[step.time] = step["AAPL"].position

    result = tk.replay(two_days, buy_the_dip, start="2024-03-05", progress=False)
    filled = result.fills.iloc[0]
    assert filled["side"] == "buy" and filled["price"] <= limit
    assert filled["time"] == expected > day.index[top] + MINUTE
    assert positions[expected] == 10 and positions[expected - MINUTE] == 0
    assert result.positions["AAPL"].iloc[-1] == 10


def test_cash_and_equity_on_the_step(two_days: pd.DataFrame) -> None:
    seen: list[tuple[float, float]] = []

    def trade_once(step: Step, kit: tk.Kit) -> None:
        if not seen:
            kit.orders.place_order("AAPL", qty=10, side="buy")
        seen.append((step.cash, step.equity))

    result = tk.replay(two_days.iloc[:5], trade_once, progress=False)
    price = result.fills["price"].iloc[0]
    assert seen[0][0] == pytest.approx(100_000 - 10 * price)  # asked after the order filled
    assert seen[-1][1] == pytest.approx(result.equity.iloc[-1])


def test_a_class_with_on_bar_and_the_errors_for_what_is_not_a_strategy(
    two_days: pd.DataFrame,
) -> None:
    class Counter:
        def __init__(self) -> None:
            self.bars = 0

        def on_bar(self, step: Step, kit: tk.Kit) -> None:
            self.bars += len(step)

    counter = Counter()
    tk.replay(two_days.iloc[:10], counter, progress=False)
    assert counter.bars == 10
    with pytest.raises(tk.ReplayError, match=r"strategy=Counter\(\)") as caught:
        tk.replay(two_days, Counter)
    assert caught.value.argument == "strategy"
    with pytest.raises(tk.ReplayError, match="neither a function"):
        tk.replay(two_days, 42)


@pytest.mark.parametrize(
    ("bars", "argument", "message"),
    [
        ([1, 2, 3], "bars", "must be a DataFrame, got list"),
        ("single-index", "bars", r"indexed by \['timestamp'\]"),
        ("no-volume", "bars", "no volume column"),
        ("nan-close", "bars", "missing or infinite"),
        ("duplicate", "bars", "more than one row"),
    ],
)
def test_bars_it_cannot_replay_are_a_clear_error(
    two_days: pd.DataFrame, bars: Any, argument: str, message: str
) -> None:
    frame = two_days.iloc[:40].copy()
    if bars == "single-index":
        bars = frame.droplevel("symbol")
    elif bars == "no-volume":
        bars = frame.drop(columns="volume")
    elif bars == "nan-close":
        frame.iloc[7, frame.columns.get_loc("close")] = np.nan
        bars = frame
    elif bars == "duplicate":
        bars = pd.concat([frame, frame.iloc[:1]])
    with pytest.raises(tk.ReplayError, match=message) as caught:
        tk.replay(bars, lambda step, kit: None, progress=False)
    assert caught.value.argument == argument


def test_dates_and_cash_it_cannot_use_are_a_clear_error(two_days: pd.DataFrame) -> None:
    with pytest.raises(tk.ReplayError, match="no bar starts in") as caught:
        tk.replay(two_days, lambda step, kit: None, start="2025-01-01")
    assert caught.value.argument == "start" and "2024-03-04 14:30" in str(caught.value)
    with pytest.raises(tk.ReplayError, match="end='soon' is not a time"):
        tk.replay(two_days, lambda step, kit: None, end="soon")
    with pytest.raises(tk.ReplayError, match="cash=-5 must be a positive amount"):
        tk.replay(two_days, lambda step, kit: None, cash=-5)


def test_ctrl_c_stops_cleanly_with_the_partial_result(two_days: pd.DataFrame) -> None:
    def impatient(step: Step, kit: tk.Kit) -> None:
        if len(step["AAPL"].history) == 390 + 40:
            kit.orders.place_order("AAPL", qty=3, side="buy")
            raise KeyboardInterrupt

    result = tk.replay(two_days, impatient, start="2024-03-05", progress=False)
    assert result.interrupted and result.steps == 40 and result.total_steps == 390
    assert len(result.equity) == 40 and result.positions["AAPL"].iloc[-1] == 3
    assert len(result.fills) == 1 and result.fills["time"].iloc[0] == result.equity.index[-1]
    assert "interrupted" in repr(result)
    assert result.kit.orders.get_positions().loc["AAPL", "qty"] == 3  # the exchange agrees


def test_a_strategy_error_says_where_it_happened(two_days: pd.DataFrame) -> None:
    def broken(step: Step, kit: tk.Kit) -> None:
        if len(step["AAPL"].history) == 3:
            raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError) as caught:
        tk.replay(two_days, broken, progress=False)
    assert "2024-03-04 09:33 New York (step 3 of 780)" in caught.value.__notes__[0]


def test_the_same_checks_and_rules_as_paper_trading(two_days: pd.DataFrame) -> None:
    """With checks the client refuses first; without, the exchange still refuses."""

    def overspend(step: Step, kit: tk.Kit) -> None:
        kit.orders.place_order("AAPL", qty=10_000, side="buy")

    with pytest.raises(tk.OrderValidationError, match="buying power"):
        tk.replay(two_days, overspend, cash=1_000, progress=False)
    with pytest.raises(tk.OrderExecutionError, match="insufficient buying power"):
        tk.replay(two_days, overspend, cash=1_000, checks=False, progress=False)
    with pytest.raises(tk.OrderValidationError, match="max_order_qty"):
        tk.replay(two_days, overspend, risk={"max_order_qty": 50}, progress=False)


def test_the_tear_sheet_of_a_replay(two_days: pd.DataFrame) -> None:
    result = tk.replay(two_days, Crossover(two_days), checks=False, progress=False)
    assert isinstance(result, ReplayResult)
    sheet = result.tearsheet()
    assert sheet.equity.index[-1] == result.equity.index[-1]
    assert len(sheet.round_trips) == len(result.fills) // 2
    assert sheet.metrics.loc["total_return", "strategy"] == pytest.approx(
        result.equity.iloc[-1] / result.equity.iloc[0] - 1
    )
    assert sheet.benchmark is not None  # buy-and-hold of the replayed symbol
    orders = result.orders
    assert len(orders) == len(result.fills) and (orders["status"] == "filled").all()
    # the arrival quote is the replayed one: a buy paid half the two-tick spread
    assert orders["slippage"].round(4).eq(0.01).all()


def test_progress_bar_and_a_result_that_reads_well(two_days: pd.DataFrame, capsys) -> None:
    result = tk.replay(two_days.iloc[:30], lambda step, kit: None, progress=True)
    assert "replay" in capsys.readouterr().err
    assert result.steps_per_second > 0


def test_the_account_and_positions_read_on_the_first_replayed_day(two_days: pd.DataFrame) -> None:
    """The bars start after the previous session closed: its close is unknown to the
    exchange, and reading a position or the account must not fail for it."""
    seen: list[tuple[float, float, float, float]] = []

    def hold(step: Step, kit: tk.Kit) -> None:
        if not seen:
            kit.orders.place_order("AAPL", qty=10, side="buy")
        position = kit.orders.get_positions().loc["AAPL"]
        account = kit.orders.get_account()
        seen.append(
            (
                position["qty"],
                position["current_price"],
                position["change_today"],
                account.last_equity,
            )
        )

    tk.replay(two_days.iloc[:3], hold, progress=False)
    closes = two_days["close"].iloc[:3].to_numpy()
    assert [qty for qty, *_ in seen] == [10, 10, 10]
    assert [price for _, price, *_ in seen] == pytest.approx(list(closes))
    # the day's change is measured from the first price the replay knows
    assert [change for *_, change, _ in seen] == pytest.approx(list(closes / closes[0] - 1))
    assert {last for *_, last in seen} == {100_000}  # the opening cash


def test_the_heap_is_frozen_for_the_collector_only_while_a_replay_runs(
    two_days: pd.DataFrame,
) -> None:
    """The program's heap is left out of the collector's passes during the replay (a
    strategy that raises included), and put back after; a heap the program froze itself
    stays frozen."""
    frozen: list[bool] = []

    def strategy(step: Step, kit: tk.Kit) -> None:
        frozen.append(gc.get_freeze_count() > 0)
        if len(frozen) == 5:
            raise RuntimeError("the strategy's bug")

    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError, match="the strategy's bug"):
        tk.replay(two_days, strategy, progress=False)
    assert frozen == [True] * 5 and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        tk.replay(two_days.iloc[:5], lambda step, kit: None, progress=False)
        assert gc.get_freeze_count() > 0  # still frozen (frozen objects may have been freed)
    finally:
        gc.unfreeze()

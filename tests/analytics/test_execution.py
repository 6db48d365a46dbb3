"""Execution analytics on a journal made by real orders against the local exchange."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from trading_kit.analytics import limit_order_stats, limit_orders, slippage_table
from trading_kit.errors import AnalyticsError
from trading_kit.exchange import Exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders


def quote(orders: Orders, symbol: str) -> tuple[float, float]:
    frame = orders._data.get_latest_quote(symbol, use_cache=False)
    return float(frame["bid_price"].iloc[0]), float(frame["ask_price"].iloc[0])


def wait_for_fill(exchange: Exchange, orders: Orders, order_id: str, minutes: int = 60) -> int:
    """Step the manual clock a minute at a time until the order fills; the minutes taken."""
    for minute in range(1, minutes + 1):
        exchange.advance("1min")
        if orders.get_order(order_id).status == "filled":
            return minute
    raise AssertionError(f"order {order_id} did not fill within {minutes} minutes")


def test_slippage_by_symbol_side_type_and_hour(orders: Orders, exchange: Exchange) -> None:
    bid, ask = quote(orders, "AAPL")
    mid = (bid + ask) / 2
    bought = orders.place_order("AAPL", qty=100, side="buy")  # 10:00 New York
    sold = orders.place_order("AAPL", qty=40, side="sell")
    resting = orders.place_order(
        "AAPL", qty=50, side="buy", type="limit", limit_price=round(bid - 0.05, 2)
    )
    wait_for_fill(exchange, orders, resting.id)
    exchange.set_time(pd.Timestamp("2024-03-05T16:05:00Z"))  # 11:05 New York
    msft_bid, msft_ask = quote(orders, "MSFT")
    later = orders.place_order("MSFT", qty=5, side="buy")
    history = orders.history()
    table = slippage_table(history)

    # A market buy pays the ask and a sale gets the bid: half the spread each, by hand.
    half_spread_bps = (ask - mid) / mid * 1e4
    assert table.loc[("type", "market"), "orders"] == 3
    filled = history.loc[[bought.id, sold.id]]
    assert filled["filled_avg_price"].tolist() == [ask, bid]
    assert filled["slippage_bps"].to_numpy() == pytest.approx([half_spread_bps] * 2)
    msft_half = (msft_ask - msft_bid) / (msft_ask + msft_bid) * 1e4
    assert history.loc[later.id, "slippage_bps"] == pytest.approx(msft_half)

    by_hand = history.loc[[bought.id, sold.id, resting.id, later.id]]
    value = by_hand["filled_qty"] * by_hand["filled_avg_price"]
    overall = table.loc[("all", "all")]
    assert overall["orders"] == 4
    assert overall["filled_qty"] == 100 + 40 + 50 + 5
    assert overall["traded_value"] == pytest.approx(value.sum())
    assert overall["mean_bps"] == pytest.approx(by_hand["slippage_bps"].mean())
    assert overall["median_bps"] == pytest.approx(by_hand["slippage_bps"].median())
    assert overall["weighted_bps"] == pytest.approx(
        (by_hand["slippage_bps"] * value).sum() / value.sum()
    )
    assert overall["cost"] == pytest.approx((by_hand["slippage"] * by_hand["filled_qty"]).sum())

    assert table.loc["symbol"]["orders"].to_dict() == {"AAPL": 3, "MSFT": 1}
    assert table.loc["side"]["orders"].to_dict() == {"buy": 3, "sell": 1}
    assert table.loc["type"]["orders"].to_dict() == {"limit": 1, "market": 3}
    assert table.loc["hour"]["orders"].to_dict() == {"10:00": 3, "11:00": 1}
    # the resting buy filled at or below its limit, under the mid it was sent against
    assert table.loc[("type", "limit"), "mean_bps"] < 0
    # a row without a submission time is grouped as such, not dropped or an error
    undated = history.assign(submitted_at=history["submitted_at"].where(history.index != later.id))
    assert slippage_table(undated).loc["hour"]["orders"].to_dict() == {"10:00": 3, "unknown": 1}


def test_limit_orders_fill_ratio_and_time_to_fill(orders: Orders, exchange: Exchange) -> None:
    bid, ask = quote(orders, "AAPL")
    marketable = orders.place_order(
        "AAPL", qty=10, side="buy", type="limit", limit_price=round(ask + 0.10, 2)
    )
    resting = orders.place_order(
        "AAPL", qty=20, side="buy", type="limit", limit_price=round(bid - 0.05, 2)
    )
    minutes = wait_for_fill(exchange, orders, resting.id)
    never = orders.place_order("MSFT", qty=5, side="buy", type="limit", limit_price=1.00)
    waiting = orders.place_order("MSFT", qty=7, side="buy", type="limit", limit_price=1.00)
    orders.cancel_order(never.id)
    orders.place_order("AAPL", qty=1, side="buy")  # a market order: not a limit order

    history = orders.history()
    stats = limit_order_stats(history)
    assert stats["orders"] == 3  # the waiting order is not final yet
    assert stats["still_open"] == 1
    assert (stats["filled"], stats["partially_filled"], stats["unfilled"]) == (2, 0, 1)
    assert stats["fill_ratio"] == pytest.approx((10 + 20) / (10 + 20 + 5))
    assert stats["fill_rate"] == pytest.approx(2 / 3)

    per_order = limit_orders(history)
    assert per_order.loc[marketable.id, "time_to_fill"] == pd.Timedelta(0)
    waited = per_order.loc[resting.id, "time_to_fill"]
    # filled within the minute the clock last stepped over: (minutes - 1, minutes]
    assert pd.Timedelta(minutes=minutes - 1) < waited <= pd.Timedelta(minutes=minutes)
    assert stats["median_time_to_fill"] == waited / 2
    assert abs(stats["p90_time_to_fill"] - waited * 0.9) <= pd.Timedelta(1, "us")  # interpolated
    assert pd.isna(per_order.loc[waiting.id, "time_to_fill"])
    assert waiting.id in per_order.index


def test_a_partly_filled_limit_order_counts_its_shares(
    partial_exchange: RunningExchange, connect_orders: Callable[[str], Orders]
) -> None:
    orders = connect_orders(partial_exchange.url)
    placed = []
    for _ in range(4):
        _, ask = quote(orders, "AAPL")
        placed.append(
            orders.place_order(
                "AAPL",
                qty=100,
                side="buy",
                type="limit",
                limit_price=round(ask + 0.05, 2),
                time_in_force="ioc",
            ).id
        )
    broker = orders.get_orders("all").loc[placed]
    partial = broker[(broker["status"] == "canceled") & (broker["filled_qty"] > 0)]
    assert len(partial) >= 1  # seed 3 makes the first fill partial; IOC cancels the rest

    stats = limit_order_stats(orders.history())
    assert stats["orders"] == 4
    assert stats["partially_filled"] == len(partial)
    assert stats["filled"] == (broker["status"] == "filled").sum()
    assert stats["fill_ratio"] == pytest.approx(broker["filled_qty"].sum() / 400)


def test_no_fills_give_empty_groups_not_errors(orders: Orders) -> None:
    orders.place_order("MSFT", qty=5, side="buy", type="limit", limit_price=1.00)
    history = orders.history()
    table = slippage_table(history)
    assert table.empty and list(table.columns) == [
        "orders",
        "filled_qty",
        "traded_value",
        "mean_bps",
        "median_bps",
        "weighted_bps",
        "cost",
    ]
    stats = limit_order_stats(history)
    assert stats["orders"] == 0 and stats["still_open"] == 1
    assert np.isnan(stats["fill_ratio"])


def test_a_frame_that_is_not_the_journal_is_named(orders: Orders) -> None:
    with pytest.raises(
        AnalyticsError, match="no arrival_price, slippage, slippage_bps column"
    ) as caught:
        slippage_table(orders.get_orders("all"))
    assert caught.value.argument == "journal"
    with pytest.raises(AnalyticsError, match="got list"):
        limit_order_stats([])

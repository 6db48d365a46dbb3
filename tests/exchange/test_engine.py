"""Fill rules of the matching engine, in process, under a manual clock.

Expected fills are found with a plain Python scan over the simulated minute path (the
oracle), independent of the engine's vectorised search.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd

from tests.conftest import SESSION_TIME
from trading_kit.exchange.clock import ManualClock
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.engine import PARTIAL_FILL_PROBABILITY
from trading_kit.exchange.market import SimulatedMarket

CLOSE = pd.Timestamp("2024-03-05T21:00:00Z")  # 16:00 ET
NEXT_OPEN = pd.Timestamp("2024-03-06T14:30:00Z")


def submit(ex: Exchange, **body: Any) -> dict[str, Any]:
    body.setdefault("time_in_force", "day")
    return ex.run(ex.engine.submit, body)


def state(ex: Exchange, order_id: str) -> dict[str, Any]:
    return ex.run(lambda: ex.engine.order_json(ex.engine.get_order(order_id)))


def quote(market: SimulatedMarket, symbol: str, t: pd.Timestamp) -> tuple[Decimal, Decimal]:
    q = market.quote_at(symbol, t)
    return Decimal(str(q["bid_price"])), Decimal(str(q["ask_price"]))


def first_minute(
    market: SimulatedMarket,
    symbol: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    condition: Callable[[pd.Series], bool],
) -> tuple[pd.Timestamp, pd.Series] | None:
    """Oracle: the first regular-session minute in (start, end] where ``condition`` holds."""
    ticks = market.ticks(symbol, start, end + pd.Timedelta(1, "us"))
    for t, row in ticks.iterrows():
        if start < t <= end and market.hours.is_open(t) and condition(row):
            return t, row
    return None


def test_market_buy_is_accepted_then_fills_at_the_ask(exchange: Exchange, sim_market) -> None:
    _bid, ask = quote(sim_market, "AAPL", SESSION_TIME)
    response = submit(exchange, symbol="AAPL", qty=10, side="buy", type="market")
    assert response["status"] == "accepted"
    assert response["order_class"] == "" and response["qty"] == "10"
    order = state(exchange, response["id"])
    assert order["status"] == "filled"
    assert Decimal(order["filled_avg_price"]) == ask
    assert exchange.engine.cash == Decimal(100_000) - 10 * ask
    position = exchange.engine.positions["AAPL"]
    assert position.qty == 10 and position.avg_entry_price == ask


def test_market_sell_fills_at_the_bid(exchange: Exchange, sim_market) -> None:
    bid, ask = quote(sim_market, "MSFT", SESSION_TIME)
    submit(exchange, symbol="MSFT", qty=4, side="buy", type="market")
    sell = submit(exchange, symbol="MSFT", qty=4, side="sell", type="market")
    assert Decimal(state(exchange, sell["id"])["filled_avg_price"]) == bid
    assert "MSFT" not in exchange.engine.positions
    assert exchange.engine.cash == Decimal(100_000) - 4 * ask + 4 * bid


def test_marketable_limit_fills_at_the_quote_not_the_limit(exchange: Exchange, sim_market) -> None:
    _, ask = quote(sim_market, "AAPL", SESSION_TIME)
    limit = (ask + 5).quantize(Decimal("0.01"))
    order = submit(exchange, symbol="AAPL", qty=1, side="buy", type="limit", limit_price=str(limit))
    filled = state(exchange, order["id"])
    assert filled["status"] == "filled"
    assert Decimal(filled["filled_avg_price"]) == ask < limit


def test_resting_limit_fills_when_the_ask_reaches_it(exchange: Exchange, sim_market) -> None:
    end = SESSION_TIME + pd.Timedelta(hours=3)
    ticks = sim_market.ticks("AAPL", SESSION_TIME + pd.Timedelta(minutes=1), end)
    limit = round(float(ticks["ask_price"].min()) + 0.02, 2)
    _, ask_now = quote(sim_market, "AAPL", SESSION_TIME)
    assert Decimal(str(limit)) < ask_now, "the path must dip below the current ask"
    expected = first_minute(sim_market, "AAPL", SESSION_TIME, end, lambda r: r.ask_price <= limit)
    assert expected is not None
    order = submit(exchange, symbol="AAPL", qty=2, side="buy", type="limit", limit_price=limit)
    assert state(exchange, order["id"])["status"] == "new"
    exchange.advance(end - SESSION_TIME)
    filled = state(exchange, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == expected[0]
    assert float(filled["filled_avg_price"]) == expected[1].ask_price <= limit


def test_sell_stop_triggers_on_the_trade_price_and_fills_at_the_bid(
    exchange: Exchange, sim_market
) -> None:
    end = SESSION_TIME + pd.Timedelta(hours=4)
    submit(exchange, symbol="NVDA", qty=3, side="buy", type="market")
    ticks = sim_market.ticks("NVDA", SESSION_TIME + pd.Timedelta(minutes=1), end)
    stop = round(float(ticks["price"].min()) + 0.05, 2)
    expected = first_minute(sim_market, "NVDA", SESSION_TIME, end, lambda r: r.price <= stop)
    assert expected is not None
    order = submit(exchange, symbol="NVDA", qty=3, side="sell", type="stop", stop_price=stop)
    exchange.advance(end - SESSION_TIME)
    filled = state(exchange, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == expected[0]
    assert float(filled["filled_avg_price"]) == expected[1].bid_price


def test_stop_limit_triggers_then_rests_as_a_limit(exchange: Exchange, sim_market) -> None:
    end = SESSION_TIME + pd.Timedelta(hours=2)
    ticks = sim_market.ticks("TSLA", SESSION_TIME + pd.Timedelta(minutes=1), end)
    stop = round(float(ticks["price"].max()) - 0.05, 2)
    limit = round(float(ticks["ask_price"].max()) + 1, 2)
    trigger = first_minute(sim_market, "TSLA", SESSION_TIME, end, lambda r: r.price >= stop)
    assert trigger is not None
    order = submit(
        exchange,
        symbol="TSLA",
        qty=1,
        side="buy",
        type="stop_limit",
        stop_price=stop,
        limit_price=limit,
    )
    exchange.advance(end - SESSION_TIME)
    filled = state(exchange, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == trigger[0]
    # a limit far below never fills even after the stop triggers
    low = round(float(ticks["bid_price"].min()) - 10, 2)
    untouched = submit(
        exchange,
        symbol="TSLA",
        qty=1,
        side="buy",
        type="stop_limit",
        stop_price=low + 11,
        limit_price=low,
    )
    exchange.advance("30min")
    assert state(exchange, untouched["id"])["status"] == "new"
    assert exchange.engine.orders[untouched["id"]].triggered


def test_trailing_stop_tracks_the_high_water_mark(exchange: Exchange, sim_market) -> None:
    submit(exchange, symbol="AMZN", qty=5, side="buy", type="market")
    order = submit(
        exchange, symbol="AMZN", qty=5, side="sell", type="trailing_stop", trail_percent=40
    )
    start_price = Decimal(str(sim_market.trade_at("AMZN", SESSION_TIME)["price"]))
    assert Decimal(order["hwm"]) == start_price
    assert Decimal(order["stop_price"]) == (start_price * Decimal("0.6")).quantize(Decimal("0.01"))
    exchange.advance("2h")
    ticks = sim_market.ticks("AMZN", SESSION_TIME + pd.Timedelta(minutes=1), exchange.clock.now())
    hwm = max(float(start_price), float(ticks["price"].max()))
    now = state(exchange, order["id"])
    assert now["status"] == "new"
    assert float(now["hwm"]) == hwm
    assert Decimal(now["stop_price"]) == (Decimal(str(hwm)) * Decimal("0.6")).quantize(
        Decimal("0.01")
    )


def test_trailing_stop_fills_when_price_falls_by_the_trail(exchange: Exchange, sim_market) -> None:
    submit(exchange, symbol="META", qty=2, side="buy", type="market")
    order = submit(
        exchange, symbol="META", qty=2, side="sell", type="trailing_stop", trail_price=0.5
    )
    end = SESSION_TIME + pd.Timedelta(hours=5)
    hwm = float(sim_market.trade_at("META", SESSION_TIME)["price"])
    expected = None
    ticks = sim_market.ticks("META", SESSION_TIME + pd.Timedelta(minutes=1), end)
    for t, row in ticks.iterrows():
        if not sim_market.hours.is_open(t):
            continue
        hwm = max(hwm, row.price)
        if row.price <= hwm - 0.5:
            expected = (t, row)
            break
    assert expected is not None
    exchange.advance(end - SESSION_TIME)
    filled = state(exchange, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == expected[0]
    assert float(filled["filled_avg_price"]) == expected[1].bid_price


def test_day_order_expires_at_the_close_and_gtc_survives(exchange: Exchange) -> None:
    day = submit(exchange, symbol="AAPL", qty=1, side="buy", type="limit", limit_price=1)
    gtc = submit(
        exchange, symbol="AAPL", qty=1, side="buy", type="limit", limit_price=1, time_in_force="gtc"
    )
    assert pd.Timestamp(day["expires_at"]) == CLOSE
    exchange.advance("8h")
    expired = state(exchange, day["id"])
    assert expired["status"] == "expired"
    assert pd.Timestamp(expired["expired_at"]) == CLOSE
    assert state(exchange, gtc["id"])["status"] == "new"


def test_order_submitted_while_closed_stays_accepted_until_the_open(sim_market) -> None:
    ex = Exchange(sim_market, ManualClock("2024-03-06T02:00:00Z"), partial_fills=False)
    order = submit(ex, symbol="SPY", qty=1, side="buy", type="market")
    assert state(ex, order["id"])["status"] == "accepted"
    ex.set_time(NEXT_OPEN + pd.Timedelta(minutes=5))
    filled = state(ex, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == NEXT_OPEN
    _, ask = quote(sim_market, "SPY", NEXT_OPEN)
    assert Decimal(filled["filled_avg_price"]) == ask


def test_extended_hours_limit_trades_pre_market_but_regular_orders_wait(sim_market) -> None:
    pre = pd.Timestamp("2024-03-06T12:00:00Z")  # 07:00 ET
    ex = Exchange(sim_market, ManualClock(pre), partial_fills=False)
    _, ask = quote(sim_market, "QQQ", pre)
    limit = str(ask + 1)
    extended = submit(
        ex, symbol="QQQ", qty=1, side="buy", type="limit", limit_price=limit, extended_hours=True
    )
    regular = submit(ex, symbol="QQQ", qty=1, side="buy", type="limit", limit_price=limit)
    assert state(ex, extended["id"])["status"] == "filled"
    assert state(ex, regular["id"])["status"] == "accepted"
    ex.set_time(NEXT_OPEN + pd.Timedelta(minutes=1))
    assert pd.Timestamp(state(ex, regular["id"])["filled_at"]) == NEXT_OPEN


def _partial_seed() -> int:
    """A seed whose first fill decision is a partial fill."""
    return next(
        s for s in range(1000) if random.Random(s * 1_000_003).random() < PARTIAL_FILL_PROBABILITY
    )


def test_ioc_partial_fill_ends_canceled_with_filled_qty(sim_market, manual_clock) -> None:
    ex = Exchange(sim_market, manual_clock, partial_fills=True, seed=_partial_seed())
    order = submit(ex, symbol="AAPL", qty=100, side="buy", type="market", time_in_force="ioc")
    final = state(ex, order["id"])
    assert final["status"] == "canceled"
    assert 0 < Decimal(final["filled_qty"]) < 100
    assert ex.engine.positions["AAPL"].qty == Decimal(final["filled_qty"])


def test_partially_filled_resting_order_completes_later(sim_market, manual_clock) -> None:
    ex = Exchange(sim_market, manual_clock, partial_fills=True, seed=_partial_seed())
    order = submit(ex, symbol="AAPL", qty=100, side="buy", type="market", time_in_force="day")
    first = state(ex, order["id"])
    assert first["status"] == "partially_filled"
    ex.advance("5min")
    final = state(ex, order["id"])
    assert final["status"] == "filled" and final["filled_qty"] == "100"
    fills = ex.engine.activities_json("FILL", direction="asc")
    assert next(a["type"] for a in fills) == "partial_fill"
    assert sum(Decimal(a["qty"]) for a in fills) == 100


def test_ioc_and_fok_that_cannot_fill_are_canceled(exchange: Exchange) -> None:
    for tif in ("ioc", "fok"):
        order = submit(
            exchange,
            symbol="AAPL",
            qty=1,
            side="buy",
            type="limit",
            limit_price=1,
            time_in_force=tif,
        )
        final = state(exchange, order["id"])
        assert final["status"] == "canceled" and final["filled_qty"] == "0"
    fok = submit(exchange, symbol="AAPL", qty=7, side="buy", type="market", time_in_force="fok")
    assert state(exchange, fok["id"])["status"] == "filled"


def test_opg_fills_at_the_opening_trade(sim_market) -> None:
    ex = Exchange(sim_market, ManualClock("2024-03-06T01:00:00Z"), partial_fills=False)
    order = submit(ex, symbol="AAPL", qty=3, side="buy", type="market", time_in_force="opg")
    ex.set_time(NEXT_OPEN + pd.Timedelta(minutes=30))
    filled = state(ex, order["id"])
    assert filled["status"] == "filled"
    assert pd.Timestamp(filled["filled_at"]) == NEXT_OPEN
    assert (
        float(filled["filled_avg_price"])
        == sim_market.ticks("AAPL", NEXT_OPEN, NEXT_OPEN + pd.Timedelta(minutes=1)).price.iloc[0]
    )
    ex.set_time("2024-03-07T13:00:00Z")  # 08:00 ET: opg orders are taken until 9:28
    unmet = submit(
        ex, symbol="AAPL", qty=1, side="buy", type="limit", limit_price=1, time_in_force="opg"
    )
    ex.set_time("2024-03-07T15:00:00Z")
    assert state(ex, unmet["id"])["status"] == "canceled"


def test_cls_fills_at_the_closing_minute(exchange: Exchange, sim_market) -> None:
    order = submit(exchange, symbol="MSFT", qty=2, side="buy", type="market", time_in_force="cls")
    exchange.advance("5h")
    assert state(exchange, order["id"])["status"] == "new"
    exchange.advance("2h")
    filled = state(exchange, order["id"])
    last_minute = CLOSE - pd.Timedelta(minutes=1)
    assert pd.Timestamp(filled["filled_at"]) == last_minute
    assert (
        float(filled["filled_avg_price"])
        == sim_market.ticks("MSFT", last_minute, CLOSE).price.iloc[0]
    )


def test_notional_buy_gets_fractional_qty(exchange: Exchange, sim_market) -> None:
    _, ask = quote(sim_market, "AAPL", SESSION_TIME)
    order = submit(exchange, symbol="AAPL", notional="1000", side="buy", type="market")
    assert order["notional"] == "1000" and order["qty"] is None
    filled = state(exchange, order["id"])
    qty = Decimal(filled["filled_qty"])
    assert qty == (Decimal(1000) / ask).quantize(Decimal("1e-9"), rounding="ROUND_DOWN")
    assert exchange.engine.cash == Decimal(100_000) - qty * ask


def test_bracket_legs_are_held_then_take_profit_cancels_stop(
    exchange: Exchange, sim_market
) -> None:
    end = SESSION_TIME + pd.Timedelta(hours=3)
    ticks = sim_market.ticks("GOOGL", SESSION_TIME + pd.Timedelta(minutes=1), end)
    take_profit = round(float(ticks["bid_price"].max()) - 0.02, 2)
    _, ask = quote(sim_market, "GOOGL", SESSION_TIME)
    assert take_profit >= float(ask) + 0.01, "path must rise above the entry"
    order = submit(
        exchange,
        symbol="GOOGL",
        qty=5,
        side="buy",
        type="market",
        order_class="bracket",
        take_profit={"limit_price": take_profit},
        stop_loss={"stop_price": round(float(ask) * 0.5, 2)},
    )
    assert order["order_class"] == "bracket"
    assert [leg["status"] for leg in order["legs"]] == ["held", "held"]
    after_entry = state(exchange, order["id"])
    assert after_entry["status"] == "filled"
    # Alpaca shows the take profit new and the stop loss held until the take profit is done
    assert [leg["status"] for leg in after_entry["legs"]] == ["new", "held"]
    exchange.advance(end - SESSION_TIME)
    tp, sl = state(exchange, order["id"])["legs"]
    assert tp["status"] == "filled" and tp["type"] == "limit" and tp["side"] == "sell"
    assert sl["status"] == "canceled" and sl["type"] == "stop"
    assert "GOOGL" not in exchange.engine.positions


def test_bracket_exits_hold_the_position_once_not_twice(exchange: Exchange) -> None:
    """Take profit and stop loss cancel each other: together they hold 10 shares, not 20."""
    _, ask = quote(exchange.market, "AAPL", SESSION_TIME)
    submit(
        exchange,
        symbol="AAPL",
        qty=10,
        side="buy",
        type="market",
        order_class="bracket",
        take_profit={"limit_price": round(float(ask) * 1.5, 2)},
        stop_loss={"stop_price": round(float(ask) * 0.5, 2)},
    )
    exchange.advance("1min")
    position = exchange.run(
        lambda: exchange.engine.position_json(
            exchange.engine.positions["AAPL"], exchange.engine.now()
        )
    )
    assert (position["qty"], position["qty_available"]) == ("10", "0")


def test_bracket_cancel_of_unfilled_entry_cancels_held_legs(exchange: Exchange) -> None:
    order = submit(
        exchange,
        symbol="GOOGL",
        qty=1,
        side="buy",
        type="limit",
        limit_price=10,
        order_class="bracket",
        take_profit={"limit_price": 20},
        stop_loss={"stop_price": 5, "limit_price": 4.5},
    )
    assert order["legs"][1]["type"] == "stop_limit"
    exchange.run(exchange.engine.cancel, order["id"])
    final = state(exchange, order["id"])
    assert final["status"] == "canceled"
    assert {leg["status"] for leg in final["legs"]} == {"canceled"}


def test_oco_stop_fill_cancels_take_profit(exchange: Exchange, sim_market) -> None:
    submit(exchange, symbol="JPM", qty=10, side="buy", type="market")
    end = SESSION_TIME + pd.Timedelta(hours=4)
    ticks = sim_market.ticks("JPM", SESSION_TIME + pd.Timedelta(minutes=1), end)
    stop = round(float(ticks["price"].min()) + 0.03, 2)
    order = submit(
        exchange,
        symbol="JPM",
        qty=10,
        side="sell",
        type="limit",
        order_class="oco",
        take_profit={"limit_price": round(float(ticks["ask_price"].max()) + 50, 2)},
        stop_loss={"stop_price": stop},
    )
    assert order["type"] == "limit" and len(order["legs"]) == 1
    exchange.advance(end - SESSION_TIME)
    final = state(exchange, order["id"])
    assert final["status"] == "canceled"
    assert final["legs"][0]["status"] == "filled"
    assert "JPM" not in exchange.engine.positions


def test_oto_has_one_leg_released_by_the_entry(exchange: Exchange, sim_market) -> None:
    _, ask = quote(sim_market, "KO", SESSION_TIME)
    order = submit(
        exchange,
        symbol="KO",
        qty=2,
        side="buy",
        type="market",
        order_class="oto",
        stop_loss={"stop_price": round(float(ask) * 0.8, 2)},
    )
    assert len(order["legs"]) == 1 and order["legs"][0]["status"] == "held"
    assert state(exchange, order["id"])["legs"][0]["status"] == "new"


def test_replace_creates_a_new_order_and_marks_the_old_replaced(exchange: Exchange) -> None:
    old = submit(exchange, symbol="AAPL", qty=2, side="buy", type="limit", limit_price=10)
    new = exchange.run(exchange.engine.replace, old["id"], {"limit_price": 11, "qty": 3})
    assert new["replaces"] == old["id"] and new["limit_price"] == "11" and new["qty"] == "3"
    previous = state(exchange, old["id"])
    assert previous["status"] == "replaced" and previous["replaced_by"] == new["id"]
    assert state(exchange, new["id"])["status"] == "new"


def test_account_math_after_a_fill(exchange: Exchange, sim_market) -> None:
    submit(exchange, symbol="AAPL", qty=100, side="buy", type="market")
    resting = submit(exchange, symbol="MSFT", qty=10, side="buy", type="limit", limit_price=100)
    account = exchange.run(exchange.engine.account_json)
    price = Decimal(str(sim_market.trade_at("AAPL", SESSION_TIME)["price"]))
    cash = Decimal(account["cash"])
    assert Decimal(account["long_market_value"]) == 100 * price
    assert Decimal(account["equity"]) == cash + 100 * price
    assert Decimal(account["initial_margin"]) == 50 * price
    expected_bp = (cash + 100 * price - 50 * price) * 2 - 10 * 100
    assert Decimal(account["buying_power"]) == expected_bp
    assert "pattern_day_trader" not in account and "daytrade_count" not in account
    exchange.run(exchange.engine.cancel, resting["id"])
    assert Decimal(exchange.run(exchange.engine.account_json)["buying_power"]) == expected_bp + 1000


def test_short_sell_and_cover(exchange: Exchange, sim_market) -> None:
    bid, _ = quote(sim_market, "XOM", SESSION_TIME)
    submit(exchange, symbol="XOM", qty=10, side="sell", type="market")
    position = exchange.run(exchange.engine.positions_json)[0]
    assert position["side"] == "short" and position["qty"] == "-10"
    assert Decimal(position["market_value"]) < 0
    assert exchange.engine.cash == Decimal(100_000) + 10 * bid
    submit(exchange, symbol="XOM", qty=10, side="buy", type="market")
    assert "XOM" not in exchange.engine.positions

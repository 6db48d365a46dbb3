"""Trade updates in the kit: the live frame, the journal that follows them, and the checks
that read a local account instead of five requests per order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

import trading_kit as tk
from tests.stream.conftest import KEY, SECRET, wait_until
from trading_kit.errors import OrderValidationError
from trading_kit.exchange import Exchange, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders


def requests_sent(kit: tk.Kit, action) -> int:
    """How many requests ``action`` sent over the network (the rate limiter counts them)."""
    limiter = kit.orders._stack.limiter
    before = limiter.status().remaining
    action()
    return before - limiter.status().remaining


def test_trade_updates_frame(kit: tk.Kit) -> None:
    fills = kit.stream.trade_updates()
    order = kit.orders.place_order("AAPL", qty=5, side="buy")
    wait_until(lambda: fills.last is not None and fills.last.event == "fill")
    frame = fills.df
    assert list(frame["event"])[-1] == "fill" and frame["event"].iloc[0] in ("accepted", "new")
    fill = frame.iloc[-1]
    assert fill["order_id"] == order.id and fill["fill_qty"] == 5 and fill["position_qty"] == 5
    assert fill["price"] == kit.orders.get_order(order.id).filled_avg_price
    assert frame.index[-1] == kit.orders.get_order(order.id).filled_at


def test_the_journal_follows_every_order_of_the_account(
    kit: tk.Kit, running_exchange: RunningExchange
) -> None:
    """An order placed with alpaca-py, outside trading_kit, lands in the journal too."""
    kit.stream.trade_updates()
    outside = TradingClient(KEY, SECRET, paper=True, url_override=running_exchange.url)
    resting = outside.submit_order(
        LimitOrderRequest(
            symbol="MSFT", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, limit_price=10
        )
    )
    filled = outside.submit_order(
        MarketOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY)
    )
    outside.cancel_order_by_id(resting.id)
    events = kit.orders.journal.events

    def seen(order_id: str, event: str) -> bool:
        frame = events()
        return bool(((frame["order_id"] == order_id) & (frame["event"] == event)).any())

    wait_until(lambda: seen(str(resting.id), "canceled") and seen(str(filled.id), "fill"))
    history = kit.orders.history()
    assert history.loc[str(filled.id), "status"] == "filled"
    assert history.loc[str(resting.id), "status"] == "canceled"
    assert history.loc[str(resting.id), "last_event"] == "canceled"
    fill_event = events().query("order_id == @filled.id.__str__() and event == 'fill'")
    broker = outside.get_order_by_id(filled.id)
    assert fill_event["at"].iloc[0] == pd.Timestamp(broker.filled_at)  # the event's own time


def test_with_the_stream_an_order_is_one_request(kit: tk.Kit) -> None:
    kit.stream.trade_updates()
    kit.stream.quotes("AAPL")
    assert kit.orders.live.trusted
    order = {"qty": 1, "side": "buy", "type": "limit", "limit_price": 10, "time_in_force": "gtc"}
    kit.orders.place_order("AAPL", **order)  # the asset is read once, then cached for the day
    assert requests_sent(kit, lambda: kit.orders.place_order("AAPL", **order)) == 1
    rest = Orders(stack=kit.orders._stack)  # the same account without the stream
    assert requests_sent(kit, lambda: rest.place_order("AAPL", **order)) >= 4


def test_live_checks_count_what_was_just_committed(kit: tk.Kit) -> None:
    """Buying power is not spent twice between two orders, before any re-read."""
    kit.stream.trade_updates()
    buying_power = kit.orders.get_account().buying_power
    price = 100.0
    qty = int(buying_power * 0.6 / price)
    order = {"side": "buy", "type": "limit", "limit_price": price, "time_in_force": "gtc"}
    kit.orders.place_order("AAPL", qty=qty, **order)
    with pytest.raises(OrderValidationError, match="buying power"):
        kit.orders.place_order("MSFT", qty=qty, **order)


def test_live_checks_know_the_position_a_fill_made(kit: tk.Kit) -> None:
    kit.stream.trade_updates()
    kit.orders.place_order("NVDA", qty=3, side="buy")
    wait_until(lambda: kit.orders.live.numbers("NVDA")["position_qty"] == 3)
    wait_until(lambda: kit.orders.live.numbers("NVDA")["qty_available"] == 3)
    with pytest.raises(OrderValidationError, match="only 3 of 3 are available"):
        kit.orders.place_order("NVDA", qty=5, side="sell")
    kit.orders.place_order("NVDA", qty=3, side="sell")


def test_without_the_stream_the_rest_path_is_unchanged(exchange: Exchange, tmp_path: Path) -> None:
    running = start_exchange(exchange)
    kit = tk.connect(
        KEY, SECRET, trading_url=running.url, data_url=running.url, cache_path=tmp_path / "c"
    )
    try:
        kit.stream.trade_updates()
        assert kit.orders.live.trusted
        running.stop()  # the stream drops: the checks go back to REST (and fail to connect)
        wait_until(lambda: not kit.orders.live.trusted)
        running = start_exchange(exchange, port=running.port)
        wait_until(lambda: kit.orders.live.trusted)  # reconnected and read again
        order = kit.orders.place_order("AAPL", qty=1, side="buy")
        assert kit.orders.get_order(order.id).status == "filled"
    finally:
        kit.stream.close()
        running.stop()


def test_the_journal_keeps_each_quote_whichever_write_comes_first(kit: tk.Kit) -> None:
    """With the stream, an order's trade update often reaches the journal before the
    record of its answer: the quote at submission must survive either order."""
    kit.stream.trade_updates()
    order = {"qty": 1, "side": "buy", "type": "limit", "limit_price": 10, "time_in_force": "gtc"}
    placed = [kit.orders.place_order("AAPL", **order).id for _ in range(20)]
    filled = kit.orders.place_order("MSFT", qty=2, side="buy").id
    history = kit.orders.history()
    assert history.loc[placed, "quote_bid"].notna().all()
    assert history.loc[filled, "status"] == "filled" and history.loc[filled, "quote_ask"] > 0
    assert history.loc[filled, "slippage"] == history.loc[filled, "slippage"]  # not NaN
    assert history.loc[filled, "last_event"] == "fill"  # not the submission, written later


def test_refused_keys_on_the_trading_stream(sim_market, tmp_path: Path) -> None:
    from trading_kit.errors import StreamError
    from trading_kit.exchange import ManualClock

    exchange = Exchange(sim_market, ManualClock("2024-03-05T15:00:00Z"), credentials=(KEY, SECRET))
    with start_exchange(exchange) as running:
        wrong = "wrong-secret-never-show-me"
        kit = tk.connect(
            KEY, wrong, trading_url=running.url, data_url=running.url, cache_path=tmp_path / "c"
        )
        with pytest.raises(StreamError) as refused:
            kit.stream.trade_updates()
        assert refused.value.code == 401 and wrong not in str(refused.value)
        assert not kit.orders.live.trusted and kit.stream.status == {}
        kit.stream.close()
    exchange.close()

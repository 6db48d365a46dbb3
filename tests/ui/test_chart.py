"""PriceChart against the local exchange: the figure, the lines, drags, clicks, zoom, liveness.

What the browser sends is delivered the way the kernel delivers it: a comm message to
the widget (``Widget._handle_msg``), the same path a real mouse release takes. The
browser itself is driven in ``tests/browser``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from tests.conftest import SESSION_TIME
from tests.ui.conftest import BARS_START, cents, server_order
from trading_kit.ui import OrderTicket, PriceChart, feed
from trading_kit.ui.widget import plotly_js


def browser_says(chart: PriceChart, **content) -> None:
    """A message from chart.js, as the kernel hands it to the widget."""
    chart.widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def replaces(running) -> list:
    """Every order on the exchange that replaced another (one per replace request)."""
    return [o for o in running.exchange.engine.orders.values() if o.replaces]


def line(chart: PriceChart, order_id: str, field: str = "limit_price"):
    return next(lv for lv in chart.levels if lv.order_id == order_id and lv.field == field)


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def make_chart(md, orders, **kwargs) -> PriceChart:
    kwargs.setdefault("live", False)
    return PriceChart(
        md, "AAPL", "5Min", orders=orders, start=BARS_START, end=SESSION_TIME, **kwargs
    )


@pytest.fixture
def near(md) -> float:
    """A price just under the bid: a buy limit there rests, inside the price axis."""
    return float(md.get_latest_quote("AAPL")["bid_price"].iloc[0]) - 0.30


def test_candles_and_volume_in_new_york_time(md) -> None:
    bars = md.get_bars("AAPL", "5Min", BARS_START, SESSION_TIME)
    chart = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME, live=False)
    candle, volume, buys, sells = chart.figure.data
    assert isinstance(candle, go.Candlestick) and isinstance(volume, go.Bar)
    assert len(candle.x) == len(bars) == len(volume.x) < 300  # all of them, not aggregated
    assert candle.close[-1] == pytest.approx(bars["close"].iloc[-1])
    assert volume.yaxis == "y2" and candle.yaxis == "y"  # volume beneath the candles
    assert len(buys.y) == len(sells.y) == 0
    # Shown in New York time: the last bar of the window starts at 09:55 ET.
    assert pd.Timestamp(candle.x[-1]) == pd.Timestamp("2024-03-05 09:55")
    assert chart.figure.layout.title.text == "<b>AAPL</b> · 5Min · New York time"
    assert chart.figure.layout.yaxis.side == "right" and chart.figure.layout.showlegend is False


def test_the_browser_gets_dates_and_no_plotly_bundle(md, orders) -> None:
    chart = make_chart(md, orders)
    state = chart.widget.get_state()
    x = state["figure"]["data"][0]["x"]
    assert all(isinstance(v, str) and v.startswith("2024-03-0") for v in (x[0], x[-1]))
    assert state["_plotly"].startswith("IPY_MODEL_")  # a reference to the one shared bundle
    assert len(json.dumps(state, default=str)) < 200_000
    assert plotly_js()[:2000] not in json.dumps(state, default=str)


def test_weekend_bars_of_an_always_open_market_are_not_hidden() -> None:
    stamps = pd.date_range("2024-03-01 14:30", "2024-03-04 21:00", freq="1h", tz="UTC")
    bars = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
        index=pd.MultiIndex.from_product([["AAPL"], stamps], names=["symbol", "timestamp"]),
    )
    chart = PriceChart(None, "AAPL", "1Hour", bars=bars, interactive=False)
    breaks = chart.figure.layout.xaxis.rangebreaks
    assert {"bounds": ["sat", "mon"]} not in [rb.to_plotly_json() for rb in breaks]


def test_without_start_or_end_the_window_ends_at_the_exchange_clock(md) -> None:
    chart = PriceChart(md, "AAPL", "5Min", interactive=False)
    last = chart.series.last
    assert SESSION_TIME - pd.Timedelta("10min") <= last <= SESSION_TIME


def test_overlays_for_a_known_set_of_orders(running, md, orders, near) -> None:
    bought = orders.place_order("AAPL", qty=10, side="buy")
    running.exchange.advance("1min")
    limit = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    stop = orders.place_order("AAPL", qty=4, side="sell", type="stop", stop_price=cents(near - 0.2))
    far = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=cents(near / 2))
    orders.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=100)  # not drawn
    chart = make_chart(md, orders)

    fill_price = orders.get_order(bought.id).filled_avg_price
    labels = {level.order_id: level.label for level in chart.levels}
    assert labels[limit.id] == f"BUY 5 LMT {cents(near):.2f}"
    assert labels[stop.id] == f"SELL 4 STP {cents(near - 0.2):.2f}"
    assert labels[None] == f"LONG 10 avg {fill_price:.2f}"
    layout = chart.figure.layout
    shapes = {s.name: s for s in layout.shapes}
    assert shapes[line(chart, limit.id).key].y0 == float(cents(near))
    assert shapes[line(chart, limit.id).key].line.dash == "solid"
    assert shapes[line(chart, stop.id, "stop_price").key].line.dash == "dash"
    assert shapes["entry:long"].line.dash == "dot"
    assert shapes["last"].line.dash == "dot"  # the last price
    # The far order does not squash the candles: a tag at the bottom edge, with its price.
    assert line(chart, far.id).key not in shapes
    low, _high = layout.yaxis.range
    assert low > float(cents(near / 2)) * 1.5
    (tag,) = [a for a in layout.annotations if a.name == line(chart, far.id).key]
    assert tag.text == f"▼ BUY 1 LMT {cents(near / 2):.2f}"  # beyond the axis: not grabbable
    # Fills as markers: one buy at its average price, no sells.
    _, _, buys, sells = chart.figure.data
    assert list(buys.y) == [fill_price] and len(sells.y) == 0
    assert buys.hovertext == (f"BUY 10 @ {fill_price:.2f}",)
    # What the browser may grab: the editable lines inside the price axis.
    grabbable = {h["key"]: h["editable"] for h in chart.widget.lines}
    assert grabbable == {
        line(chart, limit.id).key: True,
        line(chart, stop.id, "stop_price").key: True,
        "entry:long": False,
    }


def test_a_drag_is_one_replace_at_the_release_price(running, md, orders, near) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders)
    key = line(chart, order.id).key

    browser_says(chart, event="move", key=key, price=near - 0.104, seq=7)  # between ticks

    assert len(replaces(running)) == 1
    old = server_order(running, order.id)
    new = server_order(running, old.replaced_by)
    assert old.status == "replaced" and new.replaces == order.id
    assert new.limit_price == cents(near - 0.104) and new.status in ("new", "accepted")
    assert [level.order_id for level in chart.levels] == [new.id]
    assert chart.levels[0].label == f"BUY 5 LMT {cents(near - 0.104):.2f}"
    assert chart.message.startswith("Replaced BUY 5 LMT") and new.id[:8] in chart.message
    assert chart.widget.handled == 7  # the browser may now drop the pending style
    assert chart.widget.message["tone"] == "ok"


def test_a_drag_of_a_stop_limit_moves_only_the_dragged_price(running, md, orders) -> None:
    ask = float(md.get_latest_quote("AAPL")["ask_price"].iloc[0])
    order = orders.place_order(
        "AAPL", qty=3, side="buy", type="stop_limit",
        stop_price=cents(ask + 0.4), limit_price=cents(ask + 0.5),
    )  # fmt: skip
    chart = make_chart(md, orders)
    browser_says(chart, event="move", key=line(chart, order.id, "stop_price").key, price=ask + 0.3)
    new = server_order(running, server_order(running, order.id).replaced_by)
    assert new.stop_price == cents(ask + 0.3) and new.limit_price == cents(ask + 0.5)


def test_a_refused_move_sends_nothing_and_says_why(running, md, orders, near) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders)
    before = chart.widget.lines

    browser_says(chart, event="move", key=line(chart, order.id).key, price=-4.0, seq=1)

    assert replaces(running) == []
    assert "Not moved" in chart.message and "must be greater than 0" in chart.message
    assert chart.widget.message["tone"] == "error"
    assert chart.widget.lines == before  # the line snaps back
    assert server_order(running, order.id).limit_price == cents(near)
    assert chart.widget.handled == 1


def test_a_move_the_risk_rules_refuse_is_refused_like_a_new_order(running, md, tmp_path, near):
    from trading_kit.orders import Orders

    limited = Orders(
        "test-key", "test-secret", data_url=running.url, trading_url=running.url,
        cache_path=tmp_path / "c2.sqlite", journal_path=tmp_path / "j2.sqlite",
        risk={"max_order_notional": near * 5 + 0.25},
    )  # fmt: skip
    order = limited.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, limited)
    chart.move_line(line(chart, order.id).key, near + 0.10)  # 5 shares, 10 cents dearer
    assert replaces(running) == []
    assert "max_order_notional" in chart.message


def test_a_move_the_broker_refuses_shows_its_message(running, md, orders, near) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders)
    key = line(chart, order.id).key
    orders.cancel_order(order.id)  # meanwhile, elsewhere: the line is stale until a refresh

    browser_says(chart, event="move", key=key, price=near - 0.1)

    assert chart.message.startswith("Not moved (BUY 5 LMT")
    assert "canceled" in chart.message
    assert server_order(running, order.id).status == "canceled" and replaces(running) == []


def test_a_move_through_the_market_asks_first(running, md, orders, near) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    ask = float(md.get_latest_quote("AAPL", use_cache=False)["ask_price"].iloc[0])
    chart = make_chart(md, orders)
    key = line(chart, order.id).key

    browser_says(chart, event="move", key=key, price=ask + 0.05, seq=3)

    assert replaces(running) == []  # nothing sent yet
    assert chart.widget.message["confirm"] is True and "at or above the ask" in chart.message
    assert chart.widget.handled == 3
    assert {h["key"]: h["state"] for h in chart.widget.lines}[key] == "proposed"
    browser_says(chart, event="move", key=key, price=near - 1)  # the line awaits an answer
    assert "awaits your confirmation" in chart.message and replaces(running) == []

    browser_says(chart, event="cancel")
    assert replaces(running) == [] and "nothing sent" in chart.message
    assert {h["key"]: h["state"] for h in chart.widget.lines}[key] == ""

    browser_says(chart, event="move", key=key, price=ask + 0.05)
    browser_says(chart, event="confirm")
    (new,) = replaces(running)
    assert new.limit_price == cents(ask + 0.05) and new.replaces == order.id


def test_a_drag_through_the_market_and_back_fills_nothing(running, md, orders, near) -> None:
    """Only the release counts: the prices a drag passed through are never sent."""
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders)
    browser_says(chart, event="move", key=line(chart, order.id).key, price=near - 0.05)
    running.exchange.advance("1min")
    assert len(replaces(running)) == 1
    assert running.exchange.engine.positions.get("AAPL") is None
    assert all(o.status != "filled" for o in running.exchange.engine.orders.values())


def test_clicking_a_candle_sets_the_linked_ticket_limit(md, orders) -> None:
    ticket = OrderTicket(orders, md, "AAPL", live=False)
    chart = make_chart(md, orders, ticket=ticket)
    close = float(chart.candles["close"].iloc[-5])

    browser_says(chart, event="pick", price=close, what="candle close")

    assert ticket.type.value == "limit"  # a market ticket becomes a limit ticket
    assert ticket.limit_price.value == f"{close:.2f}"
    assert chart.message == f"Ticket limit price set to {close:,.2f} (candle close)."


def test_without_a_linked_ticket_a_click_uses_the_latest_ticket_or_says_how(md, orders) -> None:
    chart = make_chart(md, orders)
    browser_says(chart, event="pick", price=99.5, what="candle close")
    if OrderTicket.most_recent("AAPL") is None:
        assert "kit.ticket('AAPL')" in chart.message and "ticket=" in chart.message
    ticket = OrderTicket(orders, md, "AAPL", live=False)
    ticket.type.value = "stop"
    browser_says(chart, event="pick", price=99.5, what="candle close")
    assert ticket.stop_price.value == "99.50"
    assert chart.message == "Ticket stop price set to 99.50 (candle close)."
    ticket.close()


def test_a_ticket_submission_shows_on_the_chart(md, orders, near) -> None:
    ticket = OrderTicket(orders, md, "AAPL", live=False)
    chart = make_chart(md, orders, ticket=ticket)
    assert [lv for lv in chart.levels if lv.kind != "entry"] == []
    ticket.size.value = "2"
    ticket.set_price(near)
    order = ticket.submit()
    assert [level.order_id for level in chart.levels] == [order.id]


def test_a_replace_from_the_chart_is_followed_by_the_ticket(running, md, orders, near) -> None:
    ticket = OrderTicket(orders, md, "AAPL", live=False)
    chart = make_chart(md, orders, ticket=ticket)
    ticket.size.value = "2"
    ticket.set_price(near)
    order = ticket.submit()
    chart.move_order(order.id, near - 0.2)
    new = server_order(running, server_order(running, order.id).replaced_by)
    assert ticket.order.id == new.id
    assert (
        f"id {new.id[:8]}" in ticket.status.value
        and f"replaces {order.id[:8]}" in ticket.status.value
    )


def test_static_output_is_a_plain_figure(md, orders, near, monkeypatch) -> None:
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")  # as in a notebook
    orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders, interactive=False)
    assert chart.widget is None and not chart.interactive and not chart.live
    assert type(chart.figure) is go.Figure
    assert "application/vnd.plotly.v1+json" in chart._repr_mimebundle_()
    assert len([s for s in chart.figure.layout.shapes if s.name != "last"]) == 1


def test_exported_html_draws_the_chart_with_plotly_inline_once(md, monkeypatch) -> None:
    monkeypatch.setenv("TRADING_KIT_STATIC_HTML", "1")
    monkeypatch.setattr("trading_kit.ui.static._written", __import__("threading").Event())
    first = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME, live=False)
    second = PriceChart(md, "AAPL", "1Hour", start=BARS_START, end=SESSION_TIME, live=False)
    one, two = first._repr_mimebundle_()["text/html"], second._repr_mimebundle_()["text/html"]
    assert "plotly.js v" in one and "plotly.js v" not in two  # the bundle once per page
    assert "cdn" not in one.lower().split("</script>")[-2]  # the drawing needs no network
    assert 'Plotly.newPlot("trading-kit-chart-' in two and '"candlestick"' in two


def long_range(n: int) -> pd.DataFrame:
    stamps = pd.date_range("2023-01-03 14:30", periods=n, freq="1min", tz="UTC")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.05, n))
    index = pd.MultiIndex.from_arrays([["AAPL"] * n, stamps], names=["symbol", "timestamp"])
    return pd.DataFrame(
        {"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 100.0},
        index=index,
    )


def test_a_100_000_bar_chart_zooms_between_timeframes_and_stays_small() -> None:
    chart = PriceChart(None, "AAPL", "1Min", bars=long_range(100_000))
    assert len(chart.series) == 100_000
    assert chart.view.candles.timeframe == "1Min"  # the default view: the latest candles
    assert 150 <= len(chart.candles.loc[chart.view.start : chart.view.end]) <= 300
    state = json.dumps(chart.widget.get_state(), default=str)
    assert len(state) < 1_000_000, len(state)

    browser_says(chart, event="view", all=True)  # double-click: everything
    assert chart.view.candles.timeframe == "1Day"
    assert "1Min bars shown as 1Day" in chart.figure.layout.title.text
    assert len(chart.candles) <= 1_000

    x0, x1 = "2023-02-01 09:00:00", "2023-02-01 11:00:00"  # zoom in: two hours (no 14:30 UTC start)
    browser_says(chart, event="view", x0=x0, x1=x1, width=1000)
    assert chart.view.candles.timeframe == "1Min"
    assert chart.figure.layout.title.text == "<b>AAPL</b> · 1Min · New York time"
    assert len(chart.candles) <= 1_000


def test_the_browser_width_sets_the_default_number_of_candles() -> None:
    chart = PriceChart(None, "AAPL", "1Min", bars=long_range(5_000))
    browser_says(chart, event="view", initial=True, width=750)
    shown = chart.candles.loc[chart.view.start : chart.view.end]
    assert len(shown) == 150
    browser_says(chart, event="view", width=1500)  # a resize keeps the range, redraws it
    assert chart.candles.loc[chart.view.start : chart.view.end].equals(shown)
    browser_says(chart, event="view", x0="not a date", x1="either", width=1500)
    assert chart.candles.loc[chart.view.start : chart.view.end].equals(shown)  # ignored


@pytest.fixture
def quick_feed(monkeypatch):
    """The shared refresher polls every 50 ms in these tests (1 s in a notebook)."""
    monkeypatch.setattr(feed, "LOCAL_INTERVAL", 0.05)


def test_a_live_chart_follows_orders_placed_anywhere(quick_feed, running, md, orders, near):
    chart = make_chart(md, orders, live=True)
    try:
        assert chart.live
        elsewhere = orders.place_order(
            "AAPL", qty=3, side="buy", type="limit", limit_price=cents(near)
        )
        key = f"{elsewhere.id}:limit_price"
        assert wait_for(
            lambda: key in [h["key"] for h in chart.widget.lines]
        )  # what the browser has
        orders.cancel_order(elsewhere.id)
        assert wait_for(lambda: key not in [h["key"] for h in chart.widget.lines])
        bought = orders.place_order("AAPL", qty=2, side="buy")
        running.exchange.advance("1min")  # the exchange fills it
        assert wait_for(lambda: len(chart.figure.data[2].y) == 1)  # a buy fill marker
        assert wait_for(lambda: any(lv.kind == "entry" for lv in chart.levels))
        assert server_order(running, bought.id).status == "filled"
    finally:
        chart.close()
    assert not chart.live


def test_new_bars_arrive_at_the_right_edge(quick_feed, running, md, orders) -> None:
    chart = PriceChart(md, "AAPL", "1Min", orders=orders, start=BARS_START, end=SESSION_TIME)
    try:
        last = chart.series.last
        assert chart.view.following
        running.exchange.advance("5min")
        assert wait_for(lambda: chart.series.last >= last + pd.Timedelta("4min"))
        assert wait_for(lambda: chart.view.end > chart.series.last)  # the view scrolled along
        shapes = {s.name: s for s in chart.figure.layout.shapes}
        trade = float(md.get_latest_trade("AAPL", use_cache=False)["price"].iloc[0])
        assert wait_for(lambda: chart.figure.layout.shapes[-1].y0 == trade)
        assert "last" in shapes
    finally:
        chart.close()


def test_one_refresher_per_account_stops_when_the_last_widget_closes(
    quick_feed, running, md, orders
):
    from trading_kit.ui import Blotter

    chart = make_chart(md, orders, live=True)
    ticket = OrderTicket(orders, md, "AAPL")
    blotter = Blotter(orders)
    shared = chart._feed
    assert ticket._feed is shared and blotter._feed is shared
    assert shared.subscribers == 3 and shared.running and shared.streaming  # no timer
    hub = running.streams
    assert len(hub.trading) == 1 and len(hub.publisher("stocks").sessions) == 1
    chart.close()
    ticket.close()
    assert shared.running  # the blotter still follows the account
    blotter.close()
    assert not shared.running and shared.subscribers == 0
    assert wait_for(lambda: not hub.trading and not hub.publisher("stocks").sessions)


def test_without_a_stream_the_widgets_poll_and_say_so_once(tmp_path, caplog):
    """A server with no websockets (Alpaca's REST stub): the refresher polls, as before."""
    from tests.stub_alpaca import StubServer
    from trading_kit import MarketData
    from trading_kit.ui import feed as feed_module

    feed_module.AccountFeed._said_polling = False
    with StubServer() as stub, caplog.at_level(logging.WARNING, logger="trading_kit"):
        data = MarketData("k", "s", data_url=stub.url, trading_url=stub.url,
                          cache_path=tmp_path / "c.sqlite")  # fmt: skip
        feed = feed_module.AccountFeed(data, interval=0.05)
        first = feed.subscribe(lambda update: None, symbols=["AAPL"])
        second = feed.subscribe(lambda update: None, symbols=["MSFT"])
        assert feed.running and not feed.streaming and feed._poller is not None
        first.close()
        second.close()
        assert not feed.running
    assert caplog.text.count("the widgets poll every") == 1


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("google-chrome")), reason="needs chromium"
)
def test_save_png(md, tmp_path: Path) -> None:
    chart = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME, live=False)
    path = chart.save_png(tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sub_dollar_prices_move_in_hundredths_of_a_cent(running, md, orders) -> None:
    # two shares: Alpaca refuses an order worth under $1
    order = orders.place_order("AAPL", qty=2, side="buy", type="limit", limit_price="0.5123")
    chart = make_chart(md, orders)
    chart.move_order(order.id, 0.61239)
    new = server_order(running, server_order(running, order.id).replaced_by)
    assert new.limit_price == Decimal("0.6124")  # four decimals below $1


def test_a_chart_off_screen_stops_following_until_a_view_returns(quick_feed, md, orders) -> None:
    chart = make_chart(md, orders, live=True)
    try:
        browser_says(chart, event="view", initial=True, width=1000)  # drawn in a page
        assert chart.live and chart._feed.running
        browser_says(chart, event="detached")  # its output cleared, or its notebook closed
        assert not chart.live and not chart._feed.running  # nothing else follows the account
        ticket = OrderTicket(orders, md, "AAPL")  # a newcomer shares the same refresher
        browser_says(chart, event="view", initial=True, width=1000)
        assert chart.live and chart._feed.running and chart._feed is ticket._feed
        ticket.close()
    finally:
        chart.close()
    assert not chart._feed.running


def test_old_messages_clear_but_a_question_waits(monkeypatch, md, orders, near) -> None:
    from trading_kit.ui import style

    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(near))
    chart = make_chart(md, orders)
    chart.move_order(order.id, -1)
    assert "Not moved" in chart.message
    chart.refresh()
    assert "Not moved" in chart.message  # still fresh
    monkeypatch.setattr(style, "MESSAGE_SECONDS", 0.0)
    chart.refresh()
    assert chart.message == "" and chart.widget.message["text"] == ""
    ask = float(md.get_latest_quote("AAPL", use_cache=False)["ask_price"].iloc[0])
    chart.move_order(chart.levels[0].order_id, ask + 0.05)  # asks to confirm
    chart.refresh()
    assert chart.widget.message["confirm"] is True  # not cleared while it waits for an answer


def test_set_view_says_what_it_needs() -> None:
    from trading_kit.errors import MarketDataError

    chart = PriceChart(None, "AAPL", "1Min", bars=long_range(2_000), interactive=False)
    with pytest.raises(MarketDataError, match="set_view needs two dates or times"):
        chart.set_view("soon", "later")
    with pytest.raises(MarketDataError, match="is not before end"):
        chart.set_view("2023-01-04 15:00", "2023-01-04 14:00")
    chart.set_view("2023-01-04 14:00", "2023-01-04 15:00")
    assert chart.view.start == pd.Timestamp("2023-01-04 14:00", tz="UTC")


def test_a_chart_of_nothing_says_what_it_needs() -> None:
    from trading_kit.errors import MarketDataError

    with pytest.raises(MarketDataError, match="symbol=None is not a ticker"):
        PriceChart(None, None, "1Min", bars=long_range(10))
    with pytest.raises(MarketDataError, match=r"needs data= .* or bars="):
        PriceChart(None, "AAPL", "1Min")
    with pytest.raises(MarketDataError, match="Unknown timeframe '2Min'"):
        PriceChart(None, "AAPL", "2Min", bars=long_range(10))

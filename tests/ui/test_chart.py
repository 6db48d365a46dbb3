"""PriceChart against the local exchange: traces, overlays, clicks and drag-to-modify.

A drag is simulated the way the browser delivers it: a relayout message carrying the
shape's new ``y0``/``y1`` (``FigureWidget._js2py_relayout``); a click the way plotly's
widget reports it (``_js2py_pointsCallback``).
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from tests.conftest import SESSION_TIME
from tests.ui.conftest import BARS_START, cents, server_order
from trading_kit.ui import OrderTicket, PriceChart


def drag(chart: PriceChart, index: int, price: float) -> None:
    """What the browser sends when line ``index`` is dragged to ``price`` and let go."""
    chart.figure._js2py_relayout = {
        "relayout_data": {f"shapes[{index}].y0": price, f"shapes[{index}].y1": price},
        "source_view_id": "test-view",
    }


def click(chart: PriceChart, trace: int, point: int, y: float | None = None) -> None:
    """What plotly's widget sends for a click on point ``point`` of trace ``trace``."""
    chart.figure._js2py_pointsCallback = {
        "event_type": "plotly_click",
        "points": {"xs": [None], "ys": [y], "point_indexes": [point], "trace_indexes": [trace]},
    }


def line_of(chart: PriceChart, order_id: str, field: str = "limit_price") -> int:
    return next(
        i
        for i, level in enumerate(chart.levels)
        if level.order_id == order_id and level.field == field
    )


def make_chart(md, orders, **kwargs) -> PriceChart:
    return PriceChart(
        md, "AAPL", "5Min", orders=orders, start=BARS_START, end=SESSION_TIME, **kwargs
    )


def test_candles_and_volume_panel(md) -> None:
    bars = md.get_bars("AAPL", "5Min", BARS_START, SESSION_TIME)
    chart = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME)
    candle, levels, buys, sells, volume = chart.figure.data
    assert isinstance(candle, go.Candlestick) and isinstance(volume, go.Bar)
    assert len(candle.x) == len(bars) == len(volume.x)
    assert candle.close[-1] == pytest.approx(bars["close"].iloc[-1])
    assert volume.yaxis == "y2" and candle.yaxis == "y"  # volume beneath the candles
    assert len(levels.y) == len(buys.y) == len(sells.y) == 0
    assert chart.figure.layout.shapes == ()
    # Shown in New York time: the last bar of the window starts at 09:55 ET.
    assert pd.Timestamp(candle.x[-1]) == pd.Timestamp("2024-03-05 09:55")
    assert {"bounds": ["sat", "mon"]} in [
        rb.to_plotly_json() for rb in chart.figure.layout.xaxis.rangebreaks
    ]


def test_the_browser_gets_dates_on_the_x_axis(md) -> None:
    """What the FigureWidget syncs to plotly.js: dates, never nanosecond integers (which
    turn the axis numeric and leave it without candles)."""
    chart = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME)
    state = chart.figure.get_state()
    x_range = state["_widget_layout"]["xaxis"]["range"]
    candle_x = state["_widget_data"][0]["x"]
    for value in [*x_range, candle_x[0], candle_x[-1]]:
        assert not isinstance(value, (int, np.integer)), value
        assert pd.Timestamp(value).year == 2024


def test_weekend_bars_of_an_always_open_market_are_not_hidden() -> None:
    stamps = pd.date_range("2024-03-01 14:30", "2024-03-04 21:00", freq="1h", tz="UTC")
    bars = pd.DataFrame(
        {
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1,
            "trade_count": 1,
            "vwap": 1.0,
        },
        index=pd.MultiIndex.from_product([["AAPL"], stamps], names=["symbol", "timestamp"]),
    )
    breaks = PriceChart(
        None, "AAPL", "1Hour", bars=bars, interactive=False
    ).figure.layout.xaxis.rangebreaks
    assert {"bounds": ["sat", "mon"]} not in [rb.to_plotly_json() for rb in breaks]


def test_without_start_or_end_the_window_ends_at_the_exchange_clock(md) -> None:
    chart = PriceChart(md, "AAPL", "5Min", interactive=False)
    last = pd.Timestamp(chart.candles.frame.index[-1])
    assert SESSION_TIME - pd.Timedelta("10min") <= last <= SESSION_TIME


def test_overlays_for_a_known_set_of_orders(running, md, orders, ask) -> None:
    bought = orders.place_order("AAPL", qty=10, side="buy")
    running.exchange.advance("1min")
    limit = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    stop = orders.place_order("AAPL", qty=4, side="sell", type="stop", stop_price=cents(ask - 5))
    orders.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=100)  # not drawn
    chart = make_chart(md, orders)

    fill_price = orders.get_order(bought.id).filled_avg_price
    shapes = chart.figure.layout.shapes
    assert sorted((s.y0, s.y1, s.editable) for s in shapes) == sorted(
        [
            (float(cents(ask - 3)), float(cents(ask - 3)), True),
            (float(cents(ask - 5)), float(cents(ask - 5)), True),
            (fill_price, fill_price, False),  # the position's entry: drawn, not draggable
        ]
    )
    labels = {level.order_id: level.label for level in chart.levels}
    assert labels[limit.id] == f"BUY 5 LMT {cents(ask - 3):.2f}"
    assert labels[stop.id] == f"SELL 4 STP {cents(ask - 5):.2f}"
    assert labels[None] == f"LONG 10 avg {fill_price:.2f}"
    by_kind = {level.kind: shape for level, shape in zip(chart.levels, shapes, strict=True)}
    assert by_kind["limit"].line.dash == "solid" and by_kind["stop"].line.dash == "dash"
    assert by_kind["entry"].line.dash == "dot"
    assert all(s.xref == "paper" and s.yref == "y" for s in shapes)
    # Fills as markers: one buy at its average price, no sells.
    _, levels, buys, sells, _ = chart.figure.data
    assert list(buys.y) == [fill_price] and len(sells.y) == 0
    assert buys.hovertext == (f"BUY 10 @ {fill_price:.2f}",)
    assert sorted(levels.y) == sorted(s.y0 for s in shapes)  # clickable handles for each line


def test_drag_replaces_the_order_at_the_new_price(running, md, orders, ask) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    chart = make_chart(md, orders)
    index = line_of(chart, order.id)

    drag(chart, index, ask - 2.004)  # lands between ticks: snapped to the cent

    old = server_order(running, order.id)
    assert old.status == "replaced"
    new = server_order(running, old.replaced_by)
    assert new.status in ("new", "accepted") and new.limit_price == cents(ask - 2.004)
    assert new.replaces == order.id
    assert [level.order_id for level in chart.levels] == [new.id]
    assert chart.figure.layout.shapes[0].y0 == float(cents(ask - 2.004))
    assert chart.levels[0].label == f"BUY 5 LMT {cents(ask - 2.004):.2f}"
    assert chart.message.startswith("Replaced BUY 5 LMT") and new.id in chart.message


def test_drag_of_a_stop_limit_moves_only_the_dragged_price(running, md, orders, ask) -> None:
    order = orders.place_order(
        "AAPL",
        qty=3,
        side="buy",
        type="stop_limit",
        stop_price=cents(ask + 4),
        limit_price=cents(ask + 5),
    )
    chart = make_chart(md, orders)
    drag(chart, line_of(chart, order.id, "stop_price"), ask + 3)
    new = server_order(running, server_order(running, order.id).replaced_by)
    assert new.stop_price == cents(ask + 3) and new.limit_price == cents(ask + 5)


def test_a_rejected_drag_snaps_back_and_says_why(running, md, orders, ask) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    chart = make_chart(md, orders)
    index = line_of(chart, order.id)
    requests_before = len(running.exchange.engine.orders)

    drag(chart, index, -4.0)

    assert chart.figure.layout.shapes[index].y0 == float(cents(ask - 3))
    assert chart.figure.layout.shapes[index].y1 == float(cents(ask - 3))
    assert "Not moved" in chart.message and "must be greater than 0" in chart.message
    assert server_order(running, order.id).status in ("new", "accepted")
    assert server_order(running, order.id).limit_price == cents(ask - 3)
    assert len(running.exchange.engine.orders) == requests_before
    assert "must be greater than 0" in chart.widget.children[1].value  # shown under the chart


def test_a_drag_the_broker_refuses_snaps_back_with_its_message(running, md, orders, ask) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    chart = make_chart(md, orders)
    index = line_of(chart, order.id)
    orders.cancel_order(order.id)  # meanwhile, elsewhere: the line is now stale

    drag(chart, index, ask - 2)

    assert chart.figure.layout.shapes[index].y0 == float(cents(ask - 3))
    assert chart.message.startswith("Not moved (BUY 5 LMT")
    assert "HTTP 422" in chart.message and "canceled" in chart.message  # the broker's words
    assert server_order(running, order.id).status == "canceled"


def test_clicking_a_candle_sets_the_linked_ticket_limit(md, orders) -> None:
    ticket = OrderTicket(orders, md, "AAPL", poll_seconds=None)
    chart = make_chart(md, orders, ticket=ticket)
    close = chart.candles.frame["close"].iloc[-5]

    click(chart, 0, len(chart.candles.frame) - 5)

    assert ticket.type.value == "limit"  # a market ticket becomes a limit ticket
    assert ticket.limit_price.value == f"{close:.2f}"
    assert "limit price set to" in chart.message


def test_clicking_a_level_sets_a_stop_ticket_stop(md, orders, ask) -> None:
    order = orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    ticket = OrderTicket(orders, md, "AAPL", poll_seconds=None)
    ticket.type.value = "stop"
    chart = make_chart(md, orders, ticket=ticket)

    click(chart, 1, line_of(chart, order.id), y=float(cents(ask - 3)))

    assert ticket.stop_price.value == f"{cents(ask - 3):.2f}"
    assert ticket.limit_price.value == ""


def test_a_ticket_submission_redraws_the_chart(running, md, orders, ask) -> None:
    ticket = OrderTicket(orders, md, "AAPL", poll_seconds=None)
    chart = make_chart(md, orders, ticket=ticket)
    assert chart.levels == []
    ticket.size.value = "2"
    ticket.set_price(ask - 1)
    order = ticket.submit()
    assert [level.order_id for level in chart.levels] == [order.id]
    assert chart.figure.layout.shapes[0].y0 == float(cents(ask - 1))


def test_static_fallback_is_a_plain_figure(md, orders, ask, monkeypatch) -> None:
    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    chart = make_chart(md, orders, interactive=False)
    assert type(chart.figure) is go.Figure and chart.widget is None and not chart.interactive
    bundle = chart._repr_mimebundle_()
    assert "application/vnd.plotly.v1+json" in bundle
    assert len(chart.figure.layout.shapes) == 1


def test_the_widget_is_wrapped_only_when_complete(md, orders, ask) -> None:
    orders.place_order("AAPL", qty=5, side="buy", type="limit", limit_price=cents(ask - 3))
    chart = make_chart(md, orders)
    assert isinstance(chart.figure, go.FigureWidget)
    # The widget's own state (what the browser receives first) already has the overlays.
    assert len(chart.figure._layout["shapes"]) == 1
    assert chart.figure._layout["title"]["text"].startswith("AAPL · 5Min")


def long_range(n: int) -> pd.DataFrame:
    stamps = pd.date_range("2023-01-03 14:30", periods=n, freq="1min", tz="UTC")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.05, n))
    index = pd.MultiIndex.from_arrays([["AAPL"] * n, stamps], names=["symbol", "timestamp"])
    return pd.DataFrame(
        {"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 100.0},
        index=index,
    )


def test_a_long_range_is_drawn_as_a_bounded_number_of_candles() -> None:
    chart = PriceChart(None, "AAPL", "1Min", bars=long_range(100_000))
    assert len(chart.candles.frame) <= 2_000
    assert len(chart.figure.data[0].x) == len(chart.candles.frame)
    assert "100,000 bars" in chart.figure.layout.title.text
    assert f"aggregated to {len(chart.candles.frame):,} candles" in chart.figure.layout.title.text
    assert len(chart.to_figure().to_json()) < 1_000_000  # small notebook output


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("google-chrome")), reason="needs chromium"
)
def test_save_png(md, tmp_path: Path) -> None:
    chart = PriceChart(md, "AAPL", "5Min", start=BARS_START, end=SESSION_TIME)
    path = chart.save_png(tmp_path / "chart.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_decimal_prices_on_the_line_are_exact(running, md, orders) -> None:
    # two shares: Alpaca refuses an order worth under $1
    order = orders.place_order("AAPL", qty=2, side="buy", type="limit", limit_price="0.5123")
    chart = make_chart(md, orders)
    drag(chart, line_of(chart, order.id), 0.61239)
    new = server_order(running, server_order(running, order.id).replaced_by)
    assert new.limit_price == Decimal("0.6124")  # four decimals below $1

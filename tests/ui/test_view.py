"""Which stretch of the bars a chart shows, and the figure it draws: pure, no browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trading_kit.ui.candles import BarSeries
from trading_kit.ui.figure import Mark, figure, from_axis, handles, iso, rangebreaks
from trading_kit.ui.overlays import Level
from trading_kit.ui.view import (
    MAX_CANDLES,
    MIN_CANDLES,
    default_range,
    view_of,
    visible_candles,
)


def session_minutes(n: int) -> pd.DataFrame:
    """``n`` regular-session minute bars (9:30 to 16:00 New York), a random walk."""
    days = pd.bdate_range("2023-01-02", periods=n // 390 + 2, tz="America/New_York")
    minutes = pd.timedelta_range("9:30:00", periods=390, freq="1min")
    stamps = (days.repeat(390) + np.tile(minutes, len(days)))[:n].tz_convert("UTC")
    close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.05, n))
    return pd.DataFrame(
        {"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 100.0},
        index=stamps,
    )


@pytest.mark.parametrize(
    ("width", "candles"),
    [(None, 200), (0, 200), (500, MIN_CANDLES), (1_000, 200), (4_000, MAX_CANDLES)],
)
def test_the_width_decides_how_many_candles_fit(width, candles) -> None:
    assert visible_candles(width) == candles


def test_the_default_view_is_the_latest_candles_of_the_requested_timeframe() -> None:
    series = BarSeries(session_minutes(5_000), "1Min")
    start, end = default_range(series, 200)
    view = view_of(series, start, end, 200)
    assert view.candles.timeframe == "1Min" and view.following
    shown = view.candles.frame[
        (view.candles.frame.index >= start) & (view.candles.frame.index <= end)
    ]
    assert len(shown) == 200 and shown.index[-1] == series.last
    assert end > series.last  # room right of the last candle: it is not clipped


def test_every_zoom_level_of_100_000_bars_draws_at_most_a_thousand_candles() -> None:
    series = BarSeries(session_minutes(100_000), "1Min")
    first, last = series.first, series.last
    seen = []
    for days in (0.1, 0.5, 2, 10, 60, 400):  # from an hour and a bit to everything
        start = max(first, last - pd.Timedelta(days=days))
        view = view_of(series, start, last, 250)
        frame = view.candles.frame
        in_view = frame[(frame.index >= start) & (frame.index <= last)]
        assert len(frame) <= 1_000, (days, len(frame), view.candles.timeframe)
        assert len(in_view) <= 250
        seen.append(view.candles.timeframe)
    assert seen[0] == "1Min" and seen[-1] in ("1Week", "1Day")
    assert seen == sorted(
        seen,
        key=["1Min", "5Min", "15Min", "30Min", "1Hour", "4Hour", "1Day", "1Week", "1Month"].index,
    )


def test_the_plotly_axis_round_trips_new_york_time() -> None:
    stamp = pd.Timestamp("2024-03-05 15:00", tz="UTC")
    assert iso([stamp]) == ["2024-03-05T10:00:00"]
    assert from_axis("2024-03-05 10:00:00.25") == stamp + pd.Timedelta("250ms")


def test_daily_candles_hide_only_closed_days_intraday_ones_also_the_night() -> None:
    bars = session_minutes(3_000)
    intraday = rangebreaks(bars.index, "1Min")
    assert {"bounds": ["sat", "mon"]} in intraday
    assert {"pattern": "hour", "bounds": [16.0, 9.5]} in intraday
    days = BarSeries(bars, "1Min").candles("1Day").frame
    assert all("pattern" not in rb for rb in rangebreaks(days.index, "1Day"))


def level(price: float, key: str = "a", **fields) -> Level:
    return Level(
        price=price,
        kind=fields.pop("kind", "limit"),
        label=fields.pop("label", f"BUY 5 LMT {price:.2f}"),
        side=fields.pop("side", "buy"),
        order_id=key,
        field="limit_price",
        editable=True,
        **fields,
    )


def draw(levels, marks=None, last=None):
    series = BarSeries(session_minutes(600), "1Min")
    start, end = default_range(series, 200)
    view = view_of(series, start, end, 200)
    return figure(
        symbol="AAPL",
        base="1Min",
        view=view,
        levels=levels,
        marks=marks or {},
        fills=[],
        last=last,
        height=500,
    ), view


def test_the_price_axis_fits_the_candles_and_far_orders_become_edge_tags() -> None:
    fig, view = draw([])
    low, high = fig["layout"]["yaxis"]["range"]
    shown = view.candles.frame.loc[view.start : view.end]
    assert low < shown["low"].min() and high > shown["high"].max()
    assert high - low < (shown["high"].max() - shown["low"].min()) * 1.3
    near, far = (low + high) / 2, high * 3
    fig, _ = draw([level(near, "near"), level(far, "far", label=f"SELL 1 LMT {far:.2f}")])
    assert fig["layout"]["yaxis"]["range"] == [low, high]  # the far order does not squash
    assert [s["name"] for s in fig["layout"]["shapes"]] == ["near:limit_price"]
    (tag,) = fig["layout"]["annotations"]
    assert tag["text"].startswith("▲ SELL 1 LMT") and f"{far:.2f}" in tag["text"]
    assert tag["yref"] == "paper" and tag["y"] == 1.0
    assert [
        h["key"] for h in handles([level(near, "near"), level(far, "far")], {}, (low, high))
    ] == ["near:limit_price"]


def test_the_last_price_is_a_line_and_a_tag_on_the_axis() -> None:
    fig, _view = draw([], last=101.234)
    (line,) = fig["layout"]["shapes"]
    assert line["name"] == "last" and line["y0"] == line["y1"] == 101.234
    (tag,) = fig["layout"]["annotations"]
    assert tag["text"] == "101.23" and tag["y"] == 101.234 and tag["x"] == 1


def test_pending_and_proposed_lines_look_different_and_cannot_be_grabbed() -> None:
    fig, _ = draw([])
    low, high = fig["layout"]["yaxis"]["range"]
    a, b = low + (high - low) * 0.3, low + (high - low) * 0.6
    lines = [level(a, "a"), level(b, "b")]
    marks = {"a:limit_price": Mark("pending", a + 0.1), "b:limit_price": Mark("proposed", b + 0.1)}
    fig, _ = draw(lines, marks)
    shapes = {s["name"]: s for s in fig["layout"]["shapes"]}
    assert shapes["a:limit_price"]["y0"] == a + 0.1  # drawn where it is going
    assert "replacing" in shapes["a:limit_price"]["label"]["text"]
    assert shapes["a:limit_price"]["line"]["dash"] == "dot"
    assert "confirm" in shapes["b:limit_price"]["label"]["text"]
    states = {h["key"]: h["state"] for h in handles(lines, marks, (low, high))}
    assert states == {"a:limit_price": "pending", "b:limit_price": "proposed"}

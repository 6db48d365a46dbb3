"""Overlays and moves from a known orders frame, without a chart or a server."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trading_kit.errors import OrderValidationError
from trading_kit.orders.frames import orders_frame, positions_frame
from trading_kit.ui.moves import check_move, marketable, snap_to_tick
from trading_kit.ui.overlays import entry_level, fills, order_levels, parent_of, relabel


def order(id_: str, **fields) -> dict:
    base = {
        "id": id_,
        "client_order_id": f"c-{id_}",
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "order_class": "",
        "qty": "10",
        "time_in_force": "day",
        "status": "new",
        "filled_qty": "0",
    }
    base.update(fields)
    return base


@pytest.fixture
def frame() -> pd.DataFrame:
    return orders_frame(
        [
            order("lmt", limit_price="150"),
            order("stp", side="sell", type="stop", stop_price="140", qty="5"),
            order("sl", type="stop_limit", side="sell", stop_price="141", limit_price="140.5"),
            order("held", status="held", limit_price="149"),
            order("trail", type="trailing_stop", side="sell", trail_percent="2", stop_price="147"),
            order("other", symbol="MSFT", limit_price="300"),
            order(
                "done",
                type="market",
                status="filled",
                filled_qty="10",
                filled_avg_price="151.25",
                filled_at="2024-03-05T15:01:00Z",
            ),
            order(
                "parent",
                order_class="bracket",
                status="filled",
                type="market",
                filled_qty="10",
                filled_avg_price="150",
                filled_at="2024-03-05T15:02:00Z",
                legs=[
                    order("tp", side="sell", limit_price="160"),
                    order("sl2", side="sell", type="stop", stop_price="145"),
                ],
            ),
        ]
    )


def test_levels_of_open_orders(frame: pd.DataFrame) -> None:
    open_ = frame[frame["status"] != "filled"]
    levels = {(lv.order_id, lv.field): lv for lv in order_levels(open_, "AAPL")}
    assert levels["lmt", "limit_price"].label == "BUY 10 LMT 150.00"
    assert levels["lmt", "limit_price"].editable
    assert levels["stp", "stop_price"].label == "SELL 5 STP 140.00"
    assert levels["stp", "stop_price"].kind == "stop"
    assert levels["sl", "stop_price"].label == "SELL 10 STP LMT stop 141.00"
    assert levels["sl", "limit_price"].label == "SELL 10 STP LMT limit 140.50"
    assert not levels["held", "limit_price"].editable  # held legs cannot be replaced
    assert not levels["trail", "stop_price"].editable  # a trailing stop moves by itself
    assert ("other", "limit_price") not in levels  # another symbol
    assert levels["tp", "limit_price"].side == "sell"


def test_fills_and_entry(frame: pd.DataFrame) -> None:
    got = fills(frame, "AAPL")
    assert [(f.order_id, f.price, f.qty, f.side) for f in got] == [
        ("done", 151.25, 10.0, "buy"),
        ("parent", 150.0, 10.0, "buy"),
    ]
    positions = positions_frame(
        [{"symbol": "AAPL", "qty": "20", "side": "long", "avg_entry_price": "150.625"}]
    )
    entry = entry_level(positions, "AAPL")
    assert entry is not None and entry.price == 150.625 and not entry.editable
    assert entry.label == "LONG 20 avg 150.62"  # shown to the cent; the line sits exactly
    assert entry_level(positions, "MSFT") is None


def test_parent_and_relabel(frame: pd.DataFrame) -> None:
    assert parent_of(frame, "tp") == "parent"
    assert parent_of(frame, "lmt") is None
    assert relabel("BUY 10 LMT 150.00", 151.5) == "BUY 10 LMT 151.50"


@pytest.mark.parametrize(
    ("price", "snapped"),
    [(151.234, "151.23"), (151.235, "151.24"), (0.123456, "0.1235"), (1.0, "1.00")],
)
def test_snap_to_tick(price: float, snapped: str) -> None:
    assert snap_to_tick(price) == Decimal(snapped)


def test_check_move_accepts_a_snapped_price(frame: pd.DataFrame) -> None:
    assert check_move(frame, "lmt", "limit_price", 152.0049) == Decimal("152.00")


@pytest.mark.parametrize(
    ("order_id", "field", "price", "words"),
    [
        ("lmt", "limit_price", -1.0, "must be greater than 0"),
        ("lmt", "limit_price", np.nan, "not a number"),
        (
            "tp",
            "limit_price",
            144.0,
            "take_profit_limit_price=144 must be above stop_loss_stop_price=145",
        ),
        (
            "sl2",
            "stop_price",
            161.0,
            "take_profit_limit_price=160 must be above stop_loss_stop_price=161",
        ),
    ],
)
def test_check_move_refuses(
    frame: pd.DataFrame, order_id: str, field: str, price: float, words: str
) -> None:
    with pytest.raises(OrderValidationError, match=words):
        check_move(frame, order_id, field, price)


@pytest.mark.parametrize(
    ("order_type", "side", "field", "price", "trades"),
    [
        ("limit", "buy", "limit_price", 100.09, False),  # below the ask: rests
        ("limit", "buy", "limit_price", 100.10, True),  # at the ask: fills
        ("limit", "sell", "limit_price", 100.01, False),
        ("limit", "sell", "limit_price", 100.00, True),  # at the bid
        ("stop", "buy", "stop_price", 100.11, False),  # above the market: waits
        ("stop", "buy", "stop_price", 100.10, True),  # already reached
        ("stop", "sell", "stop_price", 99.99, False),
        ("stop", "sell", "stop_price", 100.00, True),
        ("stop_limit", "sell", "stop_price", 100.50, True),
        ("stop_limit", "buy", "limit_price", 120.0, False),  # a limit behind a stop: not yet
    ],
)
def test_a_move_that_would_trade_at_once_is_recognised(
    order_type: str, side: str, field: str, price: float, trades: bool
) -> None:
    reason = marketable(order_type, side, field, price, bid=100.00, ask=100.10)
    assert (reason is not None) == trades
    if trades:
        assert ("ask" if side == "buy" else "bid") in reason

"""FIFO round trips: partial fills, scaling in and out, shorts, flips, same-time fills."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trading_kit.analytics import open_lots, round_trips, trade_stats
from trading_kit.errors import AnalyticsError

T0 = pd.Timestamp("2024-03-05 15:00", tz="UTC")


def fills(*rows: tuple) -> pd.DataFrame:
    """Rows of (minute, side, qty, price[, order_id[, symbol]])."""
    records = []
    for row in rows:
        minute, side, qty, price, *rest = row
        order = rest[0] if rest else None
        symbol = rest[1] if len(rest) > 1 else "AAPL"
        records.append(
            {
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "price": price,
                "time": T0 + pd.Timedelta(minutes=minute),
                "order_id": order,
            }
        )
    return pd.DataFrame(records)


def at(minute: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(minutes=minute)


def trips_as_tuples(frame: pd.DataFrame) -> list[tuple]:
    return [
        (r.symbol, r.direction, r.qty, r.entry_time, r.exit_time, r.entry_price, r.exit_price)
        for r in frame.itertuples()
    ]


def test_one_long_round_trip() -> None:
    trips = round_trips(fills((0, "buy", 100, 10.0), (30, "sell", 100, 11.0)))
    assert trips_as_tuples(trips) == [("AAPL", "long", 100, at(0), at(30), 10.0, 11.0)]
    assert trips["pnl"].iloc[0] == pytest.approx(100.0)
    assert trips["return"].iloc[0] == pytest.approx(0.10)
    assert trips["holding_time"].iloc[0] == pd.Timedelta(minutes=30)


def test_partial_fills_of_two_orders_make_one_round_trip() -> None:
    trips = round_trips(
        fills(
            (0, "buy", 30, 10.0, "A"),
            (1, "buy", 70, 10.2, "A"),
            (5, "sell", 50, 11.0, "B"),
            (6, "sell", 50, 11.5, "B"),
        )
    )
    assert len(trips) == 1
    trip = trips.iloc[0]
    assert (trip["entry_order_id"], trip["exit_order_id"]) == ("A", "B")
    assert trip["qty"] == 100
    assert trip["entry_price"] == pytest.approx((30 * 10 + 70 * 10.2) / 100)
    assert trip["exit_price"] == pytest.approx(11.25)
    assert trip["pnl"] == pytest.approx(50 * 11 + 50 * 11.5 - (30 * 10 + 70 * 10.2))
    assert (trip["entry_time"], trip["exit_time"]) == (at(0), at(6))


def test_fifo_closes_the_oldest_lot_first() -> None:
    given = fills(
        (0, "buy", 100, 10.0, "A"), (1, "buy", 100, 12.0, "B"), (2, "sell", 100, 13.0, "C")
    )
    trips = round_trips(given)
    assert trips_as_tuples(trips) == [("AAPL", "long", 100, at(0), at(2), 10.0, 13.0)]
    assert trips["pnl"].iloc[0] == pytest.approx(300.0)
    left = open_lots(given)
    assert left[["direction", "qty", "entry_price", "entry_order_id"]].values.tolist() == [
        ["long", 100.0, 12.0, "B"]
    ]
    assert left["entry_time"].iloc[0] == at(1)


def test_scaling_in_then_one_exit_is_one_round_trip_per_entry() -> None:
    trips = round_trips(
        fills((0, "buy", 100, 10.0, "A"), (1, "buy", 100, 12.0, "B"), (2, "sell", 200, 11.0, "C"))
    )
    assert trips["entry_order_id"].tolist() == ["A", "B"]
    assert trips["pnl"].tolist() == pytest.approx([100.0, -100.0])
    assert trips["holding_time"].tolist() == [pd.Timedelta(minutes=2), pd.Timedelta(minutes=1)]


def test_a_short_round_trip() -> None:
    trips = round_trips(fills((0, "sell_short", 100, 50.0), (10, "buy", 100, 45.0)))
    assert trips_as_tuples(trips) == [("AAPL", "short", 100, at(0), at(10), 50.0, 45.0)]
    assert trips["pnl"].iloc[0] == pytest.approx(500.0)
    assert trips["return"].iloc[0] == pytest.approx(0.10)


def test_a_flip_from_long_to_short_in_one_fill() -> None:
    given = fills(
        (0, "buy", 100, 10.0, "A"), (1, "sell", 250, 12.0, "B"), (2, "buy", 150, 11.0, "C")
    )
    trips = round_trips(given)
    assert trips_as_tuples(trips) == [
        ("AAPL", "long", 100, at(0), at(1), 10.0, 12.0),
        ("AAPL", "short", 150, at(1), at(2), 12.0, 11.0),
    ]
    assert trips["pnl"].tolist() == pytest.approx([200.0, 150.0])
    assert open_lots(given).empty
    # before the covering purchase, the flip leaves a short of 150 open
    left = open_lots(given.iloc[:2])
    assert left[["direction", "qty", "entry_price"]].values.tolist() == [["short", 150.0, 12.0]]


def test_same_time_fills_keep_their_order() -> None:
    # A sale and a purchase at one instant, flat before: a short opened and closed at once.
    trips = round_trips(fills((0, "sell", 10, 20.0, "S"), (0, "buy", 10, 19.5, "B")))
    assert trips_as_tuples(trips) == [("AAPL", "short", 10, at(0), at(0), 20.0, 19.5)]
    assert trips["holding_time"].iloc[0] == pd.Timedelta(0)
    # given in the other order, it is a long
    swapped = round_trips(fills((0, "buy", 10, 19.5, "B"), (0, "sell", 10, 20.0, "S")))
    assert swapped["direction"].tolist() == ["long"]


def test_fills_out_of_time_order_are_matched_in_time_order() -> None:
    given = fills((5, "sell", 10, 11.0, "X"), (0, "buy", 10, 10.0, "E"))
    assert round_trips(given)["direction"].tolist() == ["long"]


def test_fractional_quantities_close_exactly() -> None:
    given = fills(
        (0, "buy", 0.1, 10.0, "A"), (1, "buy", 0.2, 10.0, "B"), (2, "sell", 0.3, 11.0, "C")
    )
    assert open_lots(given).empty  # 0.1 + 0.2 - 0.3 leaves nothing, not 5.5e-17
    assert round_trips(given)["qty"].sum() == pytest.approx(0.3)


def test_symbols_are_matched_apart() -> None:
    given = fills(
        (0, "buy", 10, 100.0, "A", "AAPL"),
        (1, "sell_short", 5, 300.0, "M", "MSFT"),
        (2, "sell", 10, 101.0, "B", "AAPL"),
        (3, "buy", 5, 290.0, "N", "MSFT"),
    )
    trips = round_trips(given)
    assert trips[["symbol", "direction", "pnl"]].values.tolist() == [
        ["AAPL", "long", 10.0],
        ["MSFT", "short", 50.0],
    ]


def test_trade_statistics_by_hand() -> None:
    given = fills(
        (0, "buy", 10, 10.0),
        (1, "sell", 10, 20.0),  # +100
        (2, "buy", 10, 20.0),
        (4, "sell", 10, 15.0),  # -50
        (5, "buy", 10, 15.0),
        (6, "sell", 10, 15.0),  # 0
        (7, "buy", 10, 15.0),
        (10, "sell", 10, 18.0),  # +30
    )
    stats = trade_stats(round_trips(given))
    assert stats["round_trips"] == 4
    assert stats["win_rate"] == pytest.approx(0.5)  # 2 of 4: a break-even is not a win
    assert stats["average_win"] == pytest.approx(65.0)
    assert stats["average_loss"] == pytest.approx(-50.0)
    assert stats["profit_factor"] == pytest.approx(130 / 50)
    assert stats["expectancy"] == pytest.approx(20.0)
    assert stats["total_pnl"] == pytest.approx(80.0)
    assert (stats["largest_win"], stats["largest_loss"]) == (100.0, -50.0)
    assert stats["average_holding_time"] == pd.Timedelta(minutes=(1 + 2 + 1 + 3) / 4)


def test_statistics_without_losses_or_trades() -> None:
    winners = trade_stats(round_trips(fills((0, "buy", 1, 1.0), (1, "sell", 1, 2.0))))
    assert winners["profit_factor"] == math.inf
    assert np.isnan(winners["average_loss"])
    empty = trade_stats(round_trips(None))
    assert empty["round_trips"] == 0
    assert np.isnan(empty["win_rate"]) and pd.isna(empty["average_holding_time"])


def test_an_orders_frame_is_read_as_one_fill_per_filled_order() -> None:
    orders = pd.DataFrame(
        {
            "symbol": ["AAPL", "AAPL", "AAPL"],
            "side": ["buy", "buy", "sell"],
            "qty": [100.0, 50.0, 100.0],
            "filled_qty": [100.0, 0.0, 100.0],
            "filled_avg_price": [10.0, np.nan, 12.0],
            "filled_at": [at(0), pd.NaT, at(9)],
        },
        index=pd.Index(["o1", "o2", "o3"], name="id"),
    )
    trips = round_trips(orders)  # o2 never filled: not a fill
    assert trips[["entry_order_id", "exit_order_id", "qty", "pnl"]].values.tolist() == [
        ["o1", "o3", 100.0, 200.0]
    ]


BAD_FILLS = [
    ("not a frame", [("AAPL", "buy")], "must be a DataFrame"),
    ("no price", fills((0, "buy", 1, 1.0)).drop(columns="price"), "no column for price"),
    ("no symbol", fills((0, "buy", 1, 1.0)).assign(symbol=[None]), "symbol=None must be a symbol"),
    ("a side", fills((0, "hold", 1, 1.0)), "side='hold' must be buy, sell or sell_short"),
    ("a zero qty", fills((0, "buy", 0, 1.0)), "qty=0 must be a number above 0"),
    ("a missing price", fills((0, "buy", 1, float("nan"))), "price=nan must be a price above 0"),
    (
        "a bad time",
        fills((0, "buy", 1, 1.0)).assign(time=["yesterday"]),
        "column time must hold times",
    ),
]


@pytest.mark.parametrize(("name", "given", "said"), BAD_FILLS, ids=[b[0] for b in BAD_FILLS])
def test_bad_fills_are_named(name: str, given: object, said: str) -> None:
    with pytest.raises(AnalyticsError) as caught:
        round_trips(given)
    assert caught.value.argument == "fills"
    assert said in str(caught.value)

"""The order journal: events, slippage, and history across a reopened ``Orders``."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import trading_kit as tk
from tests.orders.conftest import make_stack
from trading_kit.config import Settings
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders
from trading_kit.orders.executor import MAX_LIST
from trading_kit.orders.frames import ORDER_COLUMNS
from trading_kit.orders.journal import HISTORY_EXTRA


def test_history_survives_a_new_orders_instance(running: RunningExchange, tmp_path: Path) -> None:
    journal = tmp_path / "journal" / "orders.sqlite"
    first = Orders(stack=make_stack(running.url, tmp_path), journal_path=journal)
    bought = first.place_order("AAPL", qty=10, side="buy")
    resting = first.place_order("MSFT", qty=1, side="buy", type="limit", limit_price=1)
    del first  # "kernel restart": a new stack, a new Orders, the same file

    second = Orders(stack=make_stack(running.url, tmp_path), journal_path=journal)
    history = second.history()
    assert list(history.index) == [bought.id, resting.id]
    assert list(history.columns) == [*ORDER_COLUMNS, *HISTORY_EXTRA]
    assert history.loc[bought.id, "status"] == "filled"  # refreshed from the broker
    assert history.loc[bought.id, "last_event"] == "fill"
    assert history.loc[resting.id, "status"] in ("new", "accepted")
    assert (history["venue"] == "local").all()


def test_slippage_against_the_quote_at_submission(orders: Orders) -> None:
    buy = orders.place_order("AAPL", qty=10, side="buy")
    sell = orders.place_order("AAPL", qty=10, side="sell")
    history = orders.history()
    for order, sign in ((buy, 1), (sell, -1)):
        row = history.loc[order.id]
        assert row["quote_bid"] < row["quote_ask"]
        assert row["arrival_price"] == pytest.approx((row["quote_bid"] + row["quote_ask"]) / 2)
        expected = sign * (row["filled_avg_price"] - row["arrival_price"])
        assert row["slippage"] == pytest.approx(expected)
        assert row["slippage"] > 0  # a market order crosses the spread: worse than the mid
        assert row["slippage_bps"] == pytest.approx(row["slippage"] / row["arrival_price"] * 1e4)
        assert str(row["quote_time"].tz) == "UTC"


def test_events_submitted_replaced_canceled_filled(orders: Orders) -> None:
    first = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=100)
    second = orders.replace_order(first.id, limit_price=101)
    orders.cancel_order(second.id)
    filled = orders.place_order("AAPL", qty=1, side="buy")
    orders.get_orders("all")
    events = orders.journal.events()
    story = {
        oid: list(events.loc[events["order_id"] == oid, "event"]) for oid in events["order_id"]
    }
    assert story[first.id] == ["submitted", "replaced"]
    assert story[second.id] == ["replacement", "canceled"]
    assert story[filled.id] == ["submitted", "fill"]
    history = orders.history()
    assert history.loc[second.id, "replaces"] == first.id
    assert history.loc[second.id, "quote_bid"] == history.loc[first.id, "quote_bid"]
    assert str(events["at"].dt.tz) == "UTC"


def test_bracket_legs_are_journaled_with_their_parent(orders: Orders) -> None:
    parent = orders.place_bracket_order(
        "MSFT",
        qty=1,
        side="buy",
        entry_limit_price=1,
        take_profit_limit_price=2,
        stop_loss_stop_price="0.5",
    )
    history = orders.history()
    legs = [leg.id for leg in parent.legs]
    assert history.loc[parent.id, "legs"] == legs
    assert list(history.loc[legs, "parent_id"]) == [parent.id, parent.id]
    assert history.loc[legs, "quote_bid"].isna().all()  # exits are not priced at the entry


def test_history_works_offline(
    running: RunningExchange, new_orders: Callable[..., Orders], caplog: pytest.LogCaptureFixture
) -> None:
    orders = new_orders(running.url)
    order = orders.place_order("AAPL", qty=1, side="buy", type="limit", limit_price=1)
    running.stop()
    history = orders.history()
    assert list(history.index) == [order.id]
    assert "journal not refreshed" in caplog.text


def test_empty_history_has_the_columns(orders: Orders) -> None:
    history = orders.history()
    assert history.empty and list(history.columns) == [*ORDER_COLUMNS, *HISTORY_EXTRA]


def test_journal_is_a_wal_sqlite_file_next_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        trading_url="http://127.0.0.1:1",
        data_url="http://127.0.0.1:1",
        cache_path=tmp_path / "c" / "http.sqlite",
    )
    assert settings.journal_path == tmp_path / "c" / "order_journal.sqlite"
    monkeypatch.setenv("TRADING_KIT_JOURNAL", str(tmp_path / "elsewhere.sqlite"))
    from_env = Settings.from_env(trading_url="http://127.0.0.1:1", data_url="http://127.0.0.1:1")
    assert from_env.journal_path == tmp_path / "elsewhere.sqlite"
    orders = Orders(stack=make_stack("http://127.0.0.1:1", tmp_path))
    assert orders.journal.path == tmp_path / "order_journal.sqlite"
    with sqlite3.connect(orders.journal.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_history_refreshes_more_orders_than_one_page(
    sim_market: SimulatedMarket, manual_clock: ManualClock, tmp_path: Path
) -> None:
    """A replay leaves thousands of orders journaled as accepted: every page is read."""
    exchange = Exchange(sim_market, manual_clock, partial_fills=False)
    kit = tk.connect(exchange=exchange, checks=False, journal_path=tmp_path / "j.sqlite")
    placed = []
    for i in range(MAX_LIST + 20):
        if i % 200 == 0:  # several submission times, a page boundary inside one of them
            exchange.advance("1min")
        placed.append(kit.orders.place_order("AAPL", qty=1, side="buy" if i % 2 else "sell"))
    assert {order.status for order in placed} == {"accepted"}
    history = kit.orders.history()
    assert len(history) == MAX_LIST + 20
    assert (history["status"] == "filled").all()

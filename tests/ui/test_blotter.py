"""Blotter against the local exchange: summary, tables, cancel / close buttons, the timer."""

from __future__ import annotations

import time

import pytest

from tests.ui.conftest import cents, server_order, text
from trading_kit.ui import Blotter, feed, style


def cells(table) -> list[str]:
    return [text(c.value) if hasattr(c, "value") else c.description for c in table.children]


@pytest.fixture
def book(running, orders, ask):
    """A position of 10 AAPL and one resting MSFT limit order."""
    orders.place_order("AAPL", qty=10, side="buy")
    resting = orders.place_order("MSFT", qty=2, side="buy", type="limit", limit_price=100)
    running.exchange.advance("1min")
    return resting


@pytest.fixture
def blotter(orders, book):
    widget = Blotter(orders, live=False)
    yield widget
    widget.close()


def test_summary_and_tables(orders, book, blotter) -> None:
    account = orders.get_account()
    summary = text(blotter.summary.value)
    assert f"Equity ${account.equity:,.2f}" in summary
    assert f"Cash ${account.cash:,.2f}" in summary
    assert f"Buying power ${account.buying_power:,.2f}" in summary
    assert "Day P&L" in summary
    assert list(blotter.cancel_buttons) == [book.id]
    row = cells(blotter.orders_table)[9:]
    assert row[:6] == ["MSFT", "buy", "2", "limit", "100.00", ""]
    assert row[6] in ("new", "accepted") and row[8] == "Cancel"
    position = orders.get_positions().loc["AAPL"]
    prow = cells(blotter.positions_table)[8:]
    assert prow[:3] == ["AAPL", "10", f"{position['avg_entry_price']:,.2f}"]
    assert prow[6:] == ["Close", "Close 50%"]
    assert set(blotter.close_buttons) == set(blotter.half_buttons) == {"AAPL"}


def test_cancel_button(running, book, blotter) -> None:
    blotter.cancel_buttons[book.id].click()
    assert server_order(running, book.id).status == "canceled"
    assert blotter.cancel_buttons == {}
    assert "no open orders" in cells(blotter.orders_table)
    assert text(blotter.message.value) == f"Order {book.id[:8]} is canceled."


def test_close_half_then_close_all(running, orders, blotter) -> None:
    blotter.half_buttons["AAPL"].click()
    assert "Closing 50% of AAPL: sell 5 at market" in text(blotter.message.value)
    running.exchange.advance("1min")
    blotter.refresh()
    assert running.exchange.engine.positions["AAPL"].qty == 5
    assert cells(blotter.positions_table)[9] == "5"

    blotter.close_buttons["AAPL"].click()
    assert "Closing AAPL: sell 5 at market" in text(blotter.message.value)
    running.exchange.advance("1min")
    blotter.refresh()
    assert "AAPL" not in orders.get_positions().index
    assert blotter.close_buttons == {} and "no positions" in cells(blotter.positions_table)


def test_a_failed_action_is_shown(orders, book, blotter) -> None:
    button = blotter.cancel_buttons[book.id]
    orders.cancel_order(book.id)  # cancelled elsewhere; this row is stale until a refresh
    button.click()
    message = text(blotter.message.value)
    assert message.startswith(f"Cancel failed for {book.id[:8]}:") and "HTTP 422" in message


def test_rows_are_redrawn_only_when_they_change(blotter) -> None:
    first = blotter.orders_table.children
    blotter.refresh()
    assert blotter.orders_table.children is first  # same orders: same widgets, no flicker


def test_a_live_blotter_follows_the_account_and_stops_when_closed(
    monkeypatch, running, orders, book, ask
) -> None:
    monkeypatch.setattr(feed, "LOCAL_INTERVAL", 0.05)  # 1 s in a notebook
    blotter = Blotter(orders)
    try:
        assert blotter.live and blotter._feed.running
        later = orders.place_order(
            "AAPL", qty=1, side="buy", type="limit", limit_price=cents(ask - 9)
        )
        deadline = time.monotonic() + 10
        while later.id not in blotter.cancel_buttons and time.monotonic() < deadline:
            time.sleep(0.02)
        assert later.id in blotter.cancel_buttons
    finally:
        blotter.close()
    assert not blotter.live and not blotter._feed.running


def test_times_are_new_york_time(orders, book, blotter) -> None:
    submitted = orders.get_order(book.id).submitted_at.tz_convert("America/New_York")
    row = cells(blotter.orders_table)[9:]
    assert row[7] == submitted.strftime("%m-%d %H:%M")
    assert "Submitted (NY)" in cells(blotter.orders_table)[:9]
    assert text(blotter.updated.value).endswith("New York time")


def test_empty_tables_keep_their_columns(orders) -> None:
    blotter = Blotter(orders, live=False)
    try:
        headers, note = blotter.orders_table.children[:9], blotter.orders_table.children[9:]
        assert next(text(h.value) for h in headers) == "Symbol"
        (only,) = note
        assert "no open orders" in text(only.value) and only.layout.grid_column == "1 / -1"
        template = blotter.orders_table.layout.grid_template_columns
        assert template.count("minmax(") == 9  # the same columns, empty or not
    finally:
        blotter.close()


def test_old_messages_clear(monkeypatch, running, book, blotter) -> None:
    blotter.cancel_buttons[book.id].click()
    assert "is canceled" in text(blotter.message.value)
    blotter.refresh()
    assert "is canceled" in text(blotter.message.value)  # still fresh
    monkeypatch.setattr(style, "MESSAGE_SECONDS", 0.0)
    blotter.refresh()
    assert blotter.message.value == ""

"""OrderTicket against the local exchange: type, validate, click Submit, follow the order."""

from __future__ import annotations

import time

import pytest

from tests.ui.conftest import cents, server_order, text
from trading_kit.orders import Orders
from trading_kit.ui import OrderTicket, feed


@pytest.fixture
def ticket(md, orders):
    widget = OrderTicket(orders, md, "AAPL", live=False)
    yield widget
    widget.close()


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_limit_order_reaches_the_exchange(running, ticket, ask) -> None:
    ticket.size.value = "10"
    ticket.type.value = "limit"
    ticket.limit_price.value = f"{ask - 2:.2f}"
    ticket.time_in_force.value = "gtc"
    assert not ticket.submit_button.disabled and ticket.message.value == ""

    ticket.submit_button.click()

    order = server_order(running, ticket.order.id)
    assert (order.symbol, order.side, order.type, order.time_in_force) == (
        "AAPL",
        "buy",
        "limit",
        "gtc",
    )
    assert order.qty == 10 and order.limit_price == cents(ask - 2)
    assert text(ticket.status.value) == f"buy 10 AAPL: {ticket.order.status} · id {order.id[:8]}"
    assert ticket.refresh() is True  # still open: a limit below the market rests
    assert text(ticket.status.value) == f"buy 10 AAPL: {order.status} · id {order.id[:8]}"


def test_the_status_is_followed_until_final(running, ticket) -> None:
    ticket.size.value = "3"
    ticket.submit_button.click()
    assert "accepted" in text(ticket.status.value) or "new" in text(ticket.status.value)
    running.exchange.advance("1min")

    assert ticket.refresh() is False  # final: the poller would stop here

    order = server_order(running, ticket.order.id)
    assert order.status == "filled"
    assert "filled 3 @" in text(ticket.status.value)


@pytest.fixture
def quick_feed(monkeypatch):
    """The shared refresher polls every 50 ms in these tests (1 s in a notebook)."""
    monkeypatch.setattr(feed, "LOCAL_INTERVAL", 0.05)


def test_a_live_ticket_follows_its_order_until_final(quick_feed, running, md, orders) -> None:
    ticket = OrderTicket(orders, md, "AAPL")
    try:
        assert ticket._subscription is not None and ticket._feed.running
        ticket.size.value = "1"
        ticket.submit_button.click()
        running.exchange.advance("1min")
        assert wait_for(lambda: ticket.order.status == "filled")
        assert wait_for(lambda: "filled 1 @" in text(ticket.status.value))
    finally:
        ticket.close()
    assert not ticket._feed.running


def test_a_live_ticket_follows_a_replace_made_elsewhere(quick_feed, running, md, orders, ask):
    ticket = OrderTicket(orders, md, "AAPL")
    try:
        ticket.size.value = "1"
        ticket.set_price(ask - 5)  # a resting limit: stays open
        first = ticket.submit()
        second = orders.replace_order(first.id, limit_price=cents(ask - 4))
        assert wait_for(lambda: ticket.order.id == second.id)
        assert wait_for(lambda: f"id {second.id[:8]}" in text(ticket.status.value))
        assert f"replaces {first.id[:8]}" in text(ticket.status.value)
    finally:
        ticket.close()


@pytest.mark.parametrize(
    ("values", "words", "marked"),
    [
        ({}, "Give exactly one of Qty (shares) or Notional (dollars)", "size"),
        ({"size": "-1"}, "Qty -1 must be greater than 0", "size"),
        ({"size": "ten"}, "Qty 'ten' is not a number", "size"),
        ({"size": "1", "type": "limit"}, "Limit price is required for limit orders", "limit_price"),
        (
            {"size": "1", "type": "limit", "limit_price": "150.123"},
            "Limit price 150.123 is not a multiple of $0.01",
            "limit_price",
        ),
        (
            {"size": "1", "type": "stop", "stop_price": "0"},
            "Stop price 0 must be greater than 0",
            "stop_price",
        ),
        (
            {"size": "1", "type": "trailing_stop"},
            "Trailing_stop orders need exactly one of Trail ($)",
            "trail",
        ),
        (
            {"size": "1", "type": "trailing_stop", "trail_kind": "trail_percent", "trail": "150"},
            "Trail (%) 150 must be between 0 and 100",
            "trail",
        ),
        ({"size": "1", "extended_hours": True}, "Extended hours True needs a limit order", None),
        (
            {"size_kind": "notional", "size": "100", "type": "limit", "limit_price": "150"},
            "Notional 100 is only accepted for simple market orders",
            "size",
        ),
        (
            {"size": "1.5", "time_in_force": "gtc"},
            "Qty 1.5 is fractional, but fractional orders must have TIF 'day'",
            "size",
        ),
        (
            {"size": "1", "bracket": True},
            "Take profit is required for bracket",
            "take_profit",
        ),
        (
            {"size": "1", "bracket": True, "take_profit": "100", "stop_loss": "90"},
            "Take profit 100 must be above the last price",
            "take_profit",
        ),
        (
            {"symbol": "not a ticker", "size": "1"},
            "Symbol 'not a ticker' is not a ticker",
            "symbol",
        ),
    ],
)
def test_invalid_values_keep_submit_disabled_and_say_why(
    running, ticket, values: dict, words: str, marked: str | None
) -> None:
    before = len(running.exchange.engine.orders)
    for name, value in values.items():
        getattr(ticket, name).value = value
    assert ticket.submit_button.disabled
    ticket.submit_button.click()  # a click that slips through sends nothing, and says why
    assert len(running.exchange.engine.orders) == before
    assert "Not sent" in text(ticket.status.value)
    assert words in text(ticket.message.value)
    if marked is not None:
        assert "error-color" in str(getattr(ticket, marked).layout.border)


def test_a_fresh_ticket_is_not_in_an_error_state(ticket) -> None:
    assert ticket.spec is None and ticket.submit_button.disabled  # no size yet
    assert ticket.message.value == "" and ticket.status.value == ""
    assert all(field.layout.border is None for field in ticket._fields.values())
    ticket.type.value = "limit"  # the user has not typed a price yet: still no nagging
    assert ticket.message.value == ""
    ticket.limit_price.value = "205.123"
    assert text(ticket.message.value) == "Limit price 205.123 is not a multiple of $0.01."


def press_enter(field) -> None:
    """What the browser sends when Enter is pressed in a text field."""
    field._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "submit"}}}, "buffers": []}
    )


def test_enter_submits_a_valid_order_and_says_why_not_otherwise(running, ticket, ask) -> None:
    ticket.type.value = "limit"
    ticket.size.value = "3"
    press_enter(ticket.size)
    assert ticket.order is None and "Not sent: Limit price is required" in text(ticket.status.value)
    ticket.limit_price.value = f"{ask - 2:.2f}"
    press_enter(ticket.limit_price)
    order = server_order(running, ticket.order.id)
    assert order.qty == 3 and order.limit_price == cents(ask - 2)


def test_bid_and_ask_buttons_and_the_steppers(md, ticket) -> None:
    quote = md.get_latest_quote("AAPL").iloc[0]
    ticket.type.value = "limit"
    assert ticket.bid_button.description == f"Bid {quote['bid_price']:,.2f}"
    ticket.bid_button.click()
    assert ticket.limit_price.value == f"{quote['bid_price']:.2f}"
    ticket.ask_button.click()
    assert ticket.limit_price.value == f"{quote['ask_price']:.2f}"
    ticket.limit_up.click()
    assert ticket.limit_price.value == f"{quote['ask_price'] + 0.01:.2f}"  # one tick
    ticket.limit_price.value = "0.5"
    ticket.limit_down.click()
    assert ticket.limit_price.value == "0.4999"  # below $1 the tick is $0.0001
    ticket.limit_price.value = "150.126"
    ticket.limit_down.click()
    assert ticket.limit_price.value == "150.13"  # off the tick: onto it first
    ticket.qty_up.click()
    ticket.qty_up.click()
    assert ticket.size.value == "2"
    ticket.qty_down.click()
    ticket.qty_down.click()
    assert ticket.size.value == "1"  # never below one share


def test_fixing_the_value_enables_submit_and_clears_the_message(ticket) -> None:
    ticket.type.value = "limit"
    ticket.size.value = "5"
    assert ticket.submit_button.disabled
    ticket.limit_price.value = "150"
    assert not ticket.submit_button.disabled
    assert ticket.message.value == "" and ticket.limit_price.layout.border is None


def test_price_fields_are_shown_only_when_the_type_needs_them(ticket) -> None:
    def shown() -> set[str]:
        rows = {"limit": ticket._limit_row, "stop": ticket._stop_row, "trail": ticket._trail_row}
        return {name for name, row in rows.items() if row.layout.display != "none"}

    expected = {
        "market": set(),
        "limit": {"limit"},
        "stop": {"stop"},
        "stop_limit": {"limit", "stop"},
        "trailing_stop": {"trail"},
    }
    for order_type, fields in expected.items():
        ticket.type.value = order_type
        assert shown() == fields, order_type
    assert ticket._exit_row.layout.display == "none"
    ticket.bracket.value = True
    assert ticket._exit_row.layout.display is None


def test_the_preview_shows_quote_cost_and_buying_power(md, orders, ticket) -> None:
    quote = md.get_latest_quote("AAPL").iloc[0]
    power = orders.get_account().buying_power
    ticket.size.value = "10"
    preview = text(ticket.preview.value)
    assert f"bid {quote['bid_price']:,.2f} × ask {quote['ask_price']:,.2f}" in preview
    cost = 10 * quote["ask_price"]
    assert f"cost ≈ ${cost:,.2f}" in preview
    assert f"buying power ${power:,.2f} → ${power - cost:,.2f}" in preview
    ticket.type.value = "limit"
    ticket.limit_price.value = "100"
    assert "cost ≈ $1,000.00" in text(ticket.preview.value)


def test_changing_the_symbol_reads_its_quote(md, ticket) -> None:
    ticket.symbol.value = "msft"  # shown in capitals; read as MSFT
    bid = md.get_latest_quote("MSFT")["bid_price"].iloc[0]
    assert f"MSFT bid {bid:,.2f}" in text(ticket.preview.value)


def test_a_pre_trade_check_failure_is_shown(running, ticket) -> None:
    ticket.size.value = "100000"
    assert not ticket.submit_button.disabled  # local rules pass; buying power is checked on submit
    assert "warn-color" in ticket.preview.value  # ...but the preview already warns
    ticket.submit_button.click()
    status = text(ticket.status.value)
    assert status.startswith("Not sent:") and "buying power is $" in status
    assert ticket.order is None and not ticket.submit_button.disabled


def test_a_broker_rejection_is_shown(running, md, tmp_path) -> None:
    unchecked = Orders(
        "test-key",
        "test-secret",
        data_url=running.url,
        trading_url=running.url,
        cache_path=tmp_path / "cache2.sqlite",
        journal_path=tmp_path / "journal2.sqlite",
        checks=False,
    )
    ticket = OrderTicket(unchecked, md, "AAPL", live=False)
    ticket.size.value = "100000"
    ticket.submit_button.click()
    status = text(ticket.status.value)
    assert status.startswith("Rejected:") and "HTTP 403" in status
    assert "buying power" in status
    ticket.close()


def test_a_bracket_order_with_its_exits(running, ticket, ask) -> None:
    ticket.size.value = "2"
    ticket.bracket.value = True
    ticket.take_profit.value = f"{ask + 5:.2f}"
    ticket.stop_loss.value = f"{ask - 5:.2f}"
    assert not ticket.submit_button.disabled, text(ticket.message.value)
    ticket.submit_button.click()
    parent = server_order(running, ticket.order.id)
    assert parent.order_class == "bracket" and len(parent.leg_ids) == 2
    legs = {server_order(running, i).type: server_order(running, i) for i in parent.leg_ids}
    assert legs["limit"].limit_price == cents(ask + 5)
    assert legs["stop"].stop_price == cents(ask - 5)


def test_a_notional_order_in_dollars(running, ticket) -> None:
    ticket.size_kind.value = "notional"
    ticket.size.value = "$250"
    assert ticket.size.description == "Notional"
    ticket.submit_button.click()
    assert server_order(running, ticket.order.id).notional == 250


def test_each_submission_is_a_new_order(running, ticket, ask) -> None:
    ticket.size.value = "1"
    ticket.set_price(ask - 3)
    first = ticket.submit()
    second = ticket.submit()
    assert first.id != second.id and first.client_order_id != second.client_order_id
    assert server_order(running, second.id).limit_price == cents(ask - 3)


def test_set_price_fills_the_field_the_type_uses(ticket) -> None:
    assert ticket.set_price(151.2349) == "limit_price"
    assert ticket.type.value == "limit" and ticket.limit_price.value == "151.23"
    ticket.type.value = "stop"
    assert ticket.set_price(149.5) == "stop_price" and ticket.stop_price.value == "149.50"
    ticket.type.value = "stop_limit"
    assert ticket.set_price(149.0) == "limit_price" and ticket.limit_price.value == "149.00"


@pytest.mark.timeout(60)
def test_submitting_from_a_linked_ticket_while_the_feed_runs_never_deadlocks(
    monkeypatch, md, orders, ask
) -> None:
    """The ticket's submission refreshes the chart through the feed while the feed's own
    thread hands updates to the ticket: neither may wait for the other's lock."""
    from trading_kit.ui import PriceChart

    monkeypatch.setattr(feed, "LOCAL_INTERVAL", 0.01)
    ticket = OrderTicket(orders, md, "AAPL")
    chart = PriceChart(md, "AAPL", "5Min", orders=orders, ticket=ticket)
    try:
        ticket.size.value = "1"
        ticket.set_price(ask - 5)
        placed = [ticket.submit() for _ in range(15)]
        assert all(order is not None for order in placed)
        assert wait_for(lambda: {o.id for o in placed} <= {lv.order_id for lv in chart.levels})
    finally:
        chart.close()
        ticket.close()

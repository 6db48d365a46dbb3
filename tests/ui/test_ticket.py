"""OrderTicket against the local exchange: type, validate, click Submit, follow the order."""

from __future__ import annotations

import time

import pytest

from tests.ui.conftest import cents, server_order, text
from trading_kit.orders import Orders
from trading_kit.ui import OrderTicket


@pytest.fixture
def ticket(md, orders):
    widget = OrderTicket(orders, md, "AAPL", poll_seconds=None)
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
    assert text(ticket.status.value) == f"buy 10 AAPL: {ticket.order.status} · id {order.id}"
    assert ticket.refresh() is True  # still open: a limit below the market rests
    assert text(ticket.status.value) == f"buy 10 AAPL: {order.status} · id {order.id}"


def test_the_status_is_followed_until_final(running, ticket) -> None:
    ticket.size.value = "3"
    ticket.submit_button.click()
    assert "accepted" in text(ticket.status.value) or "new" in text(ticket.status.value)
    running.exchange.advance("1min")

    assert ticket.refresh() is False  # final: the poller would stop here

    order = server_order(running, ticket.order.id)
    assert order.status == "filled"
    assert "filled 3 @" in text(ticket.status.value)


def test_a_background_poller_follows_and_stops_when_final(running, md, orders) -> None:
    ticket = OrderTicket(orders, md, "AAPL", poll_seconds=0.05)
    try:
        ticket.size.value = "1"
        ticket.submit_button.click()
        assert ticket._poller is not None and ticket._poller.running
        running.exchange.advance("1min")
        assert wait_for(lambda: ticket.order.status == "filled")
        assert wait_for(lambda: not ticket._poller.running)
        assert "filled" in text(ticket.status.value)
    finally:
        ticket.close()


def test_closing_the_ticket_stops_its_poller(md, orders, ask) -> None:
    ticket = OrderTicket(orders, md, "AAPL", poll_seconds=0.05)
    ticket.size.value = "1"
    ticket.set_price(ask - 5)  # a resting limit: stays open
    ticket.submit_button.click()
    poller = ticket._poller
    assert poller is not None and poller.running
    ticket.close()
    assert not poller.running


@pytest.mark.parametrize(
    ("values", "words", "marked"),
    [
        ({}, "give exactly one of qty (shares) or notional (dollars)", "size"),
        ({"size": "-1"}, "qty=-1 must be greater than 0", "size"),
        ({"size": "ten"}, "qty='ten' is not a number", "size"),
        ({"size": "1", "type": "limit"}, "limit_price is required for limit orders", "limit_price"),
        (
            {"size": "1", "type": "limit", "limit_price": "150.123"},
            "limit_price=150.123 is not on the tick",
            "limit_price",
        ),
        (
            {"size": "1", "type": "stop", "stop_price": "0"},
            "stop_price=0 must be greater than 0",
            "stop_price",
        ),
        (
            {"size": "1", "type": "trailing_stop"},
            "trailing_stop orders need exactly one of trail_price",
            "trail",
        ),
        (
            {"size": "1", "type": "trailing_stop", "trail_kind": "trail_percent", "trail": "150"},
            "trail_percent=150 must be between 0 and 100",
            "trail",
        ),
        ({"size": "1", "extended_hours": True}, "extended_hours=True needs a limit order", None),
        (
            {"size_kind": "notional", "size": "100", "type": "limit", "limit_price": "150"},
            "notional=100 is only accepted for simple market orders",
            "size",
        ),
        (
            {"size": "1.5", "time_in_force": "gtc"},
            "qty=1.5 is fractional, but fractional orders must have time_in_force='day'",
            "size",
        ),
        (
            {"size": "1", "bracket": True},
            "take_profit_limit_price is required for bracket",
            "take_profit",
        ),
        (
            {"size": "1", "bracket": True, "take_profit": "100", "stop_loss": "90"},
            "take_profit_limit_price=100 must be above the last price",
            "take_profit",
        ),
        (
            {"symbol": "not a ticker", "size": "1"},
            "symbol='NOT A TICKER' is not a ticker",
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
    assert words in text(ticket.message.value)
    if marked is not None:
        assert "error-color" in str(getattr(ticket, marked).layout.border)
    ticket.submit_button.click()  # a click that slips through still sends nothing
    assert len(running.exchange.engine.orders) == before
    assert "Not sent" in text(ticket.status.value)


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
    ticket.symbol.value = "msft"
    assert ticket.symbol.value == "MSFT"
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
    ticket = OrderTicket(unchecked, md, "AAPL", poll_seconds=None)
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

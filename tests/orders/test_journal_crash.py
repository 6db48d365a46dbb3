"""The journal records an order before it is sent: a kill, a full disk or a rerun loses none.

A client process is SIGKILLed while its order is at the exchange and the answer is still
on its way (a proxy holds it); the journal must show the order afterwards, and running the
same order again with the same client order id must return it, not place a second one
or fail as "client_order_id must be unique". A journal that cannot be written stops the
order before it is sent; one that fails after the send never hides the order.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.orders.conftest import Proxy, SmallDisk
from trading_kit.errors import JournalError, OrderExecutionError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders
from trading_kit.orders.journal import Journal

POST = ("POST", "/v2/orders")
CLIENT = """
import sys
from trading_kit.config import Settings
from trading_kit.http import HttpStack
from trading_kit.orders import Orders

url, journal, client_id = sys.argv[1:4]
settings = Settings(trading_url=url, data_url=url, cache_path=journal + ".cache", deadline=120)
orders = Orders(stack=HttpStack(settings), journal_path=journal)
orders.place_order("AAPL", qty=3, side="buy", client_order_id=client_id)
print("placed", flush=True)
"""


def exchange_orders(running: RunningExchange, client_order_id: str) -> list:
    engine = running.exchange.engine
    return [o for o in engine.orders.values() if o.client_order_id == client_order_id]


def kill_while_the_answer_is_held(running: RunningExchange, journal: Path, client_id: str) -> None:
    """Run the client in a process; SIGKILL it once its order reached the exchange."""
    with Proxy(running.url, {POST: ["hold"]}) as proxy:
        child = subprocess.Popen(
            [sys.executable, "-c", CLIENT, proxy.url, str(journal), client_id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            reached = proxy.held.wait(90)
        finally:
            child.send_signal(signal.SIGKILL)
            _, err = child.communicate(timeout=30)
        assert reached, f"the order never reached the exchange: {err.decode()[-2000:]}"
    assert child.returncode == -signal.SIGKILL
    assert len(exchange_orders(running, client_id)) == 1  # the order exists


def test_a_rerun_after_a_kill_returns_the_order_placed_before_it(
    running: RunningExchange, new_orders: Callable[..., Orders], tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    kill_while_the_answer_is_held(running, journal, "kill-1")
    pending = Journal(journal, "local").pending()
    assert [intent.client_order_id for intent in pending] == ["kill-1"]
    assert pending[0].body["qty"] == "3" and pending[0].quote is not None

    orders = new_orders(running.url, journal_path=journal)
    again = orders.place_order("AAPL", qty=3, side="buy", client_order_id="kill-1")
    assert again.client_order_id == "kill-1" and again.qty == 3
    assert len(exchange_orders(running, "kill-1")) == 1  # returned, not placed again
    history = orders.history()
    assert list(history.index) == [again.id]
    assert history.loc[again.id, "quote_bid"] > 0  # the quote of the decision survived


def test_history_after_a_kill_shows_the_order(
    running: RunningExchange, new_orders: Callable[..., Orders], tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    kill_while_the_answer_is_held(running, journal, "kill-2")
    orders = new_orders(running.url, journal_path=journal)
    history = orders.history()
    assert list(history["client_order_id"]) == ["kill-2"]
    assert history.iloc[0]["status"] == "filled"
    assert Journal(journal, "local").pending() == []


def test_a_rerun_with_the_same_id_but_another_order_is_refused(
    running: RunningExchange, new_orders: Callable[..., Orders], tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    kill_while_the_answer_is_held(running, journal, "kill-3")
    orders = new_orders(running.url, journal_path=journal)
    with pytest.raises(OrderExecutionError, match=r"qty \(5 here, 3 at the broker\)"):
        orders.place_order("AAPL", qty=5, side="buy", client_order_id="kill-3")
    assert len(exchange_orders(running, "kill-3")) == 1


def test_an_intent_the_broker_never_saw_is_settled_and_can_be_sent(
    running: RunningExchange, new_orders: Callable[..., Orders], tmp_path: Path
) -> None:
    """Killed before the request left: history() finds no order; a rerun places it."""
    journal = tmp_path / "journal.sqlite"
    orders = new_orders(running.url, journal_path=journal)
    body = {"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market"}
    orders.journal.intend({**body, "client_order_id": "never-1"}, None)
    assert orders.history().empty
    assert orders.journal.pending() == []
    placed = orders.place_order("AAPL", qty=2, side="buy", client_order_id="never-1")
    assert len(exchange_orders(running, "never-1")) == 1
    assert list(orders.history().index) == [placed.id]


def test_a_journal_that_cannot_be_written_stops_the_order_before_it_is_sent(
    running: RunningExchange, new_orders: Callable[..., Orders], small_disk: SmallDisk
) -> None:
    orders = new_orders(running.url, journal_path=small_disk.path / "journal.sqlite")
    small_disk.fill()
    with pytest.raises(JournalError) as caught:
        orders.place_order("AAPL", qty=1, side="buy", client_order_id="full-1")
    message = str(caught.value)
    assert "full-1 was not sent" in message and "Nothing was placed" in message
    assert str(small_disk.path) in message
    assert not running.exchange.engine.orders
    small_disk.free()
    placed = orders.place_order("AAPL", qty=1, side="buy", client_order_id="full-1")
    assert list(orders.history().index) == [placed.id]


def test_a_journal_that_fails_after_the_send_never_hides_the_order(
    running: RunningExchange,
    new_orders: Callable[..., Orders],
    small_disk: SmallDisk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = small_disk.path / "journal.sqlite"
    with Proxy(running.url, {POST: [small_disk.fill]}) as proxy:
        orders = new_orders(proxy.url, journal_path=journal)
        with caplog.at_level(logging.WARNING, logger="trading_kit"):
            placed = orders.place_order("AAPL", qty=1, side="buy", client_order_id="late-full")
    assert placed.client_order_id == "late-full"
    assert len(exchange_orders(running, "late-full")) == 1
    assert "was placed, but" in caplog.text and "history() completes it" in caplog.text
    small_disk.free()
    reopened = new_orders(running.url, journal_path=journal)
    assert list(reopened.history().index) == [placed.id]


def test_an_unusable_journal_path_is_a_clear_error(
    running: RunningExchange, new_orders: Callable[..., Orders], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(JournalError, match="journal_path=") as caught:
        new_orders(running.url, journal_path=tmp_path / "a-file" / "journal.sqlite")
    assert "a-file" in str(caught.value)


def test_journal_file_is_private(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(running.url)
    orders.place_order("AAPL", qty=1, side="buy")
    for path in orders.journal.path.parent.glob(orders.journal.path.name + "*"):
        assert path.stat().st_mode & 0o777 == 0o600, path


@pytest.mark.parametrize(
    "fields",
    [
        {"notional": 250, "side": "buy"},
        {"qty": 1, "side": "sell", "type": "trailing_stop", "trail_percent": 5},
        {"qty": 1, "side": "buy", "type": "limit", "limit_price": 1, "extended_hours": True},
        {
            "qty": 1,
            "side": "buy",
            "type": "limit",
            "limit_price": 1,
            "order_class": "bracket",
            "take_profit_limit_price": 2,
            "stop_loss_stop_price": "0.5",
        },
    ],
    ids=["notional", "trailing_stop", "extended_limit", "bracket"],
)
def test_a_rerun_of_any_order_returns_the_same_order(orders: Orders, fields: dict) -> None:
    """What the broker works out itself (a trailing stop's stop, a filled notional's qty)
    does not make the same request look like another one."""
    first = orders.place_order("AAPL", client_order_id="again-1", **fields)
    second = orders.place_order("AAPL", client_order_id="again-1", **fields)
    assert second.id == first.id
    assert len(orders.get_orders("all").query("client_order_id == 'again-1'")) == 1

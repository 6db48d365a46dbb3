"""Orders' Python inputs: each bad argument is a trading_kit error naming it, as given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import trading_kit as tk
from trading_kit.errors import JournalError, OrderValidationError
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders


@pytest.mark.parametrize(
    ("risk", "says"),
    [
        ({"bogus": 1}, r"risk=\{'bogus': 1\} has unknown limit\(s\) bogus; the limits are max_"),
        ({"max_open_orders": 2, "max_loss": 5}, r"unknown limit\(s\) max_loss"),
        (5, r"risk=5 is not a RiskLimits or a dict"),
        ({"max_order_notional": -1}, r"max_order_notional=-1 must be a positive number"),
    ],
)
def test_risk_limits_that_are_not_limits(
    running: RunningExchange, new_orders: Callable[..., Orders], risk: object, says: str
) -> None:
    with pytest.raises(OrderValidationError, match=says):
        new_orders(running.url, risk=risk)


def test_risk_as_a_dict_still_works(
    running: RunningExchange, new_orders: Callable[..., Orders]
) -> None:
    orders = new_orders(running.url, risk={"max_open_orders": 1})
    assert orders.risk.max_open_orders == 1


@pytest.mark.parametrize(("name", "value"), [("after", 1704153600), ("until", "0001-01-01")])
def test_order_list_times_name_the_value_as_given(orders: Orders, name: str, value: object) -> None:
    with pytest.raises(OrderValidationError) as raised:
        orders.get_orders("all", **{name: value})
    assert str(raised.value).startswith(f"{name}={value!r} is ")
    assert raised.value.field == name


def test_connect_with_an_unusable_journal_path_is_a_clear_error(
    running: RunningExchange, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalError, match="journal_path=") as raised:
        tk.connect(
            trading_url=running.url,
            data_url=running.url,
            cache_path=tmp_path / "cache.sqlite",
            journal_path=tmp_path / "file" / "journal.sqlite",
        )
    assert str(tmp_path / "file" / "journal.sqlite") in str(raised.value)

"""Issue 10: where a notebook would notice, the local exchange behaves as Alpaca paper does.

Each test drives the exchange over HTTP (alpaca-py's TradingClient or raw requests) and
names the Alpaca behaviour it follows, quoting Alpaca's documentation where it says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import requests
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
from trading_kit.exchange.server import RunningExchange
from trading_kit.orders import Orders
from trading_kit.ui import Blotter

TUESDAY_CLOSE = pd.Timestamp("2024-03-05T21:00:00Z")  # 16:00 ET


@pytest.fixture
def client(running_exchange: RunningExchange) -> TradingClient:
    return TradingClient("test-key", "test-secret", paper=True, url_override=running_exchange.url)


@pytest.fixture
def http(running_exchange: RunningExchange) -> Iterator[tuple[str, requests.Session]]:
    with requests.Session() as session:
        session.headers.update(HEADERS)
        yield running_exchange.url, session


def buy(client: TradingClient, symbol: str, qty: float, side: OrderSide = OrderSide.BUY):
    return client.submit_order(
        MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY)
    )


def last_trade(market: SimulatedMarket, symbol: str, t: pd.Timestamp) -> Decimal:
    return Decimal(str(market.trade_at(symbol, t)["price"]))


# ------------------------------------------------------------------------ last_equity
def test_last_equity_is_the_previous_close_and_fixed_for_the_day(
    sim_market: SimulatedMarket, tmp_path: Path
) -> None:
    """Alpaca: ``last_equity`` is "equity as of previous trading day at 16:00:00 ET".

    Buying today does not move it, so ``equity - last_equity`` is today's P&L; the next
    day it is the equity at this day's close; it survives a restart.
    """
    db = tmp_path / "exchange.sqlite"
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db, partial_fills=False)
    with start_exchange(exchange) as running:
        client = TradingClient("k", "s", paper=True, url_override=running.url)
        # an account opened this morning had its opening cash at yesterday's close
        assert client.get_account().last_equity == "100000"
        buy(client, "AAPL", 20)
        exchange.advance("2h")
        account = client.get_account()
        assert account.last_equity == "100000"
        day_pl = Decimal(account.equity) - Decimal(account.last_equity)
        position = client.get_open_position("AAPL")
        cost = Decimal(position.cost_basis)
        assert day_pl == Decimal(position.market_value) - cost  # today's trade is today's P&L

        exchange.set_time("2024-03-06T15:00:00Z")  # Wednesday 10:00 ET
        cash = Decimal(client.get_account().cash)
        close_price = last_trade(sim_market, "AAPL", TUESDAY_CLOSE - pd.Timedelta(1, "us"))
        expected = cash + 20 * close_price
        account = requests.get(running.url + "/v2/account", headers=HEADERS).json()
        assert Decimal(account["last_equity"]) == expected
        assert account["balance_asof"] == "2024-03-05"  # the date of the last_* figures
        buy(client, "MSFT", 5)
        exchange.advance("3h")
        assert Decimal(client.get_account().last_equity) == expected  # fixed for the day
    restarted = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db)
    account = restarted.run(restarted.engine.account_json)
    assert Decimal(account["last_equity"]) == expected


def test_blotter_day_pl_reads_equity_minus_last_equity(
    running_exchange: RunningExchange, client: TradingClient, tmp_path: Path
) -> None:
    """The Blotter's "Day P&L" is ``equity - last_equity`` of the account it shows."""
    buy(client, "MSFT", 10)
    running_exchange.exchange.advance("1h")
    orders = Orders(
        "test-key",
        "test-secret",
        data_url=running_exchange.url,
        trading_url=running_exchange.url,
        cache_path=tmp_path / "cache.sqlite",
        journal_path=tmp_path / "journal.sqlite",
    )
    blotter = Blotter(orders, refresh_seconds=None)
    try:
        account = client.get_account()
        day_pl = float(account.equity) - float(account.last_equity)
        assert day_pl != 0 and account.last_equity == "100000"
        assert blotter.account.day_pl == pytest.approx(day_pl)
        shown = f"{'+' if day_pl > 0 else '-'}${abs(day_pl):,.2f}"
        assert "Day P&amp;L <b style=" in blotter.summary.value
        assert shown in blotter.summary.value
    finally:
        blotter.close()


def test_lastday_price_is_the_previous_trading_days_close(
    client: TradingClient, sim_market: SimulatedMarket
) -> None:
    """A position's ``lastday_price`` and the account's ``last_equity`` use the same close."""
    buy(client, "KO", 3)
    position = client.get_open_position("KO")
    monday_close = pd.Timestamp("2024-03-04T21:00:00Z") - pd.Timedelta(1, "us")
    assert Decimal(position.lastday_price) == last_trade(sim_market, "KO", monday_close)


def test_weekend_last_equity_is_fridays_close(sim_market: SimulatedMarket) -> None:
    """On a Saturday the previous trading day is Friday."""
    exchange = Exchange(sim_market, ManualClock("2024-03-08T15:00:00Z"), partial_fills=False)
    exchange.run(
        exchange.engine.submit,
        {"symbol": "SPY", "qty": 2, "side": "buy", "type": "market", "time_in_force": "day"},
    )
    exchange.set_time("2024-03-09T17:00:00Z")  # Saturday noon
    account = exchange.run(exchange.engine.account_json)
    friday_close = pd.Timestamp("2024-03-08T21:00:00Z") - pd.Timedelta(1, "us")
    expected = exchange.engine.cash + 2 * last_trade(sim_market, "SPY", friday_close)
    assert Decimal(account["last_equity"]) == expected.quantize(Decimal("0.0001"))
    assert account["balance_asof"] == "2024-03-08"
    assert dt.date.fromisoformat(account["balance_asof"]).weekday() == 4

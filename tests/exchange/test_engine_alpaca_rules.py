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
    blotter = Blotter(orders, live=False)
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


# ------------------------------------------------------------------------ activities
@pytest.fixture
def fills(running_exchange: RunningExchange, http) -> list[dict]:
    """Seven fills, one every ten minutes from 10:00 ET (ascending, as the exchange saw them)."""
    url, session = http
    for i in range(7):
        body = {"symbol": "AAPL", "qty": i + 1, "side": "buy", "type": "market"}
        response = session.post(url + "/v2/orders", json={**body, "time_in_force": "day"})
        assert response.status_code == 200, response.text
        running_exchange.exchange.advance("10min")
    everything = session.get(url + "/v2/account/activities", params={"direction": "asc"}).json()
    assert len(everything) == 7
    return everything


def pages(session: requests.Session, url: str, **params) -> list[list[dict]]:
    """Follow ``page_token`` as Alpaca's docs say: the id of the last entry of a page."""
    result: list[list[dict]] = []
    token = None
    while True:
        query = {**params, **({"page_token": token} if token else {})}
        response = session.get(url + "/v2/account/activities", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        if not page:
            return result
        result.append(page)
        token = page[-1]["id"]
        assert len(result) < 20, "page_token must move the page on"


def test_activities_page_by_token_in_both_directions(http, fills: list[dict]) -> None:
    """Alpaca pages activities by id: ``page_token`` is the id to continue after."""
    url, session = http
    desc = pages(session, url, page_size=3)
    assert [len(p) for p in desc] == [3, 3, 1]
    assert [a["id"] for p in desc for a in p] == [a["id"] for a in reversed(fills)]
    asc = pages(session, url, page_size=2, direction="asc")
    assert [len(p) for p in asc] == [2, 2, 2, 1]
    assert [a["id"] for p in asc for a in p] == [a["id"] for a in fills]


def test_activities_filter_by_time_date_and_type(http, fills: list[dict]) -> None:
    """``after``/``until`` bound the time, ``date`` picks a day, types are comma-separated."""
    url, session = http
    get = lambda **q: session.get(url + "/v2/account/activities", params=q)  # noqa: E731
    third = fills[2]["transaction_time"]
    fifth = fills[4]["transaction_time"]
    between = get(after=third, until=fifth, direction="asc").json()
    assert [a["id"] for a in between] == [fills[3]["id"]]
    assert len(get(after=third).json()) == 4
    assert len(get(until=third).json()) == 2
    assert len(get(date="2024-03-05").json()) == 7
    assert get(date="2024-03-06").json() == []
    assert len(get(activity_types="DIV,FILL").json()) == 7
    assert get(activity_types="DIV,CSD").json() == []
    assert len(get(category="trade_activity").json()) == 7
    assert get(category="non_trade_activity").json() == []
    assert len(session.get(url + "/v2/account/activities/FILL").json()) == 7


@pytest.mark.parametrize(
    "params",
    [
        {"direction": "sideways"},
        {"page_size": "0"},
        {"page_size": "101"},
        {"after": "last tuesday"},
        {"date": "2024-03-05", "after": "2024-03-04"},
        {"category": "everything"},
    ],
)
def test_bad_activity_parameters_are_422(http, params: dict) -> None:
    url, session = http
    response = session.get(url + "/v2/account/activities", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == 40010001


# ------------------------------------------------------------------------ orders refused
def post(session: requests.Session, url: str, **body) -> requests.Response:
    return session.post(url + "/v2/orders", json={"time_in_force": "day", **body})


@pytest.mark.parametrize(
    ("now", "tif", "accepted"),
    [
        ("2024-03-05T13:00:00Z", "opg", True),  # 08:00 ET
        ("2024-03-05T14:27:00Z", "opg", True),  # 09:27
        ("2024-03-05T14:28:00Z", "opg", False),  # 09:28
        ("2024-03-05T15:00:00Z", "opg", False),  # 10:00
        ("2024-03-05T23:59:00Z", "opg", False),  # 18:59
        ("2024-03-06T00:00:00Z", "opg", True),  # 19:00: queued for the next open
        ("2024-03-05T20:49:00Z", "cls", True),  # 15:49
        ("2024-03-05T20:50:00Z", "cls", False),  # 15:50
        ("2024-03-05T22:00:00Z", "cls", False),  # 17:00
        ("2024-03-06T00:30:00Z", "cls", True),  # 19:30: the next day's close
        ("2024-03-09T17:00:00Z", "opg", True),  # a Saturday: no session today
    ],
)
def test_opg_and_cls_windows(sim_market: SimulatedMarket, now: str, tif: str, accepted: bool):
    """Alpaca: "OPG orders submitted after 9:28am but before 7:00pm ET will be rejected";
    "CLS orders submitted after 3:50pm but before 7:00pm ET will be rejected"."""
    exchange = Exchange(sim_market, ManualClock(now), partial_fills=False)
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        response = post(session, running.url, symbol="SPY", qty=1, side="buy", type="market")
        assert response.status_code == 200, "a day order is taken at any time"
        response = post(
            session, running.url, symbol="SPY", qty=1, side="buy", type="market", time_in_force=tif
        )
        if accepted:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 422
            assert response.json()["code"] == 42210000
            assert f"{tif} orders are not accepted between" in response.json()["message"]


def test_oco_is_exit_only(http) -> None:
    """Alpaca: an OCO order is submitted "to exit an existing position": without one to
    close on its side (its stop would open a short, or add to a long) it is refused."""
    url, session = http
    oco = {
        "symbol": "JPM",
        "qty": 5,
        "type": "limit",
        "order_class": "oco",
        "take_profit": {"limit_price": 400},
        "stop_loss": {"stop_price": 100},
    }
    refused = post(session, url, side="sell", **oco)
    assert refused.status_code == 403
    body = refused.json()
    assert body["message"] == "insufficient qty available for order (requested: 5, available: 0)"
    assert post(session, url, symbol="JPM", qty=5, side="buy", type="market").status_code == 200
    buy_oco = {**oco, "take_profit": {"limit_price": 100}, "stop_loss": {"stop_price": 400}}
    cover = post(session, url, side="buy", **buy_oco)  # a long position: nothing short to cover
    assert cover.status_code == 403
    assert cover.json()["message"].endswith("(requested: 5, available: 0)")
    assert post(session, url, side="sell", **oco).status_code == 200  # exits the long
    assert session.get(url + "/v2/positions/JPM").json()["qty_available"] == "0"


def test_extended_hours_is_limit_day_only_and_never_bracket(client: TradingClient) -> None:
    """Alpaca: "Only limit day orders will be accepted as extended hours eligible";
    bracket orders: "Extended hours are not supported"."""
    from alpaca.common.exceptions import APIError
    from alpaca.trading.enums import OrderClass
    from alpaca.trading.requests import LimitOrderRequest, StopLossRequest, TakeProfitRequest

    limit = {"symbol": "AAPL", "qty": 1, "side": OrderSide.BUY, "limit_price": 100}
    with pytest.raises(APIError) as info:
        client.submit_order(
            LimitOrderRequest(**limit, time_in_force=TimeInForce.GTC, extended_hours=True)
        )
    assert (info.value.status_code, info.value.code) == (422, 40010001)
    assert info.value.message == 'only time_in_force="day" is allowed for extended hours orders'
    with pytest.raises(APIError) as info:
        client.submit_order(
            LimitOrderRequest(
                **limit,
                time_in_force=TimeInForce.DAY,
                extended_hours=True,
                order_class=OrderClass.BRACKET,
                take_profit=TakeProfitRequest(limit_price=120),
                stop_loss=StopLossRequest(stop_price=90),
            )
        )
    assert info.value.status_code == 422
    assert "extended hours are not supported for bracket orders" in info.value.message
    placed = client.submit_order(
        LimitOrderRequest(**limit, time_in_force=TimeInForce.DAY, extended_hours=True)
    )
    assert placed.extended_hours


def test_orders_worth_under_a_dollar_are_refused(http, sim_market: SimulatedMarket) -> None:
    """Alpaca refuses an order worth under $1 with 403 "cost basis must be >= minimal
    amount of order 1"; selling a whole position worth less is still allowed."""
    url, session = http
    tiny = [
        {"notional": "0.99"},
        {"qty": 1, "type": "limit", "limit_price": "0.9999"},
        {"qty": "0.004"},  # 0.004 x ~$190
    ]
    for body in tiny:
        response = post(session, url, symbol="AAPL", side="buy", **{"type": "market", **body})
        assert response.status_code == 403, body
        assert response.json() == {
            "code": 40310000,
            "message": "cost basis must be >= minimal amount of order 1",
        }
    assert post(session, url, symbol="AAPL", side="buy", type="market", notional="1").ok
    held = session.get(url + "/v2/positions/AAPL").json()["qty"]
    half = str((Decimal(held) / 2).quantize(Decimal("1e-9")))
    assert (
        post(session, url, symbol="AAPL", side="sell", type="market", qty=half).status_code == 403
    )
    whole = post(session, url, symbol="AAPL", side="sell", type="market", qty=held)
    assert whole.status_code == 200, "closing the whole position is always allowed"
    assert session.get(url + "/v2/positions/AAPL").status_code == 404


def test_short_sales_need_buying_power_at_103_percent_of_the_ask(
    sim_market: SimulatedMarket, manual_clock: ManualClock
) -> None:
    """Alpaca: "The calculated value of an opening short sell order is MAX(order's limit
    price, 3% above the current ask price) * order quantity", and "your available buying
    power is reduced by your existing open buy long and sell short orders"."""
    exchange = Exchange(sim_market, manual_clock, partial_fills=False, cash=10_000)
    quote = sim_market.quote_at("MSFT", SESSION_TIME)
    ask, bid = Decimal(str(quote["ask_price"])), Decimal(str(quote["bid_price"]))
    per_share = (Decimal("1.03") * ask).quantize(Decimal("0.0001"))
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        url = running.url
        buying_power = Decimal(session.get(url + "/v2/account").json()["buying_power"])
        qty = int(buying_power / (Decimal("1.03") * ask)) + 1  # fits at the bid, not at 1.03 x ask
        assert qty * bid <= buying_power
        refused = post(session, url, symbol="MSFT", qty=qty, side="sell", type="market")
        assert refused.status_code == 403 and refused.json()["message"] == (
            "insufficient buying power"
        )
        assert Decimal(refused.json()["cost_basis"]) == (qty * Decimal("1.03") * ask).quantize(
            Decimal("0.01")
        )
        # a resting short sell holds max(limit, 1.03 x ask) x qty of buying power
        limit = (ask * Decimal("1.2")).quantize(Decimal("0.01"))
        resting = post(
            session, url, symbol="MSFT", qty=3, side="sell", type="limit", limit_price=str(limit)
        )
        assert resting.status_code == 200
        after = Decimal(session.get(url + "/v2/account").json()["buying_power"])
        assert after == buying_power - 3 * max(limit, per_share)
        session.delete(f"{url}/v2/orders/{resting.json()['id']}")
        assert Decimal(session.get(url + "/v2/account").json()["buying_power"]) == buying_power


# ------------------------------------------------------------------------ what Alpaca shows
def test_bracket_stop_loss_shows_held_but_works(
    running_exchange: RunningExchange, http, sim_market: SimulatedMarket
) -> None:
    """After a bracket's entry fills, Alpaca shows the take profit ``new`` and the stop loss
    ``held`` until the take profit is done; the stop still triggers and fills."""
    url, session = http
    end = SESSION_TIME + pd.Timedelta(hours=5)
    ticks = sim_market.ticks("NVDA", SESSION_TIME + pd.Timedelta(minutes=1), end)
    stop = round(float(ticks["price"].min()) + 0.05, 2)
    regular = sim_market.hours.regular_mask(ticks.index.asi8)
    hit = ticks[(ticks["price"] <= stop).to_numpy() & regular]
    ask = float(sim_market.quote_at("NVDA", SESSION_TIME)["ask_price"])
    assert stop < ask - 0.01 and len(hit), "the path must fall to the stop"
    order = post(
        session,
        url,
        symbol="NVDA",
        qty=4,
        side="buy",
        type="market",
        order_class="bracket",
        take_profit={"limit_price": round(ask * 2, 2)},
        stop_loss={"stop_price": stop},
    ).json()
    filled = session.get(f"{url}/v2/orders/{order['id']}").json()
    assert filled["status"] == "filled"
    take_profit, stop_loss = filled["legs"]
    assert (take_profit["status"], stop_loss["status"]) == ("new", "held")
    assert session.get(url + "/v2/positions/NVDA").json()["qty_available"] == "0"
    running_exchange.exchange.advance(end - SESSION_TIME)
    take_profit, stop_loss = session.get(f"{url}/v2/orders/{order['id']}").json()["legs"]
    assert (stop_loss["status"], take_profit["status"]) == ("filled", "canceled")
    assert pd.Timestamp(stop_loss["filled_at"]) == hit.index[0]
    assert session.get(url + "/v2/positions/NVDA").status_code == 404


def test_percentage_close_of_a_whole_share_position_sells_whole_shares(
    client: TradingClient,
) -> None:
    """Alpaca: closing a whole-share position by percentage sells whole shares (3 shares
    at 50% sell 1); only a fractional position is closed fractionally."""
    from alpaca.trading.requests import ClosePositionRequest

    buy(client, "AAPL", 3)
    closing = client.close_position("AAPL", ClosePositionRequest(percentage="50"))
    assert closing.qty == "1"
    assert client.get_open_position("AAPL").qty == "2"
    buy(client, "MSFT", 0.5)
    closing = client.close_position("MSFT", ClosePositionRequest(percentage="50"))
    assert closing.qty == "0.25"


def test_symbol_may_be_an_asset_id(http) -> None:
    """Alpaca: ``symbol`` is the "symbol, asset ID, or currency pair to identify the asset"."""
    url, session = http
    asset = session.get(url + "/v2/assets/KO").json()
    placed = post(session, url, symbol=asset["id"], qty=2, side="buy", type="market")
    assert placed.status_code == 200, placed.text
    assert (placed.json()["symbol"], placed.json()["asset_id"]) == ("KO", asset["id"])
    assert session.get(url + "/v2/positions/KO").json()["qty"] == "2"
    unknown = post(
        session,
        url,
        symbol="00000000-0000-0000-0000-000000000001",
        qty=1,
        side="buy",
        type="market",
    )
    assert unknown.status_code == 422 and "not found" in unknown.json()["message"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_malformed_order_id_is_422_not_404(http, method: str) -> None:
    """Alpaca answers an ``{order_id}`` that is not a valid id with 422 and 40010001
    ("order_id is missing"); a well-formed id it does not know is a 404."""
    url, session = http
    response = session.request(method, url + "/v2/orders/not-an-id", json={"qty": 1})
    assert response.status_code == 422
    assert response.json() == {"code": 40010001, "message": "order_id is missing"}
    missing = session.request(
        method, url + "/v2/orders/00000000-0000-0000-0000-000000000000", json={"qty": 1}
    )
    assert missing.status_code == 404

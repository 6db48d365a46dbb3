"""The official alpaca-py stream clients, unchanged, against the local exchange.

Each runs in a subprocess, as in a script: their ``run()`` calls ``asyncio.run()`` and so
needs a thread with no loop of its own. The test steps the exchange's manual clock once
the client has subscribed, and checks what the client parsed against the REST routes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import requests

from tests.exchange.conftest import HEADERS
from tests.stream.conftest import wait_until
from trading_kit.exchange import Exchange
from trading_kit.exchange.server import RunningExchange

SCRIPTS = Path(__file__).with_name("scripts")
T0 = pd.Timestamp("2024-03-05T15:00:00Z")


def run_script(name: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / name), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_stock_data_stream_works_unchanged(
    running_exchange: RunningExchange, exchange: Exchange
) -> None:
    url = running_exchange.url.replace("http://", "ws://") + "/v2/iex"
    script = run_script("alpaca_py_data_stream.py", url, "12")
    try:
        publisher = running_exchange.streams.publisher("stocks")
        wait_until(
            lambda: (
                any(s.subscriptions["bars"] for s in publisher.sessions)
                or script.poll() is not None
            ),
            timeout=60,
        )
        exchange.advance("1min")
        out, err = script.communicate(timeout=60)
    finally:
        script.kill()
    assert script.returncode == 0, err
    got = json.loads(out.splitlines()[-1])
    quotes = requests.get(
        running_exchange.url + "/v2/stocks/quotes",
        params={"symbols": "AAPL", "start": "2024-03-05T15:00:01Z", "end": "2024-03-05T15:01:00Z"},
        headers=HEADERS,
        timeout=10,
    ).json()["quotes"]["AAPL"]
    assert [[q[2], q[3], q[4]] for q in got["quotes"]] == [
        [q["bp"], q["ap"], q["bs"]] for q in quotes
    ]
    assert pd.Timestamp(got["quotes"][0][1]) == T0 + pd.Timedelta("5s")
    assert len(got["trades"]) == 6
    (bar,) = got["bars"]
    assert pd.Timestamp(bar[1]) == T0


def test_trading_stream_works_unchanged(running_exchange: RunningExchange) -> None:
    url = running_exchange.url.replace("http://", "ws://") + "/stream"
    script = run_script("alpaca_py_trading_stream.py", url)
    try:
        hub = running_exchange.streams
        wait_until(
            lambda: any(s.streams for s in hub.trading) or script.poll() is not None, timeout=60
        )
        order = requests.post(
            running_exchange.url + "/v2/orders",
            json={"symbol": "SPY", "qty": "2", "side": "buy", "type": "market",
                  "time_in_force": "day"},
            headers=HEADERS,
            timeout=10,
        ).json()  # fmt: skip
        out, err = script.communicate(timeout=60)
    finally:
        script.kill()
    assert script.returncode == 0, err
    updates = json.loads(out.splitlines()[-1])
    assert [u["event"] for u in updates][-1] == "fill"
    assert updates[0]["event"] in ("accepted", "new")
    fill = updates[-1]
    assert fill["order_id"] == order["id"] and fill["status"] == "filled"
    assert fill["qty"] == 2 and fill["position_qty"] == 2 and fill["price"] > 0

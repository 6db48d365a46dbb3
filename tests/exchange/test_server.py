"""Serving: loopback only, background thread handle, CLI, and state surviving a kill."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.__main__ import main
from trading_kit.exchange.core import Exchange
from trading_kit.exchange.server import check_loopback, start_exchange


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_non_loopback_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        check_loopback(host)
    with pytest.raises(ValueError, match="loopback"):
        start_exchange(host=host)


def test_cli_refuses_non_loopback(capsys) -> None:
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "loopback" in capsys.readouterr().err


def test_start_and_stop_in_a_thread(exchange: Exchange) -> None:
    with start_exchange(exchange) as running:
        assert running.url.startswith("http://127.0.0.1:")
        assert requests.get(running.url + "/v2/clock", headers=HEADERS).status_code == 200
    assert not running.running
    with pytest.raises(requests.ConnectionError):
        requests.get(running.url + "/v2/clock", headers=HEADERS, timeout=1)


def test_state_survives_a_restart_in_process(sim_market, manual_clock, tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    first = Exchange(sim_market, manual_clock, db_path=db, partial_fills=False)
    with start_exchange(first) as running:
        session = requests.Session()
        session.headers.update(HEADERS)
        session.post(
            running.url + "/v2/orders",
            json={
                "symbol": "AAPL",
                "qty": 5,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
        )
        resting = session.post(
            running.url + "/v2/orders",
            json={
                "symbol": "SPY",
                "qty": 1,
                "side": "buy",
                "type": "limit",
                "limit_price": 1,
                "time_in_force": "gtc",
            },
        ).json()
        account = session.get(running.url + "/v2/account").json()
    second = Exchange(sim_market, manual_clock, db_path=db)
    assert second.engine.cash == first.engine.cash
    assert second.engine.positions["AAPL"].qty == 5
    assert second.engine.orders[resting["id"]].status == "new"
    assert second.run(second.engine.account_json)["cash"] == account["cash"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(db: Path, port: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "trading_kit",
        "serve",
        "--port",
        str(port),
        "--db",
        str(db),
        "--clock",
        "manual",
        "--start",
        SESSION_TIME.isoformat(),
        "--no-partial-fills",
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/v2/clock", headers=HEADERS, timeout=10)
            return process
        except requests.ConnectionError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()) from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def test_killed_server_restarts_with_everything(tmp_path: Path) -> None:
    db, port = tmp_path / "state.db", _free_port()
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers.update(HEADERS)
    process = _spawn(db, port)
    try:
        buy = session.post(
            url + "/v2/orders",
            json={
                "symbol": "AAPL",
                "qty": 7,
                "side": "buy",
                "type": "market",
                "time_in_force": "day",
            },
        ).json()
        gtc = session.post(
            url + "/v2/orders",
            json={
                "symbol": "MSFT",
                "qty": 2,
                "side": "buy",
                "type": "limit",
                "limit_price": 5,
                "time_in_force": "gtc",
            },
        ).json()
        session.post(url + "/admin/clock", json={"advance": "30min"})
        before = {
            "account": session.get(url + "/v2/account").json(),
            "positions": session.get(url + "/v2/positions").json(),
            "orders": session.get(url + "/v2/orders", params={"status": "all"}).json(),
            "fills": session.get(url + "/v2/account/activities").json(),
        }
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    process = _spawn(db, port)
    try:
        assert session.get(url + "/admin/clock").json()["now"] == "2024-03-05T15:30:00Z"
        after = {
            "account": session.get(url + "/v2/account").json(),
            "positions": session.get(url + "/v2/positions").json(),
            "orders": session.get(url + "/v2/orders", params={"status": "all"}).json(),
            "fills": session.get(url + "/v2/account/activities").json(),
        }
        assert after == before
        assert {o["id"]: o["status"] for o in after["orders"]} == {
            buy["id"]: "filled",
            gtc["id"]: "new",
        }
        assert after["positions"][0]["qty"] == "7"
    finally:
        process.terminate()
        process.wait(10)

"""Issue 9 (3): memory never runs ahead of the disk.

``Engine.drain()`` used to forget its changes before ``Store.save`` ran, so a failed save
(a full disk) was never retried: orders confirmed by a lookup were gone after a restart,
and every request, GETs included, answered 500. Now a write the exchange cannot persist
is a 503 in Alpaca's shape and is not applied; reads keep answering from what is on
disk; after a restart nothing acknowledged is lost and nothing refused appears.

The disk really fills: a 1 MB tmpfs and a file written until ENOSPC, when the machine
lets the test mount one (CI runs as root). Otherwise the database turns read-only under
the exchange (``PRAGMA query_only`` on its own connection): every write fails the same
way, with SQLite's "attempt to write a readonly database" instead of "database or disk
is full".
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import SESSION_TIME
from tests.exchange.conftest import HEADERS
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange


class Disk:
    """A place for the exchange's file whose space can be used up, then given back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted = False
        self._filler = root / "filler"
        self._exchange: Exchange | None = None

    def mount(self) -> None:
        self.root.mkdir(exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(self.root)],
            capture_output=True,
            check=False,
        )
        self.mounted = done.returncode == 0

    def attach(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def fill(self) -> None:
        if self.mounted:
            fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
            finally:
                os.close(fd)
        else:
            assert self._exchange is not None
            # the exchange's own connection: the pragma holds per connection
            self._exchange.store._db.execute("PRAGMA query_only = ON")

    def free(self) -> None:
        if self.mounted:
            self._filler.unlink()
        else:
            assert self._exchange is not None
            self._exchange.store._db.execute("PRAGMA query_only = OFF")

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True, check=False)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    space = Disk(tmp_path / "disk")
    space.mount()
    yield space
    space.unmount()


def order(symbol: str, qty: int, limit: float | None = None) -> dict:
    body = {"symbol": symbol, "qty": qty, "side": "buy", "time_in_force": "gtc"}
    if limit is None:
        return {**body, "type": "market", "time_in_force": "day"}
    return {**body, "type": "limit", "limit_price": limit}


def test_a_full_disk_refuses_changes_keeps_reads_and_loses_nothing(
    disk: Disk, sim_market: SimulatedMarket
) -> None:
    db = disk.root / "exchange.sqlite"
    exchange = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db, partial_fills=False)
    disk.attach(exchange)
    with start_exchange(exchange) as running, requests.Session() as session:
        session.headers.update(HEADERS)
        url = running.url
        acknowledged = [
            session.post(url + "/v2/orders", json=body).json()["id"]
            for body in (order("AAPL", 5), order("MSFT", 2, 10), order("SPY", 1, 10))
        ]
        account = session.get(url + "/v2/account").json()

        disk.fill()
        refused = session.post(url + "/v2/orders", json=order("KO", 3))
        assert refused.status_code == 503
        body = refused.json()
        assert body["code"] == 50310000
        assert "could not save this change" in body["message"]
        # SQLite's reason: "database or disk is full" (or "readonly" without a tmpfs)
        assert ("full" if disk.mounted else "readonly") in body["message"]
        for attempt in (
            session.delete(f"{url}/v2/orders/{acknowledged[1]}"),
            session.patch(f"{url}/v2/orders/{acknowledged[2]}", json={"limit_price": 11}),
            session.delete(url + "/v2/positions/AAPL"),
            session.post(url + "/admin/clock", json={"advance": "1h"}),
        ):
            assert attempt.status_code == 503, attempt.text
        # reads keep working, and show only what was written
        listed = session.get(url + "/v2/orders", params={"status": "all"})
        assert listed.status_code == 200
        assert sorted(o["id"] for o in listed.json()) == sorted(acknowledged)
        assert {o["id"]: o["status"] for o in listed.json()}[acknowledged[1]] == "new"
        assert session.get(url + "/v2/account").json()["cash"] == account["cash"]
        assert session.get(url + "/v2/positions/AAPL").json()["qty"] == "5"
        assert (
            session.get(
                url + "/v2/orders:by_client_order_id", params={"client_order_id": "never"}
            ).status_code
            == 404
        )

        disk.free()  # space again: the same request now goes through
        retried = session.post(url + "/v2/orders", json=order("KO", 3))
        assert retried.status_code == 200, retried.text
        acknowledged.append(retried.json()["id"])
        cancel = session.delete(f"{url}/v2/orders/{acknowledged[1]}")
        assert cancel.status_code == 204
        final = session.get(url + "/v2/orders", params={"status": "all"}).json()
        cash = session.get(url + "/v2/account").json()["cash"]
    exchange.close()

    restarted = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db)
    after = restarted.run(restarted.engine.list_orders, status="all", limit=500)
    assert sorted(o["id"] for o in after) == sorted(acknowledged)
    assert {o["id"]: o["status"] for o in after} == {o["id"]: o["status"] for o in final}
    assert restarted.run(restarted.engine.account_json)["cash"] == cash
    assert {p["symbol"]: p["qty"] for p in restarted.run(restarted.engine.positions_json)} == {
        "AAPL": "5",
        "KO": "3",
    }
    restarted.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(disk.root / "filler")

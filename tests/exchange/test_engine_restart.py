"""A state file written by the previous version of the exchange still loads, unchanged.

Researchers keep ``local_exchange.sqlite`` between upgrades. The previous version stored
fills as Alpaca activity JSON, no day baselines and no opening equity, and orders without
the ``released`` flag; the file is rewritten here in that form and must load with the same
account, and the right ``last_equity``.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

from tests.conftest import SESSION_TIME
from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket
from trading_kit.exchange.wire import activity_json


def test_a_state_file_of_the_previous_version_loads(
    sim_market: SimulatedMarket, tmp_path: Path
) -> None:
    db = tmp_path / "exchange.sqlite"
    first = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db, partial_fills=False)
    body = {"symbol": "AAPL", "qty": 5, "side": "buy", "type": "market", "time_in_force": "day"}
    first.run(first.engine.submit, body)
    resting = {**body, "symbol": "MSFT", "type": "limit", "limit_price": 10, "qty": 2}
    first.run(first.engine.submit, {**resting, "time_in_force": "gtc"})
    account = first.run(first.engine.account_json)
    fills = first.run(first.engine.activities_json)
    first.close()

    with sqlite3.connect(db) as raw:  # rewrite the file as the previous version wrote it
        for oid, state in raw.execute("SELECT id, state FROM orders").fetchall():
            old = {k: v for k, v in json.loads(state).items() if k != "released"}
            raw.execute("UPDATE orders SET state = ? WHERE id = ?", (json.dumps(old), oid))
        for (aid,) in raw.execute("SELECT id FROM activities").fetchall():
            alpaca = next(f for f in fills if f["id"] == aid)
            raw.execute("UPDATE activities SET body = ? WHERE id = ?", (json.dumps(alpaca), aid))
        raw.execute("DELETE FROM meta WHERE key IN ('opening_equity', 'baselines')")

    second = Exchange(sim_market, ManualClock(SESSION_TIME), db_path=db)
    again = second.run(second.engine.account_json)
    assert {k: again[k] for k in ("cash", "equity", "buying_power")} == {
        k: account[k] for k in ("cash", "equity", "buying_power")
    }
    assert again["last_equity"] == "100000"  # the opening cash, recovered from the fills
    assert second.run(second.engine.activities_json) == fills
    assert [activity_json(f) for f in second.engine.ledger.fills] == fills
    assert len(second.run(second.engine.list_orders, status="open")) == 1
    assert second.engine.positions["AAPL"].qty == Decimal(5)
    second.close()

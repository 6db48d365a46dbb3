"""Test-run isolation, for the test suite and the notebooks nbval executes.

Every run is offline and private: the cache, the order journal and the embedded local
exchange live in a fresh temporary folder, and Alpaca keys are moved out of the
environment (kept for tests marked ``live``) so nothing can reach a real server.
"""

from __future__ import annotations

import os
import tempfile

import pytest

LIVE_KEYS = {
    name: os.environ.pop(name)
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY")
    if name in os.environ
}
for _name in (
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "APCA_API_BASE_URL",
    "ALPACA_TRADING_URL",
    "ALPACA_DATA_URL",
):
    os.environ.pop(_name, None)

_RUN_DIR = tempfile.mkdtemp(prefix="trading_kit_tests_")
os.environ["TRADING_KIT_CACHE"] = os.path.join(_RUN_DIR, "http_cache.sqlite")
os.environ["TRADING_KIT_JOURNAL"] = os.path.join(_RUN_DIR, "order_journal.sqlite")
os.environ["TRADING_KIT_EXCHANGE_DB"] = os.path.join(_RUN_DIR, "local_exchange.sqlite")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if len(LIVE_KEYS) == 2:
        return
    skip = pytest.mark.skip(reason="needs ALPACA_API_KEY and ALPACA_SECRET_KEY (real Alpaca paper)")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def live_keys() -> dict[str, str]:
    """The real Alpaca paper keys, for tests marked ``live`` (skipped without them)."""
    return {"api_key": LIVE_KEYS["ALPACA_API_KEY"], "secret_key": LIVE_KEYS["ALPACA_SECRET_KEY"]}

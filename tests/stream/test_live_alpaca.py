"""The streams against Alpaca itself; skipped unless real paper keys are set.

Alpaca's test feed (``/v2/test``) sends fake ``FAKEPACA`` quotes around the clock, so
this runs whatever the hour; the trade-update stream only has to authorize and listen.
"""

from __future__ import annotations

import pytest

from tests.stream.conftest import wait_until
from trading_kit import MarketData
from trading_kit.stream import Streams

pytestmark = pytest.mark.live


def test_alpaca_test_feed_and_trade_updates(live_keys: dict[str, str], tmp_path) -> None:
    data = MarketData(**live_keys, cache_path=tmp_path / "live.sqlite")
    streams = Streams(data, feed="test")
    try:
        quotes = streams.quotes("FAKEPACA")
        wait_until(lambda: quotes.received > 0, timeout=60)
        assert quotes.df.index.get_level_values("symbol")[0] == "FAKEPACA"
        updates = streams.trade_updates()
        assert streams.status == {"test": "open", "trade_updates": "open"}
        updates.close()
    finally:
        streams.close()

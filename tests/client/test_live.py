"""The same client against the real Alpaca APIs; skipped unless real paper keys are set."""

from __future__ import annotations

import pytest

from trading_kit import MarketData

pytestmark = pytest.mark.live


def test_real_daily_bars_and_quotes(live_keys: dict[str, str], tmp_path) -> None:
    md = MarketData(**live_keys, cache_path=tmp_path / "live.sqlite")
    bars = md.get_bars(["AAPL", "MSFT"], "1Day", start="2024-01-02", end="2024-01-31", feed="iex")
    assert set(bars.index.get_level_values("symbol")) == {"AAPL", "MSFT"}
    assert len(bars.loc["AAPL"]) >= 19  # January 2024 had 20 sessions
    again = md.get_bars(["AAPL", "MSFT"], "1Day", start="2024-01-02", end="2024-01-31", feed="iex")
    assert again.attrs["from_cache"] is True
    quote = md.get_latest_quote("AAPL", feed="iex")
    assert quote.loc["AAPL", "ask_price"] > 0
    assert md.rate_limit.server_limit is not None  # Alpaca sends X-RateLimit-Limit

"""The public surface a researcher holds in their head, kept deliberate."""

from __future__ import annotations

import subprocess
import sys

import trading_kit as tk


def test_public_names() -> None:
    assert tk.__all__ == [
        "TIMEFRAMES",
        "AnalyticsError",
        "CacheWarning",
        "ConfigError",
        "DatasetError",
        "JournalError",
        "Kit",
        "MarketData",
        "MarketDataError",
        "MissingDataWarning",
        "OrderExecutionError",
        "OrderSpec",
        "OrderValidationError",
        "Orders",
        "RateLimitError",
        "ReplayError",
        "ServerError",
        "Settings",
        "StaleDataWarning",
        "StreamError",
        "TradingKitError",
        "connect",
        "open_dataset",
        "replay",
    ]
    assert all(hasattr(tk, name) for name in tk.__all__)


def test_every_error_is_a_trading_kit_error() -> None:
    for error in (
        tk.ConfigError,
        tk.DatasetError,
        tk.MarketDataError,
        tk.RateLimitError,
        tk.OrderValidationError,
        tk.OrderExecutionError,
        tk.JournalError,
        tk.StreamError,
        tk.AnalyticsError,
        tk.ReplayError,
        tk.ServerError,
    ):
        assert issubclass(error, tk.TradingKitError)


def test_whatever_a_server_said_no_to_carries_its_status_code_and_attempts() -> None:
    for error in (tk.MarketDataError, tk.RateLimitError, tk.OrderExecutionError):
        assert issubclass(error, tk.ServerError)
        raised = error("refused", status=403, code=40310000, attempts=2)
        assert (raised.status, raised.code, raised.attempts) == (403, 40310000, 2)


def test_import_stays_light() -> None:
    """Importing the package must not pull in the server or the widget stack."""
    code = "import sys, trading_kit; print(sorted(m for m in ('plotly', 'ipywidgets', 'uvicorn') if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"

"""trading_kit: Alpaca paper trading and market data for Jupyter research.

The public surface is small: ``connect()`` for everything at once, ``MarketData`` for
data, ``open_dataset()`` for what ``MarketData.download`` wrote, ``Orders``/``OrderSpec``
for paper orders, ``replay()`` for backtests through the same order path, the settings,
and one error tree. The notebook widgets live in
``trading_kit.ui`` (and on the ``Kit`` that ``connect`` returns).
"""

from typing import Any

from .config import Settings
from .data import TIMEFRAMES, MarketData
from .errors import (
    AnalyticsError,
    CacheWarning,
    ConfigError,
    DatasetError,
    JournalError,
    MarketDataError,
    MissingDataWarning,
    OrderExecutionError,
    OrderValidationError,
    RateLimitError,
    ReplayError,
    ServerError,
    StaleDataWarning,
    StreamError,
    TradingKitError,
)
from .kit import Kit, connect
from .orders import Orders, OrderSpec
from .replay import replay

__all__ = [
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


def __getattr__(name: str) -> Any:
    """``open_dataset`` imports pyarrow, so only when first asked for (import stays light)."""
    if name == "open_dataset":
        from .data.dataset import open_dataset

        return open_dataset
    raise AttributeError(f"module 'trading_kit' has no attribute {name!r}")

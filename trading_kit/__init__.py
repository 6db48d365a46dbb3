"""trading_kit: Alpaca paper trading and market data for Jupyter research.

The public surface is small: ``connect()`` for everything at once, ``MarketData`` for
data, ``Orders``/``OrderSpec`` for paper orders, ``replay()`` for backtests through the
same order path, the settings, and one error tree. The notebook widgets live in
``trading_kit.ui`` (and on the ``Kit`` that ``connect`` returns).
"""

from .config import Settings
from .data import TIMEFRAMES, MarketData
from .errors import (
    AnalyticsError,
    CacheWarning,
    ConfigError,
    JournalError,
    MarketDataError,
    OrderExecutionError,
    OrderValidationError,
    RateLimitError,
    ReplayError,
    StaleDataWarning,
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
    "JournalError",
    "Kit",
    "MarketData",
    "MarketDataError",
    "OrderExecutionError",
    "OrderSpec",
    "OrderValidationError",
    "Orders",
    "RateLimitError",
    "ReplayError",
    "Settings",
    "StaleDataWarning",
    "TradingKitError",
    "connect",
    "replay",
]

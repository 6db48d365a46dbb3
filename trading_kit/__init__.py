"""trading_kit: Alpaca paper trading and market data for Jupyter research.

The public surface is small: ``MarketData`` for data, the settings, and one error tree.
"""

from .config import Settings
from .data import TIMEFRAMES, MarketData
from .errors import (
    CacheWarning,
    ConfigError,
    MarketDataError,
    OrderExecutionError,
    OrderValidationError,
    RateLimitError,
    StaleDataWarning,
    TradingKitError,
)

__all__ = [
    "TIMEFRAMES",
    "CacheWarning",
    "ConfigError",
    "MarketData",
    "MarketDataError",
    "OrderExecutionError",
    "OrderValidationError",
    "RateLimitError",
    "Settings",
    "StaleDataWarning",
    "TradingKitError",
]

"""Market data: the ``MarketData`` client, timeframes and JSON-to-DataFrame converters."""

from .client import MarketData
from .timeframes import TIMEFRAMES

__all__ = ["TIMEFRAMES", "MarketData"]

"""Live streams in the notebook: market data and trade updates over Alpaca's websockets.

``kit.stream`` (a :class:`Streams`) subscribes; each subscription is a
:class:`LiveFrame` with ``.df``, ``on=`` callbacks, ``async for`` and ``table()``.
"""

from .live import Bar, BarFrame, LiveFrame, MarketFrame, Quote, Trade, TradeUpdate, TradeUpdateFrame
from .streams import Streams

__all__ = [
    "Bar",
    "BarFrame",
    "LiveFrame",
    "MarketFrame",
    "Quote",
    "Streams",
    "Trade",
    "TradeUpdate",
    "TradeUpdateFrame",
]

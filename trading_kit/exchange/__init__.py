"""The local Alpaca-compatible paper exchange (a server: imports nothing from the client side).

>>> from trading_kit.exchange import Exchange, ManualClock, SimulatedMarket, start_exchange
>>> exchange = Exchange(SimulatedMarket(), ManualClock("2024-03-05T15:00:00Z"))
>>> with start_exchange(exchange) as running:
...     running.url  # point alpaca-py's TradingClient(url_override=...) here
>>> remove = exchange.add_listener(print)  # each TradeUpdate, once it is written
"""

from .app import create_app
from .calendar import MarketHours
from .clock import ManualClock, RealtimeClock
from .core import Exchange
from .engine import Engine
from .market import ReplayMarket, SimulatedMarket
from .orders import TradeUpdate
from .server import RunningExchange, serve, start_exchange
from .store import Store
from .wire import AlpacaError

__all__ = [
    "AlpacaError",
    "Engine",
    "Exchange",
    "ManualClock",
    "MarketHours",
    "RealtimeClock",
    "ReplayMarket",
    "RunningExchange",
    "SimulatedMarket",
    "Store",
    "TradeUpdate",
    "create_app",
    "serve",
    "start_exchange",
]

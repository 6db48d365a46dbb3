"""Notebook widgets: a price chart with draggable orders, an order ticket, a blotter.

``PriceChart`` needs only market data (orders are optional overlays); ``OrderTicket``
and ``Blotter`` need an ``Orders``. All three run against the local exchange.
"""

from .blotter import Blotter
from .chart import PriceChart
from .ticket import OrderTicket

__all__ = ["Blotter", "OrderTicket", "PriceChart"]

"""Notebook widgets: a price chart with draggable orders, an order ticket, a blotter.

``PriceChart`` needs only market data (orders are optional overlays); ``OrderTicket``
and ``Blotter`` need an ``Orders``. All three run against the local exchange, and all
the widgets of one account follow it through one shared refresher (:mod:`.feed`), which
the account's streams drive (trade updates, quotes, trades, bars): no polling unless no
stream can be opened.

    candles, view, figure   what the chart draws (pure: bars → candles → plotly dict)
    overlays, moves         order lines and fills from the orders frame; a move's checks
    feed, stream_source     the account's shared refresher, fed by the websockets
    poller                  its timer, only when no stream can be opened
    chart, widget, chart.js the chart's Python side and its browser side (anywidget)
    ticket, blotter         the order form and the account's tables
    static, export          plain-HTML renderings for notebooks exported to HTML
"""

from .blotter import Blotter
from .chart import PriceChart
from .ticket import OrderTicket

__all__ = ["Blotter", "OrderTicket", "PriceChart"]

"""``connect()``: one object holding a notebook's data, orders and widgets for one account."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .connection import http_stack, in_process_stack
from .data import MarketData
from .errors import ConfigError
from .orders import Orders
from .orders.journal import SubmissionQuote

if TYPE_CHECKING:  # the widgets import plotly and ipywidgets: only when asked for
    from .stream import Streams
    from .ui import Blotter, OrderTicket, PriceChart


class Kit:
    """Market data (``kit.data``), paper orders (``kit.orders``) and the notebook widgets.

    Every part shares one HTTP stack, so one cache, one rate budget and one journal.
    """

    def __init__(self, data: MarketData, orders: Orders) -> None:
        self.data = data
        self.orders = orders

    def __repr__(self) -> str:
        stack = self.data._stack
        settings = stack.settings
        if stack.transport is not None:
            return f"<Kit: paper exchange in this process at {settings.trading_url}>"
        where = "local paper exchange" if settings.is_loopback else "Alpaca paper"
        return f"<Kit: {where} at {settings.trading_url}>"

    @property
    def stream(self) -> Streams:
        """Live quotes, trades, bars and trade updates (one connection per stream)."""
        from .stream import Streams

        streams = Streams.of(self.data)
        # The journal and the checks follow the trade-update stream, and price orders with
        # the quote stream when it has the symbol (a replay's own quotes stay in charge).
        streams.add_follower(self.orders.live)
        if self.orders.quote_source is None:
            self.orders.quote_source = lambda s: _submission_quote(streams.latest_quote(s))
        return streams

    def chart(self, symbol: str, timeframe: str = "5Min", **options: Any) -> PriceChart:
        """Candles and volume that follow the account: its open orders (drag a line to
        replace its order), fills, entry price and the last price."""
        from .ui import PriceChart

        return PriceChart(self.data, symbol, timeframe, orders=self.orders, **options)

    def ticket(self, symbol: str = "AAPL", **options: Any) -> OrderTicket:
        """An order ticket that validates as you type and submits paper orders."""
        from .ui import OrderTicket

        return OrderTicket(self.orders, self.data, symbol, **options)

    def blotter(self, **options: Any) -> Blotter:
        """Open orders and positions with cancel / close buttons, and the account summary."""
        from .ui import Blotter

        return Blotter(self.orders, **options)


def _submission_quote(quote: Any) -> SubmissionQuote | None:
    """A streamed quote as the journal keeps it."""
    if quote is None:
        return None
    return SubmissionQuote(quote.bid_price, quote.ask_price, quote.timestamp)


def connect(
    api_key: str | None = None,
    secret_key: str | None = None,
    *,
    trading_url: str | None = None,
    data_url: str | None = None,
    cache_path: str | Path | None = None,
    exchange: Any = None,
    **options: Any,
) -> Kit:
    """Connect to Alpaca paper with keys (arguments or environment), else to the local exchange.

    ``exchange``: an exchange in this process (an ``Exchange``, or the ``RunningExchange``
    from ``start_exchange``); requests then go straight to its routes, with no socket
    and no server thread, and get the same answers as over HTTP (a replay's speed).
    ``options`` go to ``Orders`` (``checks=``, ``risk=``, ``journal_path=``) or to the
    HTTP settings (``requests_per_minute=``, ``read_timeout=`` …).
    """
    order_options = {k: options.pop(k) for k in ("checks", "risk", "journal_path") if k in options}
    if exchange is not None:
        if trading_url or data_url:
            raise ConfigError(
                f"connect() got exchange={exchange!r} and a URL ({trading_url or data_url}); "
                "pass the exchange to reach it in this process, or its URL to reach it over "
                "HTTP, not both."
            )
        stack = in_process_stack(exchange, api_key, secret_key, cache_path=cache_path, **options)
    else:
        stack = http_stack(
            api_key,
            secret_key,
            trading_url=trading_url,
            data_url=data_url,
            cache_path=cache_path,
            **options,
        )
    return Kit(MarketData(stack=stack), Orders(stack=stack, **order_options))

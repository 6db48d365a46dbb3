"""What the market printed between two instants, as Alpaca's market-data stream messages.

The websocket publisher asks :func:`messages_between` for the window ``(lo, hi]`` each
time the clock moves (every few seconds on the realtime clock, at each step of a manual
clock). Everything comes from the same ``Market`` calls the REST routes use, so the
quote streamed at ``t`` is the quote ``GET /v2/stocks/quotes`` returns at ``t``, and a
minute bar is streamed once it is complete, as ``GET /v2/stocks/bars`` first shows it:

* ``trades`` and ``quotes``: every item stamped in ``(lo, hi]``;
* ``bars``: the 1-minute bars whose minute ended in ``(lo, hi]``;
* ``dailyBars``: after a window that closed a regular-session minute, the day's bar so far
  (Alpaca sends it every minute of the session);
* ``updatedBars`` and ``statuses``: accepted, never sent. The simulation has no late
  trades that would correct a bar, and no halts.

Messages carry their time as integer nanoseconds under ``"t"``; the codec of each
connection writes it (a MessagePack timestamp, or RFC 3339 text).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .calendar import MINUTE_NS
from .market import Listing, Market, SimulatedMarket, parse_timeframe
from .market_records import (
    BAR_FIELDS,
    QUOTE_FIELDS,
    TRADE_FIELDS,
    quote_constants,
    records,
    trade_constants,
)

#: The channels of Alpaca's stock stream, in the order items of one instant are sent.
CHANNELS = ("trades", "quotes", "bars", "dailyBars", "updatedBars", "statuses")
#: Channels answered with data by this exchange (the others are accepted and stay silent).
PRICED_CHANNELS = ("trades", "quotes", "bars", "dailyBars")
#: The message type (``"T"``) of each channel.
MESSAGE_TYPE = {"trades": "t", "quotes": "q", "bars": "b", "dailyBars": "d", "updatedBars": "u"}
#: The test feed's one symbol, as on Alpaca (``wss://stream.data.alpaca.markets/v2/test``).
TEST_SYMBOL = "FAKEPACA"
_TEST_LISTING = Listing("Alpaca's test symbol", "NASDAQ", 100.0, 0.02, 5e6)
_DAY = parse_timeframe("1Day")


def fakepaca_market(hours: Any) -> SimulatedMarket:
    """The test feed's market: FAKEPACA priced by the simulation, on the exchange's hours."""
    return SimulatedMarket(hours=hours, extra_listings={TEST_SYMBOL: _TEST_LISTING})


@dataclass
class Batch:
    """The messages of one channel and symbol in a window, in time order.

    ``at`` orders the stream (a bar is sent when its minute ends); ``stamps`` are the
    messages' own ``"t"`` (a bar's is the start of its minute, as on Alpaca), kept
    apart from ``messages`` so each codec writes them its own way, all at once.
    """

    channel: str
    symbol: str
    at: np.ndarray  # int64 UTC nanoseconds
    stamps: np.ndarray  # int64 UTC nanoseconds
    messages: list[dict[str, Any]]

    @property
    def rank(self) -> int:
        """The channel's place among messages of one instant."""
        return CHANNELS.index(self.channel)


def messages_between(
    market: Market, interest: Mapping[str, Iterable[str]], lo: int, hi: int
) -> list[Batch]:
    """The messages of ``interest`` (channel → symbols) stamped in ``(lo, hi]``, per symbol."""
    batches: list[Batch] = []
    for channel in PRICED_CHANNELS:
        for symbol in sorted(set(interest.get(channel, ()))):
            try:
                batch = _CHANNEL_BATCH[channel](market, symbol, lo, hi)
            except KeyError:  # a symbol the market does not price: silent, as on Alpaca
                continue
            if batch.messages:
                batches.append(batch)
    return batches


def _ns(frame: pd.DataFrame) -> np.ndarray:
    return frame.index.as_unit("ns").asi8


def _stamp(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, tz="UTC")


def _quotes(market: Market, symbol: str, lo: int, hi: int) -> Batch:
    frame = market.quotes(symbol, _stamp(lo + 1), _stamp(hi + 1))
    constant = {"T": "q", "S": symbol, **quote_constants(market, symbol)}
    return Batch("quotes", symbol, _ns(frame), _ns(frame), records(frame, QUOTE_FIELDS, constant))


def _trades(market: Market, symbol: str, lo: int, hi: int) -> Batch:
    frame = market.trades(symbol, _stamp(lo + 1), _stamp(hi + 1))
    constant = {"T": "t", "S": symbol, **trade_constants(market, symbol)}
    return Batch("trades", symbol, _ns(frame), _ns(frame), records(frame, TRADE_FIELDS, constant))


def _bar_batch(frame: pd.DataFrame, channel: str, symbol: str, at: np.ndarray) -> Batch:
    constant = {"T": MESSAGE_TYPE[channel], "S": symbol}
    return Batch(channel, symbol, at, _ns(frame), records(frame, BAR_FIELDS, constant))


def _bars(market: Market, symbol: str, lo: int, hi: int) -> Batch:
    """1-minute bars whose minute ended in (lo, hi]: complete by ``hi``, not by ``lo``."""
    frame = market.bars(symbol, "1Min", _stamp(lo - MINUTE_NS + 1), _stamp(hi))
    return _bar_batch(frame, "bars", symbol, _ns(frame) + MINUTE_NS)


def _daily_bars(market: Market, symbol: str, lo: int, hi: int) -> Batch:
    """The day's bar as of ``hi``, if a regular-session minute of it closed in (lo, hi]."""
    _, regular = market.hours.minutes(_stamp(lo - MINUTE_NS + 1), _stamp(hi - MINUTE_NS + 1))
    frame = market.bars(symbol, "1Day", _stamp(_DAY.floor_one(_stamp(hi - MINUTE_NS))), _stamp(hi))
    frame = frame.iloc[-1:] if regular.any() else frame.iloc[:0]
    return _bar_batch(frame, "dailyBars", symbol, np.full(len(frame), hi, dtype=np.int64))


_CHANNEL_BATCH = {"trades": _trades, "quotes": _quotes, "bars": _bars, "dailyBars": _daily_bars}

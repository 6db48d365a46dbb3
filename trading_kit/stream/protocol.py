"""Alpaca's websocket protocols from the client's side: pure rules, no sockets.

What may be subscribed (channels, tickers, bar timeframes), the frames that
authenticate and subscribe, how a server's error code reads to a person, and how a
message's time is read whatever codec carried it. The connection (``connection.py``)
only carries these out, so each rule is tested as a table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..data.timeframes import parse_timeframe
from ..errors import MarketDataError, StreamError
from ..rules import TICKER_HINT, ticker

#: Market-data channels and the message type (``"T"``) each one carries.
CHANNEL_TYPES = {
    "trades": "t",
    "quotes": "q",
    "bars": "b",
    "dailyBars": "d",
    "updatedBars": "u",
    "statuses": "s",
}
TYPE_CHANNELS = {kind: channel for channel, kind in CHANNEL_TYPES.items()}
FEEDS = ("iex", "sip", "test")
TRADE_UPDATES = "trade_updates"
#: Bars stream as 1-minute bars; coarser ones are built from them up to this size.
STREAMABLE_UNITS = {"Min": 1, "Hour": 60}

#: What each of Alpaca's market-data error codes means for the person who got it.
ERROR_ADVICE = {
    400: "the server could not read a message (invalid syntax)",
    401: "a request was sent before authenticating",
    402: "the server refused the API keys: check ALPACA_API_KEY and ALPACA_SECRET_KEY",
    403: "already authenticated",
    404: "authentication took too long (auth timeout)",
    405: "too many symbols for this feed (symbol limit exceeded): unsubscribe some, or use a "
    "plan or feed that allows more",
    406: "another connection with these keys is already open (connection limit exceeded): "
    "Alpaca allows one per account and stream; close the stream in the other notebook or "
    "script",
    407: "the client did not read fast enough (slow client)",
    409: "your market-data plan does not include this feed (insufficient subscription): use "
    "feed='iex'",
    410: "this feed does not offer that channel (invalid subscribe action for this feed)",
    500: "the server failed (internal error)",
}
#: Codes after which reconnecting cannot help: the keys, the plan or the request are wrong.
FATAL_CODES = frozenset({401, 402, 403, 405, 409, 410})


def stream_error(code: int | None, message: str, doing: str) -> StreamError:
    """A server's error frame as a ``StreamError`` saying what was being done."""
    advice = ERROR_ADVICE.get(code or 0, message or "the server refused")
    return StreamError(f"{doing} failed: {advice} (server said {code}: {message!r}).", code=code)


# -- what may be subscribed ----------------------------------------------------------


def symbols(values: Iterable[Any], what: str) -> tuple[str, ...]:
    """Validated, upper-cased, de-duplicated tickers (``"*"`` means every symbol)."""
    names: list[str] = []
    for value in values:
        if isinstance(value, (list, tuple, set)):
            names.extend(symbols(value, what))
            continue
        if value == "*":
            names.append("*")
            continue
        name = ticker(value)
        if name is None:
            raise StreamError(f"{what}: {value!r} is not a ticker; {TICKER_HINT}, or '*' for all.")
        names.append(name)
    if not names:
        raise StreamError(f"{what}: give at least one symbol, e.g. ('AAPL',) or ('*',).")
    return tuple(dict.fromkeys(names))


def bar_minutes(timeframe: Any) -> tuple[str, int]:
    """``(name, minutes)`` of a bar timeframe the stream can build from 1-minute bars."""
    try:
        name = parse_timeframe(timeframe)
    except MarketDataError as error:
        raise StreamError(str(error)) from None
    amount, unit = re.fullmatch(r"(\d+)(\D+)", name).groups()  # type: ignore[union-attr]
    if unit not in STREAMABLE_UNITS:
        raise StreamError(
            f"timeframe {timeframe!r} cannot be streamed: live bars are minute bars, built "
            "up to 4Hour. Use daily_bars() for the day's bar as it forms, or "
            "MarketData.get_bars() for weeks and months."
        )
    return name, int(amount) * STREAMABLE_UNITS[unit]


def feed(value: Any) -> str:
    name = getattr(value, "value", value)
    if not isinstance(name, str) or name.lower() not in FEEDS:
        raise StreamError(f"feed={value!r} is not a stock stream; use one of {', '.join(FEEDS)}.")
    return name.lower()


# -- frames ----------------------------------------------------------------------------


def auth(key: str, secret: str) -> dict[str, str]:
    """The authentication frame both streams accept (the trading stream also takes an older
    form, ``{"action": "authenticate", "data": {...}}``, which alpaca-py still sends)."""
    return {"action": "auth", "key": key, "secret": secret}


def listen(streams: Iterable[str]) -> dict[str, Any]:
    return {"action": "listen", "data": {"streams": list(streams)}}


def subscription(action: str, channels: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    message: dict[str, Any] = {"action": action}
    message.update({channel: sorted(names) for channel, names in channels.items() if names})
    return message


# -- reading messages -------------------------------------------------------------------


def nanoseconds(value: Any) -> int:
    """A message time as UTC nanoseconds: int (MessagePack, ``timestamp=2``), text or datetime."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        return int(pd.Timestamp(value).value)
    if isinstance(value, dt.datetime):
        return int(pd.Timestamp(value).value)
    if hasattr(value, "to_unix_nano"):  # msgpack.Timestamp
        return int(value.to_unix_nano())
    raise ValueError(f"not a time: {value!r}")

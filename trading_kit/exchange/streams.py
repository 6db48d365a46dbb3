"""Alpaca's two websocket protocols, served by the local exchange.

Trading stream, ``/stream`` (Alpaca's paper protocol)::

    → {"action": "auth", "key": …, "secret": …}       (or the older form alpaca-py sends:
                                                         {"action": "authenticate",
                                                          "data": {"key_id": …, "secret_key": …}})
    ← {"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}}
    → {"action": "listen", "data": {"streams": ["trade_updates"]}}
    ← {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    ← {"stream": "trade_updates", "data": {"event": "fill", "order": {…}, "price": …, …}}

Market data, ``/v2/{feed}`` for ``iex``, ``sip`` and ``test`` (whose one symbol is
``FAKEPACA``)::

    ← [{"T": "success", "msg": "connected"}]
    → {"action": "auth", "key": …, "secret": …}
    ← [{"T": "success", "msg": "authenticated"}]
    → {"action": "subscribe", "trades": ["AAPL"], "quotes": ["AAPL"], "bars": ["*"]}
    ← [{"T": "subscription", "trades": ["AAPL"], "quotes": ["AAPL"], "bars": ["*"], …}]
    ← [{"T": "q", "S": "AAPL", "bp": …, "t": …}, {"T": "t", …}, …]

Frames are JSON unless the handshake carries ``Content-Type: application/msgpack``
(alpaca-py's data stream always does), then MessagePack, with ``t`` as a MessagePack
timestamp. As on Alpaca, the trading stream sends binary frames and the data stream
text frames (JSON). Errors are Alpaca's: ``[{"T": "error", "code": 402, "msg": "auth
failed"}]`` and the like, and one data connection per key (``406 connection limit
exceeded`` for the next). Keys are compared and dropped: never logged, never echoed.

Trade updates are the engine's order events (``Exchange.add_listener``: each is handed
over once its change is written), rendered by ``wire.trade_update_json`` with the order
exactly as the REST routes render it; nothing is read back from the store. Prices come from
a publisher per market that wakes when the clock moves (at each step of a manual
clock, every 5 seconds on the realtime clock) and streams what the market printed since
(``live_prices``), so the stream and the REST routes agree on every instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import numpy as np
import orjson
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from ..rules import ticker
from . import wire
from .calendar import DAY_NS, MINUTE_NS
from .live_prices import CHANNELS, TEST_SYMBOL, Batch, fakepaca_market, messages_between

log = logging.getLogger(__name__)

#: Feed path → the market it streams (iex and sip are one venue here, and share one
#: connection slot per key, as Alpaca's stock stream does).
FEEDS = {"iex": "stocks", "sip": "stocks", "test": "test"}
#: Symbols one connection may subscribe to, per feed (Alpaca's free plan allows 30 on iex).
DEFAULT_SYMBOL_LIMIT = 30
UNLIMITED_FEEDS = frozenset({"sip"})
AUTH_TIMEOUT = 10.0  # seconds to authenticate after connecting
OUTBOX_FRAMES = 512  # frames queued for a client before it counts as slow
FRAME_MESSAGES = 1000  # messages per frame, at most
GRID_NS = 5 * 1_000_000_000  # every quote, trade and bar of the market falls on this grid
CHUNK_NS = 15 * MINUTE_NS  # market time computed per chunk when catching up a clock step
MAX_BACKLOG_NS = DAY_NS  # a manual clock that jumps further streams only the last day

# Alpaca's market-data stream errors (code → message), as its documentation lists them.
DATA_ERRORS = {
    400: "invalid syntax",
    401: "not authenticated",
    402: "auth failed",
    403: "already authenticated",
    404: "auth timeout",
    405: "symbol limit exceeded",
    406: "connection limit exceeded",
    407: "slow client",
    410: "invalid subscribe action for this feed",
    500: "internal error",
}
_CLOSE_POLICY = 1008  # websocket close code: policy violation (auth, limits)
_FORBIDDEN_CHANNELS = frozenset({"orderbooks", "news"})  # crypto / news streams, not stocks
_QUIET_CHANNELS = ("lulds",)  # accepted, never sent (as updatedBars and statuses)
_DERIVED_CHANNELS = ("corrections", "cancelErrors")  # follow trades, as on Alpaca


# ---------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------


class Codec:
    """JSON or MessagePack frames for one connection, chosen by its handshake."""

    def __init__(self, use_msgpack: bool, text_frames: bool) -> None:
        self.msgpack = use_msgpack
        self.text = text_frames and not use_msgpack
        self._packer = msgpack.Packer(datetime=False)

    @classmethod
    def for_handshake(cls, websocket: WebSocket, *, text_frames: bool) -> Codec:
        kind = websocket.headers.get("content-type", "")
        return cls("msgpack" in kind.lower(), text_frames)

    def dumps(self, value: Any) -> bytes:
        return self._packer.pack(value) if self.msgpack else orjson.dumps(value)

    def loads(self, message: dict[str, Any]) -> Any:
        """The value of a received frame; ``ValueError`` when it is not JSON/MessagePack."""
        text, data = message.get("text"), message.get("bytes")
        if text is not None:
            return orjson.loads(text)
        if self.msgpack:
            try:
                return msgpack.unpackb(data, timestamp=3)
            except Exception as error:  # msgpack raises several unrelated types
                raise ValueError(str(error)) from None
        return orjson.loads(data or b"")

    def batch(self, batch: Batch) -> list[bytes]:
        """Each market-data message of ``batch``, its time written as this codec writes times."""
        if self.msgpack:
            stamps: list[Any] = [msgpack.Timestamp.from_unix_nano(t) for t in batch.stamps.tolist()]
        else:
            stamps = _rfc3339(batch.stamps)
        dumps = self.dumps
        encoded = []
        for message, stamp in zip(batch.messages, stamps, strict=True):
            message["t"] = stamp  # each codec writes its own "t" just before encoding
            encoded.append(dumps(message))
        return encoded

    def array(self, parts: list[bytes]) -> bytes:
        """Already encoded values as one array, without decoding them again."""
        if self.msgpack:
            return self._packer.pack_array_header(len(parts)) + b"".join(parts)
        return b"[" + b",".join(parts) + b"]"

    def frame(self, payload: bytes) -> dict[str, Any]:
        if self.text:
            return {"type": "websocket.send", "text": payload.decode()}
        return {"type": "websocket.send", "bytes": payload}


def _rfc3339(ns: np.ndarray) -> list[str]:
    unit = "s" if not (ns % 1_000_000_000).any() else "ns"
    return [f"{t}Z" for t in np.datetime_as_string(ns.view("datetime64[ns]"), unit=unit).tolist()]


class _Session:
    """One websocket: a queue of outgoing frames drained by its own sender task."""

    def __init__(self, hub: StreamHub, websocket: WebSocket, codec: Codec) -> None:
        self.hub = hub
        self.websocket = websocket
        self.codec = codec
        self.key: str | None = None  # set once authenticated; never logged
        self.closing = False
        self._outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def send(self, value: Any) -> None:
        self.send_encoded([self.codec.dumps(value)])

    def send_encoded(self, payloads: list[bytes]) -> bool:
        """Queue frames; a client this far behind is dropped (Alpaca: ``407 slow client``)."""
        if self.closing:
            return False
        if self._outbox.qsize() + len(payloads) > OUTBOX_FRAMES:
            self.slow()
            return False
        for payload in payloads:
            self._outbox.put_nowait(self.codec.frame(payload))
        return True

    def slow(self) -> None:
        while not self._outbox.empty():
            self._outbox.get_nowait()
        self.fail_and_close(407)

    def fail_and_close(self, code: int) -> None:
        """Send Alpaca's error ``code`` and close (the sender closes after the last frame)."""
        self.error(code)
        self.close()

    def error(self, code: int) -> None:  # overridden per protocol
        raise NotImplementedError

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._outbox.put_nowait(None)

    async def send_loop(self) -> None:
        while True:
            frame = await self._outbox.get()
            if frame is None:
                await self.websocket.close(code=_CLOSE_POLICY)
                return
            await self.websocket.send(frame)

    async def serve(self) -> None:
        """Accept, run the protocol until the client leaves, then clean up."""
        await self.websocket.accept()
        sender = asyncio.create_task(self.send_loop())
        try:
            self.opened()
            await self._receive_loop(sender)
        finally:
            self.closing = True
            self.hub.forget(self)
            if not sender.done():
                sender.cancel()
            with contextlib.suppress(BaseException):
                await sender

    async def _receive_loop(self, sender: asyncio.Task) -> None:
        deadline = asyncio.get_running_loop().time() + AUTH_TIMEOUT
        receiving: asyncio.Task | None = None
        while not sender.done():
            receiving = receiving or asyncio.create_task(self.websocket.receive())
            timeout = None if self.key else max(deadline - asyncio.get_running_loop().time(), 0)
            done, _ = await asyncio.wait(
                {receiving, sender}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # no auth in time
                self.auth_timeout()
                continue
            if receiving not in done:
                break
            message, receiving = receiving.result(), None
            if message["type"] == "websocket.disconnect":
                return
            try:
                value = self.codec.loads(message)
            except ValueError:
                self.invalid("the frame is not valid JSON or MessagePack")
                continue
            self.handle(value)
        if receiving is not None:
            receiving.cancel()

    # -- protocol hooks ------------------------------------------------------------------
    def opened(self) -> None: ...

    def auth_timeout(self) -> None:
        raise NotImplementedError

    def invalid(self, why: str) -> None:
        raise NotImplementedError

    def handle(self, value: Any) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------
# Market data: /v2/{feed}
# ---------------------------------------------------------------------------------------


class DataSession(_Session):
    """One market-data connection: its feed, its subscriptions per channel."""

    def __init__(self, hub: StreamHub, websocket: WebSocket, feed: str) -> None:
        super().__init__(hub, websocket, Codec.for_handshake(websocket, text_frames=True))
        self.feed = feed
        self.publisher = hub.publisher(FEEDS[feed])
        self.subscriptions: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
        self.subscriptions["lulds"] = set()

    def opened(self) -> None:
        self.send([{"T": "success", "msg": "connected"}])

    def error(self, code: int) -> None:
        self.send([{"T": "error", "code": code, "msg": DATA_ERRORS[code]}])

    def auth_timeout(self) -> None:
        self.fail_and_close(404)

    def invalid(self, why: str) -> None:
        self.error(400)

    def handle(self, value: Any) -> None:
        action = value.get("action") if isinstance(value, dict) else None
        if action == "auth":
            self._auth(value)
        elif self.key is None:
            self.error(401 if action in ("subscribe", "unsubscribe") else 400)
        elif action in ("subscribe", "unsubscribe"):
            self._subscribe(value, add=action == "subscribe")
        else:
            self.error(400)

    def _auth(self, value: dict[str, Any]) -> None:
        if self.key is not None:
            self.error(403)
            return
        key, secret = value.get("key"), value.get("secret")
        if not self.hub.authorized(key, secret):
            self.fail_and_close(402)
            return
        if not self.hub.claim_data_slot(key, FEEDS[self.feed], self):
            self.fail_and_close(406)
            return
        self.key = key
        self.send([{"T": "success", "msg": "authenticated"}])

    def _subscribe(self, value: dict[str, Any], *, add: bool) -> None:
        requested: dict[str, set[str]] = {}
        for channel, symbols in value.items():
            if channel == "action":
                continue
            if channel in _FORBIDDEN_CHANNELS:
                self.error(410)
                return
            known = channel in self.subscriptions or channel in _DERIVED_CHANNELS
            if not known or not _symbol_list(symbols):
                self.error(400)
                return
            if channel in self.subscriptions:
                requested[channel] = {s.strip().upper() for s in symbols}
        changed = {
            channel: (current | requested.get(channel, set()))
            if add
            else (current - requested.get(channel, set()))
            for channel, current in self.subscriptions.items()
        }
        limit = self.hub.symbol_limit(self.feed)
        if add and limit is not None and _count(changed, self.publisher.universe) > limit:
            self.error(405)
            return
        self.subscriptions = changed
        self.publisher.interest_changed()
        reply: dict[str, Any] = {"T": "subscription"}
        for channel in (*CHANNELS, "lulds"):
            reply[channel] = sorted(self.subscriptions[channel])
        reply["corrections"] = reply["cancelErrors"] = sorted(self.subscriptions["trades"])
        self.send([reply])

    def wants(self, batch: Batch) -> bool:
        symbols = self.subscriptions.get(batch.channel)
        return bool(symbols) and (batch.symbol in symbols or "*" in symbols)


def _symbol_list(symbols: Any) -> bool:
    return isinstance(symbols, list) and all(
        isinstance(s, str) and (s.strip() == "*" or ticker(s) is not None) for s in symbols
    )


def _count(subscriptions: dict[str, set[str]], universe: Callable[[], Iterable[str]]) -> int:
    names: set[str] = set().union(*subscriptions.values())
    if "*" in names:
        return len(set(universe()))
    return len(names)


class PricePublisher:
    """Streams one market to its data connections as the clock moves (see the module doc)."""

    def __init__(self, hub: StreamHub, market: Any, universe: Callable[[], list[str]]) -> None:
        self.hub = hub
        self.market = market
        self.universe = universe  # what "*" means
        self.sessions: set[DataSession] = set()
        self.cursor: int | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        # Encoders for the worker thread (a msgpack Packer is not shared across threads).
        self._encoders = {kind: Codec(kind, text_frames=True) for kind in (False, True)}

    def interest(self) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {channel: set() for channel in CHANNELS}
        for session in self.sessions:
            for channel, symbols in session.subscriptions.items():
                if channel in wanted:
                    wanted[channel] |= symbols
        for channel, symbols in wanted.items():
            if "*" in symbols:
                wanted[channel] = set(self.universe())
        return wanted

    def attach(self, session: DataSession) -> None:
        self.sessions.add(session)

    def detach(self, session: DataSession) -> None:
        self.sessions.discard(session)

    def interest_changed(self) -> None:
        if self._task is None or self._task.done():
            self.cursor = self.hub.exchange.clock.now().value
            self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while any(any(s.subscriptions.values()) for s in self.sessions):
            now = self.hub.exchange.clock.now().value
            lo = self.cursor if self.cursor is not None else now
            if now - lo > MAX_BACKLOG_NS:
                log.info(
                    "the clock jumped %.1f days: streaming only the last day", (now - lo) / DAY_NS
                )
                lo = now - MAX_BACKLOG_NS
            while lo < now:
                hi = min(now, lo + CHUNK_NS)
                interest = self.interest()
                kinds = {session.codec.msgpack for session in self.sessions}
                try:
                    batches, encoded = await loop.run_in_executor(
                        None, self._compute, interest, kinds, lo, hi
                    )
                except Exception:  # a bug must not end the stream: say so, go on
                    log.exception("the price stream failed between %s and %s", lo, hi)
                    batches, encoded = [], {}
                self._deliver(batches, encoded)
                lo = self.cursor = hi
                await asyncio.sleep(0)  # let senders drain between chunks
            await self._wait(now)
        self._task = None

    async def _wait(self, now: int) -> None:
        if self.hub.exchange.manual_clock:
            timeout = None
        else:  # the realtime clock: wake just after the next grid instant
            timeout = (GRID_NS - now % GRID_NS) / 1e9 + 0.001
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()

    def _compute(
        self, interest: dict[str, set[str]], kinds: set[bool], lo: int, hi: int
    ) -> tuple[list[Batch], dict[bool, list[list[bytes]]]]:
        """The window's messages, encoded once per codec in use (on a worker thread)."""
        batches = messages_between(self.market, interest, lo, hi)
        encoded = {kind: [self._encoders[kind].batch(b) for b in batches] for kind in kinds}
        return batches, encoded

    def _deliver(self, batches: list[Batch], encoded: dict[bool, list[list[bytes]]]) -> None:
        """Each session's share of the window, in time order, as frames of encoded messages."""
        for session in list(self.sessions):
            chosen = [k for k, batch in enumerate(batches) if session.wants(batch)]
            if not chosen or session.closing or session.codec.msgpack not in encoded:
                continue
            mine = encoded[session.codec.msgpack]
            parts = [part for k in chosen for part in mine[k]]
            if len(chosen) > 1:
                at = np.concatenate([batches[k].at for k in chosen])
                rank = np.concatenate(
                    [np.full(len(batches[k].at), batches[k].rank) for k in chosen]
                )
                parts = [parts[i] for i in np.lexsort((rank, at)).tolist()]
            frames = [
                session.codec.array(parts[k : k + FRAME_MESSAGES])
                for k in range(0, len(parts), FRAME_MESSAGES)
            ]
            session.send_encoded(frames)


# ---------------------------------------------------------------------------------------
# Trading: /stream
# ---------------------------------------------------------------------------------------


class TradingSession(_Session):
    """One trading-stream connection: authorized, then listening to trade updates."""

    def __init__(self, hub: StreamHub, websocket: WebSocket) -> None:
        super().__init__(hub, websocket, Codec.for_handshake(websocket, text_frames=False))
        self.streams: list[str] = []

    def _authorization(self, status: str, action: str = "authenticate") -> None:
        self.send({"stream": "authorization", "data": {"action": action, "status": status}})

    def error(self, code: int) -> None:
        self._authorization("unauthorized")

    def auth_timeout(self) -> None:
        self.fail_and_close(401)

    def invalid(self, why: str) -> None:
        self.send({"stream": "error", "data": {"error_message": f"invalid syntax: {why}"}})

    def handle(self, value: Any) -> None:
        action = value.get("action") if isinstance(value, dict) else None
        if action in ("auth", "authenticate"):
            self._auth(value)
        elif action == "listen":
            self._listen(value)
        else:
            self.invalid('expected an "auth", "authenticate" or "listen" action')

    def _auth(self, value: dict[str, Any]) -> None:
        data = value.get("data") if isinstance(value.get("data"), dict) else {}
        key = value.get("key", data.get("key_id"))
        secret = value.get("secret", data.get("secret_key"))
        if not self.hub.authorized(key, secret):
            self.fail_and_close(401)
            return
        self.key = key
        self._authorization("authorized")

    def _listen(self, value: dict[str, Any]) -> None:
        if self.key is None:
            self._authorization("unauthorized", action="listen")
            return
        data = value.get("data")
        streams = data.get("streams") if isinstance(data, dict) else None
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            self.invalid('listen needs {"data": {"streams": ["trade_updates"]}}')
            return
        self.streams = [s for s in streams if s == "trade_updates"]
        self.hub.listening_changed()
        self.send({"stream": "listening", "data": {"streams": self.streams}})

    def trade_update(self, payload: bytes) -> None:
        if self.key is not None and self.streams:
            self.send_encoded([payload])


# ---------------------------------------------------------------------------------------
# The hub: every connection of one exchange
# ---------------------------------------------------------------------------------------


class StreamHub:
    """The exchange's websocket connections, its price publishers, and the keys in use."""

    def __init__(self, exchange: Any, symbol_limit: int | None = DEFAULT_SYMBOL_LIMIT) -> None:
        self.exchange = exchange
        self.default_symbol_limit = symbol_limit
        self.loop: asyncio.AbstractEventLoop | None = None
        self.trading: set[TradingSession] = set()
        self._publishers: dict[str, PricePublisher] = {}
        self._data_slots: dict[tuple[str, str], DataSession] = {}
        self._unhook = exchange.on_clock_step(self._clock_stepped)
        self._unlisten: Callable[[], None] | None = None

    def bind(self) -> None:
        """Remember the server's event loop (engine events and clock steps arrive on others)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()

    def authorized(self, key: Any, secret: Any) -> bool:
        if not (
            isinstance(key, str) and isinstance(secret, str) and key.strip() and secret.strip()
        ):
            return False
        expected = self.exchange.credentials
        if expected is None:
            return True
        return hmac.compare_digest(key.encode(), expected[0].encode()) & hmac.compare_digest(
            secret.encode(), expected[1].encode()
        )

    def symbol_limit(self, feed: str) -> int | None:
        return None if feed in UNLIMITED_FEEDS else self.default_symbol_limit

    def publisher(self, group: str) -> PricePublisher:
        if group not in self._publishers:
            market = self.exchange.market
            if group == "test":
                market = fakepaca_market(market.hours)
                publisher = PricePublisher(self, market, lambda: [TEST_SYMBOL])
            else:
                publisher = PricePublisher(self, market, market.symbols)
            self._publishers[group] = publisher
        return self._publishers[group]

    def claim_data_slot(self, key: str, group: str, session: DataSession) -> bool:
        holder = self._data_slots.get((key, group))
        if holder is not None and holder is not session and not holder.closing:
            return False
        self._data_slots[(key, group)] = session
        session.publisher.attach(session)
        return True

    def forget(self, session: _Session) -> None:
        if isinstance(session, DataSession):
            session.publisher.detach(session)
            for slot, holder in list(self._data_slots.items()):
                if holder is session:
                    del self._data_slots[slot]
        else:
            self.trading.discard(session)  # type: ignore[arg-type]
            self.listening_changed()

    # -- trade updates: the engine's events --------------------------------------------------
    def listening_changed(self) -> None:
        """Listen to the exchange's order events while some connection listens to them (the
        engine only builds events while someone listens)."""
        wanted = any(session.streams for session in self.trading)
        if wanted and self._unlisten is None:
            self._unlisten = self.exchange.add_listener(self._engine_event)
        elif not wanted and self._unlisten is not None:
            unlisten, self._unlisten = self._unlisten, None
            unlisten()

    def _engine_event(self, update: Any) -> None:
        """Called by the exchange, under its lock, once the change is written: hand it over."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fan_out, update)

    def _fan_out(self, update: Any) -> None:
        frame = {"stream": "trade_updates", "data": wire.trade_update_json(update)}
        encoded: dict[bool, bytes] = {}
        for session in list(self.trading):
            codec = session.codec
            if codec.msgpack not in encoded:
                encoded[codec.msgpack] = codec.dumps(frame)
            session.trade_update(encoded[codec.msgpack])

    def _clock_stepped(self, now: Any) -> None:
        if self.loop is not None and not self.loop.is_closed():
            for publisher in list(self._publishers.values()):
                self.loop.call_soon_threadsafe(publisher.wake)

    # -- the routes ------------------------------------------------------------------------
    async def trading_endpoint(self, websocket: WebSocket) -> None:
        self.bind()
        session = TradingSession(self, websocket)
        self.trading.add(session)
        await session.serve()

    async def data_endpoint(self, websocket: WebSocket) -> None:
        self.bind()
        feed = websocket.path_params["feed"]
        if feed not in FEEDS:
            await _refuse(websocket, f"unknown feed {feed!r}: use iex, sip or test")
            return
        await DataSession(self, websocket, feed).serve()


async def _refuse(websocket: WebSocket, message: str) -> None:
    """Answer the handshake with a 404 in Alpaca's shape (or a plain refusal)."""
    try:
        await websocket.send_denial_response(
            JSONResponse({"code": 40410000, "message": message}, status_code=404)
        )
    except RuntimeError:  # the server lacks the denial-response extension
        await websocket.close(code=_CLOSE_POLICY)


def stream_routes(hub: StreamHub) -> list[BaseRoute]:
    """``/stream`` and ``/v2/{feed}`` (websocket routes never shadow the HTTP ones)."""
    return [
        WebSocketRoute("/stream", hub.trading_endpoint),
        WebSocketRoute("/v2/{feed}", hub.data_endpoint),
    ]

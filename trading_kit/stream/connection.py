"""One websocket to one stream of one account: open, authenticate, resubscribe, reconnect.

Every connection of the process is read by one event loop on a daemon thread
(:class:`~trading_kit.stream.loops.StreamLoop`). That is what lets a notebook cell
return at once while data keep arriving, keeps ``.df`` and the widgets current even
while a cell is busy, and needs no ``nest_asyncio``: the kernel's own loop only ever
runs the user's callbacks and ``async for`` bodies, handed over with
``call_soon_threadsafe``.

A dropped connection (closed, garbage, no pong) is reopened with exponential backoff
and jitter (tenacity), then the subscriptions are sent again and the owner is told how
long it was down (so it can fill the gap over REST). Refused keys, a refused plan or a
refused request are not retried: they are a :class:`StreamError` with Alpaca's code.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgpack
import orjson
import pandas as pd
from tenacity import AsyncRetrying, retry_if_exception, wait_exponential, wait_random
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from ..config import LOOPBACK_HOSTS
from ..errors import StreamError
from . import protocol
from .live import TradeUpdate, trade_update

log = logging.getLogger("trading_kit")

DEFAULT_TIMEOUT = 10.0  # seconds to connect, to be answered, to authenticate
BACKOFF_INITIAL = 0.25
BACKOFF_MAX = 30.0
MAX_FRAME = 16 * 2**20


class _Quiet(logging.LoggerAdapter):
    """websockets' logger minus its frame-by-frame debug lines (the auth frame holds keys)."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class _Dropped(Exception):
    """The connection broke (closed, garbage, silence); reconnecting may help."""


def decode(raw: str | bytes) -> Any:
    """A frame's value: JSON text, MessagePack, or JSON in a binary frame."""
    if isinstance(raw, str):
        return orjson.loads(raw)
    try:
        return msgpack.unpackb(raw, timestamp=2)
    except Exception:  # not MessagePack (msgpack raises several types): JSON bytes?
        return orjson.loads(raw)


class Connection:
    """One stream (market data of one feed, or trade updates) of one account.

    ``protocol`` is a :class:`DataProtocol` or :class:`TradingProtocol`: it knows the
    handshake, what to send again after a reconnect, and where messages go.
    """

    def __init__(
        self,
        name: str,
        url: str,
        credentials: tuple[str, str],
        protocol: Any,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        backoff: tuple[float, float] = (BACKOFF_INITIAL, BACKOFF_MAX),
        on_reconnect: Callable[[pd.Timestamp, pd.Timestamp], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.protocol = protocol
        self.timeout = timeout
        self.backoff = backoff
        self.on_reconnect = on_reconnect
        self.state = "idle"  # idle → open ⇄ reconnecting → closed | failed
        self.error: StreamError | None = None
        self.reconnects = 0
        self._credentials = credentials  # never shown: not in repr, logs or errors
        self._ws: ClientConnection | None = None
        self._supervisor: asyncio.Task | None = None
        self._opening = asyncio.Lock()
        self._requesting = asyncio.Lock()
        self._replies: collections.deque[asyncio.Future] = collections.deque()
        self._closing = False

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.url}: {self.state}>"

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Open and authenticate now (raising ``StreamError``), then keep it open."""
        async with self._opening:
            if self.state == "open" or self.state == "reconnecting":
                return
            self._closing = False
            self.error = None
            try:
                await self._open(resubscribe=False)
            except _Dropped as failure:
                raise StreamError(f"opening the {self.name} stream failed: {failure}.") from None
            self.state = "open"
            self._supervisor = asyncio.create_task(self._supervise())

    async def close(self) -> None:
        self._closing = True
        self.state = "closed"
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        self._fail_replies(StreamError(f"the {self.name} stream was closed."))

    async def _open(self, *, resubscribe: bool) -> None:
        """Connect, authenticate, and (after a drop) send the subscriptions again."""
        host = urlsplit(self.url).hostname or ""
        try:
            ws = await connect(
                self.url,
                additional_headers=self.protocol.headers,
                open_timeout=self.timeout,
                ping_interval=10,
                ping_timeout=20,
                close_timeout=2,
                compression=None,
                max_size=MAX_FRAME,
                proxy=None if host in LOOPBACK_HOSTS else True,
                logger=_Quiet(logging.getLogger("trading_kit.stream.websocket"), {}),
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as failure:
            raise _Dropped(f"cannot connect to {self.url}: {_describe(failure)}") from None
        try:
            await self.protocol.handshake(self, ws)
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws))
        if resubscribe:
            await self.protocol.resend(self)

    async def _supervise(self) -> None:
        while not self._closing:
            reason = await self._reader
            if self._closing:
                return
            down_since = pd.Timestamp.now(tz="UTC")
            self.state = "reconnecting"
            self._ws = None
            self.protocol.dropped()
            self._fail_replies(StreamError(f"the {self.name} stream dropped: {reason}"))
            log.warning(
                "trading_kit: the %s stream dropped (%s); reconnecting with backoff.",
                self.name,
                reason,
            )
            try:
                await self._reconnect()
            except StreamError as fatal:
                self.state = "failed"
                self.error = fatal
                log.error("trading_kit: the %s stream stopped: %s", self.name, fatal)
                self.protocol.failed(fatal)
                return
            self.reconnects += 1
            self.state = "open"
            back = pd.Timestamp.now(tz="UTC")
            log.warning(
                "trading_kit: the %s stream is back after %.1f s.",
                self.name,
                (back - down_since).total_seconds(),
            )
            if self.on_reconnect is not None:
                try:
                    await self.on_reconnect(down_since, back)
                except Exception:
                    log.exception("trading_kit: catching up after the %s stream's gap", self.name)

    async def _reconnect(self) -> None:
        initial, most = self.backoff
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=initial, max=most) + wait_random(0, initial),
            retry=retry_if_exception(lambda failure: isinstance(failure, _Dropped)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if self._closing:
                    return
                await self._open(resubscribe=True)

    # -- frames ----------------------------------------------------------------------------
    async def _read(self, ws: ClientConnection) -> str:
        """Dispatch frames until the connection ends; returns why it ended."""
        try:
            async for raw in ws:
                try:
                    value = decode(raw)
                except Exception:
                    await ws.close(code=1002, reason="unreadable frame")
                    return f"the server sent a frame that is neither JSON nor MessagePack: {_peek(raw)}"
                for control in self.protocol.dispatch(value):
                    self._reply(control)
            return f"the server closed the connection (code {ws.close_code})"
        except ConnectionClosed as closed:
            return f"the connection was lost (code {closed.rcvd.code if closed.rcvd else 'none'})"
        except Exception as bug:  # a bug in dispatch must not leave a silent, dead stream
            log.exception("trading_kit: reading the %s stream failed", self.name)
            with contextlib.suppress(Exception):
                await ws.close()
            return f"reading failed ({type(bug).__name__})"

    async def send(self, value: Any) -> None:
        ws = self._ws
        if ws is None:
            raise StreamError(f"the {self.name} stream is not connected (state: {self.state}).")
        await ws.send(self.protocol.encode(value))

    async def request(self, value: Any, doing: str) -> dict[str, Any]:
        """Send ``value`` and wait for the server's control answer (one at a time)."""
        async with self._requesting:
            reply = asyncio.get_running_loop().create_future()
            self._replies.append(reply)
            try:
                await self.send(value)
                return await asyncio.wait_for(asyncio.shield(reply), self.timeout)
            except asyncio.TimeoutError:
                raise StreamError(
                    f"{doing}: the {self.name} stream did not answer within {self.timeout:g} s."
                ) from None
            finally:
                if reply in self._replies:
                    self._replies.remove(reply)

    def _reply(self, message: dict[str, Any]) -> None:
        while self._replies:
            reply = self._replies.popleft()
            if not reply.done():
                reply.set_result(message)
                return
        self.protocol.unsolicited(self, message)

    def _fail_replies(self, error: StreamError) -> None:
        while self._replies:
            reply = self._replies.popleft()
            if not reply.done():
                reply.set_exception(error)

    async def receive_control(self, ws: ClientConnection, doing: str) -> Any:
        """One frame during the handshake, decoded; garbage or silence is a clear failure."""
        try:
            raw = await asyncio.wait_for(ws.recv(), self.timeout)
        except asyncio.TimeoutError:
            raise _Dropped(
                f"{doing}: no answer from {self.url} within {self.timeout:g} s"
            ) from None
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else "none"
            raise _Dropped(f"{doing}: {self.url} closed the connection (code {code})") from None
        try:
            return decode(raw)
        except Exception:
            raise _Dropped(
                f"{doing}: {self.url} answered something that is not Alpaca's stream protocol: "
                f"{_peek(raw)}"
            ) from None

    @property
    def credentials(self) -> tuple[str, str]:
        return self._credentials


def _describe(failure: BaseException) -> str:
    if isinstance(failure, TimeoutError):
        return "no answer in time"
    if isinstance(failure, InvalidHandshake):
        return f"the server refused the websocket ({failure})"
    return f"{type(failure).__name__}: {failure}"


def _peek(raw: str | bytes) -> str:
    text = raw if isinstance(raw, str) else raw[:60].decode("latin-1")
    return repr(text[:60])


# ---------------------------------------------------------------------------------------
# The two protocols
# ---------------------------------------------------------------------------------------


class DataProtocol:
    """Market data of one feed: subscriptions counted per (channel, symbol), frames routed.

    ``routes`` maps (channel, symbol) to the live frames that want it; a symbol is
    subscribed on the server while at least one frame wants it.
    """

    #: MessagePack both ways, as alpaca-py's data streams speak (smaller, faster to read).
    headers: ClassVar[dict[str, str]] = {"Content-Type": "application/msgpack"}

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.routes: dict[tuple[str, str], list[Any]] = collections.defaultdict(list)

    @staticmethod
    def encode(value: Any) -> bytes:
        return msgpack.packb(value)

    def wanted(self) -> dict[str, set[str]]:
        channels: dict[str, set[str]] = collections.defaultdict(set)
        for (channel, symbol), frames in self.routes.items():
            if frames:
                channels[channel].add(symbol)
        return channels

    async def handshake(self, conn: Connection, ws: ClientConnection) -> None:
        hello = await conn.receive_control(ws, "connecting")
        if _first(hello).get("T") != "success":
            raise _fatal_or_dropped(_first(hello), "connecting")
        key, secret = conn.credentials
        await ws.send(self.encode(protocol.auth(key, secret)))
        answer = _first(await conn.receive_control(ws, "authenticating"))
        if answer.get("T") == "error":
            raise _fatal_or_dropped(answer, f"authenticating to the {self.feed} stream")
        if answer.get("msg") != "authenticated":
            raise _Dropped(f"authenticating: unexpected answer {str(answer)[:80]}")

    async def resend(self, conn: Connection) -> None:
        wanted = self.wanted()
        if wanted:
            answer = await conn.request(
                protocol.subscription("subscribe", wanted), "subscribing again"
            )
            if answer.get("T") == "error":
                raise _fatal_or_dropped(answer, "subscribing again")

    def add(self, channel: str, symbols: Iterable[str], frame: Any) -> list[str]:
        """Route ``symbols`` of ``channel`` to ``frame``; returns the ones new to the server."""
        new = []
        for symbol in symbols:
            frames = self.routes[(channel, symbol)]
            if not frames:
                new.append(symbol)
            frames.append(frame)
        return new

    def remove(self, channel: str, symbols: Iterable[str], frame: Any) -> list[str]:
        """Stop routing to ``frame``; returns the symbols nothing wants any more."""
        gone = []
        for symbol in symbols:
            frames = self.routes.get((channel, symbol), [])
            if frame in frames:
                frames.remove(frame)
            if not frames:
                self.routes.pop((channel, symbol), None)
                gone.append(symbol)
        return gone

    def dispatch(self, value: Any) -> list[dict[str, Any]]:
        """Route data messages to frames (grouped per channel and symbol); return control ones."""
        controls: list[dict[str, Any]] = []
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for message in value if isinstance(value, list) else [value]:
            if not isinstance(message, dict):
                continue
            channel = protocol.TYPE_CHANNELS.get(message.get("T"))
            if channel is None:
                controls.append(message)
                continue
            groups.setdefault((channel, message.get("S")), []).append(message)
        for (channel, symbol), messages in groups.items():
            frames = self.routes.get((channel, symbol), []) + self.routes.get((channel, "*"), [])
            for frame in frames:
                frame.receive(symbol, messages)
        return [c for c in controls if c.get("T") in ("subscription", "error", "success")]

    def dropped(self) -> None:
        return None  # the frames keep what they have; bars missed are filled after

    def unsolicited(self, conn: Connection, message: dict[str, Any]) -> None:
        if message.get("T") == "error":
            log.warning(
                "trading_kit: the %s stream reported: %s",
                conn.name,
                protocol.stream_error(message.get("code"), message.get("msg", ""), "streaming"),
            )

    def failed(self, error: StreamError) -> None:
        for frames in list(self.routes.values()):
            for frame in frames:
                frame.fail(error)


class TradingProtocol:
    """Trade updates: listen once authorized; every update goes to every consumer, parsed once.

    A consumer is called with a list of :class:`~trading_kit.stream.live.TradeUpdate`
    on the stream thread; ``failures`` are told when the stream stops for good.
    """

    #: JSON, as every Alpaca client speaks to the trading stream (its answers come as JSON in
    #: binary frames, which ``decode`` reads).
    headers: ClassVar[dict[str, str]] = {}

    @staticmethod
    def encode(value: Any) -> str:
        return orjson.dumps(value).decode()

    def __init__(self) -> None:
        self.consumers: list[Callable[[list[TradeUpdate]], None]] = []
        self.failures: list[Callable[[StreamError | None], None]] = []

    async def handshake(self, conn: Connection, ws: ClientConnection) -> None:
        key, secret = conn.credentials
        await ws.send(self.encode(protocol.auth(key, secret)))
        answer = await conn.receive_control(ws, "authenticating")
        data = answer.get("data") if isinstance(answer, dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        if status != "authorized":
            raise StreamError(
                "authenticating to the trading stream failed: the server refused the API keys "
                "(check ALPACA_API_KEY and ALPACA_SECRET_KEY).",
                code=401,
            )
        await ws.send(self.encode(protocol.listen([protocol.TRADE_UPDATES])))
        answer = await conn.receive_control(ws, "listening to trade updates")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict) or protocol.TRADE_UPDATES not in (data.get("streams") or []):
            raise _Dropped(f"listening: unexpected answer {str(answer)[:80]}")

    async def resend(self, conn: Connection) -> None:
        return None  # the handshake listens again

    def dispatch(self, value: Any) -> list[dict[str, Any]]:
        if isinstance(value, dict) and value.get("stream") == protocol.TRADE_UPDATES:
            data = value.get("data")
            if isinstance(data, dict):
                try:
                    updates = [trade_update(data)]
                except (ValueError, TypeError):
                    log.warning("trading_kit: an unreadable trade update was skipped")
                    return []
                for consume in list(self.consumers):
                    try:
                        consume(updates)
                    except Exception:  # one consumer's bug must not starve the others
                        log.exception("trading_kit: a trade-update consumer failed")
            return []
        return [value] if isinstance(value, dict) else []

    def unsolicited(self, conn: Connection, message: dict[str, Any]) -> None:
        if message.get("stream") == "error":
            log.warning("trading_kit: the trading stream reported: %s", message.get("data"))

    def dropped(self) -> None:
        for tell in list(self.failures):  # updates may be missed until the gap is caught up
            tell(None)

    def failed(self, error: StreamError) -> None:
        for tell in list(self.failures):
            tell(error)


def _first(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    if isinstance(value, dict):
        return value
    raise _Dropped(f"unexpected message {str(value)[:80]}")


def _fatal_or_dropped(message: dict[str, Any], doing: str) -> Exception:
    code = message.get("code")
    error = protocol.stream_error(code, str(message.get("msg", "")), doing)
    return error if code in protocol.FATAL_CODES else _Dropped(str(error))

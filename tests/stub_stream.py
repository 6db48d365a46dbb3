"""A small Alpaca market-data websocket on 127.0.0.1 that can be told to misbehave.

It speaks the data-stream protocol (``connected`` → auth → subscribe → ``subscription``;
MessagePack when the client asks for it) and serves what the test pushes with
``publish``. Faults: ``refuse_auth`` (402), ``garbage`` (a frame that is neither JSON
nor MessagePack, right after connecting or after N data frames), ``silent`` (accept the
socket and never answer), ``drop_after`` (close the socket after N data frames). It
records each connection's subscriptions, so a test can see what was sent again after a
reconnect.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import msgpack
from websockets.asyncio.server import ServerConnection, serve


@dataclass
class Faults:
    refuse_auth: bool = False
    silent: bool = False
    garbage_at_connect: bool = False
    garbage_after: int | None = None  # data frames, then garbage
    drop_after: int | None = None  # data frames, then close (applies to every connection)


@dataclass
class Connection:
    subscribed: list[dict[str, Any]] = field(default_factory=list)
    authenticated: bool = False


class StubStream:
    """``with StubStream() as stub:`` → ``stub.url`` (http, as a data URL), ``stub.publish``."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.connections: list[Connection] = []
        self.auth_frames: list[bytes | str] = []
        self._loop = asyncio.new_event_loop()
        self._clients: set[tuple[ServerConnection, bool]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stub-stream")

    def __enter__(self) -> StubStream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stub stream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()

    # -- pushing data ------------------------------------------------------------------
    def publish(self, messages: list[dict[str, Any]]) -> None:
        """Send one frame of data messages to every authenticated connection."""
        asyncio.run_coroutine_threadsafe(self._publish(messages), self._loop).result(5)

    async def _publish(self, messages: list[dict[str, Any]]) -> None:
        for ws, use_msgpack in list(self._clients):
            await self._send(ws, use_msgpack, messages)
            ws.data_frames += 1  # type: ignore[attr-defined]
            if (
                self.faults.garbage_after is not None
                and ws.data_frames >= self.faults.garbage_after
            ):  # type: ignore[attr-defined]
                await ws.send(b"\xc1\xc1 garbage")
            if self.faults.drop_after is not None and ws.data_frames >= self.faults.drop_after:  # type: ignore[attr-defined]
                self._clients.discard((ws, use_msgpack))
                await ws.close(code=1011, reason="dropped by the stub")

    @property
    def connected(self) -> int:
        return len(self._clients)

    async def _send(self, ws: ServerConnection, use_msgpack: bool, value: Any) -> None:
        await ws.send(msgpack.packb(value) if use_msgpack else json.dumps(value))

    async def _handle(self, ws: ServerConnection) -> None:
        use_msgpack = "msgpack" in (ws.request.headers.get("Content-Type") or "")
        ws.data_frames = 0  # type: ignore[attr-defined]
        record = Connection()
        self.connections.append(record)
        if self.faults.silent:
            await ws.wait_closed()
            return
        if self.faults.garbage_at_connect:
            await ws.send(b"\xc1 this is not a stream")
            await ws.wait_closed()
            return
        await self._send(ws, use_msgpack, [{"T": "success", "msg": "connected"}])
        try:
            async for raw in ws:
                message = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
                action = message.get("action")
                if action == "auth":
                    self.auth_frames.append(raw)
                    if self.faults.refuse_auth:
                        await self._send(
                            ws, use_msgpack, [{"T": "error", "code": 402, "msg": "auth failed"}]
                        )
                        await ws.close()
                        return
                    record.authenticated = True
                    self._clients.add((ws, use_msgpack))
                    await self._send(ws, use_msgpack, [{"T": "success", "msg": "authenticated"}])
                elif action in ("subscribe", "unsubscribe"):
                    record.subscribed.append(message)
                    reply = {"T": "subscription"}
                    reply.update({k: v for k, v in message.items() if k != "action"})
                    await self._send(ws, use_msgpack, [reply])
        finally:
            self._clients = {c for c in self._clients if c[0] is not ws}

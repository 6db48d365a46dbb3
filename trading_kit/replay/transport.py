"""Requests to an exchange in this process go straight to its ASGI app: no socket, no uvicorn.

The seam is the one requests offers for "send this somewhere else": a transport adapter
mounted for the exchange's URL. :class:`ASGITransport` turns a prepared request into an
ASGI scope, calls the app and builds the ``Response`` from what the app sent (as httpx's
``ASGITransport`` and Starlette's ``TestClient`` do). Everything above it (limiter,
retries, answer checks, cache policy, our errors) is the HTTP stack's and everything
below it (routes, auth, JSON, Alpaca's errors) is the exchange's, both unchanged, so an
answer is byte for byte the one loopback HTTP would have carried.

Why there is no thread hop and, mostly, no event loop turn per call: the transport runs
the app's coroutine once with its own event loop set as the thread's running loop, and a
route whose work is inline finishes right there. A route that hands its work to the
loop's default executor (so that a server's event loop keeps answering other
connections) has it run at once on the calling thread: nobody else is waiting on this
loop, and waking a worker thread costs more than most requests on a busy machine. Only a
route that really waits (a page of history in anyio's worker threads) is finished on the
transport's loop. Inside Jupyter, whose kernel loop runs on the same thread, the
kernel's loop is set aside for the call and put back after it.

It imports nothing from the exchange: it speaks ASGI to whatever app it is given.
"""

from __future__ import annotations

import asyncio
import io
import threading
import types
import weakref
from collections.abc import Callable, Coroutine, Generator
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

ASGIApp = Any  # (scope, receive, send) -> awaitable; the exchange's Starlette app


class ASGITransport:
    """Send prepared requests to an ASGI ``app`` in this process; see the module docstring."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.app = app
        self.client = client
        self.requests = 0  # answered so far: a replay's books change only through them
        self._local = threading.local()  # one event loop per calling thread
        self._loops: list[asyncio.AbstractEventLoop] = []
        weakref.finalize(self, _close_loops, self._loops)  # their selectors and pipes too

    def __repr__(self) -> str:
        return f"ASGITransport(app={type(self.app).__name__})"

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        """The app's answer to ``request``; ``ConnectionError`` if it gave none."""
        parts = urlsplit(request.url or "")
        body = _body_bytes(request.body)
        host = parts.netloc or "127.0.0.1"
        headers = [(b"host", host.encode("latin-1"))]
        headers += [
            (name.lower().encode("latin-1"), str(value).encode("latin-1"))
            for name, value in request.headers.items()
            if name.lower() != "host"
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": (request.method or "GET").upper(),
            "scheme": parts.scheme or "http",
            "path": unquote(parts.path) or "/",
            "raw_path": (parts.path or "/").encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": (parts.hostname or "127.0.0.1", parts.port or 80),
            "extensions": {},
        }
        exchange = _Exchange(body)
        self.requests += 1
        try:
            self._run(self.app(scope, exchange.receive, exchange.send))
        except Exception as failure:  # the app broke off; as uvicorn does, the answer is lost
            if not exchange.complete:
                raise requests.ConnectionError(
                    f"the in-process exchange gave no complete answer ({type(failure).__name__})",
                    request=request,
                ) from None
        if not exchange.complete:
            raise requests.ConnectionError(
                "the in-process exchange gave no complete answer", request=request
            )
        return self._response(request, exchange)

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run the app's coroutine to its end on this thread's loop, inline when it allows."""
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = self._local.loop = _InlineLoop()
            self._loops.append(loop)
        outer = asyncio._get_running_loop()  # the kernel's loop in Jupyter, else None
        asyncio._set_running_loop(loop)
        try:
            try:
                waiting = coroutine.send(None)
            except StopIteration:
                return  # finished inline: the usual case
            asyncio._set_running_loop(None)  # run_until_complete refuses a "running" loop
            loop.run_until_complete(_resume(coroutine, waiting))
        finally:
            asyncio._set_running_loop(outer)

    def _response(
        self, request: requests.PreparedRequest, exchange: _Exchange
    ) -> requests.Response:
        """The answer as requests builds one from the network, its body already read;
        ``raw`` holds the same body, for a layer that reads it there."""
        content = b"".join(exchange.chunks)
        response = requests.Response()
        response.status_code = exchange.status
        response.headers = CaseInsensitiveDict(
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in exchange.headers
        )
        response.encoding = get_encoding_from_headers(response.headers)
        response.reason = _REASONS.get(exchange.status) or _reason(exchange.status)
        response.url = request.url or ""
        response.request = request
        response.raw = io.BytesIO(content)
        response._content = content
        return response

    def close(self) -> None:
        _close_loops(self._loops)


class _InlineLoop(asyncio.SelectorEventLoop):
    """The transport's event loop: ``run_in_executor(None, f)`` runs ``f`` right away on
    the thread that made the request and returns a finished future, so awaiting it does
    not even pause the route."""

    def run_in_executor(
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        if executor is not None:  # a route's own executor: as it asked
            return super().run_in_executor(executor, func, *args)
        done = self.create_future()
        try:
            done.set_result(func(*args))
        except Exception as failure:  # handed to the awaiting route, as a thread would
            done.set_exception(failure)
        return done


class _Exchange:
    """One request's ASGI messages: the body handed in, the answer collected."""

    def __init__(self, body: bytes) -> None:
        self._body: bytes | None = body
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.complete = False

    async def receive(self) -> dict[str, Any]:
        if self._body is None:
            return {"type": "http.disconnect"}
        body, self._body = self._body, None
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))
            self.complete = not message.get("more_body", False)


@types.coroutine
def _resume(coroutine: Coroutine[Any, Any, Any], waiting: Any) -> Generator[Any, Any, None]:
    """Carry on a coroutine that paused on ``waiting`` (a future of the loop running this)."""
    while True:
        try:
            yield waiting  # the task running this waits for it, as ``await`` would
        except BaseException as failure:  # cancellation: passed on
            try:
                waiting = coroutine.throw(failure)
            except StopIteration:
                return
            continue
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            return


def _close_loops(loops: list[asyncio.AbstractEventLoop]) -> None:
    for loop in loops:
        if not loop.is_closed():
            loop.close()
    loops.clear()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return b"".join(body)  # an iterable of chunks


#: The reason phrases, looked up once: an enum lookup per answer costs more than a dict's.
_REASONS = {int(status): status.phrase for status in HTTPStatus}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""

"""A small Alpaca market-data server on 127.0.0.1 for the client tests and benchmarks.

It speaks Alpaca's wire format (bars, latest quotes/trades, snapshots, pagination with
``next_page_token``, ``X-RateLimit-*`` headers, ``{"code","message"}`` errors) and can
be told to misbehave: answer a status (429 with ``Retry-After``, 503 …), drop the
connection, stall, answer 200 with a bad body, cut a body short (of its Content-Length,
or half of it), trickle the answer byte by byte, or never answer, on cue or at random.
It records every request it saw, headers and answer status included, so a test can
check what reached the network.

As a stand-in for universe-scale downloads it enforces Alpaca's rules too:

* ``limit`` counts bars across all symbols of a page (a page holds symbols in order,
  ``next_page_token`` says where the next one continues); ``page_cap`` makes pages
  smaller than asked, as a server may, so a test needs fewer bars for many pages;
* symbols in ``unknown`` get no data (omitted from the answer, as Alpaca does);
* with ``enforce_rate``, a rolling budget of ``rate_limit`` requests per ``window``
  seconds (Alpaca: 200 per 60 s; tests scale the window down and the client's budget
  the same way): a request over budget is answered 429 and counted in ``throttled``.

``python -m tests.stub_alpaca --port N [--rate-limit 200 --window 60 ...]`` serves it
in the foreground for benchmarks and subprocess tests.
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import io
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson

STEPS = {
    "1Min": dt.timedelta(minutes=1),
    "5Min": dt.timedelta(minutes=5),
    "15Min": dt.timedelta(minutes=15),
    "30Min": dt.timedelta(minutes=30),
    "1Hour": dt.timedelta(hours=1),
    "4Hour": dt.timedelta(hours=4),
    "1Day": dt.timedelta(days=1),
    "1Week": dt.timedelta(weeks=1),
    "1Month": dt.timedelta(days=30),
}
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int | None = None  # the status answered (None: the connection was cut)


@dataclass
class StubState:
    seen: list[Seen] = field(default_factory=list)
    faults: collections.deque = field(default_factory=collections.deque)
    rate_limit: int = 200
    window: float = 60.0
    enforce_rate: bool = False
    throttled: int = 0  # requests answered 429 because the budget was spent
    page_cap: int | None = None
    unknown: set[str] = field(default_factory=lambda: {"NOPE"})
    random_faults: float = 0.0  # probability that a request meets a random fault
    outage_after: int | None = None  # after this many requests, every answer is 503
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    arrivals: collections.deque = field(default_factory=collections.deque)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def fail_next(self, *actions: tuple) -> None:
        """Queue actions for the next requests, one each.

        ``("status", code[, headers])`` answers that status; ``("drop",)`` closes the
        connection; ``("stall", s)`` waits, then answers; ``("hold",)`` waits until
        ``release`` is set, then answers; ``("body", raw[, status])`` answers these bytes
        (with status 200 unless told); ``("short",)`` announces more bytes than it
        sends, then closes; ``("truncate",)`` sends the headers and half the real body,
        then closes; ``("trickle", s)`` sends the real answer one byte every ``s``
        seconds; ``("silent",)`` never answers.
        """
        self.faults.extend(actions)

    def data_requests(self, path_part: str = "/v2/stocks") -> list[Seen]:
        return [s for s in self.seen if path_part in s.path]

    def stats(self) -> dict:
        """Arrival times (monotonic) and answers of the data requests so far."""
        with self.lock:
            seen = [s for s in self.seen if s.path.startswith("/v2/")]
            return {
                "arrivals": [s.at for s in seen],
                "statuses": [s.status for s in seen],
                "throttled": self.throttled,
                "rate_limit": self.rate_limit,
                "window": self.window,
            }

    def _admit(self, now: float) -> tuple[bool, int, float]:
        """Count a request against the rolling budget: (admitted, remaining, reset epoch)."""
        while self.arrivals and self.arrivals[0] <= now - self.window:
            self.arrivals.popleft()
        admitted = not self.enforce_rate or len(self.arrivals) < self.rate_limit
        if admitted:
            self.arrivals.append(now)
        else:
            self.throttled += 1
        oldest = self.arrivals[0] if self.arrivals else now
        reset = time.time() + (oldest + self.window - now)
        return admitted, self.rate_limit - len(self.arrivals), reset

    def _random_fault(self) -> tuple | None:
        if self.random_faults <= 0 or self.rng.random() >= self.random_faults:
            return None
        return self.rng.choice([("status", 500), ("status", 503), ("drop",), ("truncate",)])


def _price(symbol: str, index: int) -> float:
    base = 50 + sum(map(ord, symbol)) % 400
    return round(base + (index % 97) * 0.01 + (index // 97 % 13) * 0.1, 2)


def bar(symbol: str, when: dt.datetime, index: int) -> dict:
    p = _price(symbol, index)
    return {
        "t": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "o": p,
        "h": round(p + 0.05, 2),
        "l": round(p - 0.05, 2),
        "c": round(p + 0.01, 2),
        "v": 1000 + index % 500,
        "n": 10 + index % 7,
        "vw": round(p + 0.005, 4),
    }


def bar_span(timeframe: str, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """Indexes [first, last) of the stub's bars between start and end (inclusive)."""
    step = STEPS[timeframe]
    first = max(0, -(-(start - EPOCH) // step))
    last = max(first, (end - EPOCH) // step + 1)
    return first, last


def bars_slice(symbol: str, timeframe: str, first: int, last: int) -> list[dict]:
    """``bar(symbol, EPOCH + i * step, i)`` for i in [first, last), built column-wise
    (whole cents, so every value equals ``bar``'s rounding) to serve pages quickly."""
    index = np.arange(first, last, dtype=np.int64)
    step = int(STEPS[timeframe].total_seconds())
    epoch = np.datetime64(EPOCH.replace(tzinfo=None), "s")
    stamps = np.datetime_as_string(epoch + index * step, unit="s")
    cents = (50 + sum(map(ord, symbol)) % 400) * 100 + index % 97 + (index // 97 % 13) * 10
    columns = (
        [f"{t}Z" for t in stamps],
        (cents / 100).tolist(),
        ((cents + 5) / 100).tolist(),
        ((cents - 5) / 100).tolist(),
        ((cents + 1) / 100).tolist(),
        (1000 + index % 500).tolist(),
        (10 + index % 7).tolist(),
        ((cents * 100 + 50) / 10_000).tolist(),
    )
    keys = ("t", "o", "h", "l", "c", "v", "n", "vw")
    return [dict(zip(keys, row)) for row in zip(*columns)]  # noqa: B905 - equal lengths


def _parse_time(text: str | None, default: dt.datetime) -> dt.datetime:
    if not text:
        return default
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


class Handler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        state = self.server.state
        now = time.monotonic()
        self._truncate = False
        self.seen = Seen("GET", parts.path, query, dict(self.headers), now)
        if parts.path == "/stats":  # for benchmarks: not counted, not recorded
            self.remaining, self.reset = state.rate_limit, time.time()
            return self._send(200, state.stats())
        with state.lock:
            state.seen.append(self.seen)
            fault = state.faults.popleft() if state.faults else state._random_fault()
            if state.outage_after is not None and len(state.seen) > state.outage_after:
                fault = ("status", 503)
            admitted, self.remaining, self.reset = state._admit(now)
        if fault is not None and self._misbehave(fault):
            return
        if not admitted:
            return self._send(429, {"code": 42910000, "message": "rate limit exceeded"})
        if not self.headers.get("APCA-API-KEY-ID") or not self.headers.get("APCA-API-SECRET-KEY"):
            return self._send(401, {"code": 40110000, "message": "request is not authorized"})
        route = {
            "/v2/stocks/bars": self._bars,
            "/v2/stocks/quotes/latest": self._latest_quotes,
            "/v2/stocks/trades/latest": self._latest_trades,
            "/v2/stocks/snapshots": self._snapshots,
        }.get(parts.path)
        if route is None:
            return self._send(404, {"code": 40410000, "message": "endpoint not found"})
        route(query)

    # -- faults ------------------------------------------------------------------------
    def _misbehave(self, fault: tuple) -> bool:
        kind = fault[0]
        if kind == "status":
            headers = fault[2] if len(fault) > 2 else {}
            self._send(
                fault[1], {"code": fault[1] * 100000, "message": f"stub says {fault[1]}"}, headers
            )
            return True
        if kind == "drop":
            self.close_connection = True
            self.connection.close()
            return True
        if kind == "truncate":
            self._truncate = True
            return False
        if kind == "stall":
            time.sleep(fault[1])
            return False
        if kind == "hold":
            self.server.state.release.wait(60)
            return False
        if kind == "body":
            self._send(fault[2] if len(fault) > 2 else 200, fault[1])
            return True
        if kind == "short":
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n" + b'{"quotes": {"AAPL": {'
            )
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return True
        if kind == "trickle":
            self._trickle = fault[1]
            return False
        if kind == "silent":
            self.server.state.release.wait(60)
            self.close_connection = True
            return True
        raise ValueError(fault)

    _trickle: float | None = None

    def _send(self, status: int, body: object, headers: dict | None = None) -> None:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        delay, self._trickle = self._trickle, None
        if delay is not None:  # collect the whole answer, then send it slowly
            real, self.wfile = self.wfile, io.BytesIO()
            try:
                self._send_now(status, raw, headers)
            finally:
                answer, self.wfile = self.wfile.getvalue(), real
            for byte in answer:
                if self.server.state.release.wait(delay):
                    return
                try:
                    real.write(bytes([byte]))
                    real.flush()
                except OSError:
                    return  # the client gave up
            return
        self._send_now(status, raw, headers)

    def _send_now(self, status: int, raw: bytes, headers: dict | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        state = self.server.state
        self.send_header("X-RateLimit-Limit", str(state.rate_limit))
        if state.enforce_rate:  # the budget's real state; a scaled window needs the fraction
            self.send_header("X-RateLimit-Remaining", str(max(self.remaining, 0)))
            self.send_header("X-RateLimit-Reset", f"{self.reset:.3f}")
        else:
            self.send_header("X-RateLimit-Remaining", str(state.rate_limit - 1))
            self.send_header("X-RateLimit-Reset", str(int(time.time()) + 60))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "_truncate", False):  # half a body, then the connection is gone
            self.wfile.write(raw[: len(raw) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(raw)
        self.seen.status = status

    # -- routes ------------------------------------------------------------------------
    def _bars(self, q: dict[str, str]) -> None:
        timeframe = q.get("timeframe", "")
        if timeframe not in STEPS:
            return self._send(400, {"code": 40010001, "message": f"invalid timeframe: {timeframe}"})
        state = self.server.state
        symbols = sorted(s for s in q["symbols"].split(",") if s not in state.unknown)
        start = _parse_time(q.get("start"), EPOCH)
        end = min(_parse_time(q.get("end"), self.server.now), self.server.now)
        limit = int(q.get("limit") or 1000)
        if not 1 <= limit <= 10_000:
            return self._send(400, {"code": 40010001, "message": f"invalid limit: {limit}"})
        limit = min(limit, state.page_cap or limit)
        offset = int(base64.b64decode(q["page_token"])) if q.get("page_token") else 0
        cached = self.server.body_cache.get((self.path,))
        if cached is not None:
            return self._send(200, cached)
        first, last = bar_span(timeframe, start, end)
        per_symbol = last - first
        total = per_symbol * len(symbols)
        body: dict = {"bars": {}, "next_page_token": None}
        position = offset
        descending = q.get("sort") == "desc"
        while position < min(offset + limit, total):
            symbol = symbols[position // per_symbol]
            done = position % per_symbol
            take = min(per_symbol - done, offset + limit - position)
            if descending:  # newest first within each symbol
                rows = bars_slice(symbol, timeframe, last - done - take, last - done)[::-1]
            else:
                rows = bars_slice(symbol, timeframe, first + done, first + done + take)
            body["bars"].setdefault(symbol, []).extend(rows)
            position += take
        if offset + limit < total:
            body["next_page_token"] = base64.b64encode(str(offset + limit).encode()).decode()
        raw = orjson.dumps(body)
        if self.server.memoise:
            self.server.body_cache[(self.path,)] = raw
        self._send(200, raw)

    def _latest_quotes(self, q: dict[str, str]) -> None:
        now = self.server.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        quotes = {
            s: {
                "t": now,
                "bx": "V",
                "bp": _price(s, 0),
                "bs": 3,
                "ax": "V",
                "ap": round(_price(s, 0) + 0.02, 2),
                "as": 4,
                "c": ["R"],
                "z": "C",
            }
            for s in q["symbols"].split(",")
            if s != "NOPE"
        }
        self._send(200, {"quotes": quotes})

    def _latest_trades(self, q: dict[str, str]) -> None:
        now = self.server.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        trades = {
            s: {"t": now, "x": "V", "p": _price(s, 1), "s": 100, "c": ["@"], "i": 42, "z": "C"}
            for s in q["symbols"].split(",")
            if s != "NOPE"
        }
        self._send(200, {"trades": trades})

    def _snapshots(self, q: dict[str, str]) -> None:
        now = self.server.now
        body = {}
        for s in q["symbols"].split(","):
            day = now.replace(hour=5, minute=0, second=0, microsecond=0)
            body[s] = {
                "latestTrade": {
                    "t": now.isoformat().replace("+00:00", "Z"),
                    "x": "V",
                    "p": _price(s, 1),
                    "s": 100,
                    "c": ["@"],
                    "i": 7,
                    "z": "C",
                },
                "latestQuote": {
                    "t": now.isoformat().replace("+00:00", "Z"),
                    "bx": "V",
                    "bp": _price(s, 0),
                    "bs": 1,
                    "ax": "V",
                    "ap": _price(s, 0) + 0.02,
                    "as": 2,
                    "c": ["R"],
                    "z": "C",
                },
                "minuteBar": bar(s, now.replace(second=0, microsecond=0), 5),
                "dailyBar": bar(s, day, 2),
                "prevDailyBar": bar(s, day - dt.timedelta(days=1), 1),
            }
        self._send(200, body)


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst from many client threads must not be refused

    def __init__(
        self, now: dt.datetime | None = None, memoise: bool = False, port: int = 0
    ) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = StubState()
        self.now = now or dt.datetime(2024, 3, 5, 15, 0, tzinfo=dt.timezone.utc)
        self.memoise = memoise
        self.body_cache: dict = {}
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.release.set()
        self.shutdown()
        self.server_close()


def main() -> None:
    """Serve the stand-in in the foreground (for benchmarks and subprocess tests)."""
    parser = argparse.ArgumentParser(description="Alpaca market-data stand-in on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=int, default=200)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--enforce-rate", action="store_true")
    parser.add_argument("--page-cap", type=int, default=None)
    parser.add_argument("--random-faults", type=float, default=0.0)
    parser.add_argument("--now", default=None, help="the server's clock (RFC 3339)")
    args = parser.parse_args()
    now = dt.datetime.fromisoformat(args.now.replace("Z", "+00:00")) if args.now else None
    with StubServer(now=now, port=args.port) as server:
        state = server.state
        state.rate_limit, state.window, state.enforce_rate = (
            args.rate_limit,
            args.window,
            args.enforce_rate,
        )
        state.page_cap, state.random_faults = args.page_cap, args.random_faults
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

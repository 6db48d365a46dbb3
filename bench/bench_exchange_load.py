"""The local exchange under many concurrent clients: requests per second, p50 and p99.

    python bench/bench_exchange_load.py [--clients 8 32 64] [--seconds 6]

For each number of clients, a fresh ``python -m trading_kit serve`` (realtime clock,
always open, a SQLite state file) runs in its own process, and that many client threads
here loop over a notebook's mix of calls on keep-alive connections: submit a market
order, read the account, the latest quote, the positions and the open orders. The anchor,
measured in the same run with the same clients, is the raw floor: the same uvicorn
server (same protocol, Host check and settings) answering a fixed JSON body without the
exchange behind it. Reported: requests/s, p50 and p99 latency, errors, and the exchange's
throughput as a share of the floor's.

The clients share this process's cores with the server (two on the reference machine),
so absolute numbers move with the machine's load; the ratio to the floor, taken in the
same run, is the figure to compare.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "SPY"]
HEADERS = {
    "APCA-API-KEY-ID": "bench",
    "APCA-API-SECRET-KEY": "bench",
    "Content-Type": "application/json",
}
FLOOR_BODY = b'{"ok": true}'


@dataclass
class Level:
    clients: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def mix(symbol: str) -> list[tuple[str, str, bytes | None]]:
    """One round of a notebook's calls, for one client."""
    order = json.dumps(
        {"symbol": symbol, "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
    ).encode()
    return [
        ("POST", "/v2/orders", order),
        ("GET", "/v2/account", None),
        ("GET", f"/v2/stocks/quotes/latest?symbols={symbol}", None),
        ("GET", "/v2/positions", None),
        ("GET", "/v2/orders?status=open&limit=50", None),
    ]


def load(port: int, clients: int, seconds: float, floor: bool) -> Level:
    """``clients`` threads calling as fast as answers come, for ``seconds`` after a warm-up."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    window: dict[str, float] = {}

    def client(index: int) -> None:
        calls = [("GET", "/floor", None)] if floor else mix(SYMBOLS[index % len(SYMBOLS)])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        step = 0
        while True:
            now = time.perf_counter()
            if now >= window["end"]:
                break
            method, path, body = calls[step % len(calls)]
            step += 1
            try:
                connection.request(method, path, body=body, headers=HEADERS)
                reply = connection.getresponse()
                reply.read()
                ok = reply.status < 400
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            done = time.perf_counter()
            if done >= window["begin"] and done < window["end"]:
                latencies[index].append((done - now) * 1000)
                errors[index] += not ok
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    window["begin"] = time.perf_counter() + 1.0  # a second of warm-up is not counted
    window["end"] = window["begin"] + seconds
    start.wait()
    for thread in threads:
        thread.join()
    samples = [sample for per_client in latencies for sample in per_client]
    return Level(clients, len(samples), seconds, samples, sum(errors))


def start_server(floor: bool, state: Path) -> tuple[subprocess.Popen[str], int]:
    if floor:
        command = [sys.executable, __file__, "--serve-floor"]
    else:
        command = [sys.executable, "-m", "trading_kit", "serve", "--port", "0", "--always-open"]
        command += ["--db", str(state)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline() if process.stdout else ""
    url = next(word for word in line.split() if word.startswith("http://"))
    return process, int(url.rsplit(":", 1)[1])


def serve_floor() -> None:
    """The same uvicorn server as the exchange's, answering a fixed body."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from trading_kit.exchange.server import bind, url_of, uvicorn_config

    async def floor(request: object) -> Response:
        return Response(FLOOR_BODY, media_type="application/json")

    sock = bind("127.0.0.1", 0)
    print(f"floor on {url_of(sock)}", flush=True)
    uvicorn.Server(uvicorn_config(Starlette(routes=[Route("/floor", floor)]))).run(sockets=[sock])


def measure(clients: int, seconds: float, floor: bool) -> Level:
    with tempfile.TemporaryDirectory() as folder:
        process, port = start_server(floor, Path(folder) / "state.sqlite")
        try:
            return load(port, clients, seconds, floor)
        finally:
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor()
        return
    print(
        f"local exchange under load: {args.seconds:g} s per level, a fresh server each; "
        "mix = order, account, quote, positions, open orders"
    )
    header = f"{'clients':>7} {'server':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    for clients in args.clients:
        exchange = measure(clients, args.seconds, floor=False)
        floor = measure(clients, args.seconds, floor=True)
        for name, level in (("exchange", exchange), ("floor", floor)):
            print(
                f"{clients:>7} {name:>8} {level.per_second:>8.0f} {level.percentile(0.5):>8.1f} "
                f"{level.percentile(0.99):>8.1f} {level.errors:>7}"
            )
        share = exchange.per_second / floor.per_second if floor.per_second else float("nan")
        print(f"{'':>7} exchange at {share:.0%} of the floor's throughput")


if __name__ == "__main__":
    main()

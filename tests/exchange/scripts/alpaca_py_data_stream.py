"""alpaca-py's StockDataStream, unchanged, against a stream URL (argv[1]): run() owns the loop.

Collects quotes, trades and bars of AAPL until argv[2] quotes and one bar arrived, then
prints them as JSON lines on stdout.
"""

import asyncio
import json
import sys

from alpaca.data.live import StockDataStream

url, wanted = sys.argv[1], int(sys.argv[2])
stream = StockDataStream("test-key", "test-secret", url_override=url)
got: dict[str, list] = {"quotes": [], "trades": [], "bars": []}


def done() -> None:
    if len(got["quotes"]) >= wanted and got["bars"]:
        asyncio.get_running_loop().create_task(stream.stop_ws())


async def on_quote(q) -> None:
    got["quotes"].append([q.symbol, q.timestamp.isoformat(), q.bid_price, q.ask_price, q.bid_size])
    done()


async def on_trade(t) -> None:
    got["trades"].append([t.symbol, t.timestamp.isoformat(), t.price, t.size, t.id])


async def on_bar(b) -> None:
    got["bars"].append(
        [b.symbol, b.timestamp.isoformat(), b.open, b.high, b.low, b.close, b.volume]
    )
    done()


stream.subscribe_quotes(on_quote, "AAPL")
stream.subscribe_trades(on_trade, "AAPL")
stream.subscribe_bars(on_bar, "AAPL")
print("subscribing", flush=True)
stream.run()
print(json.dumps(got), flush=True)

"""alpaca-py's TradingStream, unchanged, against a stream URL (argv[1]): run() owns the loop.

Prints "listening" once subscribed, collects trade updates until a fill arrives, then
prints them as JSON on stdout.
"""

import asyncio
import json
import sys

from alpaca.trading.stream import TradingStream

stream = TradingStream("test-key", "test-secret", url_override=sys.argv[1])
got: list = []


async def on_update(update) -> None:
    got.append(
        {
            "event": str(update.event.value if hasattr(update.event, "value") else update.event),
            "order_id": str(update.order.id),
            "symbol": update.order.symbol,
            "status": str(update.order.status.value),
            "price": update.price,
            "qty": update.qty,
            "position_qty": update.position_qty,
            "timestamp": update.timestamp.isoformat(),
        }
    )
    if got[-1]["event"] == "fill":
        asyncio.get_running_loop().create_task(stream.stop_ws())


stream.subscribe_trade_updates(on_update)
stream.run()
print(json.dumps(got), flush=True)

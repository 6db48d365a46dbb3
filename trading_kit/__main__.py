"""Command line.

python -m trading_kit serve [--port N] [--db PATH] [--clock realtime|manual] [--key K --secret S]
python -m trading_kit cache info|clear
python -m trading_kit download PATH [SYMBOL ...] [--symbols-file F] [--timeframe 1Min]
                                    [--start D] [--end D] [--adjustment raw] [--feed iex]
python -m trading_kit download PATH                  (bring an existing dataset up to date)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    """Bind, claim the state file, open it, serve: each failure one line, leaving nothing."""
    from trading_kit.exchange import (
        Exchange,
        ManualClock,
        MarketHours,
        RealtimeClock,
        SimulatedMarket,
        serve,
    )
    from trading_kit.exchange.lockfile import ExchangeLock, StateFileInUse
    from trading_kit.exchange.server import PortInUse, bind, url_of

    if bool(args.key) != bool(args.secret):
        return _fail("give both --key and --secret, or neither")
    try:
        sock = bind(args.host, args.port)
    except (ValueError, PortInUse) as problem:
        return _fail(problem)
    try:
        lock = ExchangeLock.acquire(args.db) if args.db else None
    except (StateFileInUse, OSError) as problem:
        sock.close()
        return _fail(problem)
    market = SimulatedMarket(MarketHours(always_open=args.always_open))
    clock = ManualClock(args.start) if args.clock == "manual" else RealtimeClock()
    exchange = Exchange(
        market,
        clock,
        db_path=args.db,
        seed=args.seed,
        partial_fills=not args.no_partial_fills,
        rate_limit=args.rate_limit,
        credentials=(args.key, args.secret) if args.key else None,
    )
    if lock is not None:
        lock.publish(url_of(sock))  # it listens already: connections wait for the server
    keys = "keys required" if args.key else "any keys"
    print(
        f"trading_kit local exchange on {url_of(sock)} "
        f"(clock={args.clock}, db={args.db or 'memory'}, {keys}); Ctrl+C to stop",
        flush=True,
    )
    serve(exchange, sock=sock, lock=lock)
    return 0


def _fail(problem: object) -> int:
    print(f"error: {problem}", file=sys.stderr)
    return 2


def _cache(args: argparse.Namespace) -> int:
    """Inspect or empty the HTTP cache file (the one ``TRADING_KIT_CACHE`` points at) and
    the decoded bar history beside it."""
    from trading_kit.config import Settings
    from trading_kit.data.history_cache import HistoryCache, history_root
    from trading_kit.http import HttpStack

    # The cache file does not depend on the server: any loopback URL resolves its path.
    loopback = "http://127.0.0.1"
    settings = Settings.from_env(trading_url=loopback, data_url=loopback, cache_path=args.path)
    stack = HttpStack(settings)
    stack.cache.attach("bars", HistoryCache(history_root(settings.cache_path)))
    try:
        if args.action == "clear":
            stack.cache.clear()
            print(f"cleared {settings.cache_path}")
        else:
            print(stack.cache.info())
    finally:
        stack.close()
    return 0


def _download(args: argparse.Namespace) -> int:
    """``MarketData.download`` from a terminal or a scheduler: same options, same dataset."""
    from trading_kit import MarketData, TradingKitError

    symbols = list(args.symbols)
    try:
        if args.symbols_file:
            with open(args.symbols_file, encoding="utf-8") as listing:
                symbols += [w for line in listing for w in line.replace(",", " ").split()]
    except OSError as problem:
        print(
            f"error: cannot read --symbols-file {args.symbols_file}: {problem.strerror}",
            file=sys.stderr,
        )
        return 2
    limits: dict = {}
    if args.rate_limit is not None:
        limits["requests_per_minute"] = args.rate_limit
    if args.rate_window is not None:
        limits["rate_window_seconds"] = args.rate_window
    try:
        # The download needs only the data API: a data URL alone is enough.
        md = MarketData(data_url=args.data_url, trading_url=args.data_url, **limits)
        report = md.download(
            symbols or None,
            args.timeframe,
            args.start,
            args.end,
            args.path,
            adjustment=args.adjustment,
            feed=args.feed,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except TradingKitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trading_kit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the local paper exchange in the foreground")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    serve.add_argument("--db", default=None, help="SQLite file for the exchange state")
    serve.add_argument("--clock", choices=("realtime", "manual"), default="realtime")
    serve.add_argument(
        "--start", default="now", help="manual clock start time (RFC 3339; default now)"
    )
    serve.add_argument("--always-open", action="store_true", help="ignore the NYSE calendar")
    serve.add_argument("--seed", type=int, default=0, help="seed for partial fills")
    serve.add_argument("--no-partial-fills", action="store_true", help="always fill completely")
    serve.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 past N requests a minute (e.g. 200, Alpaca's), to rehearse throttling",
    )
    serve.add_argument("--key", default=None, help="API key id clients must send (default: any)")
    serve.add_argument("--secret", default=None, help="API secret key clients must send")
    serve.set_defaults(handler=_serve)
    cache = commands.add_parser("cache", help="show or clear the HTTP cache")
    cache.add_argument("action", choices=("info", "clear"))
    cache.add_argument(
        "--path", default=None, help="cache file (default: TRADING_KIT_CACHE or the user cache dir)"
    )
    cache.set_defaults(handler=_cache)
    download = commands.add_parser(
        "download",
        help="download bars of many symbols into a Parquet dataset (resumable; again = update)",
    )
    download.add_argument("path", help="the dataset directory")
    download.add_argument("symbols", nargs="*", help="tickers (default: the dataset's own)")
    download.add_argument("--symbols-file", help="a file of tickers, by whitespace or commas")
    download.add_argument("--timeframe", help="1Min … 1Month (default: the dataset's)")
    download.add_argument("--start", help="first day or time (default: the dataset's)")
    download.add_argument("--end", help="last day or time, inclusive (default: now)")
    download.add_argument("--adjustment", help="raw, split, dividend or all (default raw)")
    download.add_argument("--feed", help="sip, iex … (default: the account's)")
    download.add_argument("--workers", type=int, default=4, help="requests at once (default 4)")
    download.add_argument("--no-progress", action="store_true", help="no progress bar")
    download.add_argument(
        "--data-url", default=None, help="data API (default: ALPACA_DATA_URL, Alpaca, or local)"
    )
    download.add_argument("--rate-limit", type=int, help="requests per window (default 200)")
    download.add_argument("--rate-window", type=float, help="window in seconds (default 60)")
    download.set_defaults(handler=_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

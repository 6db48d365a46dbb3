"""Where requests go: Alpaca paper with keys, or the embedded local exchange without.

Every client built from the same settings shares one :class:`HttpStack`, so one
account's rate budget and cache are shared however many clients a notebook makes.
With no keys and no URLs anywhere, requests go to the local paper exchange on this
machine's state file: the one another kernel already runs (a lock file beside the state
file says where), or one this process starts. Either way it says so, once: never a
silent switch.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import platformdirs
import requests

from .config import Settings
from .errors import ConfigError
from .http import HttpStack

log = logging.getLogger("trading_kit")

_lock = threading.Lock()
_stacks: dict[Settings, HttpStack] = {}
_local_exchange: Any = None  # the exchange this process started, if it did
_announced: dict[Path, str] = {}  # exchanges of other processes this one was told about
STARTUP_TIMEOUT = 10.0
#: The URL of an exchange that is not served anywhere: the in-process transport answers
#: everything under it, so no request to it leaves the process.
IN_PROCESS_URL = "http://127.0.0.1:1"
#: No budget to share with anyone in process: the limit only guards against a runaway loop.
IN_PROCESS_REQUESTS_PER_MINUTE = 1_000_000


def http_stack(
    api_key: str | None = None,
    secret_key: str | None = None,
    *,
    trading_url: str | None = None,
    data_url: str | None = None,
    cache_path: str | Path | None = None,
    **limits: float,
) -> HttpStack:
    """The shared stack for these settings, starting the local exchange if nothing is set."""
    if Settings.wants_local_exchange(api_key, trading_url, data_url):
        trading_url = data_url = local_exchange_url()
    settings = Settings.from_env(
        api_key,
        secret_key,
        trading_url=trading_url,
        data_url=data_url,
        cache_path=cache_path,
        **limits,
    )
    with _lock:
        stack = _stacks.get(settings)
        if stack is None:
            stack = _stacks[settings] = HttpStack(settings)
        return stack


def in_process_stack(
    exchange: Any,
    api_key: str | None = None,
    secret_key: str | None = None,
    *,
    cache_path: str | Path | None = None,
    **limits: float,
) -> HttpStack:
    """A stack whose requests go to ``exchange``'s routes in this process, not over TCP.

    ``exchange`` is an ``Exchange`` (served nowhere: its URL is :data:`IN_PROCESS_URL`)
    or the ``RunningExchange`` that ``start_exchange`` returned (its own URL; other
    clients may still reach it over loopback). Keys are the ones given here, never the
    environment's: an exchange in this process is not Alpaca.
    """
    from .exchange import Exchange  # the client meets the server here, as in connect()
    from .exchange.app import create_app
    from .exchange.server import RunningExchange
    from .replay.transport import ASGITransport

    if isinstance(exchange, RunningExchange):
        url, app = exchange.url, exchange.app
    elif isinstance(exchange, Exchange):
        url, app = IN_PROCESS_URL, create_app(exchange)
    else:
        raise ConfigError(
            f"exchange={exchange!r} is not an exchange: pass a trading_kit.exchange.Exchange, "
            "or the RunningExchange that start_exchange() returned."
        )
    limits.setdefault("requests_per_minute", IN_PROCESS_REQUESTS_PER_MINUTE)
    settings = Settings.from_env(
        trading_url=url, data_url=url, cache_path=cache_path, **limits
    ).replace(api_key=api_key, secret_key=secret_key)
    return HttpStack(settings, transport=(url + "/", ASGITransport(app)))


def local_exchange_url() -> str:
    """The URL of the local exchange on this machine's state file, starting one if none runs.

    One exchange per state file: when another kernel (or ``python -m trading_kit serve``)
    already serves it, requests go there; otherwise this process starts the exchange,
    once, and serves it from a daemon thread for as long as the kernel lives.
    """
    global _local_exchange
    # The one place the client side touches the server side: it finds or starts it.
    from .exchange import lockfile

    db_path = Path(
        os.environ.get("TRADING_KIT_EXCHANGE_DB")
        or Path(platformdirs.user_cache_dir("trading_kit")) / "local_exchange.sqlite"
    )
    with _lock:
        if _local_exchange is not None and _local_exchange.running:
            return _local_exchange.url
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            holder = lockfile.holder(db_path)
            if holder is None:
                try:
                    _local_exchange = _start_local_exchange(db_path)
                except lockfile.StateFileInUse:
                    continue  # another kernel claimed it a moment ago: use that one
                return _local_exchange.url
            if holder.url and _answers(holder.url):
                if _announced.get(db_path) != holder.url:
                    _announced[db_path] = holder.url
                    _announce(
                        "trading_kit: no Alpaca keys or URLs configured, so requests go to the "
                        f"local paper exchange that process {holder.pid} already runs at "
                        f"{holder.url} on {db_path}."
                    )
                return holder.url
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"Process {holder.pid} holds the local exchange's state file {db_path}, "
                    f"but its exchange{' at ' + holder.url if holder.url else ''} does not "
                    "answer. Stop that process, or set TRADING_KIT_EXCHANGE_DB to use another "
                    "state file."
                )
            time.sleep(0.05)  # it is starting: its URL appears once it listens


def _start_local_exchange(db_path: Path) -> Any:
    from .exchange import Exchange, MarketHours, RealtimeClock, SimulatedMarket
    from .exchange.lockfile import ExchangeLock
    from .exchange.server import RunningExchange, bind

    sock = bind("127.0.0.1", 0)
    lock = None
    try:
        lock = ExchangeLock.acquire(db_path)
        market = SimulatedMarket(hours=MarketHours(always_open=True))
        exchange = Exchange(market, RealtimeClock(), db_path=db_path)
        running = RunningExchange(exchange, sock=sock, lock=lock)
    except BaseException:  # nothing half-started: free the port and the state file
        sock.close()
        if lock is not None:
            lock.release()
        raise
    _announce(
        "trading_kit: no Alpaca keys or URLs configured, so requests go to the local paper "
        f"exchange at {running.url} (simulated prices, always open; state in {db_path}). "
        "Set ALPACA_API_KEY and ALPACA_SECRET_KEY to use Alpaca paper instead."
    )
    return running


def _announce(notice: str) -> None:
    """A plain line on stdout (in a notebook, normal output; stderr is a red block), and
    the same as an INFO record for whoever configured logging."""
    print(notice, file=sys.stdout)
    log.info(notice)


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (any status, even 401: it is alive)."""
    try:
        requests.get(f"{url}/v2/clock", timeout=2.0)
    except requests.RequestException:
        return False
    return True

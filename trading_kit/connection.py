"""Where requests go: Alpaca paper with keys, or the embedded local exchange without.

Every client built from the same settings shares one :class:`HttpStack`, so one
account's rate budget and cache are shared however many clients a notebook makes.
With no keys and no URLs anywhere, the first client starts one local paper exchange
for the process and says so, once: never a silent switch.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import platformdirs

from .config import Settings
from .http import HttpStack

log = logging.getLogger("trading_kit")

_lock = threading.Lock()
_stacks: dict[Settings, HttpStack] = {}
_local_exchange: Any = None


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


def local_exchange_url() -> str:
    """Start (once per process) the embedded paper exchange and return its URL."""
    global _local_exchange
    with _lock:
        if _local_exchange is None:
            # The one place the client side touches the server side: it starts it.
            from .exchange import (
                Exchange,
                MarketHours,
                RealtimeClock,
                SimulatedMarket,
                start_exchange,
            )

            db_path = os.environ.get("TRADING_KIT_EXCHANGE_DB") or str(
                Path(platformdirs.user_cache_dir("trading_kit")) / "local_exchange.sqlite"
            )
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            market = SimulatedMarket(hours=MarketHours(always_open=True))
            exchange = Exchange(market, RealtimeClock(), db_path=db_path)
            _local_exchange = start_exchange(exchange)
            notice = (
                "trading_kit: no Alpaca keys or URLs configured, so requests go to the local "
                f"paper exchange at {_local_exchange.url} (simulated prices, always open; "
                f"state in {db_path}). Set ALPACA_API_KEY and ALPACA_SECRET_KEY to use "
                "Alpaca paper instead."
            )
            # A plain line on stdout: in a notebook, normal output (stderr is a red block).
            print(notice, file=sys.stdout)
            log.info(notice)
        return _local_exchange.url

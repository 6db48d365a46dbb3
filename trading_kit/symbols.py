"""What a ticker looks like: one rule for market-data requests and orders alike."""

from __future__ import annotations

import re
from typing import Any

_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,11}$")
TICKER_HINT = "use e.g. 'AAPL' or 'BRK.B' (letters, digits, '.' or '-', at most 12 characters)"


def ticker(value: Any) -> str | None:
    """``value`` as an upper-case ticker, or ``None`` if it cannot be one."""
    name = value.strip().upper() if isinstance(value, str) else None
    return name if name and _TICKER.match(name) else None

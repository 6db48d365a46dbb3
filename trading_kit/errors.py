"""Every error a user can cause, in one tree.

    TradingKitError
     ├── ConfigError             keys, URLs, the paper-only rule, cache path
     ├── MarketDataError         bad data request, or the data API said no
     │    └── RateLimitError     still throttled after every retry
     ├── DatasetError            a bar dataset on disk cannot be written or read as asked
     ├── OrderValidationError    an order rejected locally; nothing was sent
     └── OrderExecutionError     the broker (Alpaca or the local exchange) said no

Messages say what was wrong and what to do about it. They never contain a secret:
errors that carry a server response keep only its status and message.
"""

from __future__ import annotations


class TradingKitError(Exception):
    """Base class: catch this to handle anything trading_kit raises on purpose."""


class ConfigError(TradingKitError):
    """The configuration cannot work (missing keys, a live URL, an unusable path)."""


class MarketDataError(TradingKitError):
    """A market-data request was invalid, or the server refused or failed it.

    ``status`` is the HTTP status when a server answered, else ``None``; ``code`` is
    Alpaca's error code when its body had one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RateLimitError(MarketDataError):
    """The server kept answering 429 after every retry; wait and try again."""


class DatasetError(TradingKitError):
    """A bar dataset (``MarketData.download``, ``open_dataset``) cannot be used as asked:
    other parameters than it holds, an unwritable path, a full disk, another writer.
    Whatever was recorded before the error is intact."""


class MissingDataWarning(UserWarning):
    """Some symbols returned no bars (unknown to the data API, or no trading in the range)."""


class OrderValidationError(TradingKitError):
    """An order failed a local rule; it never reached the broker.

    ``field`` names the offending field (``None`` for a rule across fields).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class OrderExecutionError(TradingKitError):
    """The broker rejected or failed an order request; ``code`` is Alpaca's error code."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class StaleDataWarning(UserWarning):
    """Data came from an expired cache entry because the server could not be reached."""


class CacheWarning(UserWarning):
    """The on-disk cache could not be used; requests go on without it."""

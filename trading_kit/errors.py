"""Every error a user can cause, in one tree.

    TradingKitError
     ├── ConfigError             keys, URLs, the paper-only rule, cache path
     ├── ServerError             a request a server refused or failed (status, code, attempts)
     │    ├── MarketDataError    bad data request, or the data API said no
     │    │    └── RateLimitError  still throttled after every retry
     │    └── OrderExecutionError  the broker (Alpaca or the local exchange) said no
     ├── DatasetError            a bar dataset on disk cannot be written or read as asked
     ├── OrderValidationError    an order rejected locally; nothing was sent
     ├── JournalError            the order journal cannot be opened or written
     ├── StreamError             a websocket stream refused, failed or was asked nonsense
     ├── AnalyticsError          a tear sheet's inputs (equity, fills, prices) cannot be used
     └── ReplayError             a replay's inputs (bars, strategy, dates) cannot be used

Messages say what was wrong and what to do about it. They never contain a secret:
errors that carry a server response keep only its status and message.
"""

from __future__ import annotations


class TradingKitError(Exception):
    """Base class: catch this to handle anything trading_kit raises on purpose."""


class ConfigError(TradingKitError):
    """The configuration cannot work (missing keys, a live URL, an unusable path)."""


class ServerError(TradingKitError):
    """A request that a server refused or failed, or that never got an answer.

    ``status`` is the HTTP status when a server answered, else ``None``; ``code`` is
    Alpaca's error code when its body had one; ``attempts`` how many times it was sent
    (more than one after a retry).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.attempts = attempts


class MarketDataError(ServerError):
    """A market-data request was invalid, or the server refused or failed it."""


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


class OrderExecutionError(ServerError):
    """The broker rejected or failed an order request; ``code`` is Alpaca's error code."""


class JournalError(TradingKitError):
    """The order journal cannot be opened or written (unusable path, full disk, locked).

    An order is never sent before the journal has recorded the intent to send it, so
    this error means nothing was sent, unless its message says the order exists.
    """


class StreamError(TradingKitError):
    """A live stream could not do what was asked: a bad subscription, refused keys, a
    server that closed, answered garbage or never answered.

    ``code`` is Alpaca's stream error code when the server sent one (``405`` symbol
    limit exceeded, ``406`` connection limit exceeded, …), else ``None``.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AnalyticsError(TradingKitError):
    """An equity series, fills, prices or journal handed to ``trading_kit.analytics`` is
    unusable; ``argument`` names which one. Nothing was computed."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class ReplayError(TradingKitError):
    """The bars, strategy or dates handed to ``replay()`` are unusable; ``argument`` names
    which. Nothing was replayed."""

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class StaleDataWarning(UserWarning):
    """Data came from an expired cache entry because the server could not be reached."""


class CacheWarning(UserWarning):
    """The on-disk cache could not be used; requests go on without it."""

"""Settings: credentials, endpoints, cache path and HTTP limits, resolved once.

Precedence for every value: explicit argument, then ``ALPACA_*`` environment
variables, then Alpaca's own ``APCA_*`` variables, then defaults. Two rules are
enforced here, before any request exists: paper only (the live trading endpoint is
refused), and secrets never shown (the key id and secret are left out of ``repr``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from .errors import ConfigError

PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"
#: Alpaca serves market-data websockets from their own host; elsewhere the data host does.
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"
LIVE_TRADING_HOSTS = frozenset({"api.alpaca.markets"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_PLACEHOLDER_KEY = "local"
ALPACA_REQUESTS_PER_MINUTE = 200
LOOPBACK_REQUESTS_PER_MINUTE = 60_000


def default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("trading_kit")) / "http_cache.sqlite"


@dataclass(frozen=True)
class Settings:
    """Everything the HTTP stack and the clients need; build it with :meth:`from_env`."""

    api_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    trading_url: str = PAPER_TRADING_URL
    data_url: str = DATA_URL
    cache_path: Path = field(default_factory=default_cache_path)
    requests_per_minute: int | None = None  # None: 200 for Alpaca, 60,000 on loopback
    rate_window_seconds: float = 60.0
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 30.0  # seconds for a whole call, every retry included
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    journal_path: Path | None = None  # None: ``order_journal.sqlite`` next to the cache

    def __post_init__(self) -> None:
        object.__setattr__(self, "trading_url", _normalise_url(self.trading_url, "trading"))
        object.__setattr__(self, "data_url", _normalise_url(self.data_url, "data"))
        object.__setattr__(self, "cache_path", Path(self.cache_path).expanduser())
        journal = self.journal_path or self.cache_path.parent / "order_journal.sqlite"
        object.__setattr__(self, "journal_path", Path(journal).expanduser())
        if urlsplit(self.trading_url).hostname in LIVE_TRADING_HOSTS:
            raise ConfigError(
                f"{self.trading_url} is Alpaca's live trading endpoint; trading_kit is paper only. "
                f"Use {PAPER_TRADING_URL} (or leave the trading URL unset)."
            )
        if bool(self.api_key) != bool(self.secret_key):
            raise ConfigError(
                "Only one of the API key id and secret key is set; set both "
                "(ALPACA_API_KEY and ALPACA_SECRET_KEY) or neither."
            )
        if not self.has_credentials and not self.is_loopback:
            raise ConfigError(
                "No Alpaca API keys: set ALPACA_API_KEY and ALPACA_SECRET_KEY, pass "
                "api_key=/secret_key=, or leave the URLs unset to use the local exchange."
            )
        if self.requests_per_minute is None:
            # Alpaca allows 200 a minute. The local exchange has no such limit, and a
            # minute-by-minute replay loop against it must not stall for a minute.
            limit = LOOPBACK_REQUESTS_PER_MINUTE if self.is_loopback else ALPACA_REQUESTS_PER_MINUTE
            object.__setattr__(self, "requests_per_minute", limit)
        for name in WHOLE_NUMBERS:
            _check_number(name, getattr(self, name), whole=True)
        for name in SECONDS:
            _check_number(name, getattr(self, name), whole=False)

    @classmethod
    def from_env(
        cls,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        trading_url: str | None = None,
        data_url: str | None = None,
        cache_path: str | Path | None = None,
        **limits: float,
    ) -> Settings:
        """Resolve settings from arguments and the environment (see the module docstring)."""
        env = os.environ
        values: dict = {
            "api_key": api_key or env.get("ALPACA_API_KEY") or env.get("APCA_API_KEY_ID"),
            "secret_key": secret_key
            or env.get("ALPACA_SECRET_KEY")
            or env.get("APCA_API_SECRET_KEY"),
            "trading_url": trading_url
            or env.get("ALPACA_TRADING_URL")
            or env.get("APCA_API_BASE_URL")
            or PAPER_TRADING_URL,
            "data_url": data_url or env.get("ALPACA_DATA_URL") or DATA_URL,
            "cache_path": cache_path or env.get("TRADING_KIT_CACHE") or default_cache_path(),
            "journal_path": limits.pop("journal_path", None) or env.get("TRADING_KIT_JOURNAL"),
        }
        unknown = set(limits) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**values, **limits)

    @staticmethod
    def wants_local_exchange(
        api_key: str | None = None, trading_url: str | None = None, data_url: str | None = None
    ) -> bool:
        """True when nothing points anywhere: no keys and no URLs, in arguments or environment."""
        env = os.environ
        configured = (
            api_key,
            trading_url,
            data_url,
            env.get("ALPACA_API_KEY"),
            env.get("APCA_API_KEY_ID"),
            env.get("ALPACA_TRADING_URL"),
            env.get("APCA_API_BASE_URL"),
            env.get("ALPACA_DATA_URL"),
        )
        return not any(configured)

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.secret_key)

    @property
    def is_loopback(self) -> bool:
        hosts = {urlsplit(url).hostname for url in (self.trading_url, self.data_url)}
        return hosts <= LOOPBACK_HOSTS

    @property
    def trading_stream_url(self) -> str:
        """The trade-updates websocket: ``/stream`` on the trading host."""
        return _websocket(self.trading_url) + "/stream"

    def data_stream_url(self, feed: str) -> str:
        """The market-data websocket of ``feed`` (``iex``, ``sip``, ``test``)."""
        base = DATA_STREAM_URL if self.data_url == DATA_URL else _websocket(self.data_url)
        return f"{base}/v2/{feed}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """Alpaca's credential headers; placeholders for a keyless server on loopback."""
        return {
            "APCA-API-KEY-ID": self.api_key or LOCAL_PLACEHOLDER_KEY,
            "APCA-API-SECRET-KEY": self.secret_key or LOCAL_PLACEHOLDER_KEY,
        }

    @property
    def secrets(self) -> tuple[str, ...]:
        """The strings that must never be shown or stored."""
        return tuple(s for s in (self.api_key, self.secret_key) if s)

    def redact(self, text: str) -> str:
        """``text`` with the key id and secret blanked out."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)


def _websocket(url: str) -> str:
    return "wss" + url[len("https") :] if url.startswith("https") else "ws" + url[len("http") :]


#: Settings that count something (at least 1) and settings in seconds (above 0).
WHOLE_NUMBERS = ("requests_per_minute", "max_attempts")
SECONDS = (
    "rate_window_seconds",
    "connect_timeout",
    "read_timeout",
    "deadline",
    "backoff_initial",
    "backoff_max",
)


def _check_number(name: str, value: object, *, whole: bool) -> None:
    """Refuse a setting that would only fail at the first request, naming it as given."""
    if whole:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        wanted = "a whole number of at least 1"
    else:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        )
        wanted = "a number of seconds above 0"
    if not ok:
        raise ConfigError(f"{name}={value!r} is not usable: {name} must be {wanted}.")


def _normalise_url(url: str, kind: str) -> str:
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"The {kind} URL {url!r} is not an http(s) URL; "
            f"expected something like {PAPER_TRADING_URL if kind == 'trading' else DATA_URL}."
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v2")
    return f"{parts.scheme}://{parts.netloc}{path}"

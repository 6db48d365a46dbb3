"""The one HTTP stack every request goes through.

Layers, outermost first::

    HttpStack.request      picks the cache TTL (cache_policy), turns failures into our errors
      └─ CachedSession     requests-cache on SQLite, one session per thread
          └─ RetryingAdapter   rate limiter + tenacity retries (as routes allow) + the
                               call's deadline + each answer read whole and checked

The limiter, the retries and the answer check live in the transport adapter, below the
cache, so a cache hit never spends the rate budget, a malformed answer never reaches
the cache, and stale-if-error only answers once every retry has failed.

Why our own requests rather than alpaca-py's clients: alpaca-py owns a private
``requests.Session`` with no timeout and a fixed-sleep retry loop of its own (four
tries, 3 s, ``Retry-After`` ignored) that would multiply with ours, and it parses
every bar through a pydantic model, the slow path. So market data is fetched here
and decoded straight into columns; alpaca-py's enums still name the accepted values.

Thread safety: requests-cache shares one sqlite3 connection across threads, which
trips cpython#118172 ("no more rows available"). Each thread therefore gets its own
session and its own SQLite connection (WAL mode, busy timeout); the limiter and the
hit/miss counters are shared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.compat import json as complexjson
from requests_cache import DO_NOT_CACHE, CachedSession, SQLiteCache
from requests_cache.policy.settings import DEFAULT_IGNORED_PARAMS
from tenacity import (
    RetryCallState,
    Retrying,
    wait_exponential,
    wait_random,
)
from urllib3.exceptions import NewConnectionError

from . import cache_policy, routes
from .config import Settings
from .deadline import Deadline, DeadlineExceeded, watched, watched_pools
from .errors import (
    CacheWarning,
    MarketDataError,
    RateLimitError,
    ServerError,
)
from .private_files import create_private
from .rate_limit import RateLimiter, RateLimitStatus

log = logging.getLogger("trading_kit")
T = TypeVar("T")
S = TypeVar("S", bound=requests.Session)
Transport = Callable[[requests.PreparedRequest], requests.Response]  # in place of the network

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CREDENTIAL_HEADERS = ("APCA-API-KEY-ID", "APCA-API-SECRET-KEY")
MAX_RETRY_AFTER = 60.0


class _RetryableStatus(Exception):
    """A response whose status says "try again"; carries it to tenacity."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class _BadAnswer(requests.RequestException):
    """A 2xx answer whose body is not what the route answers (HTML, cut short, ``null``)."""


class RetryingAdapter(HTTPAdapter):
    """Sends each request under the rate limiter and the call's deadline, with retries.

    Each attempt reads the whole body and checks its shape (``routes``) before it
    counts as answered, so a truncated or malformed answer is retried like a 5xx and
    never reaches the cache. Retried: 429, 500, 502, 503, 504, dropped connections,
    timeouts and bad answers, with exponential backoff and jitter, or exactly
    ``Retry-After`` when the server says. Whether a request may be sent again at all
    is the route's: one whose repeat would act again (a new order, closing a position)
    is repeated only when it surely never arrived (``routes.may_repeat``). The whole
    call, retries and backoff included, ends at ``settings.deadline``.

    ``transport`` replaces the network: a callable that answers a prepared request
    (``replay.transport.ASGITransport``, an exchange in this process). Nothing else
    changes; there is no socket for the deadline's watchdog to shut, so an in-process
    attempt runs to its end and the deadline bounds the retries around it.
    """

    def __init__(
        self,
        settings: Settings,
        limiter: RateLimiter,
        sleep: Callable[[float], None] = time.sleep,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(pool_connections=4, pool_maxsize=16)
        self.settings = settings
        self.limiter = limiter
        self.transport = transport
        self._backoff = wait_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        ) + wait_random(0, settings.backoff_initial)
        # One Retrying for every call (its state is per thread): each call's deadline and
        # what a repeat of it does travel in the arguments its callbacks are shown.
        self._retrying = Retrying(
            stop=self._stop, wait=self._wait, retry=self._retry, sleep=sleep, reraise=True
        )

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = watched_pools()  # the deadline's watchdog

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        repeat, answer = routes.route(request.method or "GET", urlsplit(request.url or "").path)
        deadline = Deadline(self.settings.deadline)
        retrying = self._retrying
        try:
            response = retrying(self._send_once, request, deadline, answer, repeat, **kwargs)
        except _RetryableStatus as exhausted:
            response = exhausted.response
        except requests.RequestException as failure:
            failure.attempts = retrying.statistics.get("attempt_number", 1)  # type: ignore[attr-defined]
            failure.repeat = repeat  # type: ignore[attr-defined]
            raise
        response.attempts = retrying.statistics.get("attempt_number", 1)  # type: ignore[attr-defined]
        return response

    def _stop(self, state: RetryCallState) -> bool:
        deadline: Deadline = state.args[1]
        return (
            state.attempt_number >= self.settings.max_attempts
            or state.upcoming_sleep >= deadline.remaining()
        )

    @staticmethod
    def _retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        return bool(outcome and outcome.failed and _may_repeat(outcome.exception(), state.args[3]))

    def _send_once(
        self,
        request: requests.PreparedRequest,
        deadline: Deadline,
        answer: routes.Answer,
        repeat: routes.Repeat,  # for ``_retry``
        **kwargs: Any,
    ) -> requests.Response:
        with self.limiter.hold() as waited:  # counted until a window after the answer
            deadline.extend(waited)
            remaining = deadline.remaining()
            if remaining <= 0:
                raise DeadlineExceeded(f"no time left of the {deadline.seconds:g} s deadline")
            kwargs["timeout"] = (
                min(self.settings.connect_timeout, remaining),
                min(self.settings.read_timeout, remaining),
            )
            if self.transport is not None:
                response = self.transport(request)
                body = response.content
            else:
                with watched(deadline) as watch:
                    try:
                        response = super().send(request, **kwargs)
                        body = response.content  # in the attempt: a body cut short is retried
                    except requests.RequestException as failure:
                        # the socket's timeout is the time left, so a timeout that ends at
                        # the deadline is the deadline's, whichever of the two woke first
                        timed_out = isinstance(failure, requests.Timeout)
                        if watch.expired or (timed_out and deadline.remaining() <= 0):
                            raise DeadlineExceeded(
                                f"no complete answer within the {deadline.seconds:g} s deadline"
                            ) from None
                        raise
        self.limiter.observe(response.headers)
        if response.status_code in RETRY_STATUSES:
            raise _RetryableStatus(response)
        if 200 <= response.status_code < 300:
            decoded, problem = decode_body(body, answer)
            if problem is not None:
                raise _BadAnswer(
                    self.settings.redact(f"HTTP {response.status_code} with {problem}")
                )
            response.json_body = decoded  # type: ignore[attr-defined]  # decoded once
        return response

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _RetryableStatus):
            retry_after = _retry_after_seconds(failure.response)
            if retry_after is not None:
                self.limiter.block_for(retry_after)  # every thread waits; the deadline does not
                return 0.0
        return self._backoff(state)


def _may_repeat(failure: BaseException, repeat: routes.Repeat) -> bool:
    kind = _failure_kind(failure)
    return kind is not None and routes.may_repeat(repeat, kind)


def _failure_kind(failure: BaseException) -> routes.Failure | None:
    """What the client can tell about how an attempt failed (``None``: not a transient)."""
    if isinstance(failure, _RetryableStatus):
        throttled = failure.response.status_code == 429
        return routes.Failure.THROTTLED if throttled else routes.Failure.SERVER_ERROR
    if isinstance(failure, DeadlineExceeded):
        return routes.Failure.NO_ANSWER
    if isinstance(failure, requests.exceptions.ConnectTimeout):
        return routes.Failure.NEVER_SENT
    if isinstance(failure, requests.ConnectionError):
        reason = getattr(failure.args[0], "reason", None) if failure.args else None
        if isinstance(reason, NewConnectionError):  # refused, or the name did not resolve
            return routes.Failure.NEVER_SENT
        return routes.Failure.NO_ANSWER
    if isinstance(failure, requests.RequestException):
        return routes.Failure.NO_ANSWER
    return None


def decode_body(body: bytes, answer: routes.Answer) -> tuple[Any, str | None]:
    """A 2xx body decoded as JSON, and what is wrong with it (``None`` when well formed)."""
    empty = not body.strip()
    decoded: Any = None
    if not empty:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            start = body.lstrip()[:40].decode("utf-8", "replace")
            kind = "HTML" if start.startswith("<") else "a body that is not JSON, or cut short"
            return None, f"{kind} ({len(body)} bytes, starting {start!r})"
    return decoded, routes.answer_problem(answer, decoded, empty)


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")
        except ValueError:
            return None
        seconds = (
            when.replace(tzinfo=dt.timezone.utc) - dt.datetime.now(dt.timezone.utc)
        ).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class BodyMemo:
    """Values derived from response bodies (decoded pages), keyed by a hash of the bytes.

    A page served again from the HTTP cache has the same bytes, so whatever was
    derived from it is reused instead of decoded again: the in-process layer of the
    cache. Bounded by the rows it holds; emptied by ``cache.clear()``.
    """

    def __init__(self, max_rows: int = 2_000_000) -> None:
        self.max_rows = max_rows
        self._values: OrderedDict[tuple[str, bytes], tuple[Any, int]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()

    def get_or_make(
        self, tag: str, body: bytes, make: Callable[[bytes], T], rows: Callable[[T], int]
    ) -> T:
        key = (tag, hashlib.blake2b(body, digest_size=16).digest())
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key][0]
        value = make(body)
        size = rows(value)
        with self._lock:
            if key not in self._values and size <= self.max_rows:
                self._values[key] = (value, size)
                self._rows += size
                while self._rows > self.max_rows:
                    _, (_, dropped) = self._values.popitem(last=False)
                    self._rows -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._rows = 0


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds and how it served this session."""

    path: str
    entries: int
    size_bytes: int
    hits: int
    misses: int
    enabled: bool
    rate_limit: RateLimitStatus

    def __str__(self) -> str:
        return (
            f"cache {self.path}: {self.entries} entries, {self.size_bytes / 1e6:.2f} MB on disk; "
            f"this session {self.hits} hits / {self.misses} misses; {self.rate_limit}"
        )


class CacheStore(Protocol):
    """Another store of cached data beside the responses (e.g. decoded bar history)."""

    def entries(self) -> int: ...
    def size_bytes(self) -> int: ...
    def clear(self) -> None: ...
    def flush(self) -> None: ...


class CacheControl:
    """``md.cache``: look at and empty the response cache and the stores attached to it."""

    def __init__(self, stack: HttpStack) -> None:
        self._stack = stack
        self._stores: dict[str, CacheStore] = {}
        self._lock = threading.Lock()

    def attach(self, name: str, store: CacheStore) -> CacheStore:
        """Count ``store`` in ``info()`` and empty it in ``clear()``; one store per name."""
        with self._lock:
            return self._stores.setdefault(name, store)

    def flush(self) -> None:
        """Wait until every attached store has written what it holds (writes run behind)."""
        for store in list(self._stores.values()):
            store.flush()

    def info(self) -> CacheInfo:
        stack = self._stack
        try:
            entries = len(stack.session().cache.responses)
        except sqlite3.Error:
            entries = 0
        path = Path(stack.settings.cache_path)
        on_disk = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
        stores = list(self._stores.values())
        return CacheInfo(
            path=str(path) if stack.cache_enabled else _in_memory_reason(stack),
            entries=entries + sum(s.entries() for s in stores),
            size_bytes=(sum(p.stat().st_size for p in on_disk) if stack.cache_enabled else 0)
            + sum(s.size_bytes() for s in stores),
            hits=stack.hits,
            misses=stack.misses,
            enabled=stack.cache_enabled,
            rate_limit=stack.limiter.status(),
        )

    def clear(self) -> None:
        """Delete every cached response (the file stays, empty), every attached store's
        data, and reset the counters."""
        self._stack.session().cache.clear()
        for store in list(self._stores.values()):
            store.clear()
        self._stack.memo.clear()
        self._stack.reset_counters()

    def __repr__(self) -> str:
        return f"<CacheControl {self.info()}>"


class HttpStack:
    """Sessions, limiter and cache policy shared by every client of one configuration.

    ``transport`` (a URL prefix and a :data:`Transport`) sends the requests under that
    prefix in this process instead of over the network. Such a stack caches nothing:
    the cache's lifetimes are wall-clock time, while a replay's exchange moves its own
    clock a minute per step (a "latest" quote cached for seconds would be minutes old),
    and its answers cost less than a cache lookup anyway.
    """

    def __init__(
        self,
        settings: Settings,
        ttl: cache_policy.CacheTTL | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: tuple[str, Transport] | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.ttl = ttl or cache_policy.CacheTTL()
        self.limiter = RateLimiter(
            settings.requests_per_minute, settings.rate_window_seconds, clock=clock, sleep=sleep
        )
        self._in_process: tuple[str, RetryingAdapter] | None = None
        if transport is not None:
            adapter = RetryingAdapter(settings, self.limiter, sleep, transport[1])
            self._in_process = (transport[0], adapter)
        self._sleep = sleep  # injectable with ``clock``: waits are counted in tests, not timed
        self.cache = CacheControl(self)
        self.memo = BodyMemo()
        self.hits = 0
        self.misses = 0
        self.cache_enabled = transport is None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._redact = tuple(DEFAULT_IGNORED_PARAMS) + CREDENTIAL_HEADERS

    def __repr__(self) -> str:
        return (
            f"HttpStack(trading_url={self.settings.trading_url!r}, "
            f"data_url={self.settings.data_url!r}, cache={str(self.settings.cache_path)!r})"
        )

    # -- sessions ---------------------------------------------------------------------
    def session(self) -> CachedSession:
        """This thread's session (created on first use)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._new_session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def direct_session(self) -> requests.Session:
        """This thread's session for requests that are never cached (orders, the account).

        The cache layer costs more per request than an in-process answer (keys, header
        directives) and does nothing for them, so they skip it; the adapters are the same.
        """
        session = getattr(self._local, "direct", None)
        if session is None:
            session = self._local.direct = self._mount(requests.Session())
            with self._lock:
                self._sessions.append(session)
        return session

    def _new_session(self) -> CachedSession:
        backend: SQLiteCache | str = "memory"
        if self.cache_enabled:
            try:
                backend = self._open_sqlite()
            except (sqlite3.Error, OSError) as problem:
                self._disable_disk_cache(problem)
                backend = "memory"
        session = CachedSession(
            backend=backend,
            allowable_methods=("GET",),
            allowable_codes=(200,),
            expire_after=DO_NOT_CACHE,
            ignored_parameters=self._redact,
            stale_if_error=True,
            cache_control=False,
        )
        return self._mount(session)

    def _mount(self, session: S) -> S:
        """Our headers and adapters on ``session``."""
        session.headers.update(self.settings.auth_headers)
        adapter = RetryingAdapter(self.settings, self.limiter, self._sleep)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if self.transport is not None:
            prefix, transport = self.transport
            in_process = RetryingAdapter(self.settings, self.limiter, self._sleep, transport)
            session.mount(prefix, in_process)
            session.trust_env = False  # no proxy, .netrc or CA bundle applies in process
        return session

    def _open_sqlite(self) -> SQLiteCache:
        """Open this thread's connection; one thread at a time, since a new file's first
        open switches it to WAL, which fails ("database is locked") beside another open."""
        path = Path(self.settings.cache_path)
        with self._open_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            create_private(path)  # holds account data: readable by its owner only
            backend = SQLiteCache(path, wal=True, busy_timeout=30_000)
            backend.responses.count()  # reads the file: a corrupt one fails here
        return backend

    def _disable_disk_cache(self, problem: Exception) -> None:
        with self._lock:
            if not self.cache_enabled:
                return
            self.cache_enabled = False
        warnings.warn(
            f"The cache file {self.settings.cache_path} cannot be used "
            f"({type(problem).__name__}: {problem}); continuing with an in-memory cache. "
            "Delete the file (or run `python -m trading_kit cache clear`) to start a fresh one.",
            CacheWarning,
            stacklevel=4,
        )

    def close(self) -> None:
        """Finish the writes still under way, then close every session."""
        self.cache.flush()
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def reset_counters(self) -> None:
        with self._lock:
            self.hits = self.misses = 0

    def count(self, *, hits: int = 0, misses: int = 0) -> None:
        """Count answers a store beside the HTTP cache gave (hits) or had to fetch (misses)."""
        with self._lock:
            self.hits += hits
            self.misses += misses

    # -- requests ---------------------------------------------------------------------
    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        use_cache: bool = True,
        error: type[ServerError] = MarketDataError,
    ) -> requests.Response:
        """Send through the stack; failures become ``error`` (or ``RateLimitError`` on 429)."""
        path = requests.utils.urlparse(url).path
        now = dt.datetime.now(dt.timezone.utc)
        expire = (
            cache_policy.expire_after(path, params or {}, now, self.ttl)
            if use_cache and self.transport is None
            else DO_NOT_CACHE
        )
        # The failure is turned into our error outside the ``except`` block, so that
        # the requests exception (which holds the request, headers and keys included)
        # stays out of ``__context__``.
        failure: requests.RequestException | None = None
        try:
            response = self._send_with_cache(method, url, params, json, expire)
        except requests.RequestException as caught:
            failure = caught
        if failure is not None:
            raise self._failure_error(method, path, failure, error)
        # Stale means served past its expiry because the fresh request failed. Judge it by
        # the time of asking: an entry that expires while this thread waits was fresh.
        expires = getattr(response, "expires", None)
        response.served_stale = bool(  # type: ignore[attr-defined]
            getattr(response, "from_cache", False) and expires and _utc(expires) < now
        )
        if expire != DO_NOT_CACHE:
            with self._lock:
                if getattr(response, "from_cache", False):
                    self.hits += 1
                else:
                    self.misses += 1
        if response.status_code >= 400:
            raise _http_error(method, path, response, error, self.settings)
        return response

    def json(self, response: requests.Response, error: type[ServerError] = MarketDataError) -> Any:
        """The JSON body of a response from :meth:`request`, decoded once.

        A fresh answer was decoded (and checked) as it arrived; one from the cache is
        decoded now. A cached body that cannot be read (stored before bodies were
        checked) is dropped from the cache and reported, so the next call asks again.
        """
        if hasattr(response, "json_body"):
            return response.json_body
        path = urlsplit(response.url).path
        decoded, problem = decode_body(response.content, routes.route("GET", path)[1])
        if problem is None:
            return decoded
        key = getattr(response, "cache_key", None)
        if key:
            self.session().cache.delete(key)
        raise error(
            f"The cached answer to GET {path} cannot be read ({problem}); it was dropped "
            "from the cache, so the next call asks the server again."
        )

    def _send_with_cache(
        self, method: str, url: str, params: Any, json: Any, expire: Any
    ) -> requests.Response:
        try:
            return self._send(method, url, params=params, json=json, expire_after=expire)
        except sqlite3.OperationalError:  # busy beyond the timeout: this once, no cache
            return self._send(method, url, params=params, json=json, expire_after=DO_NOT_CACHE)
        except sqlite3.DatabaseError as problem:  # the file broke mid-session: go on without it
            self._disable_disk_cache(problem)
            self._local.session = None
            return self._send(method, url, params=params, json=json, expire_after=expire)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if kwargs["expire_after"] == DO_NOT_CACHE:  # nothing to read or write: no cache layer
            del kwargs["expire_after"]
            if self._in_process is not None and url.startswith(self._in_process[0]):
                return self._send_in_process(method, url, **kwargs)
            return self.direct_session().request(method, url, **kwargs)
        return self.session().request(method, url, **kwargs)

    def _send_in_process(
        self, method: str, url: str, params: Mapping[str, Any] | None, json: Any
    ) -> requests.Response:
        """Straight to the in-process adapter: a session's cookies, redirects, proxies and
        hooks have nothing to do in process, and cost more than the exchange's answer."""
        request = requests.PreparedRequest()
        request.method = method
        query = urlencode([(k, v) for k, v in (params or {}).items() if v is not None], doseq=True)
        request.url = f"{url}?{query}" if query else url
        request.headers = requests.structures.CaseInsensitiveDict(self.settings.auth_headers)
        request.body = None
        if json is not None:
            try:  # as requests encodes a json= body
                request.body = complexjson.dumps(json, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as problem:
                raise requests.exceptions.InvalidJSONError(problem, request=request) from None
            request.headers["Content-Type"] = "application/json"
        request.hooks = {"response": []}
        return self._in_process[1].send(request)

    def _failure_error(
        self,
        method: str,
        path: str,
        failure: requests.RequestException,
        error: type[ServerError],
    ) -> ServerError:
        """Our error for a request that got no usable answer, saying what to do next."""
        attempts = getattr(failure, "attempts", 1)
        repeat = getattr(failure, "repeat", routes.Repeat.READ)
        if repeat is routes.Repeat.ACTS_AGAIN and _failure_kind(failure) is not (
            routes.Failure.NEVER_SENT
        ):
            advice = (
                "It may have reached the server, so it was not sent again: check the "
                "orders and positions before repeating it."
            )
        else:
            advice = "Check that the server is reachable (trading_kit retried with backoff)."
        return error(
            self.settings.redact(
                f"{method} {path} failed after {attempts} attempt(s): "
                f"{_describe(failure, self.settings)}. {advice}"
            ),
            attempts=attempts,
        )


def _in_memory_reason(stack: HttpStack) -> str:
    if stack.transport is not None:
        return "(nothing cached: an exchange in this process)"
    return "(in memory: on-disk cache unusable)"


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment


def _describe(failure: requests.RequestException, settings: Settings) -> str:
    if isinstance(failure, DeadlineExceeded):
        return f"{failure} (Settings.deadline={settings.deadline:g}; raise it for slow answers)"
    if isinstance(failure, _BadAnswer):
        return f"the answer was not well formed: {failure}"
    if isinstance(failure, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(failure, requests.ConnectionError):
        return "the connection failed or was dropped"
    if isinstance(failure, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut short (fewer bytes than announced)"
    return type(failure).__name__


def server_message(response: requests.Response) -> tuple[int | None, str]:
    """Alpaca's ``(code, message)`` from an error body, or the body's first line."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip().splitlines()
        return None, text[0][:200] if text else response.reason or ""
    if isinstance(body, dict):
        code = body.get("code")
        return (code if isinstance(code, int) else None), str(body.get("message", body))[:500]
    return None, str(body)[:500]


def _http_error(
    method: str,
    path: str,
    response: requests.Response,
    error: type[ServerError],
    settings: Settings,
) -> ServerError:
    code, message = server_message(response)
    message = settings.redact(message)  # a server may echo the request's headers, keys included
    attempts = getattr(response, "attempts", 1)
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    if response.status_code == 429 and issubclass(error, MarketDataError):
        return RateLimitError(
            f"{method} {path} was rate limited (HTTP 429){tried}: {message}. "
            "Wait a minute, or lower requests_per_minute.",
            status=429,
            code=code,
            attempts=attempts,
        )
    text = f"{method} {path} failed with HTTP {response.status_code}{tried}: {message}"
    if response.status_code == 401:
        text += ". Check ALPACA_API_KEY and ALPACA_SECRET_KEY."
    return error(text, status=response.status_code, code=code, attempts=attempts)

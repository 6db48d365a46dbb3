"""What the client knows about each Alpaca route: what a repeat does, what a good answer is.

A pure table, apart from the HTTP that acts on it (as ``cache_policy`` is), so every
rule is tested without a server. The HTTP stack asks two questions of it:

* may this request be sent again after this failure?  A read, or a change whose repeat
  leaves the same state (cancelling an order), may be repeated after any transient
  failure. A change whose repeat would act a second time (a new order, a replacement,
  closing a position, which creates an order) is repeated only when it surely never
  reached the server: the connection was never made, or the server said 429 before
  doing anything. After any other failure the caller must read to find out.
* is this 2xx answer well formed?  Each route answers a JSON object, a JSON list, or
  (cancelling one order) nothing. Anything else, such as an HTML error page from a proxy,
  a truncated body or ``null``, is a failed attempt, retried like a 5xx and never cached.
"""

from __future__ import annotations

import re
from enum import Enum


class Repeat(str, Enum):
    """What sending a request a second time does."""

    READ = "read"  # changes nothing: repeat freely
    SAME_EFFECT = "same_effect"  # a repeat leaves the same state, though its answer may differ
    ACTS_AGAIN = "acts_again"  # a repeat would act a second time: only if it never arrived


class Failure(str, Enum):
    """How an attempt failed, as far as the client can tell."""

    NEVER_SENT = "never_sent"  # no connection was made: the server saw nothing
    THROTTLED = "throttled"  # 429: refused before anything was done
    SERVER_ERROR = "server_error"  # 5xx: the server (or a gateway) may have acted
    NO_ANSWER = "no_answer"  # dropped, timed out, truncated or unreadable answer


class Answer(str, Enum):
    """The shape of a well-formed 2xx body."""

    OBJECT = "object"
    LIST = "list"
    EMPTY_OR_JSON = "empty_or_json"  # 204 No Content, or any JSON


_SEGMENT = r"[^/]+"
#: (method, path pattern, what a repeat does, the answer's shape), first match wins.
ROUTES: tuple[tuple[str, str, Repeat, Answer], ...] = (
    ("GET", r"/v2/stocks/.+", Repeat.READ, Answer.OBJECT),
    ("GET", r"/v2/orders", Repeat.READ, Answer.LIST),
    ("GET", r"/v2/orders:by_client_order_id", Repeat.READ, Answer.OBJECT),
    ("GET", rf"/v2/orders/{_SEGMENT}", Repeat.READ, Answer.OBJECT),
    ("POST", r"/v2/orders", Repeat.ACTS_AGAIN, Answer.OBJECT),
    ("PATCH", rf"/v2/orders/{_SEGMENT}", Repeat.ACTS_AGAIN, Answer.OBJECT),
    ("DELETE", r"/v2/orders", Repeat.SAME_EFFECT, Answer.LIST),
    ("DELETE", rf"/v2/orders/{_SEGMENT}", Repeat.SAME_EFFECT, Answer.EMPTY_OR_JSON),
    ("GET", r"/v2/positions", Repeat.READ, Answer.LIST),
    ("GET", rf"/v2/positions/{_SEGMENT}", Repeat.READ, Answer.OBJECT),
    ("DELETE", r"/v2/positions", Repeat.ACTS_AGAIN, Answer.LIST),
    ("DELETE", rf"/v2/positions/{_SEGMENT}", Repeat.ACTS_AGAIN, Answer.OBJECT),
    ("GET", r"/v2/account", Repeat.READ, Answer.OBJECT),
    ("GET", r"/v2/account/activities(?:/[^/]+)?", Repeat.READ, Answer.LIST),
    ("GET", r"/v2/assets", Repeat.READ, Answer.LIST),
    ("GET", rf"/v2/assets/{_SEGMENT}", Repeat.READ, Answer.OBJECT),
    ("GET", r"/v2/clock", Repeat.READ, Answer.OBJECT),
    ("GET", r"/v2/calendar", Repeat.READ, Answer.LIST),
)
_COMPILED = tuple(
    (method, re.compile(rf"(?:/.*)?{pattern}"), repeat, answer)
    for method, pattern, repeat, answer in ROUTES
)
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def route(method: str, path: str) -> tuple[Repeat, Answer]:
    """What a repeat of ``method path`` does and what its answer looks like.

    A route not in the table is a read if its method is; any other method is assumed to
    act again (the safe guess), and any JSON or nothing is accepted as its answer.
    The pattern may follow a base path (``/proxy/v2/orders``), as a trading URL may.
    """
    method = method.upper()
    for known_method, pattern, repeat, answer in _COMPILED:
        if known_method == method and pattern.fullmatch(path):
            return repeat, answer
    default = Repeat.READ if method in _READ_METHODS else Repeat.ACTS_AGAIN
    return default, Answer.EMPTY_OR_JSON


def may_repeat(repeat: Repeat, failure: Failure) -> bool:
    """Whether an attempt that failed this way may be sent again without a read first."""
    if repeat is not Repeat.ACTS_AGAIN:
        return True
    return failure in (Failure.NEVER_SENT, Failure.THROTTLED)


def answer_problem(answer: Answer, body: object, empty: bool) -> str | None:
    """What is wrong with a decoded 2xx body (``None`` when it is well formed)."""
    if empty:
        return None if answer is Answer.EMPTY_OR_JSON else "an empty body"
    if answer is Answer.OBJECT and not isinstance(body, dict):
        return f"JSON {_kind(body)} where an object was expected"
    if answer is Answer.LIST and not isinstance(body, list):
        return f"JSON {_kind(body)} where a list was expected"
    return None


def _kind(body: object) -> str:
    if body is None:
        return "null"
    if isinstance(body, list):
        return "list" if body else "empty list []"
    return {dict: "object", str: "string", bool: "boolean"}.get(type(body), "number")

"""``GET``/``PATCH /v2/account/configurations``: the account's trading settings.

Alpaca's fields: ``trade_confirm_email`` (all, none), ``suspend_trade``, ``no_shorting``,
``fractional_trading``, ``max_margin_multiplier`` ("1", "2" or "4"),
``ptp_no_exception_entry`` and ``max_options_trading_level`` (0-3). ``dtbp_check`` and
``pdt_check`` were dropped from Alpaca's answers in 2026; a PATCH may still send them
(alpaca-py sends every field, null included) and they are checked and ignored.

A PATCH changes only the fields it names, is persisted before it is answered, and
survives a restart. ``no_shorting`` takes effect on the engine (a sell that would open a
short is refused, and ``/v2/account`` shows ``shorting_enabled``); the others are stored
and reported: the local exchange does not model trade suspension, margin multipliers
other than 2 or options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .account_store import AccountStore
from .core import Exchange
from .trading_api import in_thread, json, read_json
from .wire import bad_request


def _choice(*choices: Any) -> Callable[[Any], bool]:
    return lambda value: value in choices


_is_bool: Callable[[Any], bool] = lambda value: isinstance(value, bool)  # noqa: E731

#: field -> (is the value acceptable, what to say when not)
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "trade_confirm_email": (_choice("all", "none"), '"all" or "none"'),
    "suspend_trade": (_is_bool, "true or false"),
    "no_shorting": (_is_bool, "true or false"),
    "fractional_trading": (_is_bool, "true or false"),
    "max_margin_multiplier": (_choice("1", "2", "4", 1, 2, 4), '"1", "2" or "4"'),
    "ptp_no_exception_entry": (_is_bool, "true or false"),
    "max_options_trading_level": (_choice(None, 0, 1, 2, 3), "0, 1, 2 or 3"),
}
#: Accepted in a PATCH for compatibility, never answered (Alpaca removed them).
RETIRED = {
    "dtbp_check": ("both", "entry", "exit", None),
    "pdt_check": ("both", "entry", "exit", None),
}


def defaults(shorting_enabled: bool) -> dict[str, Any]:
    return {
        "trade_confirm_email": "all",
        "suspend_trade": False,
        "no_shorting": not shorting_enabled,
        "fractional_trading": True,
        "max_margin_multiplier": "2",
        "ptp_no_exception_entry": False,
        "max_options_trading_level": 0,
    }


def parse_patch(body: Any) -> dict[str, Any]:
    """The changes a PATCH body asks for; every bad field is a 422 naming field and value."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in RETIRED:
            if value not in RETIRED[name]:
                raise bad_request(f"invalid {name}: {value!r}")
            continue
        if name not in FIELDS:
            raise bad_request(f'unknown field "{name}"')
        accepts, expected = FIELDS[name]
        wrong_bool = isinstance(value, bool) and accepts is not _is_bool  # True == 1 in Python
        if wrong_bool or not accepts(value):
            raise bad_request(f"invalid {name}: {value!r} (use {expected})")
        changes[name] = str(value) if name == "max_margin_multiplier" else value
    return changes


def account_config_routes(exchange: Exchange, store: AccountStore) -> list[BaseRoute]:
    engine = exchange.engine

    def current() -> dict[str, Any]:
        return {**defaults(exchange.engine.shorting_enabled), **store.configurations()}

    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        store.save_configurations(changes)  # persisted first, then in effect
        if "no_shorting" in changes:
            engine.shorting_enabled = not changes["no_shorting"]
        return current()

    async def get_configurations(request: Request) -> Response:
        return json(current())

    async def patch_configurations(request: Request) -> Response:
        changes = parse_patch(await read_json(request))
        return json(await in_thread(exchange.run, apply, changes))

    return [
        Route("/v2/account/configurations", get_configurations, methods=["GET"]),
        Route("/v2/account/configurations", patch_configurations, methods=["PATCH"]),
    ]

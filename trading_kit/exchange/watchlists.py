"""``/v2/watchlists``: named, ordered lists of assets, as alpaca-py's seven watchlist calls use them.

``GET /v2/watchlists`` lists them (without assets), ``POST`` creates one (``name``, up to 64
characters and unique, and ``symbols``), ``GET``/``PUT``/``DELETE /v2/watchlists/{id}``
read, replace and delete one, ``POST /v2/watchlists/{id}`` appends ``{"symbol": ...}`` and
``DELETE /v2/watchlists/{id}/{symbol}`` removes one. Every symbol must be an asset of the
exchange (422 otherwise), as on Alpaca. Each change is persisted before it is answered.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import rfc3339
from .account_store import AccountStore
from .assets import asset_json
from .core import Exchange
from .trading_api import json, read_json
from .wire import bad_request, not_found, unprocessable

MAX_NAME = 64
MAX_SYMBOLS = 1000


def watchlist_routes(exchange: Exchange, store: AccountStore) -> list[BaseRoute]:
    market = exchange.market

    def symbol(value: Any) -> str:
        name = value.strip().upper() if isinstance(value, str) else None
        if not name or market.asset(name) is None:
            raise unprocessable(f"asset not found: {value!r}")
        return name

    def symbols(value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_SYMBOLS:
            raise bad_request(f"symbols must be a list of at most {MAX_SYMBOLS} symbols")
        return list(dict.fromkeys(symbol(item) for item in value))

    def name(value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise bad_request(f"name must be a non-empty string of at most {MAX_NAME} characters")
        return value

    def body_of(raw: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise bad_request("request body must be a JSON object")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise bad_request(f'unknown field "{unknown[0]}"')
        return raw

    def find(watchlist_id: str) -> dict[str, Any]:
        for watchlist in store.watchlists():
            if watchlist["id"] == watchlist_id:
                return watchlist
        raise not_found("watchlist not found")

    def render(watchlist: dict[str, Any], with_assets: bool = True) -> dict[str, Any]:
        out = {
            "id": watchlist["id"],
            "account_id": exchange.engine.account_id,
            "name": watchlist["name"],
            "created_at": watchlist["created_at"],
            "updated_at": watchlist["updated_at"],
        }
        if with_assets:
            out["assets"] = [asset_json(market.asset(s)) for s in watchlist["symbols"]]
        return out

    def save(watchlist: dict[str, Any]) -> Response:
        watchlist["updated_at"] = rfc3339(exchange.engine.now())
        try:
            store.save_watchlist(watchlist)
        except sqlite3.IntegrityError:
            raise unprocessable(f"watchlist name must be unique: {watchlist['name']!r}") from None
        return json(render(watchlist))

    async def list_watchlists(request: Request) -> Response:
        return json([render(w, with_assets=False) for w in store.watchlists()])

    async def create(request: Request) -> Response:
        body = body_of(await read_json(request), {"name", "symbols"})
        now = rfc3339(exchange.engine.now())
        watchlist = {
            "id": str(uuid.uuid4()),
            "name": name(body.get("name")),
            "created_at": now,
            "symbols": symbols(body.get("symbols")),
        }
        return save(watchlist)

    async def get_one(request: Request) -> Response:
        return json(render(find(request.path_params["watchlist_id"])))

    async def replace(request: Request) -> Response:
        watchlist = find(request.path_params["watchlist_id"])
        body = body_of(await read_json(request), {"name", "symbols"})
        if body.get("name") is None and body.get("symbols") is None:
            raise bad_request("one of name or symbols is required")
        if body.get("name") is not None:
            watchlist["name"] = name(body["name"])
        if body.get("symbols") is not None:
            watchlist["symbols"] = symbols(body["symbols"])
        return save(watchlist)

    async def add_asset(request: Request) -> Response:
        watchlist = find(request.path_params["watchlist_id"])
        added = symbol(body_of(await read_json(request), {"symbol"}).get("symbol"))
        if added in watchlist["symbols"]:
            raise unprocessable(f"{added} is already in the watchlist")
        if len(watchlist["symbols"]) >= MAX_SYMBOLS:
            raise unprocessable(f"a watchlist holds at most {MAX_SYMBOLS} symbols")
        watchlist["symbols"].append(added)
        return save(watchlist)

    async def delete(request: Request) -> Response:
        watchlist = find(request.path_params["watchlist_id"])
        store.delete_watchlist(watchlist["id"])
        return Response(status_code=204)

    async def remove_asset(request: Request) -> Response:
        watchlist = find(request.path_params["watchlist_id"])
        removed = request.path_params["symbol"].strip().upper()
        if removed not in watchlist["symbols"]:
            raise not_found(f"{removed} is not in the watchlist")
        watchlist["symbols"].remove(removed)
        return save(watchlist)

    one = "/v2/watchlists/{watchlist_id}"
    return [
        Route("/v2/watchlists", list_watchlists, methods=["GET"]),
        Route("/v2/watchlists", create, methods=["POST"]),
        Route(one, get_one, methods=["GET"]),
        Route(one, replace, methods=["PUT"]),
        Route(one, add_asset, methods=["POST"]),
        Route(one, delete, methods=["DELETE"]),
        Route(one + "/{symbol}", remove_asset, methods=["DELETE"]),
    ]

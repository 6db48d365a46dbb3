"""``GET /v2/assets`` and ``GET /v2/assets/{symbol_or_asset_id}``: the exchange's universe.

Thousands of assets are rendered once per market into Alpaca's JSON (and indexed by
symbol and by asset id), so a listing is a filter over ready rows. Filters follow
Alpaca: ``status`` (active, inactive), ``asset_class`` (us_equity), ``exchange`` (NYSE,
NASDAQ, ARCA, AMEX, BATS ...) and ``attributes`` (comma-separated; an asset matches when
it has any of them). An unknown symbol or id is 404, as on Alpaca.
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .trading_api import json, query_choice
from .wire import asset_json, not_found

ATTRIBUTES = frozenset(
    {
        "ptp_no_exception",
        "ptp_with_exception",
        "ipo",
        "has_options",
        "options_late_close",
        "fractional_eh_enabled",
        "overnight_tradable",
        "overnight_halted",
    }
)


class AssetIndex:
    """Every asset of a market as Alpaca JSON, by symbol and by id (built on first use)."""

    def __init__(self, market: Any) -> None:
        self.market = market

    @functools.cached_property
    def rows(self) -> list[dict[str, Any]]:
        assets = (self.market.asset(symbol) for symbol in self.market.symbols())
        return [asset_json(asset) for asset in assets if asset is not None]

    @functools.cached_property
    def by_key(self) -> dict[str, dict[str, Any]]:
        return {**{r["symbol"]: r for r in self.rows}, **{r["id"]: r for r in self.rows}}

    def find(self, key: str) -> dict[str, Any]:
        row = self.by_key.get(key) or self.by_key.get(key.upper())
        if row is None:
            raise not_found("asset not found")
        return row

    def select(
        self, status: str | None, asset_class: str | None, venue: str | None, attributes: set[str]
    ) -> list[dict[str, Any]]:
        if asset_class and asset_class != "us_equity":
            return []
        return [
            row
            for row in self.rows
            if (status is None or row["status"] == status)
            and (venue is None or row["exchange"] == venue)
            and (not attributes or attributes & set(row["attributes"]))
        ]


def asset_routes(market: Any) -> list[BaseRoute]:
    index = AssetIndex(market)

    async def get_assets(request: Request) -> Response:
        status = query_choice(request, "status", ("active", "inactive"), None)
        asset_class = query_choice(
            request, "asset_class", ("us_equity", "us_option", "crypto"), None
        )
        venue = request.query_params.get("exchange") or None
        attributes = {a.strip() for a in request.query_params.get("attributes", "").split(",")}
        return json(index.select(status, asset_class, venue and venue.upper(), attributes - {""}))

    async def get_asset(request: Request) -> Response:
        return json(index.find(request.path_params["symbol_or_asset_id"]))

    return [
        Route("/v2/assets", get_assets, methods=["GET"]),
        Route("/v2/assets/{symbol_or_asset_id}", get_asset, methods=["GET"]),
    ]

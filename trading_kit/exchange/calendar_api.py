"""``GET /v2/calendar``: NYSE session days, answered like Alpaca's (1970-2029 only).

The rows are built in the thread pool: the whole span is about 15,000 rows, and the
event loop must stay free for the order routes and ``/v2/clock`` meanwhile.
"""

from __future__ import annotations

import datetime as dt

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import NEW_YORK
from .core import Exchange
from .order_request import bad_request
from .trading_api import json


def _query_date(request: Request, name: str) -> dt.date | None:
    """A YYYY-MM-DD (or RFC 3339, whose date part counts) parameter; years 1-9999 parse."""
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise bad_request(f"invalid {name}: {value!r} (use YYYY-MM-DD)") from None


def calendar_routes(exchange: Exchange) -> list[BaseRoute]:
    async def get_calendar(request: Request) -> Response:
        today = exchange.engine.now().tz_convert(NEW_YORK).date()
        start = _query_date(request, "start") or today - dt.timedelta(days=365)
        end = _query_date(request, "end") or today + dt.timedelta(days=365)
        if end < start:
            raise bad_request("end must not be before start")
        rows = await run_in_threadpool(exchange.market.hours.calendar, start, end)
        return json(rows)

    return [Route("/v2/calendar", get_calendar, methods=["GET"])]

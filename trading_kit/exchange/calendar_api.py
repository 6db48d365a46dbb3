"""``GET /v2/calendar``: NYSE session days, answered like Alpaca's (1970-2029 only).

The rows are built in the thread pool: the whole span is about 15,000 rows, and the
event loop must stay free for the order routes and ``/v2/clock`` meanwhile.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..rules import NEW_YORK
from .core import Exchange
from .trading_api import in_thread, json, query_date
from .wire import bad_request


def calendar_routes(exchange: Exchange) -> list[BaseRoute]:
    async def get_calendar(request: Request) -> Response:
        today = exchange.engine.now().tz_convert(NEW_YORK).date()
        start = query_date(request, "start") or today - dt.timedelta(days=365)
        end = query_date(request, "end") or today + dt.timedelta(days=365)
        if end < start:
            raise bad_request("end must not be before start")
        rows = await in_thread(exchange.market.hours.calendar, start, end)
        return json(rows)

    return [Route("/v2/calendar", get_calendar, methods=["GET"])]

"""``Orders``: validated paper orders against Alpaca paper or the local exchange.

The path of one order::

    OrderSpec (pure validation)  ->  MarketContext (account, clock, asset, position,
    quote: only what the enabled checks need)  ->  pre-trade checks and risk rules
    ->  journal the intent (body, quote)  ->  idempotent POST /v2/orders
    ->  journal the order  ->  Order

Every request goes through the shared HTTP stack (rate limiter, retries), never
cached. The stack retries a POST only when it surely never arrived; when the answer
is lost instead (dropped connection, timeout, a 5xx from a gateway) the order may or
may not exist, so the executor asks the broker for the order's client order id
before sending it again, and a resend carries the same id, which the broker refuses
to use twice. A retried submission therefore never makes a second order. (This is
why the executor does not go through alpaca-py's ``TradingClient``: its own retry
loop re-sends ``POST /v2/orders`` after a 504.) The same client order id after a
kernel restart returns the order placed before it (see ``submit``).

Closing a position creates an order the client cannot name in advance, so a lost
answer there is settled by reading the symbol's orders, never by sending it again;
a lost cancel is settled by reading the order.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from ..config import LOOPBACK_HOSTS
from ..connection import http_stack
from ..data.client import MarketData
from ..errors import (
    AnalyticsError,
    JournalError,
    OrderExecutionError,
    OrderValidationError,
    TradingKitError,
)
from ..http import HttpStack
from ..rules import NEW_YORK, TICKER_HINT, on_tick, rfc3339, ticker, user_time
from . import frames
from .checks import (
    AUCTION_TIFS,
    IMMEDIATE_TIFS,
    MarketContext,
    PreTradeChecks,
    Quote,
    estimated_cost,
    estimated_qty,
    opens_short,
    run_checks,
)
from .frames import Account, Order
from .journal import Journal, SubmissionQuote
from .live import LiveAccount
from .newest import NewestOrders
from .risk import RiskLimits, RiskState, check_risk
from .spec import (
    MAX_CLIENT_ORDER_ID,
    TIME_IN_FORCE,
    OrderSpec,
    choice,
    decimal_text,
    to_decimal,
)

if TYPE_CHECKING:  # the analytics (plotly, empyrical) load only when a tear sheet is asked for
    from ..analytics import TearSheet

log = logging.getLogger("trading_kit")

#: Sends of one order at most: the first, and resends after the broker said it has none.
SUBMIT_ATTEMPTS = 3
#: Statuses that do not say whether the request was carried out: a gateway's answer, or
#: a 200 whose body could not be read.
AMBIGUOUS_STATUSES = frozenset({200, 500, 502, 503, 504})
#: An order in these states was canceled, or will be.
CANCELED_STATUSES = frozenset({"canceled", "pending_cancel"})
#: What must match for an existing order to be the same request as a new one.
COMPARED_FIELDS = (
    "symbol",
    "side",
    "type",
    "time_in_force",
    "order_class",
    "qty",
    "notional",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
)
ORDER_STATUSES = ("open", "closed", "all")
MAX_LIST = 500
#: Orders read before closing a position, to tell its order from older ones afterwards.
RECENT_ORDERS = 4
#: Portfolio history: a period is a count and a unit (days, weeks, months, years); each
#: timeframe gives the bars to price it with and the length of its window.
PORTFOLIO_PERIOD = re.compile(r"[1-9][0-9]*[DWMA]")
PORTFOLIO_TIMEFRAMES = {
    "1Min": ("1Min", pd.Timedelta(minutes=1)),
    "5Min": ("5Min", pd.Timedelta(minutes=5)),
    "15Min": ("15Min", pd.Timedelta(minutes=15)),
    "1H": ("1Hour", pd.Timedelta(hours=1)),
    "1D": ("1Day", pd.Timedelta(days=1)),
}
#: Bars fetched before the first equity window, so buy-and-hold has a price at its start
#: across a weekend or a holiday.
BAR_LEAD = 5
ACTIVITY_PAGE = 100


def _ambiguous(failure: OrderExecutionError) -> bool:
    return failure.status is None or failure.status in AMBIGUOUS_STATUSES


def _duplicate_client_id(failure: OrderExecutionError) -> bool:
    return (
        failure.status in (400, 422)
        and "client_order_id" in str(failure)
        and "unique" in str(failure)
    )


class Orders:
    """Place, replace and cancel paper orders; read orders, positions and the account.

    ``checks`` switches pre-trade checks (``True``, ``False`` or a
    :class:`PreTradeChecks`); ``risk`` sets optional :class:`RiskLimits` (or a dict of
    them). ``journal_path`` overrides where the order journal lives (default:
    ``order_journal.sqlite`` next to the HTTP cache, or ``TRADING_KIT_JOURNAL``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        trading_url: str | None = None,
        data_url: str | None = None,
        cache_path: str | Path | None = None,
        journal_path: str | Path | None = None,
        checks: PreTradeChecks | bool = True,
        risk: RiskLimits | Mapping[str, Any] | None = None,
        stack: HttpStack | None = None,
        **limits: float,
    ) -> None:
        self._stack = stack or http_stack(
            api_key,
            secret_key,
            trading_url=trading_url,
            data_url=data_url,
            cache_path=cache_path,
            **limits,
        )
        self._data = MarketData(stack=self._stack)
        self.checks = PreTradeChecks.coerce(checks)
        self.risk = _risk_limits(risk)
        settings = self._stack.settings
        host = urlsplit(settings.trading_url).hostname or "broker"
        venue = "local" if host in LOOPBACK_HOSTS else host
        self.journal = Journal(journal_path or settings.journal_path, venue)
        #: Where the latest quote comes from (the checks price orders with it, the journal
        #: keeps it): the data API, unless set (``replay()`` sets its market's).
        self.quote_source: Callable[[str], SubmissionQuote | None] | None = None
        self._live: LiveAccount | None = None
        self._assets: dict[str, tuple[dt.date, Any]] = {}  # symbol -> (day, asset) when live
        self._newest = NewestOrders()  # each symbol's newest orders, as answers showed them

    @property
    def live(self) -> LiveAccount:
        """The account as the trade-update stream keeps it (``kit.stream`` feeds it)."""
        if self._live is None:
            self._live = LiveAccount(self._call, self.journal)
        return self._live

    def __repr__(self) -> str:
        return (
            f"Orders(trading_url={self._stack.settings.trading_url!r}, "
            f"journal={str(self.journal.path)!r})"
        )

    # -- placing ----------------------------------------------------------------------
    def place_order(self, symbol: str | OrderSpec | None = None, **fields: Any) -> Order:
        """Validate, check and submit one order; returns the broker's ``Order``.

        ``place_order("AAPL", qty=10, side="buy", type="limit", limit_price=150)``, or
        ``place_order(spec)`` with an :class:`OrderSpec`. Nothing is sent unless every
        local rule passes (``OrderValidationError`` otherwise); a broker refusal is an
        ``OrderExecutionError`` carrying Alpaca's code and message.
        """
        if isinstance(symbol, OrderSpec):
            if fields:
                raise OrderValidationError(
                    f"pass either an OrderSpec or fields, not both (got {sorted(fields)}).",
                    field=sorted(fields)[0],
                )
            spec = symbol
        else:
            if symbol is not None:
                fields["symbol"] = symbol
            spec = OrderSpec.from_kwargs(**fields)
        return self.submit(spec)

    def place_bracket_order(
        self,
        symbol: str,
        *,
        qty: float | int | str,
        side: str,
        take_profit_limit_price: float | str,
        stop_loss_stop_price: float | str,
        stop_loss_limit_price: float | str | None = None,
        entry_limit_price: float | str | None = None,
        entry_stop_price: float | str | None = None,
        time_in_force: str = "day",
        client_order_id: str | None = None,
    ) -> Order:
        """An entry with a take-profit and a stop-loss exit (one cancels the other).

        The entry is a market order unless ``entry_limit_price`` and/or
        ``entry_stop_price`` make it a limit, stop or stop-limit order.
        """
        return self.place_order(
            symbol,
            order_class="bracket",
            **_entry(qty, side, entry_limit_price, entry_stop_price),
            take_profit_limit_price=take_profit_limit_price,
            stop_loss_stop_price=stop_loss_stop_price,
            stop_loss_limit_price=stop_loss_limit_price,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
        )

    def place_oco_order(
        self,
        symbol: str,
        *,
        qty: float | int | str,
        side: str,
        take_profit_limit_price: float | str,
        stop_loss_stop_price: float | str,
        stop_loss_limit_price: float | str | None = None,
        time_in_force: str = "day",
        client_order_id: str | None = None,
    ) -> Order:
        """Two exits for an existing position, one cancels the other (``side`` closes it)."""
        return self.place_order(
            symbol,
            qty=qty,
            side=side,
            type="limit",
            order_class="oco",
            take_profit_limit_price=take_profit_limit_price,
            stop_loss_stop_price=stop_loss_stop_price,
            stop_loss_limit_price=stop_loss_limit_price,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
        )

    def place_oto_order(
        self,
        symbol: str,
        *,
        qty: float | int | str,
        side: str,
        take_profit_limit_price: float | str | None = None,
        stop_loss_stop_price: float | str | None = None,
        stop_loss_limit_price: float | str | None = None,
        entry_limit_price: float | str | None = None,
        entry_stop_price: float | str | None = None,
        time_in_force: str = "day",
        client_order_id: str | None = None,
    ) -> Order:
        """An entry that, once filled, triggers one exit: a take profit or a stop loss."""
        return self.place_order(
            symbol,
            order_class="oto",
            **_entry(qty, side, entry_limit_price, entry_stop_price),
            take_profit_limit_price=take_profit_limit_price,
            stop_loss_stop_price=stop_loss_stop_price,
            stop_loss_limit_price=stop_loss_limit_price,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
        )

    def submit(self, spec: OrderSpec) -> Order:
        """Run the checks and risk rules for ``spec``, then submit it exactly once.

        The journal records the request before it is sent. Submitting again with a
        client order id the journal already holds (a cell re-run after a kernel was
        killed mid-order) first asks the broker: the order it finds is returned, not
        placed twice.
        """
        body = spec.to_alpaca_json()
        client_id = body["client_order_id"]
        try:
            intent = self.journal.intent(client_id)
        except JournalError as failure:
            raise _not_sent(client_id, failure) from None
        if intent is not None:
            existing = self._existing_order(body, quote=intent.quote)
            if existing is not None:
                return existing
        live = self._live if self._live is not None and self._live.trusted else None
        context, state, quote = self._live_context(spec, live) if live else self._context(spec)
        run_checks(spec, context, self.checks)
        if self.risk.any:
            check_risk(spec, self.risk, state)
        try:
            self.journal.intend(body, quote)
        except JournalError as failure:
            raise _not_sent(client_id, failure) from None
        if live is not None:
            live.placing(client_id)
        record = self._post_order(body)
        self._newest.saw([record])
        if live is None:
            self._journal_submitted(record, quote)
        else:  # the intent is on disk: the rest of the record can follow off the critical path
            live.placed(record, _holds(spec, context), _sells(spec, context))
            self.journal.write_later(self._journal_submitted, record, quote)
        return Order.from_json(record)

    def check(self, spec: OrderSpec | None = None, **fields: Any) -> OrderSpec:
        """Validate and run the pre-trade checks and risk rules without submitting."""
        spec = spec or OrderSpec.from_kwargs(**fields)
        context, state, _ = self._context(spec)
        run_checks(spec, context, self.checks)
        if self.risk.any:
            check_risk(spec, self.risk, state)
        return spec

    # -- changing ---------------------------------------------------------------------
    def replace_order(
        self,
        order_id: str,
        *,
        qty: float | int | str | None = None,
        limit_price: float | str | None = None,
        stop_price: float | str | None = None,
        trail: float | str | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order's qty, prices, trail or time in force; returns the new order.

        A replace is a new order in all but name, so the order as it would be after the
        replace passes the same ``OrderSpec`` rules, pre-trade checks and risk rules as
        :meth:`submit` before anything is sent, with the old order's hold on buying
        power and shares released (the broker releases it too). An order that is
        already final is left to the broker, which says why it cannot be replaced.
        """
        body: dict[str, Any] = {}
        for name, value in (
            ("qty", qty),
            ("limit_price", limit_price),
            ("stop_price", stop_price),
            ("trail", trail),
        ):
            number = to_decimal(value, name)
            if number is None:
                continue
            if number <= 0:
                raise OrderValidationError(f"{name}={value!r} must be greater than 0.", field=name)
            if name in ("limit_price", "stop_price") and not on_tick(number):
                raise OrderValidationError(
                    f"{name}={value!r} is not on the tick: whole cents at or above $1, "
                    "0.0001 below.",
                    field=name,
                )
            body[name] = decimal_text(number)
        if time_in_force is not None:
            body["time_in_force"] = choice(time_in_force, TIME_IN_FORCE, "time_in_force")
        if not body:
            raise OrderValidationError(
                "nothing to replace: give qty, limit_price, stop_price, trail or time_in_force.",
                field=None,
            )
        new_id = client_order_id or str(uuid.uuid4())
        if not isinstance(new_id, str) or len(new_id) > MAX_CLIENT_ORDER_ID:
            raise OrderValidationError(
                f"client_order_id must be a string of at most {MAX_CLIENT_ORDER_ID} characters.",
                field="client_order_id",
            )
        body["client_order_id"] = new_id
        path = f"/v2/orders/{_segment(order_id)}"
        current = self._call("GET", path, params={"nested": "true"})
        if current.get("status") not in frames.TERMINAL_STATUSES:
            self._check_replace(current, body)
        try:
            record = self._call("PATCH", path, json=body)
        except OrderExecutionError as failure:
            if not _ambiguous(failure):
                raise
            record = self._find_by_client_id(new_id)
            if record is None:
                raise
        self._newest.saw([record])
        old = self._call("GET", path, params={"nested": "true"})
        self.journal.observe([old], event="replaced")
        self.journal.submitted(record, self.journal.quote_of(order_id), event="replacement")
        return Order.from_json(record)

    def _check_replace(self, current: Mapping[str, Any], body: Mapping[str, Any]) -> None:
        """The checks and risk rules of a new order, for ``current`` as ``body`` changes it."""
        before, after = _spec_of(current), _spec_of(current, body)
        context, state, _ = self._context(after)
        context, state = _released(context, state, before, current.get("status"))
        run_checks(after, context, self.checks)
        if self.risk.any:
            check_risk(after, self.risk, state)

    def cancel_order(self, order_id: str) -> Order:
        """Cancel one open order; returns it as the broker now reports it.

        A cancel whose answer was lost is sent again (a repeat changes nothing). When
        the first one had arrived, the repeat is refused (422, "already canceled"), so
        after a lost answer the order is read: canceled is the success it looks like.
        """
        path = f"/v2/orders/{_segment(order_id)}"
        try:
            self._call("DELETE", path)
        except OrderExecutionError as failure:
            repeated = failure.status == 422 and failure.attempts > 1
            if not (_ambiguous(failure) or repeated):
                raise
            if self._call("GET", path).get("status") not in CANCELED_STATUSES:
                raise
        record = self._call("GET", path, params={"nested": "true"})
        self._observe([record], event="canceled")
        return Order.from_json(record)

    def cancel_all_orders(self) -> pd.DataFrame:
        """Cancel every open order: one row per order, ``http_status`` and ``status``."""
        results = self._call("DELETE", "/v2/orders") or []
        bodies = [
            r["body"] for r in results if isinstance(r.get("body"), dict) and "symbol" in r["body"]
        ]
        self._observe(bodies, event="canceled")
        return _results_frame(results, "id")

    def close_position(
        self,
        symbol: str,
        *,
        qty: float | int | str | None = None,
        percentage: float | int | str | None = None,
    ) -> Order:
        """Close a position with a market order: all of it, ``qty`` shares, or ``percentage``."""
        params: dict[str, str] = {}
        if qty is not None and percentage is not None:
            raise OrderValidationError(
                "give qty or percentage to close part of a position, not both.", field="qty"
            )
        amount = to_decimal(qty, "qty")
        if amount is not None:
            if amount <= 0:
                raise OrderValidationError(f"qty={qty!r} must be greater than 0.", field="qty")
            params["qty"] = decimal_text(amount)
        share = to_decimal(percentage, "percentage")
        if share is not None:
            if not 0 < share <= 100:
                raise OrderValidationError(
                    f"percentage={percentage!r} must be above 0 and at most 100.",
                    field="percentage",
                )
            params["percentage"] = decimal_text(share)
        symbol = _ticker(symbol)
        seen = self._order_ids(symbol)  # so that a lost answer can be told from no close
        quote = self._quote(symbol)
        try:
            record = self._call("DELETE", f"/v2/positions/{_segment(symbol)}", params=params)
        except OrderExecutionError as failure:
            if not _ambiguous(failure):
                raise
            record = self._new_order(symbol, seen, params.get("qty"))
            if record is None:
                raise OrderExecutionError(
                    f"Closing {symbol} got no clear answer ({failure}), and the broker shows "
                    f"no new order for {symbol}: nothing seems closed. It was not sent again, "
                    "since a close that is still on its way would then happen twice: check "
                    "orders.get_positions() and orders.get_orders('all') before closing again.",
                    status=failure.status,
                    attempts=failure.attempts,
                ) from None
            log.warning(
                "trading_kit: the close of %s had no clear answer; found its order.", symbol
            )
        self._newest.saw([record])
        self._journal_submitted(record, quote, event="close_position", intended=False)
        return Order.from_json(record)

    def close_all_positions(self, cancel_orders: bool = False) -> pd.DataFrame:
        """Close every position with market orders (cancelling open orders first if asked).

        One row per symbol: ``http_status``, and the closing order's ``order_id`` and
        ``status``, or the broker's ``message`` when it refused.
        """
        params = {"cancel_orders": "true" if cancel_orders else "false"}
        self._newest.forget()  # orders will appear in every symbol held
        results = self._call("DELETE", "/v2/positions", params=params) or []
        for result in results:
            body = result.get("body")
            if isinstance(body, dict) and "client_order_id" in body:
                self._journal_submitted(body, None, event="close_position", intended=False)
        return _results_frame(results, "symbol")

    # -- reading ----------------------------------------------------------------------
    def get_order(self, order_id: str) -> Order:
        record = self._call("GET", f"/v2/orders/{_segment(order_id)}", params={"nested": "true"})
        self._observe([record])
        return Order.from_json(record)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        record = self._call(
            "GET", "/v2/orders:by_client_order_id", params={"client_order_id": client_order_id}
        )
        self._observe([record])
        return Order.from_json(record)

    def get_orders(
        self,
        status: str = "open",
        *,
        symbols: str | Iterable[str] | None = None,
        limit: int = MAX_LIST,
        after: Any = None,
        until: Any = None,
        direction: str = "desc",
    ) -> pd.DataFrame:
        """Orders as a DataFrame (``frames.ORDER_COLUMNS``, index ``id``; legs are rows too).

        ``status`` is ``open``, ``closed`` or ``all``; ``limit`` counts top-level orders.
        """
        status = choice(status, ORDER_STATUSES, "status")
        direction = choice(direction, ("asc", "desc"), "direction")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise OrderValidationError(
                f"limit={limit!r} must be a whole number from 1 to 500.", field="limit"
            )
        params: dict[str, Any] = {
            "status": status,
            "limit": limit,
            "direction": direction,
            "nested": "true",
            "after": _rfc3339(after, "after"),
            "until": _rfc3339(until, "until"),
        }
        if symbols is not None:
            names = symbols.split(",") if isinstance(symbols, str) else list(symbols)
            params["symbols"] = ",".join(_ticker(s) for s in names)
        query = {k: v for k, v in params.items() if v is not None}
        records = self._call("GET", "/v2/orders", params=query)
        if status == "open":
            # Legs still open under a parent that has filled are not listed under an open
            # parent; the flat listing has them as orders of their own.
            records = records + self._call("GET", "/v2/orders", params={**query, "nested": "false"})
        self._observe(records)
        frame = frames.orders_frame(records)
        if status != "all":  # nested legs keep their own status: show only what was asked
            closed = frame["status"].isin(frames.TERMINAL_STATUSES)
            frame = frame[closed if status == "closed" else ~closed]
        return frame

    def get_positions(self) -> pd.DataFrame:
        """Open positions indexed by ``symbol`` (``frames.POSITION_COLUMNS``)."""
        return frames.positions_frame(self._call("GET", "/v2/positions"))

    def get_account(self) -> Account:
        """Equity, cash, buying power and today's P&L (``.series`` for a pandas view)."""
        return Account.from_json(self._call("GET", "/v2/account"))

    def get_activities(self, activity_types: str = "FILL", *, page_size: int = 100) -> pd.DataFrame:
        """Account activities (fills by default), oldest first."""
        params = {"activity_types": activity_types, "page_size": page_size, "direction": "desc"}
        newest_first = self._call("GET", "/v2/account/activities", params=params)
        # reversed, fills at the same instant keep their execution order (FIFO needs it)
        return frames.activities_frame(newest_first[::-1])

    def history(self, *, refresh: bool = True, all_venues: bool = False) -> pd.DataFrame:
        """Every order this journal has seen on this venue, oldest first, with slippage.

        ``refresh`` first asks the broker for the latest state of journaled orders that
        were still open (fills, cancels); when the broker cannot be reached the journal
        is shown as it stands. Columns: the orders frame, then ``venue parent_id
        quote_bid quote_ask quote_time arrival_price slippage slippage_bps
        last_event``; ``slippage`` is dollars per share against the mid quote at
        submission, positive when the fill was worse for the trader.
        """
        if refresh:  # (with the trade-update stream the journal is current already, but an
            self.refresh_journal()  # update may still be in flight: the broker's word wins)
        return self.journal.history(all_venues=all_venues)

    def refresh_journal(self) -> None:
        """Fetch the broker's state of every journaled order that was still open.

        Requests the journal recorded but never saw answered (the kernel stopped in
        between) are looked up by client order id first: found, they join the journal.
        The orders since the oldest open one are read a page (500) at a time, each page
        starting at the newest submission time of the one before.
        """
        try:
            self._settle_pending()
        except TradingKitError as failure:
            log.warning("trading_kit: journal not refreshed (%s); showing it as recorded.", failure)
            return
        since = self.journal.open_since()
        if since is None:
            return
        after = since - pd.Timedelta(seconds=1)
        seen: set[str] = set()
        while True:
            try:
                records = self._call(
                    "GET",
                    "/v2/orders",
                    params={
                        "status": "all",
                        "limit": MAX_LIST,
                        "nested": "true",
                        "direction": "asc",
                        "after": rfc3339(after),
                    },
                )
            except TradingKitError as failure:
                log.warning(
                    "trading_kit: journal not refreshed (%s); showing it as recorded.", failure
                )
                return
            self._observe(records)
            fresh = [r for r in records if r.get("id") not in seen]
            seen.update(r.get("id") for r in records)
            newest = frames.timestamp(records[-1].get("submitted_at")) if records else None
            if len(records) < MAX_LIST or not fresh or newest is None:
                return
            after = newest - pd.Timedelta(1, "us")  # orders at that instant are read again

    def _settle_pending(self) -> None:
        for intent in self.journal.pending():
            record = self._find_by_client_id(intent.client_order_id)
            if record is None:
                self.journal.not_placed(intent.client_order_id)
            else:
                self.journal.submitted(record, intent.quote)

    # -- plumbing ---------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self._stack.settings.trading_url + path

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        response = self._stack.request(
            method,
            self._url(path),
            params=params,
            json=json,
            use_cache=False,
            error=OrderExecutionError,
        )
        return self._stack.json(response, OrderExecutionError)

    def _post_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST the order; after a lost answer, find it by client order id before resending."""
        client_id = body["client_order_id"]
        lost: OrderExecutionError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                return self._call("POST", "/v2/orders", json=body)
            except OrderExecutionError as failure:
                if _duplicate_client_id(failure):
                    # An earlier send arrived: this one's, or a run killed before its answer.
                    found = self._existing_order(body, record=True)
                    if found is not None:
                        return found
                if not _ambiguous(failure):
                    raise
                lost = failure
            log.warning(
                "trading_kit: no clear answer to order %s (attempt %d); looking it up before "
                "sending again.",
                client_id,
                attempt,
            )
            found = self._find_by_client_id(client_id)
            if found is not None:
                return found
        raise OrderExecutionError(
            f"The order with client_order_id {client_id} got no clear answer after "
            f"{SUBMIT_ATTEMPTS} attempts, and the broker has no order with that id: nothing "
            f"was placed. Last failure: {lost}",
            status=lost.status if lost else None,
        )

    def _existing_order(
        self,
        body: Mapping[str, Any],
        *,
        quote: SubmissionQuote | None = None,
        record: bool = False,
    ) -> Any:
        """The broker's order with ``body``'s client order id, if it is this same request.

        Returned as an ``Order`` (journaled with ``quote``), or as the raw record when ``record``;
        ``None`` when the broker has none. An order that differs is an error: the client
        order id was reused for another order.
        """
        client_id = body["client_order_id"]
        found = self._find_by_client_id(client_id)
        if found is None:
            return None
        self._newest.saw([found])
        differences = _differences(body, found)
        if differences:
            raise OrderExecutionError(
                f"client_order_id {client_id!r} is already used by order {found.get('id')} "
                f"({found.get('side')} {found.get('qty') or found.get('notional')} "
                f"{found.get('symbol')}), which differs in {', '.join(differences)}: give "
                "this order a new client_order_id.",
                status=422,
            )
        if record:
            return found
        log.warning(
            "trading_kit: order %s was already placed (before a restart?); returning it.",
            client_id,
        )
        self._journal_submitted(found, quote)
        return Order.from_json(found)

    def _journal_submitted(
        self,
        record: Mapping[str, Any],
        quote: SubmissionQuote | None,
        event: str = "submitted",
        *,
        intended: bool = True,
    ) -> None:
        """Record an order the broker has; a journal failure is logged, never hides it.

        ``intended``: the journal holds the request's intent, so it can catch up later.
        """
        try:
            self.journal.submitted(record, quote, event=event)
        except JournalError as failure:
            later = (
                " The journal still has its intent; history() completes it once the journal "
                "is writable again."
                if intended
                else ""
            )
            log.warning(
                "trading_kit: order %s (%s) was placed, but %s%s",
                record.get("id"),
                record.get("client_order_id"),
                failure,
                later,
            )

    def _observe(self, records: Iterable[Mapping[str, Any]], event: str | None = None) -> None:
        """Bring journaled orders up to date; a journal failure never fails a read."""
        try:
            self.journal.observe(records, event=event)
        except JournalError as failure:
            log.warning("trading_kit: %s", failure)

    def _order_ids(self, symbol: str) -> tuple[set[str], str | None]:
        """The newest orders in ``symbol``: every one submitted at the newest time, and a
        time just before it (to spot a new order after a lost answer: one submitted
        since that is not among them). What this client's answers showed a moment ago
        when they did (``newest.NewestOrders``); else a few orders are read, not the
        account's history, and more only when more than ``RECENT_ORDERS`` share the
        newest time."""
        fresh = self._newest.recent(symbol)
        if fresh is not None:
            return fresh
        recent = self._recent_orders(symbol, limit=RECENT_ORDERS)
        stamps = [frames.timestamp(r.get("submitted_at")) for r in recent]
        if not recent or None in stamps:
            return {r["id"] for r in self._recent_orders(symbol)}, None
        since = rfc3339(stamps[0] - pd.Timedelta(1, "us"))
        if len(recent) == RECENT_ORDERS and stamps[-1] == stamps[0]:
            recent = self._recent_orders(symbol, after=since)
        self._newest.read(symbol, recent)
        return {r["id"] for r in recent}, since

    def _new_order(
        self, symbol: str, seen: tuple[set[str], str | None], qty: str | None
    ) -> dict[str, Any] | None:
        """The newest order in ``symbol`` submitted since ``seen`` that it does not hold
        and that is shaped like a close: a market order, for ``qty`` when one was asked
        (so another client's order placed meanwhile is not taken for it)."""
        ids, since = seen
        try:
            records = self._recent_orders(symbol, after=since)
        except OrderExecutionError:
            return None
        return next(
            (
                r
                for r in records
                if r["id"] not in ids
                and r.get("type") == "market"
                and (qty is None or _same_qty(r.get("qty"), qty))
            ),
            None,
        )

    def _recent_orders(
        self, symbol: str, *, limit: int = MAX_LIST, after: str | None = None
    ) -> list[dict[str, Any]]:
        params = {
            "status": "all",
            "symbols": symbol,
            "limit": limit,
            "direction": "desc",
            "nested": "false",
        }
        if after is not None:
            params["after"] = after
        return self._call("GET", "/v2/orders", params=params)

    def _find_by_client_id(self, client_id: str) -> dict[str, Any] | None:
        """The order with this client order id, or ``None`` when the broker has none."""
        try:
            return self._call(
                "GET", "/v2/orders:by_client_order_id", params={"client_order_id": client_id}
            )
        except OrderExecutionError as failure:
            if failure.status == 404:
                return None
            raise OrderExecutionError(
                f"Could not tell whether order {client_id} was placed: looking it up failed "
                f"({failure}). Check with orders.get_order_by_client_id({client_id!r}) "
                "before placing it again.",
                status=failure.status,
                code=failure.code,
            ) from None

    def _quote(self, symbol: str, *, cached: bool = False) -> SubmissionQuote | None:
        """The latest quote, or ``None`` if none can be had.

        From ``quote_source`` first when it has one (a replay's market, the quote stream
        ``kit.stream`` keeps): the same quote, no request. Else the data API (its 1 s
        cache if ``cached``), read from the answer itself rather than a one-row frame: a
        frame costs more than the request when the exchange runs in this process.
        """
        if self.quote_source is not None:
            quote = self.quote_source(symbol)
            if quote is not None:
                return quote
        try:
            payload, _ = self._data._latest("quotes/latest", [symbol], None, use_cache=cached)
        except TradingKitError as failure:
            log.info("trading_kit: no quote for %s (%s)", symbol, failure)
            return None
        record = (payload.get("quotes") or {}).get(symbol)
        try:
            return SubmissionQuote(
                float(record["bp"]), float(record["ap"]), frames.timestamp(record.get("t"))
            )
        except (KeyError, TypeError, ValueError):
            log.info("trading_kit: no usable quote for %s in %r", symbol, record)
            return None

    def _live_context(
        self, spec: OrderSpec, live: LiveAccount
    ) -> tuple[MarketContext, RiskState, SubmissionQuote | None]:
        """What the checks read, from the live account: no request in the steady state.

        The quote comes from the quote stream when one is open for the symbol, else from
        the 1 s cache; the asset is cached for the day; the clock is asked only for the
        orders the market-hours check concerns, as on the REST path.
        """
        checks = self.checks
        numbers = live.numbers(spec.symbol)
        quote = self._quote(spec.symbol, cached=True)
        values: dict[str, Any] = {
            "buying_power": numbers["buying_power"],
            "shorting_enabled": numbers["shorting_enabled"],
            "position_qty": numbers["position_qty"],
            "qty_available": numbers["qty_available"],
        }
        if quote is not None:
            values["quote"] = Quote(Decimal(str(quote.bid)), Decimal(str(quote.ask)))
        if checks.asset:
            values["asset"] = self._asset_for_today(spec.symbol)
        values.update(self._clock_values(spec))
        context = MarketContext(**values)
        state = RiskState(
            market=context,
            open_orders=numbers["open_orders"],
            equity=numbers["equity"],
            last_equity=numbers["last_equity"],
        )
        return context, state, quote

    def _clock_values(self, spec: OrderSpec) -> dict[str, Any]:
        """The market-hours check's inputs, read only for orders it concerns (ioc, fok, and
        the auctions): one clock request, and today's session for an auction order."""
        if not (self.checks.market_hours and spec.time_in_force in IMMEDIATE_TIFS | AUCTION_TIFS):
            return {}
        clock = self._call("GET", "/v2/clock")
        values = {"is_open": bool(clock.get("is_open")), "next_open": clock.get("next_open")}
        if spec.time_in_force in AUCTION_TIFS:
            values.update(self._session_today(clock))
        return values

    def _asset_for_today(self, symbol: str) -> Any:
        today = dt.datetime.now(dt.timezone.utc).date()
        cached = self._assets.get(symbol)
        if cached is None or cached[0] != today:
            cached = self._assets[symbol] = (
                today,
                self._get_or_none(f"/v2/assets/{_segment(symbol)}"),
            )
        return cached[1]

    def _context(self, spec: OrderSpec) -> tuple[MarketContext, RiskState, SubmissionQuote | None]:
        """Fetch what the enabled checks and rules read, and nothing more."""
        checks, risk = self.checks, self.risk
        values: dict[str, Any] = {}
        quote = self._quote(spec.symbol, cached=True)
        if quote is not None:
            values["quote"] = Quote(Decimal(str(quote.bid)), Decimal(str(quote.ask)))
        if checks.asset:
            values["asset"] = self._asset_for_today(spec.symbol)
        values.update(self._clock_values(spec))
        account = None
        if checks.buying_power or checks.position or checks.asset or risk.max_daily_loss:
            account = self._call("GET", "/v2/account")
            values["buying_power"] = Decimal(str(account.get("buying_power") or 0))
            values["shorting_enabled"] = bool(account.get("shorting_enabled", True))
        if checks.any or risk.any:
            position = self._get_or_none(f"/v2/positions/{_segment(spec.symbol)}")
            if position is not None:
                values["position_qty"] = Decimal(str(position.get("qty") or 0))
                values["qty_available"] = Decimal(
                    str(position.get("qty_available") or position.get("qty") or 0)
                )
        context = MarketContext(**values)
        open_orders = 0
        if risk.max_open_orders is not None:
            records = self._call(
                "GET", "/v2/orders", params={"status": "open", "limit": MAX_LIST, "nested": "true"}
            )
            open_orders = len(records)
        state = RiskState(
            market=context,
            open_orders=open_orders,
            equity=_decimal_or_none(account, "equity"),
            last_equity=_decimal_or_none(account, "last_equity"),
        )
        return context, state, quote

    def _session_today(self, clock: dict[str, Any]) -> dict[str, Any]:
        """The broker's "now" and today's session (open, close), New York time."""
        now = pd.Timestamp(clock["timestamp"]).tz_convert(NEW_YORK)
        day = now.date().isoformat()
        rows = self._call("GET", "/v2/calendar", params={"start": day, "end": day})
        row = next((r for r in rows or [] if r.get("date") == day), None)
        if row is None:
            return {"now": now.to_pydatetime()}
        at = {
            name: pd.Timestamp(f"{day} {row[name]}").tz_localize(NEW_YORK).to_pydatetime()
            for name in ("open", "close")
        }
        return {"now": now.to_pydatetime(), "session": (at["open"], at["close"])}

    def _get_or_none(self, path: str) -> Any:
        try:
            return self._call("GET", path)
        except OrderExecutionError as failure:
            if failure.status == 404:
                return None
            raise

    # -- analytics (a tear sheet of this account) --------------------------------------
    def get_portfolio_history(
        self,
        period: str | None = None,
        timeframe: str | None = None,
        *,
        start: Any = None,
        end: Any = None,
        extended_hours: bool | None = None,
    ) -> pd.DataFrame:
        """The account's equity over time (``GET /v2/account/portfolio/history``).

        ``period`` is a number and a unit (``D`` days, ``W`` weeks, ``M`` months, ``A``
        years: ``"1M"``), ``timeframe`` one of ``PORTFOLIO_TIMEFRAMES``; left out, the
        broker picks. Columns as alpaca-py's ``PortfolioHistory``: ``equity profit_loss
        profit_loss_pct``, indexed by ``timestamp`` (UTC), which labels each window by
        its start, as Alpaca does (the equity is the value at the window's end);
        ``attrs`` holds ``base_value`` and ``timeframe``.
        """
        if period is not None and not (
            isinstance(period, str) and PORTFOLIO_PERIOD.fullmatch(period.strip())
        ):
            raise OrderValidationError(
                f"period={period!r} must be a number and a unit: D (days), W (weeks), "
                "M (months) or A (years), e.g. '1M' or '1A'.",
                field="period",
            )
        if timeframe is not None:
            names = {name.lower(): name for name in PORTFOLIO_TIMEFRAMES}
            text = str(timeframe).strip().lower()
            if text not in names:
                raise OrderValidationError(
                    f"timeframe={timeframe!r} is not a portfolio history timeframe; use one "
                    f"of {', '.join(PORTFOLIO_TIMEFRAMES)}.",
                    field="timeframe",
                )
            timeframe = names[text]
        if extended_hours is not None and not isinstance(extended_hours, bool):
            raise OrderValidationError(
                f"extended_hours={extended_hours!r} must be True or False.",
                field="extended_hours",
            )
        params = {
            "period": period.strip() if period else None,
            "timeframe": timeframe,
            "start": _rfc3339(start, "start"),
            "end": _rfc3339(end, "end"),
            "extended_hours": None if extended_hours is None else str(extended_hours).lower(),
        }
        query = {k: v for k, v in params.items() if v is not None}
        return _portfolio_history_frame(
            self._call("GET", "/v2/account/portfolio/history", params=query)
        )

    def tearsheet(
        self,
        period: str | None = "1M",
        timeframe: str | None = "1D",
        *,
        start: Any = None,
        end: Any = None,
        extended_hours: bool | None = None,
        benchmark: bool | str | Iterable[str] = True,
        market: str | None = None,
        periods_per_year: float | None = None,
    ) -> TearSheet:
        """A :class:`~trading_kit.analytics.TearSheet` of this paper account.

        The equity comes from :meth:`get_portfolio_history` (``period``, ``timeframe``,
        ``start``, ``end``, ``extended_hours`` as there), each value placed at the end
        of its window; the fills are every fill of the account up to the last one (a
        round trip closed in the period may have opened before it); prices are bars
        of the symbols traded in the period; execution quality is from the journal's
        orders submitted in the period. ``benchmark``: ``True`` for buy-and-hold of
        the traded symbols, a symbol or symbols (``"SPY"``) for buy-and-hold of those,
        ``False`` for none. ``market`` and ``periods_per_year`` as in
        :func:`trading_kit.analytics.tearsheet`.
        """
        from ..analytics import buy_and_hold, tearsheet  # plotly, empyrical: only when asked

        named = _benchmark_symbols(benchmark)
        history = self.get_portfolio_history(
            period, timeframe, start=start, end=end, extended_hours=extended_hours
        )
        equity, window = _window_ends(history)
        if len(equity) < 2:
            raise AnalyticsError(
                f"the portfolio history has {len(equity)} funded equity value(s) for "
                f"period={period!r}, timeframe={timeframe!r}; a tear sheet needs two. "
                "Choose a longer period or a finer timeframe.",
                argument="period",
            )
        first, last = equity.index[0], equity.index[-1]
        opened = first - window  # the first window's start: its fills are in the period
        fills = self._fills_until(last)
        in_period = fills["transaction_time"].between(opened, last)
        traded = sorted(set(fills.loc[in_period, "symbol"]))
        bar_timeframe = PORTFOLIO_TIMEFRAMES[str(history.attrs["timeframe"])][0]
        since = first - BAR_LEAD * window
        reference: pd.Series | bool | None = None if named is None else False
        bars = self._bars_or_none(named or [], bar_timeframe, since, last)
        if bars is not None:
            reference = buy_and_hold(bars, equity.index, float(equity.iloc[0])).rename(
                "buy_and_hold_" + "_".join(named or [])
            )
        journal = self.history()
        journal = journal[journal["submitted_at"].between(opened, last)]
        return tearsheet(
            equity,
            fills=fills,
            prices=self._bars_or_none(traded, bar_timeframe, since, last),
            benchmark=reference,
            journal=journal,
            market=market,
            periods_per_year=periods_per_year,
        )

    def _fills_until(self, until: pd.Timestamp) -> pd.DataFrame:
        """Every fill of the account up to ``until``, oldest first, every page followed.

        Alpaca pages activities by ``page_token`` (the last id seen). A broker that
        ignores it answers the same page again: then the fills stop there, with a
        warning that says so, rather than a loop.
        """
        records: dict[str, Any] = {}
        token = None
        while True:
            params = {
                "activity_types": "FILL",
                "direction": "asc",
                "page_size": ACTIVITY_PAGE,
                "until": rfc3339(until),
                "page_token": token,
            }
            page = (
                self._call(
                    "GET",
                    "/v2/account/activities",
                    params={k: v for k, v in params.items() if v is not None},
                )
                or []
            )
            fresh = [r for r in page if r.get("id") not in records]
            records.update((r.get("id"), r) for r in fresh)
            if len(page) < ACTIVITY_PAGE:
                break
            if not fresh:
                warnings.warn(
                    f"the broker answered the same page of fills again (it ignores "
                    f"page_token): the tear sheet has the first {len(records)} fills only.",
                    stacklevel=3,
                )
                break
            token = page[-1]["id"]
        fills = frames.activities_frame(list(records.values()))
        return fills[fills["transaction_time"] <= until]

    def _bars_or_none(
        self, symbols: list[str], timeframe: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame | None:
        """Bars for the tear sheet's prices, or ``None`` (with a warning) when there are none."""
        if not symbols:
            return None
        try:
            bars = self._data.get_bars(symbols, timeframe, start, end, progress=False)
        except TradingKitError as failure:
            warnings.warn(
                f"no bars for {', '.join(symbols)} ({failure}): the tear sheet goes on "
                "without their prices (no trades chart, no buy-and-hold).",
                stacklevel=3,
            )
            return None
        return bars if len(bars) else None


def _holds(spec: OrderSpec, context: MarketContext) -> Decimal | None:
    """The buying power an order takes: a buy's, or a sale that opens a short."""
    if spec.side == "buy" or opens_short(spec, context):
        return estimated_cost(spec, context)
    return None


def _sells(spec: OrderSpec, context: MarketContext) -> Decimal:
    """Shares of a long position an order holds for itself."""
    if spec.side == "sell" and context.position_qty > 0:
        return estimated_qty(spec, context) or Decimal(0)
    return Decimal(0)


def _risk_limits(risk: RiskLimits | Mapping[str, Any] | None) -> RiskLimits:
    """``risk=`` as given to ``Orders``/``connect``: limits, a dict of them, or ``None``."""
    if risk is None or isinstance(risk, RiskLimits):
        return risk or RiskLimits()
    names = [f.name for f in dataclasses.fields(RiskLimits)]
    if not isinstance(risk, Mapping):
        raise OrderValidationError(
            f"risk={risk!r} is not a RiskLimits or a dict of limits ({', '.join(names)}).",
            field="risk",
        )
    unknown = sorted(str(k) for k in risk if k not in names)
    if unknown:
        raise OrderValidationError(
            f"risk={dict(risk)!r} has unknown limit(s) {', '.join(unknown)}; "
            f"the limits are {', '.join(names)}.",
            field="risk",
        )
    return RiskLimits(**risk)


def _not_sent(client_id: str, failure: JournalError) -> JournalError:
    return JournalError(f"Order {client_id} was not sent: {failure} Nothing was placed.")


def _differences(body: Mapping[str, Any], record: Mapping[str, Any]) -> list[str]:
    """Fields of an order request that the broker's order with its client id does not match.

    Only what the request says is compared: the broker adds what it works out itself
    (a trailing stop's stop price, a notional order's quantity once filled).
    """
    differences = []
    for name in COMPARED_FIELDS:
        asked, has = body.get(name), record.get(name)
        if name == "order_class":
            asked, has = asked or "simple", has or "simple"
        if asked is None:
            continue
        try:
            same = has is not None and Decimal(asked) == Decimal(has)
        except (ArithmeticError, TypeError, ValueError):
            same = str(asked).lower() == str(has).lower()
        if not same:
            differences.append(f"{name} ({asked} here, {has} at the broker)")
    return differences


def _spec_of(record: Mapping[str, Any], changes: Mapping[str, Any] | None = None) -> OrderSpec:
    """The broker's order as an ``OrderSpec`` (what is left of it), with a replace's changes.

    Judged as a simple order: a replace changes this one order, not its bracket; the
    broker keeps the quantity not yet filled unless ``qty`` is given, as Alpaca does.
    """
    changes = changes or {}
    trail = "trail_percent" if record.get("trail_percent") not in (None, "") else "trail_price"
    qty = record.get("qty")
    if qty not in (None, ""):
        qty = Decimal(str(qty)) - Decimal(str(record.get("filled_qty") or 0))
    fields = {
        "symbol": record.get("symbol"),
        "side": record.get("side"),
        "type": record.get("type"),
        "time_in_force": changes.get("time_in_force", record.get("time_in_force")),
        "extended_hours": bool(record.get("extended_hours")),
        "qty": changes.get("qty", qty),
        "notional": None if qty not in (None, "") else record.get("notional"),
        "limit_price": changes.get("limit_price", record.get("limit_price")),
        # A trailing stop's stop_price is where the trail stands now, not a field to send.
        "stop_price": None
        if record.get("type") == "trailing_stop"
        else changes.get("stop_price", record.get("stop_price")),
        trail: changes.get("trail", record.get(trail)),
        "client_order_id": changes.get("client_order_id", record.get("client_order_id")),
    }
    return OrderSpec.from_dict({k: v for k, v in fields.items() if v not in (None, "")})


def _released(
    context: MarketContext, state: RiskState, old: OrderSpec, status: str | None
) -> tuple[MarketContext, RiskState]:
    """``context`` and ``state`` without the old order: its hold is released by the replace."""
    changes: dict[str, Any] = {}
    if status != "held":  # a bracket's waiting exits hold nothing yet
        if old.side == "buy" and context.buying_power is not None:
            cost = estimated_cost(old, context)
            changes["buying_power"] = context.buying_power + (cost or Decimal(0))
        if old.side == "sell" and old.qty is not None:
            changes["qty_available"] = context.qty_available + old.qty
    context = dataclasses.replace(context, **changes)
    open_orders = max(state.open_orders - 1, 0)  # the old order leaves as the new one comes
    return context, dataclasses.replace(state, market=context, open_orders=open_orders)


def _entry(qty: Any, side: str, limit_price: Any, stop_price: Any) -> dict[str, Any]:
    """Entry fields of a bracket or oto order from its optional limit and stop prices."""
    if limit_price is not None and stop_price is not None:
        order_type = "stop_limit"
    elif limit_price is not None:
        order_type = "limit"
    elif stop_price is not None:
        order_type = "stop"
    else:
        order_type = "market"
    return {
        "qty": qty,
        "side": side,
        "type": order_type,
        "limit_price": limit_price,
        "stop_price": stop_price,
    }


def _results_frame(results: list[dict[str, Any]], key: str) -> pd.DataFrame:
    """A 207 multi-status answer as rows: ``http_status order_id status message``."""
    rows = []
    for result in results:
        body = result.get("body") if isinstance(result.get("body"), dict) else {}
        ok = "symbol" in body and "client_order_id" in body
        rows.append(
            (
                result.get(key),
                int(result.get("status") or 0),
                body.get("id") if ok else None,
                body.get("status") if ok else None,
                None if ok else body.get("message"),
            )
        )
    columns = list(zip(*rows, strict=True)) if rows else [[]] * 5
    return pd.DataFrame(
        {
            "http_status": np.array(columns[1], dtype="int64"),
            "order_id": frames.text(list(columns[2])),
            "status": frames.text(list(columns[3])),
            "message": frames.text(list(columns[4])),
        },
        index=pd.Index(list(columns[0]), name=key, dtype="str"),
    )


def _segment(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OrderValidationError(f"expected an order id or symbol, got {value!r}.", field="id")
    return urlquote(value.strip(), safe="")


def _ticker(value: Any) -> str:
    name = ticker(value)
    if name is None:
        raise OrderValidationError(
            f"symbol={value!r} is not a ticker: {TICKER_HINT}.", field="symbol"
        )
    return name


def _rfc3339(value: Any, name: str) -> str | None:
    if value is None:
        return None
    try:
        return rfc3339(user_time(value))
    except ValueError as why:
        raise OrderValidationError(f"{name}={value!r} {why}.", field=name) from None


def _decimal_or_none(record: Mapping[str, Any] | None, name: str) -> Decimal | None:
    if not record or record.get(name) in (None, ""):
        return None
    return Decimal(str(record[name]))


def _benchmark_symbols(benchmark: Any) -> list[str] | None:
    """``None``: buy-and-hold of the traded symbols; ``[]``: no benchmark; else these."""
    if isinstance(benchmark, bool):
        return None if benchmark else []
    names = [benchmark] if isinstance(benchmark, str) else benchmark
    if not isinstance(names, Iterable) or isinstance(names, Mapping):
        raise OrderValidationError(
            f"benchmark={benchmark!r} must be True (buy-and-hold of the traded symbols), "
            "False (none), or a symbol or list of symbols such as 'SPY'.",
            field="benchmark",
        )
    return [_ticker(name) for name in names]


def _portfolio_history_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    """Alpaca's portfolio history (parallel lists) as a frame indexed by ``timestamp``."""
    try:
        stamps = pd.to_datetime(list(record["timestamp"]), unit="s", utc=True)
        data = {
            name: np.array([frames.number(v) for v in record[name]], dtype="float64")
            for name in ("equity", "profit_loss", "profit_loss_pct")
        }
        frame = pd.DataFrame(data, index=pd.DatetimeIndex(stamps, name="timestamp"))
    except (KeyError, TypeError, ValueError) as failure:
        raise OrderExecutionError(
            "the broker's portfolio history is not Alpaca's shape (parallel lists "
            f"timestamp, equity, profit_loss, profit_loss_pct of one length): {failure!r}"
        ) from None
    frame.attrs = {
        "base_value": frames.number(record.get("base_value")),
        "timeframe": record.get("timeframe"),
    }
    return frame


def _same_qty(value: Any, qty: str) -> bool:
    try:
        return Decimal(str(value)) == Decimal(qty)
    except ArithmeticError:  # no qty (a notional order), or not a number
        return False


def _window_ends(history: pd.DataFrame) -> tuple[pd.Series, pd.Timedelta]:
    """The funded equity (leading empty or zero values dropped, as before the account
    had money), each at the end of its window, and the window's length."""
    timeframe = history.attrs.get("timeframe")
    if timeframe not in PORTFOLIO_TIMEFRAMES:
        raise OrderExecutionError(
            f"the broker's portfolio history has timeframe={timeframe!r}, not one of "
            f"{', '.join(PORTFOLIO_TIMEFRAMES)}."
        )
    window = PORTFOLIO_TIMEFRAMES[timeframe][1]
    equity = history["equity"]
    funded = (equity > 0).cummax()
    equity = equity[funded].rename("equity")
    return equity.set_axis(equity.index + window), window

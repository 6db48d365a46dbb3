"""``Orders``: validated paper orders against Alpaca paper or the local exchange.

The path of one order::

    OrderSpec (pure validation)  ->  MarketContext (account, clock, asset, position,
    quote: only what the enabled checks need)  ->  pre-trade checks and risk rules
    ->  idempotent POST /v2/orders  ->  journal (with the quote)  ->  Order

Every request goes through the shared HTTP stack (rate limiter, retries), never
cached. The stack retries a POST only when it surely never arrived; when the answer
is lost instead (dropped connection, timeout, a 5xx from a gateway) the order may or
may not exist, so the executor asks the broker for the order's client order id
before sending it again, and a resend carries the same id, which the broker refuses
to use twice. A retried submission therefore never makes a second order. (This is
why the executor does not go through alpaca-py's ``TradingClient``: its own retry
loop re-sends ``POST /v2/orders`` after a 504.)
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import urlsplit

import numpy as np
import orjson
import pandas as pd

from ..config import LOOPBACK_HOSTS
from ..connection import http_stack
from ..data.client import MarketData
from ..errors import OrderExecutionError, OrderValidationError, TradingKitError
from ..http import HttpStack
from ..rules import TICKER_HINT, on_tick, rfc3339, ticker, to_utc
from . import frames
from .checks import (
    IMMEDIATE_TIFS,
    MarketContext,
    PreTradeChecks,
    Quote,
    estimated_cost,
    run_checks,
)
from .frames import Account, Order
from .journal import Journal, SubmissionQuote
from .risk import RiskLimits, RiskState, check_risk
from .spec import (
    MAX_CLIENT_ORDER_ID,
    TIME_IN_FORCE,
    OrderSpec,
    choice,
    decimal_text,
    to_decimal,
)

log = logging.getLogger("trading_kit")

#: Sends of one order at most: the first, and resends after the broker said it has none.
SUBMIT_ATTEMPTS = 3
#: Statuses that do not say whether the request was carried out (a gateway's answer).
AMBIGUOUS_STATUSES = frozenset({500, 502, 503, 504})
ORDER_STATUSES = ("open", "closed", "all")
MAX_LIST = 500


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
        self.risk = RiskLimits(**risk) if isinstance(risk, Mapping) else (risk or RiskLimits())
        settings = self._stack.settings
        host = urlsplit(settings.trading_url).hostname or "broker"
        venue = "local" if host in LOOPBACK_HOSTS else host
        self.journal = Journal(journal_path or settings.journal_path, venue)

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
        """Run the checks and risk rules for ``spec``, then submit it exactly once."""
        context, state, quote = self._context(spec)
        run_checks(spec, context, self.checks)
        if self.risk.any:
            check_risk(spec, self.risk, state)
        record = self._post_order(spec.to_alpaca_json())
        self.journal.submitted(record, quote)
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
        """Cancel one open order; returns it as the broker now reports it."""
        path = f"/v2/orders/{_segment(order_id)}"
        self._call("DELETE", path)
        record = self._call("GET", path, params={"nested": "true"})
        self.journal.observe([record], event="canceled")
        return Order.from_json(record)

    def cancel_all_orders(self) -> pd.DataFrame:
        """Cancel every open order: one row per order, ``http_status`` and ``status``."""
        results = self._call("DELETE", "/v2/orders") or []
        bodies = [
            r["body"] for r in results if isinstance(r.get("body"), dict) and "symbol" in r["body"]
        ]
        self.journal.observe(bodies, event="canceled")
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
        quote = self._quote(_ticker(symbol))
        record = self._call("DELETE", f"/v2/positions/{_segment(_ticker(symbol))}", params=params)
        self.journal.submitted(record, quote, event="close_position")
        return Order.from_json(record)

    def close_all_positions(self, cancel_orders: bool = False) -> pd.DataFrame:
        """Close every position with market orders (cancelling open orders first if asked).

        One row per symbol: ``http_status``, and the closing order's ``order_id`` and
        ``status``, or the broker's ``message`` when it refused.
        """
        params = {"cancel_orders": "true" if cancel_orders else "false"}
        results = self._call("DELETE", "/v2/positions", params=params) or []
        for result in results:
            body = result.get("body")
            if isinstance(body, dict) and "client_order_id" in body:
                self.journal.submitted(body, None, event="close_position")
        return _results_frame(results, "symbol")

    # -- reading ----------------------------------------------------------------------
    def get_order(self, order_id: str) -> Order:
        record = self._call("GET", f"/v2/orders/{_segment(order_id)}", params={"nested": "true"})
        self.journal.observe([record])
        return Order.from_json(record)

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        record = self._call(
            "GET", "/v2/orders:by_client_order_id", params={"client_order_id": client_order_id}
        )
        self.journal.observe([record])
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
        self.journal.observe(records)
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
        return frames.activities_frame(self._call("GET", "/v2/account/activities", params=params))

    def history(self, *, refresh: bool = True, all_venues: bool = False) -> pd.DataFrame:
        """Every order this journal has seen on this venue, oldest first, with slippage.

        ``refresh`` first asks the broker for the latest state of journaled orders that
        were still open (fills, cancels); when the broker cannot be reached the journal
        is shown as it stands. Columns: the orders frame, then ``venue parent_id
        quote_bid quote_ask quote_time arrival_price slippage slippage_bps
        last_event``; ``slippage`` is dollars per share against the mid quote at
        submission, positive when the fill was worse for the trader.
        """
        if refresh:
            self.refresh_journal()
        return self.journal.history(all_venues=all_venues)

    def refresh_journal(self) -> None:
        """Fetch the broker's state of every journaled order that was still open."""
        since = self.journal.open_since()
        if since is None:
            return
        after = since - pd.Timedelta(seconds=1)
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
            log.warning("trading_kit: journal not refreshed (%s); showing it as recorded.", failure)
            return
        self.journal.observe(records)

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
        return orjson.loads(response.content) if response.content else None

    def _post_order(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST the order; after a lost answer, find it by client order id before resending."""
        client_id = body["client_order_id"]
        lost: OrderExecutionError | None = None
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                return self._call("POST", "/v2/orders", json=body)
            except OrderExecutionError as failure:
                if attempt > 1 and _duplicate_client_id(failure):
                    found = self._find_by_client_id(client_id)  # an earlier send did arrive
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
                f"Could not tell whether order {client_id} was placed: the submission got no "
                f"answer and the lookup failed ({failure}). Check with "
                f"orders.get_order_by_client_id({client_id!r}) before placing it again.",
                status=failure.status,
                code=failure.code,
            ) from None

    def _quote(self, symbol: str) -> SubmissionQuote | None:
        """The latest quote, or ``None`` if the data API cannot give one (journal only)."""
        try:
            frame = self._data.get_latest_quote(symbol, use_cache=False)
        except TradingKitError as failure:
            log.info("trading_kit: no quote for %s (%s)", symbol, failure)
            return None
        if frame.empty:
            return None
        return SubmissionQuote(
            float(frame["bid_price"].iloc[0]),
            float(frame["ask_price"].iloc[0]),
            frame["timestamp"].iloc[0],
        )

    def _context(self, spec: OrderSpec) -> tuple[MarketContext, RiskState, SubmissionQuote | None]:
        """Fetch what the enabled checks and rules read, and nothing more."""
        checks, risk = self.checks, self.risk
        values: dict[str, Any] = {}
        quote = self._quote(spec.symbol)
        if quote is not None:
            values["quote"] = Quote(Decimal(str(quote.bid)), Decimal(str(quote.ask)))
        if checks.asset:
            values["asset"] = self._get_or_none(f"/v2/assets/{_segment(spec.symbol)}")
        if checks.market_hours and spec.time_in_force in IMMEDIATE_TIFS:
            clock = self._call("GET", "/v2/clock")
            values["is_open"] = bool(clock.get("is_open"))
            values["next_open"] = clock.get("next_open")
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

    def _get_or_none(self, path: str) -> Any:
        try:
            return self._call("GET", path)
        except OrderExecutionError as failure:
            if failure.status == 404:
                return None
            raise


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
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or pd.isna(stamp):
        raise OrderValidationError(f"{name}={value!r} is not a date or time.", field=name)
    return rfc3339(to_utc(stamp))


def _decimal_or_none(record: Mapping[str, Any] | None, name: str) -> Decimal | None:
    if not record or record.get(name) in (None, ""):
        return None
    return Decimal(str(record[name]))

"""``OrderTicket``: an ipywidgets order form that validates as you type and submits paper orders.

Every change to a field rebuilds an ``OrderSpec`` from the form: the same local rules
the ``Orders`` executor applies, so a message appears under the ticket the moment the
order stops making sense, and Submit stays disabled until it does again. Nothing is
sent while typing; the quote and account behind the preview line are read when the
symbol changes and on ``refresh()``.

Submit goes through ``Orders.submit`` (pre-trade checks, idempotent submission); the
order's id and status are shown and followed by a background ``Poller`` that calls
``refresh()`` until the order is final or the ticket is closed. Any error (local,
pre-trade or from the broker) is shown in the status line, never swallowed.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ipywidgets as widgets

from ..errors import OrderValidationError, TradingKitError
from ..orders.frames import TERMINAL_STATUSES
from ..orders.spec import OrderSpec, validate
from ..rules import to_tick
from . import style
from .moves import snap_to_tick
from .poller import Poller

TYPES = (
    ("Market", "market"),
    ("Limit", "limit"),
    ("Stop", "stop"),
    ("Stop limit", "stop_limit"),
    ("Trailing stop", "trailing_stop"),
)
TIME_IN_FORCE = (
    ("Day", "day"),
    ("GTC", "gtc"),
    ("Open (opg)", "opg"),
    ("Close (cls)", "cls"),
    ("IOC", "ioc"),
    ("FOK", "fok"),
)
_LABEL = {"description_width": "72px"}
_ERROR_BORDER = "1px solid var(--jp-error-color1, #e0443e)"


def _text(description: str, placeholder: str = "", *, continuous: bool = True) -> widgets.Text:
    return widgets.Text(
        description=description,
        placeholder=placeholder,
        continuous_update=continuous,
        style=_LABEL,
        layout=widgets.Layout(width="210px"),
    )


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """One at a time: the poller's refresh runs on its own thread, edits on the kernel's."""

    @functools.wraps(method)
    def wrapper(self: OrderTicket, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _number(text: str) -> str | None:
    """A typed number as OrderSpec reads it: blank is absent; '$1,250' is '1250'."""
    cleaned = text.strip().replace(",", "").lstrip("$").strip()
    return cleaned or None


class OrderTicket(widgets.VBox):
    """An order form for paper trading: ``OrderTicket(orders, data, "AAPL")``.

    ``poll_seconds`` sets how often a submitted order's status is refreshed (``None``:
    only when ``refresh()`` is called). ``ticket.spec`` is the order the form
    describes (``None`` while invalid), ``ticket.order`` the last order submitted.
    """

    def __init__(
        self,
        orders: Any,
        data: Any,
        symbol: str = "AAPL",
        *,
        poll_seconds: float | None = 1.0,
    ) -> None:
        self.orders = orders
        self.data = data
        self.poll_seconds = poll_seconds
        self.spec: OrderSpec | None = None
        self.order: Any = None
        self.error: OrderValidationError | None = None
        self._quote: tuple[str, float, float] | None = None  # symbol, bid, ask
        self._account: Any = None
        self._poller: Poller | None = None
        self._callbacks: list[Callable[[Any], None]] = []
        self._lock = threading.RLock()
        self._build(symbol)
        super().__init__(
            children=self._rows(),
            layout=widgets.Layout(width="max-content", padding="4px", grid_gap="2px"),
        )
        self.add_class("trading-kit-ticket")
        self._load_market()
        self._load_account()
        self._update()

    def __repr__(self) -> str:
        order = f", order={self.order.id!r}" if self.order is not None else ""
        return f"OrderTicket({self.symbol.value!r}, valid={self.spec is not None}{order})"

    # -- form -------------------------------------------------------------------------
    def _build(self, symbol: str) -> None:
        self.symbol = _text("Symbol", "AAPL", continuous=False)
        self.symbol.value = symbol.strip().upper()
        self.side = widgets.ToggleButtons(
            options=[("Buy", "buy"), ("Sell", "sell")],
            style={"button_width": "60px"},
            layout=widgets.Layout(width="auto"),
        )
        self.type = widgets.Dropdown(
            options=TYPES, description="Type", style=_LABEL, layout=widgets.Layout(width="210px")
        )
        self.time_in_force = widgets.Dropdown(
            options=TIME_IN_FORCE,
            description="TIF",
            style={"description_width": "30px"},
            layout=widgets.Layout(width="150px"),
        )
        self.size_kind = widgets.ToggleButtons(
            options=[("Shares", "qty"), ("Dollars", "notional")],
            style={"button_width": "76px"},  # "Dollars" whole in JupyterLab's font
            layout=widgets.Layout(width="auto"),
        )
        self.size = _text("Qty", "shares")
        self.limit_price = _text("Limit", "price")
        self.stop_price = _text("Stop", "price")
        self.trail_kind = widgets.ToggleButtons(
            options=[("$", "trail_price"), ("%", "trail_percent")],
            style={"button_width": "36px"},
            layout=widgets.Layout(width="auto"),
        )
        self.trail = _text("Trail", "amount")
        self.extended_hours = widgets.Checkbox(
            description="Extended hours", indent=False, layout=widgets.Layout(width="130px")
        )
        self.bracket = widgets.Checkbox(
            description="Bracket exits", indent=False, layout=widgets.Layout(width="130px")
        )
        self.take_profit = _text("Take profit", "limit price")
        self.stop_loss = _text("Stop loss", "stop price")
        self.submit_button = widgets.Button(
            description="Submit", button_style="success", icon="paper-plane", disabled=True
        )
        self.submit_button.layout.width = "110px"
        self.message = widgets.HTML()
        self.preview = widgets.HTML()
        self.status = widgets.HTML()
        self._fields: dict[str, widgets.Widget] = {
            "symbol": self.symbol,
            "qty": self.size,
            "notional": self.size,
            "limit_price": self.limit_price,
            "stop_price": self.stop_price,
            "trail_price": self.trail,
            "trail_percent": self.trail,
            "take_profit_limit_price": self.take_profit,
            "stop_loss_stop_price": self.stop_loss,
        }
        for control in (
            self.side,
            self.type,
            self.time_in_force,
            self.size_kind,
            self.size,
            self.limit_price,
            self.stop_price,
            self.trail_kind,
            self.trail,
            self.extended_hours,
            self.bracket,
            self.take_profit,
            self.stop_loss,
        ):
            control.observe(self._on_change, names="value")
        self.symbol.observe(self._on_symbol, names="value")
        self.submit_button.on_click(lambda _button: self.submit())

    def _rows(self) -> list[widgets.Widget]:
        row = widgets.HBox
        self._limit_row = row([self.limit_price])
        self._stop_row = row([self.stop_price])
        self._trail_row = row([self.trail, self.trail_kind])
        self._exit_row = row([self.take_profit, self.stop_loss])
        return [
            row([self.symbol, self.side]),
            row([self.type, self.time_in_force]),
            row([self.size, self.size_kind]),
            self._limit_row,
            self._stop_row,
            self._trail_row,
            row([self.extended_hours, self.bracket]),
            self._exit_row,
            self.preview,
            row([self.submit_button, self.status], layout=widgets.Layout(align_items="center")),
            self.message,
        ]

    # -- public -----------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The form as OrderSpec fields (blank fields left out)."""
        order_type = self.type.value
        fields: dict[str, Any] = {
            "symbol": self.symbol.value,
            "side": self.side.value,
            "type": order_type,
            "time_in_force": self.time_in_force.value,
            self.size_kind.value: _number(self.size.value),
            "extended_hours": bool(self.extended_hours.value),
        }
        if order_type in ("limit", "stop_limit"):
            fields["limit_price"] = _number(self.limit_price.value)
        if order_type in ("stop", "stop_limit"):
            fields["stop_price"] = _number(self.stop_price.value)
        if order_type == "trailing_stop":
            fields[self.trail_kind.value] = _number(self.trail.value)
        if self.bracket.value:
            fields["order_class"] = "bracket"
            fields["take_profit_limit_price"] = _number(self.take_profit.value)
            fields["stop_loss_stop_price"] = _number(self.stop_loss.value)
        return {k: v for k, v in fields.items() if v is not None}

    def set_price(self, price: float) -> str:
        """Put ``price`` (snapped to the tick) in the limit field, or the stop field of a
        stop order; a market or trailing order becomes a limit order. Returns the field."""
        text = format(snap_to_tick(price), "f")
        if self.type.value == "stop":
            self.stop_price.value = text
            return "stop_price"
        if self.type.value not in ("limit", "stop_limit"):
            self.type.value = "limit"
        self.limit_price.value = text
        return "limit_price"

    def on_submitted(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(order)`` after each successful submission (the chart redraws)."""
        self._callbacks.append(callback)

    @_locked
    def submit(self) -> Any:
        """Submit the order the form describes; returns the broker's order (or ``None``)."""
        spec = self.spec
        if spec is None:
            self._show_status(f"Not sent: {self.error}" if self.error else "Not sent.", "error")
            return None
        self.submit_button.disabled = True
        try:
            order = self.orders.submit(spec)
        except TradingKitError as failure:
            where = "Not sent" if isinstance(failure, OrderValidationError) else "Rejected"
            self._show_status(f"{where}: {failure}", "error")
            self._update()  # re-enables Submit with a fresh spec (and client order id)
            return None
        self.order = order
        self._show_order()
        for callback in self._callbacks:
            callback(order)
        self._load_account()
        self._update()
        self._follow()
        return order

    @_locked
    def refresh(self) -> bool:
        """Re-read the quote, the account and the submitted order's status.

        Returns whether the order is still open (the poller stops when it is not).
        """
        self._load_market()
        self._load_account()
        open_ = False
        if self.order is not None and self.order.status not in TERMINAL_STATUSES:
            try:
                self.order = self.orders.get_order(self.order.id)
            except TradingKitError as failure:
                self._show_status(f"Could not read order {self.order.id}: {failure}", "error")
                return True
            self._show_order()
            open_ = self.order.status not in TERMINAL_STATUSES
        self._update()
        return open_

    def close(self) -> None:
        """Stop following the order, then close the widgets."""
        poller = getattr(self, "_poller", None)  # close() also runs from __del__
        if poller is not None:
            poller.stop()
        for child in self._all_controls():
            child.close()
        super().close()

    # -- behaviour --------------------------------------------------------------------
    def _on_change(self, _change: dict[str, Any]) -> None:
        self._update()

    def _on_symbol(self, change: dict[str, Any]) -> None:
        upper = str(change["new"]).strip().upper()
        if upper != change["new"]:
            self.symbol.value = upper  # observed again with the upper-case value
            return
        self._load_market()
        self._update()

    @_locked
    def _update(self) -> None:
        """Show the fields the type needs, validate, and redraw message and preview."""
        order_type = self.type.value
        _show(self._limit_row, order_type in ("limit", "stop_limit"))
        _show(self._stop_row, order_type in ("stop", "stop_limit"))
        _show(self._trail_row, order_type == "trailing_stop")
        _show(self._exit_row, bool(self.bracket.value))
        self.size.description = "Qty" if self.size_kind.value == "qty" else "Notional"
        self.size.placeholder = "shares" if self.size_kind.value == "qty" else "dollars"
        self.spec, self.error = self._validate()
        for widget in set(self._fields.values()):
            widget.layout.border = None
        if self.error is not None:
            self.message.value = style.note(str(self.error), "error")
            field = self._fields.get(self.error.field or "")
            if field is not None:
                field.layout.border = _ERROR_BORDER
        else:
            self.message.value = ""
        self.submit_button.disabled = self.spec is None
        self.submit_button.button_style = "success" if self.side.value == "buy" else "danger"
        self.submit_button.description = f"{self.side.value.capitalize()}"
        self.preview.value = self._preview()

    def _validate(self) -> tuple[OrderSpec | None, OrderValidationError | None]:
        try:
            spec = OrderSpec.from_dict(self.values())
            quote = self._current_quote(spec.symbol)
            if quote is not None and spec.order_class != "simple" and spec.entry_price is None:
                validate(spec, last_price=_mid(*quote))
        except OrderValidationError as failure:
            return None, failure
        return spec, None

    def _preview(self) -> str:
        spec = self.spec
        symbol = self.symbol.value
        quote = self._current_quote(symbol)
        parts = []
        if quote is None:
            parts.append(f"{symbol}: no quote")
        else:
            bid, ask = quote
            parts.append(f"{symbol} bid {bid:,.2f} × ask {ask:,.2f}")
        tone = "info"
        if spec is not None:
            cost = _estimated_cost(spec, quote)
            if cost is not None:
                parts.append(
                    ("cost" if spec.side == "buy" else "proceeds") + f" ≈ {style.money(cost)}"
                )
                power = _number_of(self._account, "buying_power")
                if power is not None:
                    after = power - cost if spec.side == "buy" else power
                    parts.append(f"buying power {style.money(power)} → {style.money(after)}")
                    if after < 0:
                        tone = "warn"
        return style.note(" · ".join(parts), tone)

    def _current_quote(self, symbol: str) -> tuple[float, float] | None:
        if self._quote is None or self._quote[0] != symbol.strip().upper():
            return None
        return self._quote[1], self._quote[2]

    def _load_market(self) -> None:
        symbol = self.symbol.value.strip().upper()
        try:
            frame = self.data.get_latest_quote(symbol)
        except TradingKitError:
            self._quote = None  # a half-typed or unknown symbol: the preview says "no quote"
            return
        if frame.empty:
            self._quote = None
            return
        row = frame.iloc[0]
        self._quote = (symbol, float(row["bid_price"]), float(row["ask_price"]))

    def _load_account(self) -> None:
        try:
            self._account = self.orders.get_account()
        except TradingKitError as failure:
            self._account = None
            self._show_status(f"Could not read the account: {failure}", "error")

    def _follow(self) -> None:
        """Refresh the order's status in the background until it is final."""
        if self.poll_seconds is None or self.order.status in TERMINAL_STATUSES:
            return
        if self._poller is not None and self._poller.running:
            return  # the running poller follows ``self.order``, which is now the new one
        self._poller = Poller(
            self.poll_seconds,
            self.refresh,
            lambda failure: self._show_status(f"Status refresh failed: {failure}", "error"),
            name="trading-kit-ticket",
        )

    def _show_order(self) -> None:
        order = self.order
        text = f"{order.side} {_size_text(order)} {order.symbol}: {order.status} · id {order.id}"
        if order.filled_qty and not math.isnan(order.filled_qty):
            text += f" · filled {order.filled_qty:g} @ {order.filled_avg_price:,.2f}"
        tone = {"filled": "ok", "rejected": "error", "canceled": "warn", "expired": "warn"}
        self._show_status(text, tone.get(order.status, "info"))

    def _show_status(self, text: str, tone: str) -> None:
        self.status.value = style.note(text, tone)

    def _all_controls(self) -> list[widgets.Widget]:
        found: list[widgets.Widget] = []
        stack = list(self.children)
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(getattr(child, "children", ()))
        return found


def _show(widget: widgets.Widget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def _number_of(record: Any, name: str) -> float | None:
    value = getattr(record, name, None) if record is not None else None
    return None if value is None or value != value else float(value)


def _mid(bid: float, ask: float) -> Decimal:
    """The mid quote to the cent (or one side when the other is missing)."""
    low, high = Decimal(str(bid)), Decimal(str(ask))
    mid = (low + high) / 2 if low > 0 and high > 0 else max(low, high)
    return to_tick(mid)


def _size_text(order: Any) -> str:
    qty = getattr(order, "qty", math.nan)
    return f"{qty:g}" if qty == qty else f"${order.notional:,.2f}"


def _estimated_cost(spec: OrderSpec, quote: tuple[float, float] | None) -> float | None:
    """Dollars the order moves: notional, or qty at its own price (limit, stop) or the quote."""
    if spec.notional is not None:
        return float(spec.notional)
    price: Decimal | float | None = spec.entry_price
    if price is None and quote is not None:
        bid, ask = quote
        price = ask if spec.side == "buy" else bid
    if price is None or spec.qty is None:
        return None
    return float(spec.qty) * float(price)

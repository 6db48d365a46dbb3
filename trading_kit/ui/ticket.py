"""``OrderTicket``: an ipywidgets order form that validates as you type and submits paper orders.

Every change to a field rebuilds an ``OrderSpec`` from the form: the same local rules
the ``Orders`` executor applies, so the message under the ticket says what is wrong
(in the words of the form: "Limit price 205.123 is not a multiple of $0.01") as soon
as a field the user has touched makes the order invalid, and Submit stays disabled
until it is valid again. Enter in any field submits a valid order, or says why not.
Bid and ask buttons put the quote in the price field; steppers move the quantity by a
share and prices by one tick.

Submit goes through ``Orders.submit`` (pre-trade checks, idempotent submission). With
``live=True`` the ticket subscribes to its account's shared
:class:`~.feed.AccountFeed`: the quote, the buying power and the submitted order's
status stay current, and when the order is replaced (a drag on the chart, code
elsewhere) the ticket follows the new one. Any error is shown, never swallowed.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import weakref
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import ipywidgets as widgets

from ..errors import OrderValidationError, TradingKitError
from ..orders.frames import TERMINAL_STATUSES
from ..orders.spec import OrderSpec, validate
from ..rules import tick_size, to_tick
from . import static, style
from .feed import AccountFeed, AccountUpdate
from .moves import snap_to_tick

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
#: The words the form shows for each OrderSpec field (messages use them, not API names).
LABELS = {
    "symbol": "Symbol",
    "side": "Side",
    "type": "Type",
    "time_in_force": "TIF",
    "qty": "Qty",
    "notional": "Notional",
    "limit_price": "Limit price",
    "stop_price": "Stop price",
    "trail_price": "Trail ($)",
    "trail_percent": "Trail (%)",
    "extended_hours": "Extended hours",
    "take_profit_limit_price": "Take profit",
    "stop_loss_stop_price": "Stop loss",
    "stop_loss_limit_price": "Stop loss limit",
}
_LABEL = {"description_width": "72px"}
_ERROR_BORDER = "1px solid var(--jp-error-color1, #e0443e)"
_NAMED = re.compile(
    r"\b("
    + "|".join(sorted(LABELS, key=len, reverse=True))
    + r")(=('[^']*'|\S+?))?(?=[.,;:)]*(?:\s|$))"
)
_TICK = re.compile(r"^(\w+)=(\S+) is not on the tick")
_CSS = """<style>
.trading-kit-ticket .tk-symbol input { text-transform: uppercase; }
.trading-kit-ticket .tk-step { width: 28px; padding: 0; }
</style>"""


def _text(description: str, placeholder: str = "", *, width: str = "210px") -> widgets.Text:
    return widgets.Text(
        description=description,
        placeholder=placeholder,
        style=_LABEL,
        layout=widgets.Layout(width=width),
    )


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """One at a time: the feed's updates run on its thread, edits on the kernel's."""

    @functools.wraps(method)
    def wrapper(self: OrderTicket, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _number(text: str) -> str | None:
    """A typed number as OrderSpec reads it: blank is absent; '$1,250' is '1250'."""
    cleaned = text.strip().replace(",", "").lstrip("$").strip()
    return cleaned or None


def readable(error: OrderValidationError) -> str:
    """An OrderSpec message in the form's words: ``limit_price=205.123`` → ``Limit price 205.123``."""
    text = str(error)
    tick = _TICK.match(text)
    if tick and tick.group(1) in LABELS:
        value = tick.group(2)
        try:
            step = tick_size(Decimal(value))
        except InvalidOperation:
            step = Decimal("0.01")
        unit = "$0.01" if step == Decimal("0.01") else "$0.0001"
        return f"{LABELS[tick.group(1)]} {value} is not a multiple of {unit}."

    def label(match: re.Match[str]) -> str:
        value = match.group(3)
        name = LABELS[match.group(1)]
        return f"{name} {value}" if value else name

    text = _NAMED.sub(label, text)
    return text[:1].upper() + text[1:]


def _short(order_id: str) -> str:
    return order_id[:8]


class OrderTicket(widgets.VBox):
    """An order form for paper trading: ``OrderTicket(orders, data, "AAPL")``.

    ``live=False`` reads the quote, account and order status only on ``refresh()``.
    ``ticket.spec`` is the order the form describes (``None`` while invalid),
    ``ticket.order`` the last order submitted (or the one that replaced it).
    """

    _instances: ClassVar[list[weakref.ref[OrderTicket]]] = []

    def __init__(
        self,
        orders: Any,
        data: Any,
        symbol: str = "AAPL",
        *,
        live: bool = True,
    ) -> None:
        self.orders = orders
        self.data = data
        self.spec: OrderSpec | None = None
        self.order: Any = None
        self.error: OrderValidationError | None = None
        self._quote: tuple[str, float, float] | None = None  # symbol, bid, ask
        self._account: Any = None
        self._touched: set[widgets.Widget] = set()
        self._callbacks: list[Callable[[Any], None]] = []
        self._lock = threading.RLock()
        self._build(symbol)
        super().__init__(
            children=self._rows(),
            layout=widgets.Layout(width="max-content", padding="4px", grid_gap="2px"),
        )
        self.add_class("trading-kit-ticket")
        live = live and not static.enabled()  # an exported notebook follows nothing
        self._feed = AccountFeed.of(data, orders) if live else AccountFeed(data, orders)
        self._apply(self._feed.fetch([self._symbol()]))
        self._subscription = (
            self._feed.subscribe(self._apply, symbols=[self._symbol()]) if live else None
        )
        OrderTicket._instances.append(weakref.ref(self))

    def __repr__(self) -> str:
        order = f", order={self.order.id!r}" if self.order is not None else ""
        return f"OrderTicket({self._symbol()!r}, valid={self.spec is not None}{order})"

    @classmethod
    def most_recent(cls, symbol: str | None = None) -> OrderTicket | None:
        """The newest open ticket (for ``symbol``), which a chart without a ticket uses."""
        for ref in reversed(cls._instances):
            ticket = ref()
            if ticket is None or ticket.comm is None:
                continue
            if symbol is None or ticket._symbol() == symbol.strip().upper():
                return ticket
        return None

    # -- form -------------------------------------------------------------------------
    def _build(self, symbol: str) -> None:
        self.symbol = _text("Symbol", "AAPL")
        self.symbol.value = symbol.strip().upper()
        self.symbol.add_class("tk-symbol")
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
        self.bid_button = widgets.Button(description="Bid", layout=widgets.Layout(width="auto"))
        self.ask_button = widgets.Button(description="Ask", layout=widgets.Layout(width="auto"))
        self.bid_button.tooltip = "use the bid as the limit (or stop) price"
        self.ask_button.tooltip = "use the ask as the limit (or stop) price"
        self.bid_button.on_click(lambda _b: self._use_quote(0))
        self.ask_button.on_click(lambda _b: self._use_quote(1))
        self.qty_down, self.qty_up = self._stepper(self.size, self._step_size)
        self.limit_down, self.limit_up = self._stepper(self.limit_price, self._step_price)
        self.stop_down, self.stop_up = self._stepper(self.stop_price, self._step_price)
        self.submit_button = widgets.Button(
            description="Buy", button_style="success", icon="paper-plane", disabled=True
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
            "stop_loss_limit_price": self.stop_loss,
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
        for field in set(self._fields.values()):
            field.on_msg(self._on_key)  # Enter arrives as a "submit" message
        self.submit_button.on_click(lambda _button: self.submit())

    def _stepper(
        self, field: widgets.Text, step: Callable[[widgets.Text, int], None]
    ) -> tuple[widgets.Button, widgets.Button]:
        down = widgets.Button(description="−", tooltip=f"{field.description} down")
        up = widgets.Button(description="+", tooltip=f"{field.description} up")
        for button, sign in ((down, -1), (up, 1)):
            button.add_class("tk-step")
            button.layout.width = "28px"
            button.on_click(lambda _b, s=sign: step(field, s))
        return down, up

    def _rows(self) -> list[widgets.Widget]:
        row = widgets.HBox
        self._limit_row = row([self.limit_price, self.limit_down, self.limit_up])
        self._stop_row = row([self.stop_price, self.stop_down, self.stop_up])
        self._trail_row = row([self.trail, self.trail_kind])
        self._exit_row = row([self.take_profit, self.stop_loss])
        self._quote_row = row([self.bid_button, self.ask_button])
        return [
            widgets.HTML(_CSS, layout=widgets.Layout(display="none")),
            row([self.symbol, self.side]),
            row([self.type, self.time_in_force]),
            row([self.size, self.qty_down, self.qty_up, self.size_kind]),
            self._limit_row,
            self._stop_row,
            self._quote_row,
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

    def submit(self) -> Any:
        """Submit the order the form describes; returns the broker's order (or ``None``)."""
        order = self._submit()
        if order is not None:
            # Outside the lock: a callback (the chart) reads the account through the feed,
            # whose thread may be waiting for this ticket's lock to hand it an update.
            for callback in self._callbacks:
                callback(order)
        return order

    @_locked
    def _submit(self) -> Any:
        self._touched.update(self._fields.values())  # from now on every problem is shown
        self._update()
        spec = self.spec
        if spec is None:
            why = f"Not sent: {readable(self.error)}" if self.error else "Not sent."
            self._show_status(why, "error")
            return None
        self.submit_button.disabled = True
        try:
            order = self.orders.submit(spec)
        except TradingKitError as failure:
            if isinstance(failure, OrderValidationError):
                self._show_status(f"Not sent: {readable(failure)}", "error")
            else:
                self._show_status(f"Rejected: {failure}", "error")
            self._update()  # re-enables Submit with a fresh spec (and client order id)
            return None
        self.order = order
        self._show_order()
        self._update()
        return order

    def refresh(self) -> bool:
        """Read the quote, the account and the submitted order's status now.

        Returns whether the order is still open.
        """
        if self._subscription is not None and not self._subscription.closed:
            self._feed.refresh()
        else:
            self._apply(self._feed.fetch([self._symbol()]))
        return self.order is not None and self.order.status not in TERMINAL_STATUSES

    def follow_replacement(self, old_id: str, order: Any) -> None:
        """The ticket's order ``old_id`` was replaced by ``order``: follow that one."""
        with self._lock:
            if self.order is not None and self.order.id == old_id:
                self.order = order
                self._show_order()

    def close(self) -> None:
        """Stop following the account, then close the widgets."""
        subscription = getattr(self, "_subscription", None)  # close() also runs from __del__
        if subscription is not None:
            subscription.close()
        for child in self._all_controls():
            child.close()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if static.enabled():
            return {"text/html": self._static_html(), "text/plain": repr(self)}
        return super()._repr_mimebundle_(**kwargs)

    # -- behaviour --------------------------------------------------------------------
    def _symbol(self) -> str:
        return self.symbol.value.strip().upper()

    def _on_change(self, change: dict[str, Any]) -> None:
        self._touched.add(change["owner"])
        self._update()

    def _on_symbol(self, change: dict[str, Any]) -> None:
        self._touched.add(self.symbol)
        symbol = self._symbol()
        if self._subscription is not None:
            self._subscription.symbols = (symbol,)
        self._load_quote(symbol)
        self._update()

    def _on_key(self, field: widgets.Widget, content: dict[str, Any], _buffers: Any) -> None:
        if content.get("event") == "submit":
            self.submit()

    def _use_quote(self, side: int) -> None:
        quote = self._current_quote(self._symbol())
        if quote is None:
            self._show_status(f"No quote for {self._symbol()} yet.", "warn")
            return
        self.set_price(quote[side])

    def _step_size(self, field: widgets.Text, sign: int) -> None:
        try:
            now = Decimal(_number(field.value) or "0")
        except InvalidOperation:
            now = Decimal(0)
        step = Decimal(1) if self.size_kind.value == "qty" else Decimal(100)
        field.value = format(max(now + sign * step, step), "f")

    def _step_price(self, field: widgets.Text, sign: int) -> None:
        try:
            now = Decimal(_number(field.value) or "0")
        except InvalidOperation:
            now = Decimal(0)
        if now <= 0:
            quote = self._current_quote(self._symbol())
            if quote is None:
                return
            now = Decimal(str(quote[1] if self.side.value == "buy" else quote[0]))
        price = to_tick(now)
        if price == now:  # on the tick already: move one tick
            price = to_tick(now + sign * tick_size(now))
        field.value = format(price, "f")

    @_locked
    def _update(self) -> None:
        """Show the fields the type needs, validate, and redraw message and preview."""
        order_type = self.type.value
        _show(self._limit_row, order_type in ("limit", "stop_limit"))
        _show(self._stop_row, order_type in ("stop", "stop_limit"))
        _show(self._quote_row, order_type in ("limit", "stop", "stop_limit"))
        _show(self._trail_row, order_type == "trailing_stop")
        _show(self._exit_row, bool(self.bracket.value))
        self.size.description = "Qty" if self.size_kind.value == "qty" else "Notional"
        self.size.placeholder = "shares" if self.size_kind.value == "qty" else "dollars"
        self.spec, self.error = self._validate(self.values())
        for widget in set(self._fields.values()):
            widget.layout.border = None
        shown = self._shown_error()
        if shown is not None:
            self.message.value = style.note(readable(shown), "error")
            field = self._fields.get(shown.field or "")
            if field is not None:
                field.layout.border = _ERROR_BORDER
        else:
            self.message.value = ""
        self.submit_button.disabled = self.spec is None
        self.submit_button.button_style = "success" if self.side.value == "buy" else "danger"
        self.submit_button.description = f"{self.side.value.capitalize()}"
        quote = self._current_quote(self._symbol())
        self.bid_button.description = f"Bid {quote[0]:,.2f}" if quote else "Bid"
        self.ask_button.description = f"Ask {quote[1]:,.2f}" if quote else "Ask"
        self.preview.value = self._preview()

    def _shown_error(self) -> OrderValidationError | None:
        """The problem to show: one in a field the user has touched (or of no one field).

        A size not typed yet is not an error to shout about; the rest of the form is
        still checked as if it were one share, so a bad price shows while typing it.
        """
        error = self.error
        if error is None:
            return None
        field = self._fields.get(error.field or "")
        if field is None or field in self._touched:
            return error
        if field is self.size and not self.size.value.strip():
            _, error = self._validate({**self.values(), self.size_kind.value: "1"})
            field = self._fields.get(error.field or "") if error is not None else None
            if error is not None and (field is None or field in self._touched):
                return error
        return None

    def _validate(
        self, values: dict[str, Any]
    ) -> tuple[OrderSpec | None, OrderValidationError | None]:
        try:
            spec = OrderSpec.from_dict(values)
            quote = self._current_quote(spec.symbol)
            if quote is not None and spec.order_class != "simple" and spec.entry_price is None:
                validate(spec, last_price=_mid(*quote))
        except OrderValidationError as failure:
            return None, failure
        return spec, None

    def _preview(self) -> str:
        spec = self.spec
        symbol = self._symbol()
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

    def _load_quote(self, symbol: str) -> None:
        """The quote of a symbol just typed (the feed keeps it current afterwards)."""
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

    @_locked
    def _apply(self, update: AccountUpdate) -> None:
        """Take one read of the account: quote, buying power, the order's status."""
        if update.error is not None:
            self._show_status(f"Could not refresh: {update.error}", "error")
            return
        symbol = self._symbol()
        quote = update.quote(symbol)
        if quote is not None:
            self._quote = (symbol, *quote)
        elif update.snapshots is not None:
            self._load_quote(symbol)
        if update.account is not None:
            self._account = update.account
        if self.order is not None and update.orders is not None:
            self._follow(update)
        self._update()

    def _follow(self, update: AccountUpdate) -> None:
        """The submitted order as the account now reports it (or its replacement)."""
        frame = update.orders
        order_id = self.order.id
        for _ in range(10):  # a chain of replaces, followed to its newest order
            if order_id not in frame.index:
                return
            row = frame.loc[order_id]
            replaced_by = row.get("replaced_by")
            if row["status"] == "replaced" and isinstance(replaced_by, str) and replaced_by:
                order_id = replaced_by
                continue
            break
        if order_id != self.order.id or frame.at[order_id, "status"] != self.order.status:
            try:
                self.order = self.orders.get_order(order_id)
            except TradingKitError as failure:
                self._show_status(f"Could not read order {_short(order_id)}: {failure}", "error")
                return
            self._show_order()

    def _show_order(self) -> None:
        order = self.order
        text = f"{order.side} {_size_text(order)} {order.symbol}: {order.status} · id {_short(order.id)}"
        if order.filled_qty and not math.isnan(order.filled_qty):
            text += f" · filled {order.filled_qty:g} @ {order.filled_avg_price:,.2f}"
        if order.replaces:
            text += f" · replaces {_short(order.replaces)}"
        tone = {"filled": "ok", "rejected": "error", "canceled": "warn", "expired": "warn"}
        self._show_status(text, tone.get(order.status, "info"))

    def _show_status(self, text: str, tone: str) -> None:
        self.status.value = style.note(text, tone)

    def _static_html(self) -> str:
        values = self.values()
        rows = [(LABELS.get(k, k), v) for k, v in values.items() if k != "symbol"]
        return static.panel(
            f"Order ticket · {self._symbol()}",
            static.table(("Field", "Value"), rows, "empty"),
            static.line(static.plain(self.preview.value)),
            static.line(static.plain(self.status.value)),
            static.line(static.plain(self.message.value)),
            css_class="trading-kit-static-ticket",
        )

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

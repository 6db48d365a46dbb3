"""``Blotter``: the account, open orders and positions, with cancel and close buttons.

Tables are grids of small widgets (a DataFrame's HTML cannot hold buttons), rebuilt
only when the rows change, so a timer refresh every few seconds does not make the
cells flicker or pile up widgets. The timer is a :class:`~.poller.Poller` that stops
when the blotter is closed; ``refresh()`` is what it calls, and tests call it directly.
Every action says what happened in the message line, errors included.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..errors import TradingKitError
from ..rules import NEW_YORK
from . import style
from .overlays import price_text
from .poller import Poller

_ORDER_HEADERS = ("Symbol", "Side", "Qty", "Type", "Limit", "Stop", "Status", "Submitted", "")
_POSITION_HEADERS = ("Symbol", "Qty", "Avg entry", "Price", "Value", "Unrealized P&L", "", "")


def _cell(text: str, *, bold: bool = False, color: str | None = None) -> widgets.HTML:
    weight = "font-weight:600;" if bold else ""
    tint = f"color:{color};" if color else ""
    return widgets.HTML(f'<span style="{weight}{tint}white-space:nowrap">{text}</span>')


def _button(description: str, style_name: str, action: Callable[[], None]) -> widgets.Button:
    button = widgets.Button(
        description=description,
        button_style=style_name,
        layout=widgets.Layout(width="auto", height="26px"),
    )
    button.on_click(lambda _b: action())
    return button


def _price(value: float) -> str:
    return "" if value is None or math.isnan(value) else price_text(value)


def _qty(row: pd.Series) -> str:
    qty = row.get("qty")
    if qty is not None and not math.isnan(qty):
        return f"{qty:g}"
    return style.money(row.get("notional"))


def _signed_money(value: float) -> str:
    return ("+" if value > 0 else "") + style.money(value)


def _pl_color(value: float) -> str | None:
    if value is None or math.isnan(value) or value == 0:
        return None
    return style.BUY if value > 0 else style.SELL


class Blotter(widgets.VBox):
    """Account summary, open orders and positions of an ``Orders``, refreshed on a timer.

    ``refresh_seconds=None`` refreshes only on the button (or ``refresh()``).
    ``cancel_buttons[order_id]``, ``close_buttons[symbol]`` and ``half_buttons[symbol]``
    are the row buttons, for tests and for keyboard users.
    """

    def __init__(self, orders: Any, *, refresh_seconds: float | None = 5.0) -> None:
        self.orders = orders
        self.cancel_buttons: dict[str, widgets.Button] = {}
        self.close_buttons: dict[str, widgets.Button] = {}
        self.half_buttons: dict[str, widgets.Button] = {}
        self.open_orders = pd.DataFrame()
        self.positions = pd.DataFrame()
        self.account: Any = None
        self._keys: tuple[Any, Any] = (None, None)
        self._lock = threading.RLock()  # the timer refreshes on its own thread
        self.summary = widgets.HTML()
        self.updated = widgets.HTML()
        self.message = widgets.HTML()
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", layout=widgets.Layout(width="100px")
        )
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.orders_table = widgets.GridBox(layout=_grid(len(_ORDER_HEADERS)))
        self.positions_table = widgets.GridBox(layout=_grid(len(_POSITION_HEADERS)))
        super().__init__(
            children=[
                widgets.HBox(
                    [self.refresh_button, self.updated],
                    layout=widgets.Layout(align_items="center", grid_gap="8px"),
                ),
                self.summary,
                widgets.HTML("<b>Open orders</b>"),
                self.orders_table,
                widgets.HTML("<b>Positions</b>"),
                self.positions_table,
                self.message,
            ],
            layout=widgets.Layout(padding="4px"),
        )
        self.add_class("trading-kit-blotter")
        self.refresh()
        self._poller: Poller | None = None
        if refresh_seconds is not None:
            self._poller = Poller(
                refresh_seconds,
                self._tick,
                lambda failure: self._say(f"Refresh failed: {failure}", "error"),
                name="trading-kit-blotter",
            )

    def __repr__(self) -> str:
        return (
            f"Blotter(open_orders={len(self.open_orders)}, positions={len(self.positions)}, "
            f"polling={self.polling})"
        )

    # -- public -----------------------------------------------------------------------
    @property
    def polling(self) -> bool:
        """Whether the refresh timer is running."""
        poller = getattr(self, "_poller", None)
        return poller is not None and poller.running

    def refresh(self) -> bool:
        """Re-read the account, open orders and positions; redraw what changed."""
        with self._lock:
            return self._refresh()

    def _refresh(self) -> bool:
        try:
            self.account = self.orders.get_account()
            self.open_orders = self.orders.get_orders("open")
            self.positions = self.orders.get_positions()
        except TradingKitError as failure:
            self._say(f"Could not refresh: {failure}", "error")
            return False
        self.summary.value = self._summary()
        orders_key = _key(self.open_orders, ("status", "limit_price", "stop_price", "qty"))
        positions_key = _key(self.positions, ("qty", "current_price", "unrealized_pl"))
        if orders_key != self._keys[0]:
            self._draw_orders()
        if positions_key != self._keys[1]:
            self._draw_positions()
        self._keys = (orders_key, positions_key)
        now = dt.datetime.now().strftime("%H:%M:%S")
        self.updated.value = style.note(f"updated {now}")
        return True

    def cancel(self, order_id: str) -> bool:
        """Cancel an open order (what its Cancel button does)."""
        try:
            order = self.orders.cancel_order(order_id)
        except TradingKitError as failure:
            self._say(f"Cancel failed for {order_id}: {failure}", "error")
            return False
        self._say(f"Order {order_id} is {order.status}.", "ok")
        self.refresh()
        return True

    def close_position(self, symbol: str, percentage: float | None = None) -> bool:
        """Close a position, or ``percentage`` of it, at market (the Close buttons)."""
        try:
            order = self.orders.close_position(symbol, percentage=percentage)
        except TradingKitError as failure:
            self._say(f"Close failed for {symbol}: {failure}", "error")
            return False
        part = f"{percentage:g}% of " if percentage is not None else ""
        self._say(
            f"Closing {part}{symbol}: {order.side} {order.qty:g} at market, {order.status} "
            f"(order {order.id}).",
            "ok",
        )
        self.refresh()
        return True

    def close(self) -> None:
        """Stop the refresh timer, then close the widgets."""
        poller = getattr(self, "_poller", None)  # close() also runs from __del__
        if poller is not None:
            poller.stop()
        for table in (self.orders_table, self.positions_table):
            _close_children(table)
        super().close()

    # -- drawing ----------------------------------------------------------------------
    def _tick(self) -> bool:
        self.refresh()
        return True

    def _summary(self) -> str:
        account = self.account
        day = account.day_pl
        base = account.last_equity
        pct = f" ({day / base:+.2%})" if base and not math.isnan(base) else ""
        color = _pl_color(day) or "inherit"
        return (
            '<span style="white-space:nowrap">'
            f"Equity <b>{style.money(account.equity)}</b> · "
            f"Cash <b>{style.money(account.cash)}</b> · "
            f"Buying power <b>{style.money(account.buying_power)}</b> · "
            f'Day P&amp;L <b style="color:{color}">{_signed_money(day)}{pct}</b></span>'
        )

    def _draw_orders(self) -> None:
        self.cancel_buttons = {}
        cells: list[widgets.Widget] = [_cell(h, bold=True) for h in _ORDER_HEADERS]
        for order_id, row in self.open_orders.iterrows():
            submitted = row["submitted_at"]
            when = (
                "" if pd.isna(submitted) else submitted.tz_convert(NEW_YORK).strftime("%m-%d %H:%M")
            )
            button = _button("Cancel", "warning", lambda i=str(order_id): self.cancel(i))
            button.tooltip = f"cancel order {order_id}"
            self.cancel_buttons[str(order_id)] = button
            cells += [
                _cell(str(row["symbol"]), bold=True),
                _cell(str(row["side"]), color=style.side_color(str(row["side"]))),
                _cell(_qty(row)),
                _cell(str(row["type"]).replace("_", " ")),
                _cell(_price(row["limit_price"])),
                _cell(_price(row["stop_price"])),
                _cell(str(row["status"])),
                _cell(when),
                button,
            ]
        if self.open_orders.empty:
            cells.append(_cell(style.note("no open orders")))
        _replace_children(self.orders_table, cells)

    def _draw_positions(self) -> None:
        self.close_buttons, self.half_buttons = {}, {}
        cells: list[widgets.Widget] = [_cell(h, bold=True) for h in _POSITION_HEADERS]
        for symbol, row in self.positions.iterrows():
            name = str(symbol)
            close = _button("Close", "danger", lambda s=name: self.close_position(s))
            half = _button("Close 50%", "", lambda s=name: self.close_position(s, 50))
            close.tooltip, half.tooltip = f"close all of {name}", f"close half of {name}"
            self.close_buttons[name], self.half_buttons[name] = close, half
            pl, plpc = row["unrealized_pl"], row["unrealized_plpc"]
            pct = "" if math.isnan(plpc) else f" ({plpc:+.2%})"
            cells += [
                _cell(name, bold=True),
                _cell(f"{row['qty']:g}", color=style.side_color(str(row["side"]))),
                _cell(_price(row["avg_entry_price"])),
                _cell(_price(row["current_price"])),
                _cell(style.money(row["market_value"])),
                _cell(_signed_money(pl) + pct, color=_pl_color(pl)),
                close,
                half,
            ]
        if self.positions.empty:
            cells.append(_cell(style.note("no positions")))
        _replace_children(self.positions_table, cells)

    def _say(self, text: str, tone: str = "info") -> None:
        self.message.value = style.note(text, tone)


def _grid(columns: int) -> widgets.Layout:
    return widgets.Layout(
        grid_template_columns=f"repeat({columns}, max-content)",
        grid_gap="2px 14px",
        align_items="center",
        width="max-content",
    )


def _key(frame: pd.DataFrame, columns: tuple[str, ...]) -> Any:
    """What a table shows, as something comparable: redraw only when it changed."""
    if frame.empty:
        return ()
    shown = [c for c in columns if c in frame.columns]
    return tuple(map(tuple, frame[shown].astype(str).itertuples(index=True, name=None)))


def _close_children(box: widgets.Box) -> None:
    for child in box.children:
        child.close()


def _replace_children(box: widgets.Box, cells: list[widgets.Widget]) -> None:
    old = box.children
    box.children = cells
    for child in old:
        child.close()

"""``Blotter``: the account, open orders and positions, with cancel and close buttons.

Tables are grids of small widgets (a DataFrame's HTML cannot hold buttons), rebuilt
only when the rows change, so refreshing every second does not make the cells flicker
or pile up widgets; an empty table keeps its header row and a note spanning it. With
``live=True`` the blotter subscribes to its account's shared
:class:`~.feed.AccountFeed` (no timer of its own); ``refresh()`` reads at once, and
tests call it directly. Every action says what happened in the message line, errors
included, and a message clears itself after a while. Times are New York time.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..errors import TradingKitError
from ..rules import NEW_YORK
from . import static, style
from .feed import AccountFeed, AccountUpdate
from .overlays import price_text

_ORDER_HEADERS = (
    "Symbol",
    "Side",
    "Qty",
    "Type",
    "Limit",
    "Stop",
    "Status",
    "Submitted (NY)",
    "",
)
#: Minimum column widths, so a table looks the same empty or full.
_ORDER_WIDTHS = ("70px", "40px", "50px", "80px", "70px", "70px", "110px", "100px", "80px")
_POSITION_WIDTHS = ("70px", "50px", "80px", "80px", "100px", "140px", "70px", "90px")
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
    """Account summary, open orders and positions of an ``Orders``, kept current.

    ``live=False`` reads only on the Refresh button (or ``refresh()``).
    ``cancel_buttons[order_id]``, ``close_buttons[symbol]`` and ``half_buttons[symbol]``
    are the row buttons, for tests and for keyboard users.
    """

    def __init__(self, orders: Any, *, live: bool = True) -> None:
        self.orders = orders
        self.cancel_buttons: dict[str, widgets.Button] = {}
        self.close_buttons: dict[str, widgets.Button] = {}
        self.half_buttons: dict[str, widgets.Button] = {}
        self.open_orders = pd.DataFrame()
        self.positions = pd.DataFrame()
        self.account: Any = None
        self._keys: tuple[Any, Any] = (None, None)
        self._said_at: float | None = None
        self._lock = threading.RLock()  # the feed's thread and the kernel's both redraw
        self.summary = widgets.HTML()
        self.updated = widgets.HTML()
        self.message = widgets.HTML()
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", layout=widgets.Layout(width="100px")
        )
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.orders_table = widgets.GridBox(layout=_grid(_ORDER_WIDTHS))
        self.positions_table = widgets.GridBox(layout=_grid(_POSITION_WIDTHS))
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
        data = orders._data
        live = live and not static.enabled()  # an exported notebook follows nothing
        self._feed = AccountFeed.of(data, orders) if live else AccountFeed(data, orders)
        self._apply(self._feed.fetch())
        self._subscription = self._feed.subscribe(self._apply) if live else None

    def __repr__(self) -> str:
        return (
            f"Blotter(open_orders={len(self.open_orders)}, positions={len(self.positions)}, "
            f"live={self.live})"
        )

    # -- public -----------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """Whether the blotter follows its account's feed."""
        subscription = getattr(self, "_subscription", None)
        return subscription is not None and not subscription.closed

    def refresh(self) -> bool:
        """Re-read the account, open orders and positions now; redraw what changed."""
        if self.live:
            update = self._feed.refresh()
        else:
            update = self._feed.fetch()
            self._apply(update)
        return update.error is None

    def cancel(self, order_id: str) -> bool:
        """Cancel an open order (what its Cancel button does)."""
        try:
            order = self.orders.cancel_order(order_id)
        except TradingKitError as failure:
            self._say(f"Cancel failed for {order_id[:8]}: {failure}", "error")
            return False
        self._say(f"Order {order_id[:8]} is {order.status}.", "ok")
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
            f"(order {order.id[:8]}).",
            "ok",
        )
        self.refresh()
        return True

    def close(self) -> None:
        """Stop following the account, then close the widgets."""
        subscription = getattr(self, "_subscription", None)  # close() also runs from __del__
        if subscription is not None:
            subscription.close()
        for name in ("orders_table", "positions_table"):  # absent if __init__ failed early
            if hasattr(self, name):
                _close_children(getattr(self, name))
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if static.enabled():
            return {"text/html": self._static_html(), "text/plain": repr(self)}
        return super()._repr_mimebundle_(**kwargs)

    # -- drawing ----------------------------------------------------------------------
    def _apply(self, update: AccountUpdate) -> None:
        with self._lock:
            if update.error is not None:
                self._say(f"Could not refresh: {update.error}", "error")
                return
            self.account = update.account
            self.open_orders = update.open_orders
            self.positions = update.positions
            self.summary.value = self._summary()
            orders_key = _key(self.open_orders, ("status", "limit_price", "stop_price", "qty"))
            positions_key = _key(self.positions, ("qty", "current_price", "unrealized_pl"))
            if orders_key != self._keys[0]:
                self._draw_orders()
            if positions_key != self._keys[1]:
                self._draw_positions()
            self._keys = (orders_key, positions_key)
            now = pd.Timestamp.now(tz=NEW_YORK).strftime("%H:%M:%S")
            self.updated.value = style.note(f"updated {now} New York time")
            if (
                self._said_at is not None
                and time.monotonic() - self._said_at > style.MESSAGE_SECONDS
            ):
                self._said_at = None
                self.message.value = ""

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

    def _order_rows(self) -> list[tuple[str, ...]]:
        rows = []
        for order_id, row in self.open_orders.iterrows():
            submitted = row["submitted_at"]
            when = (
                "" if pd.isna(submitted) else submitted.tz_convert(NEW_YORK).strftime("%m-%d %H:%M")
            )
            rows.append(
                (
                    str(row["symbol"]),
                    str(row["side"]),
                    _qty(row),
                    str(row["type"]).replace("_", " "),
                    _price(row["limit_price"]),
                    _price(row["stop_price"]),
                    str(row["status"]),
                    when,
                    str(order_id),
                )
            )
        return rows

    def _position_rows(self) -> list[tuple[str, ...]]:
        rows = []
        for symbol, row in self.positions.iterrows():
            pl, plpc = row["unrealized_pl"], row["unrealized_plpc"]
            pct = "" if math.isnan(plpc) else f" ({plpc:+.2%})"
            rows.append(
                (
                    str(symbol),
                    f"{row['qty']:g}",
                    _price(row["avg_entry_price"]),
                    _price(row["current_price"]),
                    style.money(row["market_value"]),
                    _signed_money(pl) + pct,
                    str(row["side"]),
                )
            )
        return rows

    def _draw_orders(self) -> None:
        self.cancel_buttons = {}
        cells: list[widgets.Widget] = [_cell(h, bold=True) for h in _ORDER_HEADERS]
        for symbol, side, qty, kind, limit, stop, status, when, order_id in self._order_rows():
            button = _button("Cancel", "warning", lambda i=order_id: self.cancel(i))
            button.tooltip = f"cancel order {order_id}"
            self.cancel_buttons[order_id] = button
            cells += [
                _cell(symbol, bold=True),
                _cell(side, color=style.side_color(side)),
                _cell(qty),
                _cell(kind),
                _cell(limit),
                _cell(stop),
                _cell(status),
                _cell(when),
                button,
            ]
        if self.open_orders.empty:
            cells.append(_spanning(style.note("no open orders")))
        _replace_children(self.orders_table, cells)

    def _draw_positions(self) -> None:
        self.close_buttons, self.half_buttons = {}, {}
        cells: list[widgets.Widget] = [_cell(h, bold=True) for h in _POSITION_HEADERS]
        for name, qty, entry, price, value, pl, side in self._position_rows():
            close = _button("Close", "danger", lambda s=name: self.close_position(s))
            half = _button("Close 50%", "", lambda s=name: self.close_position(s, 50))
            close.tooltip, half.tooltip = f"close all of {name}", f"close half of {name}"
            self.close_buttons[name], self.half_buttons[name] = close, half
            pl_value = self.positions.at[name, "unrealized_pl"]
            cells += [
                _cell(name, bold=True),
                _cell(qty, color=style.side_color(side)),
                _cell(entry),
                _cell(price),
                _cell(value),
                _cell(pl, color=_pl_color(pl_value)),
                close,
                half,
            ]
        if self.positions.empty:
            cells.append(_spanning(style.note("no positions")))
        _replace_children(self.positions_table, cells)

    def _say(self, text: str, tone: str = "info") -> None:
        self._said_at = time.monotonic()
        self.message.value = style.note(text, tone)

    def _static_html(self) -> str:
        orders = [(*row[:-1], row[-1][:8]) for row in self._order_rows()]
        positions = [row[:-1] for row in self._position_rows()]
        return static.panel(
            "Blotter",
            static.line(static.plain(self.summary.value)),
            static.table((*_ORDER_HEADERS[:-1], "Id"), orders, "no open orders"),
            static.table(_POSITION_HEADERS[:-2], positions, "no positions"),
            static.line(static.plain(self.updated.value)),
            css_class="trading-kit-static-blotter",
        )


def _grid(widths: tuple[str, ...]) -> widgets.Layout:
    return widgets.Layout(
        grid_template_columns=" ".join(f"minmax({w}, max-content)" for w in widths),
        grid_gap="2px 14px",
        align_items="center",
        width="max-content",
    )


def _spanning(markup: str) -> widgets.HTML:
    """A note across the whole row (an empty table keeps its columns)."""
    return widgets.HTML(markup, layout=widgets.Layout(grid_column="1 / -1"))


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

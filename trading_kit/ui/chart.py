"""``PriceChart``: candles and volume that follow the account, with open orders you drag.

The chart keeps the bars, the view (which stretch, at which timeframe: :mod:`.view`)
and what the account says (orders, fills, the position, the last price), and builds
one plotly figure from them (:mod:`.figure`). In a notebook it is shown by a
:class:`~.widget.ChartWidget`, which draws that figure with plotly.js; the same figure
is the static output (``interactive=False``, ``to_figure()``, exported HTML).

What the browser sends and what the chart does with it:

* ``move`` (one per drag, on release): the order behind the line is replaced at the
  release price snapped to the tick, after ``OrderSpec`` validation (:mod:`.moves`)
  and, in ``Orders.replace_order``, the pre-trade checks and risk rules of a new
  order. A move that would make the order trade at once asks for confirmation in the
  message line first. While the replace is in flight the line is drawn pending and
  further moves of it are ignored; a refused move puts the line back and says why.
* ``view`` (zoom, pan, resize): the candles for the new range, re-aggregated from the
  bars already fetched.
* ``pick`` (a click on a candle, a line or a fill): its price goes to the linked
  ticket, or to the most recent ticket of this symbol.

With ``live=True`` (the default) the chart subscribes to its account's shared
:class:`~.feed.AccountFeed`: orders placed, replaced, cancelled or filled anywhere
appear within a second or two, new bars arrive at the right edge, and the last
price is drawn as a line with a tag on the price axis. ``close()`` unsubscribes.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ..data.timeframes import parse_timeframe
from ..errors import MarketDataError, OrderValidationError, TradingKitError
from ..orders.frames import OPEN_STATUSES, ORDER_COLUMNS
from ..rules import TICKER_HINT, ticker, to_utc
from . import static, style
from .candles import DURATION, BarSeries, single_symbol
from .feed import AccountFeed, AccountUpdate
from .figure import CONFIG, Mark, figure, from_axis, handles
from .moves import check_move, marketable
from .overlays import Fill, Level, entry_level, fills, order_levels, price_text
from .view import View, default_range, right_margin, view_of, visible_candles


class PriceChart:
    """Candles with a volume panel, open orders as draggable lines, fills as markers.

    ``data`` is a ``MarketData`` (or pass ``bars=``, a frame from ``get_bars``);
    ``orders`` an ``Orders`` for the overlays and drag-to-replace; ``ticket`` an
    ``OrderTicket`` whose price a click sets (and whose submissions show at once).
    ``chart.figure`` is the figure as it stands (a ``go.Figure``), ``chart.message``
    the last thing the chart said, ``chart.widget`` the browser view.
    """

    def __init__(
        self,
        data: Any,
        symbol: str,
        timeframe: str = "5Min",
        *,
        orders: Any = None,
        start: Any = None,
        end: Any = None,
        limit: int | None = None,
        ticket: Any = None,
        bars: pd.DataFrame | None = None,
        interactive: bool | None = None,
        live: bool = True,
        height: int = 560,
    ) -> None:
        name = ticker(symbol)
        if name is None:
            raise MarketDataError(f"symbol={symbol!r} is not a ticker: {TICKER_HINT}.")
        self.symbol = name
        self.timeframe = parse_timeframe(timeframe)
        self.data = data if data is not None else getattr(orders, "_data", None)
        if bars is None and self.data is None:
            raise MarketDataError(
                "PriceChart needs data= (a MarketData, e.g. kit.data) or bars= (a frame from "
                "get_bars) to draw anything."
            )
        self.orders = orders
        self.ticket = ticket
        self.height = height
        self.message = ""
        self._tone = "info"
        self._said_at: float | None = None
        self._lock = threading.RLock()  # the feed's thread and the kernel's both update it
        if bars is None:
            if start is None and end is None:
                end = _market_now(self.data, self.symbol)
            bars = self.data.get_bars(
                self.symbol, timeframe, start, end, limit=limit, progress=False
            )
        self.series = BarSeries(single_symbol(bars, self.symbol), self.timeframe)
        self._candles = visible_candles(None)
        self._revision = 0
        self._view: View | None = None
        self._reset_view()
        self._orders = pd.DataFrame(columns=list(ORDER_COLUMNS))
        self._levels: list[Level] = []
        self._fills: list[Fill] = []
        self._last: float | None = None
        self._marks: dict[str, Mark] = {}
        self._proposal: tuple[Level, Decimal] | None = None
        self._shown: tuple[Any, Any] | None = None
        self._feed: AccountFeed | None = None
        self._subscription: Any = None
        self.widget: Any = None
        # An exported notebook (static HTML) has no one to follow the account for.
        follow = live and interactive is not False and self.data is not None
        follow = follow and not static.enabled()
        if self.data is not None:
            self._feed = (
                AccountFeed.of(self.data, orders) if follow else AccountFeed(self.data, orders)
            )
            self._apply(self._feed.fetch([self.symbol]))
        if interactive is not False:
            self._make_widget()
        self._views = 0  # views on screen (the browser says when one comes and goes)
        if follow and self._feed is not None:
            self._follow()
        if ticket is not None and hasattr(ticket, "on_submitted"):
            ticket.on_submitted(lambda _order: self.refresh())

    def __repr__(self) -> str:
        view = self._view
        shown = len(view.candles.frame) if view is not None else 0
        candles = view.candles.timeframe if view is not None else self.timeframe
        return (
            f"PriceChart({self.symbol!r}, {self.timeframe!r}, bars={len(self.series)}, "
            f"drawn={shown} {candles} candles, live={self.live})"
        )

    # -- public -----------------------------------------------------------------------
    @property
    def interactive(self) -> bool:
        return self.widget is not None

    @property
    def live(self) -> bool:
        return self._subscription is not None and not self._subscription.closed

    @property
    def levels(self) -> list[Level]:
        """The order and entry lines, as drawn (in or beyond the price axis)."""
        return list(self._levels)

    @property
    def view(self) -> View | None:
        """The visible range and the candles drawn for it."""
        return self._view

    @property
    def candles(self) -> pd.DataFrame:
        """The candles drawn (OHLCV, indexed by each candle's first bar time, UTC)."""
        return self._view.candles.frame if self._view is not None else self.series.frame

    @property
    def figure(self) -> go.Figure:
        """The figure as it stands (a fresh ``go.Figure`` each time)."""
        return self.to_figure()

    def figure_dict(self) -> dict[str, Any]:
        """The figure as the plain dict plotly.js draws (what the widget holds)."""
        with self._lock:
            return figure(
                symbol=self.symbol,
                base=self.timeframe,
                view=self._view,
                levels=self._levels,
                marks=self._marks,
                fills=self._fills,
                last=self._last,
                height=self.height,
                revision=self._revision,
            )

    def to_figure(self) -> go.Figure:
        """A plain ``go.Figure`` (static output, HTML export, ``write_image``)."""
        return go.Figure(self.figure_dict())

    def refresh(self) -> None:
        """Read the account, orders and prices now and redraw (the feed does it on its own)."""
        if self._feed is None:
            return
        if self.live:
            self._feed.refresh()  # everyone on this account sees it, this chart included
        else:
            self._apply(self._feed.fetch([self.symbol], {self._series_key: self._since}))

    def set_view(self, start: Any, end: Any, width: float | None = None) -> None:
        """Show [start, end] (what zoom and pan do), at the timeframe that fits.

        Naive times are UTC (as everywhere in trading_kit); the browser's are converted
        from New York time before they get here.
        """
        try:
            start, end = to_utc(start), to_utc(end)
        except (TypeError, ValueError):
            raise MarketDataError(
                f"set_view needs two dates or times, got start={start!r}, end={end!r}; "
                "pass e.g. '2024-03-05 14:30' (UTC) or tz-aware timestamps."
            ) from None
        if end <= start:
            raise MarketDataError(
                f"set_view: start {start.isoformat()} is not before end {end.isoformat()}."
            )
        with self._lock:
            if width:
                self._candles = visible_candles(width)
            if not len(self.series):
                return
            self._view = view_of(self.series, start, end, self._candles)
        self._push()

    def show_all(self) -> None:
        """Zoom out to every bar (what a double-click does)."""
        with self._lock:
            first, last = self.series.first, self.series.last
            if first is None or last is None:
                return
            timeframe = self.series.fitting(first, last, self._candles)
            self._revision += 1
            self._view = view_of(
                self.series,
                first - DURATION[timeframe],
                last + right_margin(timeframe, self._candles),
                self._candles,
            )
        self._push()

    def move_order(self, order_id: str, price: float, field: str | None = None) -> bool:
        """Move an open order's limit (or stop) to ``price``, as a drag of its line does."""
        for level in self._levels:
            if level.order_id == order_id and (field is None or level.field == field):
                return self.move_line(level.key, price)
        raise KeyError(f"order {order_id} has no {field or 'price'} line on this chart.")

    def move_line(self, key: str, price: float) -> bool:
        """Replace the order behind line ``key`` at ``price`` (one drag). Returns whether it
        was replaced; a move that needs confirmation returns ``False`` and waits."""
        with self._lock:
            level = next((lv for lv in self._levels if lv.key == key), None)
            if level is None:
                self._say(
                    "That line is no longer on the chart (its order changed); nothing sent.", "warn"
                )
                return False
            if key in self._marks:
                state = self._marks[key].state
                what = "is being replaced" if state == "pending" else "awaits your confirmation"
                self._say(f"{level.label} {what}; this move was ignored.", "warn")
                return False
            if not level.editable or self.orders is None or level.order_id is None:
                self._say(f"{level.label}: this line cannot be moved.", "warn")
                return False
            if self._proposal is not None:
                self._drop_proposal(f"Kept {self._proposal[0].label}.")
            try:
                new = check_move(self._orders, level.order_id, level.field or "", price)
            except OrderValidationError as failure:
                self._say(f"Not moved ({level.label}): {failure}", "error")
                return False
            if float(new) == level.price:
                self._say(f"{level.label}: unchanged.")
                return False
            reason = self._marketable(level, float(new))
            if reason is not None:
                self._proposal = (level, new)
                self._marks[key] = Mark("proposed", float(new))
                self._say(
                    f"Move {level.label} to {price_text(float(new))}? {reason}, so it would "
                    "trade at once.",
                    "warn",
                    confirm=True,
                )
                return False
        return self._replace(level, new)

    def confirm(self) -> bool:
        """Send the move awaiting confirmation (the message line's button)."""
        with self._lock:
            proposal, self._proposal = self._proposal, None
            if proposal is None:
                self._say("Nothing to confirm.")
                return False
            level, new = proposal
            self._marks.pop(level.key, None)
        return self._replace(level, new)

    def cancel(self) -> None:
        """Drop the move awaiting confirmation: the line goes back to its order's price."""
        with self._lock:
            if self._proposal is not None:
                self._drop_proposal(f"Kept {self._proposal[0].label}; nothing sent.")

    def save_png(self, path: str | Path, *, width: int = 1100, scale: float = 1.0) -> Path:
        """Write the chart as a PNG through kaleido (which drives a Chrome or Chromium)."""
        target = Path(path)
        try:
            import kaleido  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "save_png needs kaleido: pip install 'kaleido>=1.0' (and a Chrome or Chromium, "
                "e.g. apt-get install -y chromium)."
            ) from None
        try:
            self.to_figure().write_image(
                str(target), format="png", width=width, height=self.height, scale=scale
            )
        except Exception as failure:  # kaleido's errors name neither the fix nor the file
            raise RuntimeError(
                f"Could not write {target}: {failure}. kaleido needs a Chrome or Chromium "
                "browser: apt-get install -y chromium (Debian), or run plotly_get_chrome."
            ) from failure
        return target

    def close(self) -> None:
        """Stop following the account and close the browser view."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self.widget is not None:
            self.widget.close()

    def _follow(self) -> None:
        """Subscribe to the account's shared feed (again, when a view comes back on screen)."""
        self._feed = AccountFeed.of(self.data, self.orders)
        self._subscription = self._feed.subscribe(
            self._on_update, symbols=[self.symbol], series={self._series_key: self._since}
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> Any:
        if static.enabled():
            return {
                "text/html": static.figure_html(self.figure_dict(), CONFIG),
                "text/plain": repr(self),
            }
        shown = self.widget if self.widget is not None else self.to_figure()
        bundle = shown._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {}
        if isinstance(bundle, tuple):  # anywidget answers (data, metadata)
            bundle = bundle[0]
        return {**bundle, "text/plain": repr(self)}

    # -- account and prices -----------------------------------------------------------
    @property
    def _series_key(self) -> tuple[str, str]:
        return (self.symbol, self.timeframe)

    @property
    def _since(self) -> pd.Timestamp | None:
        return self.series.last

    def _on_update(self, update: AccountUpdate) -> None:
        self._apply(update)

    def _apply(self, update: AccountUpdate) -> None:
        """Take one read of the account and prices; redraw what changed."""
        with self._lock:
            if update.error is not None:
                self._say(f"Could not refresh: {update.error}", "error")
                return
            if update.orders is not None:
                self._orders = update.orders
                mine = update.orders[
                    (update.orders["symbol"] == self.symbol)
                    & update.orders["status"].isin(OPEN_STATUSES)
                ]
                self._levels = order_levels(mine, self.symbol)
                entry = entry_level(update.positions, self.symbol)
                if entry is not None:
                    self._levels.append(entry)
                self._fills = fills(update.orders, self.symbol)
                keys = {level.key for level in self._levels}
                self._marks = {k: m for k, m in self._marks.items() if k in keys}
                if self._proposal is not None and self._proposal[0].key not in keys:
                    self._proposal = None
                    self._say(
                        "The order awaiting confirmation changed meanwhile; nothing sent.", "warn"
                    )
            last = update.last_price(self.symbol)
            if last is not None:
                self._last = last
            elif self._last is None and len(self.series):
                self._last = float(self.series.frame["close"].iloc[-1])
            new_bars = update.bars.get(self._series_key)
            if new_bars is not None:
                grew = self.series.append(single_symbol(new_bars, self.symbol))
                if grew:
                    self._follow_bars()
                if self._subscription is not None:
                    self._subscription.series[self._series_key] = self._since
            said = self._said_at
            stale = said is not None and time.monotonic() - said > style.MESSAGE_SECONDS
            if stale and self._proposal is None:
                self._say("")  # an old message clears; a question waits for its answer
        self._push()

    def _follow_bars(self) -> None:
        """New bars arrived: a view that showed the latest bar scrolls along with it."""
        view = self._view
        if view is None:
            self._reset_view()
            return
        if not view.following:
            self._view = view_of(self.series, view.start, view.end, self._candles)
            return
        shift = self.series.last - self.series.frame.index[-2] if len(self.series) > 1 else None
        if shift is None:
            self._reset_view()
            return
        self._revision += 1
        self._view = view_of(self.series, view.start + shift, view.end + shift, self._candles)

    def _reset_view(self) -> None:
        span = default_range(self.series, self._candles)
        if span is None:
            self._view = None
            return
        self._revision += 1
        self._view = view_of(self.series, span[0], span[1], self._candles)

    def _marketable(self, level: Level, price: float) -> str | None:
        row = self._orders.loc[level.order_id] if level.order_id in self._orders.index else None
        if row is None or self.data is None:
            return None
        try:
            quote = self.data.get_latest_quote(self.symbol, use_cache=False)
        except TradingKitError:
            return None
        if quote.empty:
            return None
        bid, ask = float(quote["bid_price"].iloc[0]), float(quote["ask_price"].iloc[0])
        return marketable(str(row["type"]), level.side, level.field or "", price, bid, ask)

    def _replace(self, level: Level, new: Decimal) -> bool:
        """One replace, with the line drawn pending until the broker has answered."""
        with self._lock:
            self._marks[level.key] = Mark("pending", float(new))
            self._say(f"Replacing {level.label} → {price_text(float(new))}…")
        try:
            order = self.orders.replace_order(level.order_id, **{level.field or "": new})
        except TradingKitError as failure:
            with self._lock:
                self._marks.pop(level.key, None)
                self._say(f"Not moved ({level.label}): {failure}", "error")
            return False
        with self._lock:
            self._marks.pop(level.key, None)
            self._levels = [
                lv.moved(float(new), order.id) if lv.key == level.key else lv for lv in self._levels
            ]
            self._say(
                f"Replaced {level.label} → {price_text(float(new))} (new order {order.id[:8]}).",
                "ok",
            )
        follow = getattr(self._ticket_for_clicks(), "follow_replacement", None)
        if follow is not None:
            follow(level.order_id, order)
        self.refresh()
        return True

    def _drop_proposal(self, text: str) -> None:
        level, _ = self._proposal
        self._proposal = None
        self._marks.pop(level.key, None)
        self._say(text)

    # -- the browser ------------------------------------------------------------------
    def _make_widget(self) -> None:
        from .widget import ChartWidget

        self.widget = ChartWidget(height=self.height)
        self.widget.on_msg(self._on_message)
        self._push()

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """One message from the browser (see the module docstring)."""
        event = content.get("event")
        try:
            if event == "move":
                self.move_line(str(content.get("key")), _number(content.get("price")))
            elif event == "view":
                self._on_view(content)
            elif event == "pick":
                self._pick(_number(content.get("price")), str(content.get("what") or "price"))
            elif event == "confirm":
                self.confirm()
            elif event == "cancel":
                self.cancel()
            elif event == "detached":
                self._on_detached()
        finally:
            seq = content.get("seq")
            if self.widget is not None and isinstance(seq, int):
                self.widget.handled = max(self.widget.handled, seq)

    def _on_detached(self) -> None:
        """A view left the screen (its output cleared, its notebook closed). With none left,
        the chart stops following the account until a view comes back."""
        self._views = max(0, self._views - 1)
        if self._views == 0 and self._subscription is not None:
            self._subscription.close()  # paused: the chart stays usable, the feed may stop

    def _on_view(self, content: dict[str, Any]) -> None:
        """A zoom or pan (a new range), a resize or the first draw (a width), or "all"."""
        width = content.get("width")
        if content.get("initial"):
            self._views += 1
            if self._subscription is not None and self._subscription.closed:
                self._follow()  # back on screen after a pause
                self.refresh()
        if content.get("all"):
            self.show_all()
            return
        if "x0" in content and "x1" in content:
            try:
                start, end = from_axis(content["x0"]), from_axis(content["x1"])
            except (TypeError, ValueError):
                return  # not a range plotly could have sent
            if start < end:
                self.set_view(start, end, width)
            return
        with self._lock:
            candles = visible_candles(width)
            if candles == self._candles:
                return
            self._candles = candles
            if content.get("initial") or self._view is None:
                self._reset_view()  # the default view, now that the width is known
            else:
                self._view = view_of(self.series, self._view.start, self._view.end, candles)
        self._push()

    def _ticket_for_clicks(self) -> Any:
        if self.ticket is not None:
            return self.ticket
        from .ticket import OrderTicket

        return OrderTicket.most_recent(self.symbol)

    def _pick(self, price: float, what: str) -> None:
        ticket = self._ticket_for_clicks()
        if ticket is None:
            self._say(
                f"{what}: {price_text(price)}. To use it as a price, open a ticket for "
                f"{self.symbol} (kit.ticket({self.symbol!r})) or pass ticket= to kit.chart."
            )
            return
        field = ticket.set_price(price)
        label = "Stop price" if field == "stop_price" else "Limit price"
        self._say(f"Ticket {label.lower()} set to {price_text(price)} ({what}).", "ok")

    def _say(self, text: str, tone: str = "info", *, confirm: bool = False) -> None:
        self.message, self._tone = text, tone
        self._said_at = time.monotonic() if text else None
        if self.widget is not None:
            self.widget.message = {"text": text, "tone": tone, "confirm": confirm}
        self._push()

    def _push(self) -> None:
        """Send the figure and the lines to the browser, if they changed."""
        if self.widget is None:
            return
        with self._lock:
            fig = self.figure_dict()
            y_range = (
                tuple(fig["layout"]["yaxis"]["range"])
                if "range" in fig["layout"]["yaxis"]
                else None
            )
            lines = handles(self._levels, self._marks, y_range)  # type: ignore[arg-type]
            if (fig, lines) == self._shown:
                return
            self._shown = (fig, lines)
            with self.widget.hold_sync():
                self.widget.figure = fig
                self.widget.lines = lines


def _market_now(data: Any, symbol: str) -> pd.Timestamp | None:
    """The time of the latest quote: "now" on the market the data comes from.

    A local exchange on a manual clock lives in its own time (say, a day in 2024), so
    "the last five days" must count back from its clock, not the computer's.
    """
    quote = data.get_latest_quote(symbol)
    if quote.empty or "timestamp" not in quote:
        return None
    return pd.Timestamp(quote["timestamp"].iloc[0])


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")

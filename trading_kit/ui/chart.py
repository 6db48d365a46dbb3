"""``PriceChart``: candles and volume, with open orders you can drag to a new price.

The figure is built once as a plain ``go.Figure`` (candles, volume, order levels, fills,
the position's entry) and only then wrapped in a ``FigureWidget``: a FigureWidget
changed after construction and then placed in a box renders without those changes.
Without anywidget (or with ``interactive=False``) the plain figure is the output.

On the widget:

* clicking a candle (its close), an order level or a fill sets the linked ticket's
  limit or stop price (``OrderTicket.set_price``);
* each movable order price is an editable line shape. plotly delivers a drag to
  Python as a relayout of ``shapes[i].y0/y1``; ``layout.on_change(..., "shapes")``
  hands it to :meth:`PriceChart.move_level`, which snaps the price to the tick,
  validates the moved order with ``OrderSpec`` (:mod:`.moves`), and replaces the
  order. A refused move puts the line back where the order is and says why.

Long ranges are folded into at most ``max_candles`` candles (:mod:`.candles`), and
the title says so, so 100,000 bars draw as quickly as 1,000.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import TradingKitError
from ..orders.frames import OPEN_STATUSES, ORDER_COLUMNS
from ..rules import NEW_YORK
from . import style
from .candles import Candles, aggregate, single_symbol
from .moves import check_move
from .overlays import Fill, Level, entry_level, fills, order_levels, price_text

#: Candles drawn at most: about one per pixel column of a wide notebook cell.
MAX_CANDLES = 1_000
#: Orders read per refresh (newest first): open ones and recent fills.
ORDER_HISTORY = 500
_CANDLE, _LEVELS, _BUYS, _SELLS, _VOLUME = range(5)


class PriceChart:
    """Candles with a volume panel, open orders as draggable lines, fills as markers.

    ``data`` is a ``MarketData`` (or pass ``bars=``, a frame from ``get_bars``);
    ``orders`` an ``Orders`` for the overlays and drag-to-modify; ``ticket`` an
    ``OrderTicket`` whose price a click sets (and whose submissions refresh the
    chart). Times are shown in New York time. ``chart.figure`` is the live figure
    (a ``FigureWidget`` when interactive), ``chart.message`` the last thing it said.
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
        max_candles: int = MAX_CANDLES,
        interactive: bool | None = None,
        height: int = 560,
    ) -> None:
        self.symbol = symbol.strip().upper()
        self.timeframe = timeframe
        self.orders = orders
        self.ticket = ticket
        self.height = height
        self.message = ""
        if bars is None:
            if start is None and end is None:
                end = _market_now(data, self.symbol)
            bars = data.get_bars(self.symbol, timeframe, start, end, limit=limit, progress=False)
        bars = single_symbol(bars, self.symbol)
        self.candles: Candles = aggregate(bars, max_candles)
        self._x = _local_times(self.candles.frame.index)
        self._rangebreaks = _rangebreaks(bars.index)
        self._orders = pd.DataFrame(columns=list(ORDER_COLUMNS))
        self._positions = pd.DataFrame()
        self._levels: list[Level] = []
        self._fills: list[Fill] = []
        self._syncing = False
        if orders is not None:
            self._load()
        self.figure: go.Figure = self._build()
        self._box: Any = None
        self._note: Any = None
        if interactive is not False:
            self._make_widget(required=interactive is True)
        if ticket is not None and hasattr(ticket, "on_submitted"):
            ticket.on_submitted(lambda _order: self.refresh())

    def __repr__(self) -> str:
        return (
            f"PriceChart({self.symbol!r}, {self.timeframe!r}, candles={len(self.candles.frame)}, "
            f"bars={self.candles.bars}, interactive={self.interactive})"
        )

    # -- public -----------------------------------------------------------------------
    @property
    def interactive(self) -> bool:
        return isinstance(self.figure, go.FigureWidget)

    @property
    def levels(self) -> list[Level]:
        """The lines drawn, in the order of ``figure.layout.shapes``."""
        return list(self._levels)

    @property
    def widget(self) -> Any:
        """The figure and its message line in a box (``None`` when not interactive)."""
        return self._box

    def to_figure(self) -> go.Figure:
        """A plain ``go.Figure`` copy (static output, HTML export, ``write_image``)."""
        return go.Figure(self.figure)

    def refresh(self) -> None:
        """Re-read orders and the position and redraw the overlays (candles stay)."""
        if self.orders is None:
            return
        self._load()
        with self._sync(), _batch(self.figure):
            self.figure.layout.shapes = [_shape(level) for level in self._levels]
            _set_levels_trace(self.figure.data[_LEVELS], self._levels, self._x)
            _set_fills_trace(self.figure.data[_BUYS], self._fills_of("buy"))
            _set_fills_trace(self.figure.data[_SELLS], self._fills_of("sell"))

    def move_order(self, order_id: str, price: float, field: str | None = None) -> bool:
        """Move an open order's limit (or stop) to ``price``, as a drag of its line does."""
        for i, level in enumerate(self._levels):
            if level.order_id == order_id and (field is None or level.field == field):
                return self.move_level(i, price)
        raise KeyError(f"order {order_id} has no {field or 'price'} line on this chart.")

    def move_level(self, index: int, price: float) -> bool:
        """Replace the order behind line ``index`` at ``price``; put the line back if refused."""
        level = self._levels[index]
        if not level.editable or self.orders is None or level.order_id is None:
            self._put_back(index)
            self._say(f"{level.label}: this line cannot be moved.", "warn")
            return False
        try:
            new = check_move(self._orders, level.order_id, level.field or "", price)
            if float(new) == level.price:
                self._put_back(index)
                return False
            order = self.orders.replace_order(level.order_id, **{level.field or "": new})
        except TradingKitError as failure:
            self._put_back(index)
            self._say(f"Not moved ({level.label}): {failure}", "error")
            return False
        self.refresh()
        self._say(
            f"Replaced {level.label} → {price_text(float(new))} (new order {order.id}).", "ok"
        )
        return True

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

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> Any:
        shown = self._box if self._box is not None else self.figure
        bundle = dict(shown._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {})
        bundle["text/plain"] = repr(self)  # not the widget's repr: that spells out every candle
        return bundle

    # -- data -------------------------------------------------------------------------
    def _load(self) -> None:
        self._orders = self.orders.get_orders(
            "all", symbols=[self.symbol], limit=ORDER_HISTORY, direction="desc"
        )
        self._positions = self.orders.get_positions()
        open_orders = self._orders[self._orders["status"].isin(OPEN_STATUSES)]
        self._levels = order_levels(open_orders, self.symbol)
        entry = entry_level(self._positions, self.symbol)
        if entry is not None:
            self._levels.append(entry)
        self._fills = fills(self._orders, self.symbol)

    def _fills_of(self, side: str) -> list[Fill]:
        return [f for f in self._fills if f.side == side]

    # -- figure -----------------------------------------------------------------------
    def _build(self) -> go.Figure:
        frame = self.candles.frame
        fig = make_subplots(
            rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.03
        )
        opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
        fig.add_trace(
            go.Candlestick(
                x=self._x,
                open=opens,
                high=frame["high"].to_numpy(),
                low=frame["low"].to_numpy(),
                close=closes,
                name=self.symbol,
                increasing={"line": {"color": style.BUY}, "fillcolor": style.BUY},
                decreasing={"line": {"color": style.SELL}, "fillcolor": style.SELL},
                showlegend=False,
            ),
            row=1,
            col=1,
        )
        levels = go.Scatter(
            mode="markers",
            name="orders",
            marker={"symbol": "line-ew-open", "size": 18, "line": {"width": 2}},
            hoverinfo="text",
            showlegend=False,
        )
        _set_levels_trace(levels, self._levels, self._x)
        fig.add_trace(levels, row=1, col=1)
        for side, symbol in (("buy", "triangle-up"), ("sell", "triangle-down")):
            trace = go.Scatter(
                mode="markers",
                name=f"{side} fills",
                marker={"symbol": symbol, "size": 11, "color": style.side_color(side)},
                hoverinfo="text",
            )
            _set_fills_trace(trace, self._fills_of(side))
            fig.add_trace(trace, row=1, col=1)
        up = closes >= opens
        fig.add_trace(
            go.Bar(
                x=self._x,
                y=frame["volume"].to_numpy(),
                name="volume",
                marker={"color": np.where(up, style.BUY, style.SELL), "opacity": 0.5},
                showlegend=False,
            ),
            row=2,
            col=1,
        )
        fig.update_layout(
            title={"text": self._title(), "font": {"size": 14}},
            height=self.height,
            margin={"l": 50, "r": 20, "t": 50, "b": 30},
            paper_bgcolor="rgba(0,0,0,0)",
            plot_bgcolor="rgba(0,0,0,0)",
            font={"color": style.TEXT},
            legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
            hovermode="x",
            bargap=0,
            shapes=[_shape(level) for level in self._levels],
            xaxis_rangeslider_visible=False,
        )
        fig.update_xaxes(
            gridcolor=style.GRID, rangebreaks=self._rangebreaks, range=_x_range(self._x)
        )
        fig.update_yaxes(gridcolor=style.GRID, zeroline=False)
        fig.update_yaxes(title_text="price", row=1, col=1)
        fig.update_yaxes(title_text="volume", row=2, col=1)
        return fig

    def _title(self) -> str:
        candles = self.candles
        if not candles.bars:
            return f"{self.symbol} · {self.timeframe} · no bars in this range"
        text = f"{self.symbol} · {self.timeframe} · {candles.bars:,} bars · New York time"
        if candles.aggregated:
            text += (
                f"<br><sub>aggregated to {len(candles.frame):,} candles of "
                f"{candles.group} bars each; zoom in with a narrower start/end for detail</sub>"
            )
        return text

    # -- widget -----------------------------------------------------------------------
    def _make_widget(self, *, required: bool) -> None:
        try:
            import ipywidgets as widgets

            live = go.FigureWidget(self.figure)  # wrap only the finished figure
        except ImportError as missing:
            if required:
                raise RuntimeError(
                    f"an interactive chart needs anywidget and ipywidgets ({missing}); "
                    "pip install anywidget ipywidgets, or pass interactive=False."
                ) from None
            return
        self.figure = live
        self._note = widgets.HTML(layout=widgets.Layout(min_height="1.5em"))
        self._box = widgets.VBox([live, self._note])
        live.layout.on_change(self._on_shapes, "shapes")
        live.data[_CANDLE].on_click(self._on_candle_click)
        for index in (_LEVELS, _BUYS, _SELLS):
            live.data[index].on_click(self._on_price_click)

    def _on_shapes(self, _layout: Any, shapes: Any) -> None:
        """A drag arrived (or Python changed the shapes): act on the line that moved."""
        if self._syncing:
            return
        for index, (shape, level) in enumerate(zip(shapes, self._levels, strict=False)):
            if not _moved(shape, level.price):
                continue
            y0, y1 = _number(shape.y0), _number(shape.y1)
            self.move_level(index, (y0 + y1) / 2)
            return

    def _on_candle_click(self, _trace: Any, points: Any, _state: Any) -> None:
        if points.point_inds:
            close = float(self.candles.frame["close"].iloc[points.point_inds[0]])
            self._pick(close, "candle close")

    def _on_price_click(self, _trace: Any, points: Any, _state: Any) -> None:
        if points.point_inds and points.ys and points.ys[0] is not None:
            self._pick(float(points.ys[0]), "level")

    def _pick(self, price: float, what: str) -> None:
        if self.ticket is None:
            self._say(f"{what} {price_text(price)} (link a ticket to use it as a price)")
            return
        field = self.ticket.set_price(price)
        self._say(f"Ticket {field.replace('_', ' ')} set to {price_text(price)} ({what}).", "ok")

    def _put_back(self, index: int) -> None:
        level = self._levels[index]
        with self._sync():
            self.figure.layout.shapes[index].update(x0=0, x1=1, y0=level.price, y1=level.price)

    def _say(self, text: str, tone: str = "info") -> None:
        self.message = text
        if self._note is not None:
            self._note.value = style.note(text, tone)

    @contextlib.contextmanager
    def _sync(self) -> Iterator[None]:
        """Changes made here are ours, not a user's drag: the shape callback ignores them."""
        self._syncing, before = True, self._syncing
        try:
            yield
        finally:
            self._syncing = before


def _market_now(data: Any, symbol: str) -> pd.Timestamp | None:
    """The time of the latest quote: "now" on the market the data comes from.

    A local exchange on a manual clock lives in its own time (say, a day in 2024), so
    "the last five days" must count back from its clock, not the computer's.
    """
    quote = data.get_latest_quote(symbol)
    if quote.empty or "timestamp" not in quote:
        return None
    return pd.Timestamp(quote["timestamp"].iloc[0])


# -- figure pieces ------------------------------------------------------------------------
def _local_times(index: pd.Index) -> np.ndarray:
    """Timestamps as naive New York wall-clock times (what plotly's date axis shows)."""
    stamps = pd.DatetimeIndex(index)
    if stamps.tz is None:
        stamps = stamps.tz_localize("UTC")
    # Microseconds: a FigureWidget sends datetime64[ns] to the browser as bare integers,
    # and plotly.js then draws a numeric axis with no candles on it.
    return stamps.tz_convert(NEW_YORK).tz_localize(None).to_numpy().astype("datetime64[us]")


def _rangebreaks(index: pd.Index) -> list[dict[str, Any]]:
    """Hide weekends, holidays and (for intraday bars) the hours with no bars at all."""
    if len(index) < 2:
        return []
    local = pd.DatetimeIndex(_local_times(index))
    days = local.normalize().unique()
    missing = pd.date_range(days[0], days[-1], freq="D").difference(days)
    breaks: list[dict[str, Any]] = []
    if not (days.day_of_week >= 5).any():  # no weekend trading (an always-open market has it)
        breaks.append({"bounds": ["sat", "mon"]})
        missing = missing[missing.day_of_week < 5]
    if len(missing):
        breaks.append({"values": [d.strftime("%Y-%m-%d") for d in missing]})
    step = np.diff(local[: min(len(local), 2_000)].asi8)
    step = step[step > 0]
    bar = pd.Timedelta(int(step.min()) if len(step) else 0, "ns")
    if pd.Timedelta(0) < bar < pd.Timedelta(hours=4):
        minutes = local.hour * 60 + local.minute
        first = int(minutes.min())
        last = int(minutes.max()) + bar.total_seconds() / 60
        if last - first < 24 * 60 - 30:
            breaks.append({"pattern": "hour", "bounds": [last / 60, first / 60]})
    return breaks


def _x_range(x: np.ndarray) -> list[Any] | None:
    """The candles plus a little room on the right for the line labels.

    Set explicitly: autorange pads for the level markers as if there were no
    rangebreaks, which leaves half a blank day at the right edge.
    """
    if len(x) < 2:
        return None
    step = np.diff(x[-min(len(x), 50) :]).min()
    return [x[0] - step, x[-1] + step * max(2, len(x) // 30)]


def _shape(level: Level) -> dict[str, Any]:
    color = style.ENTRY if level.kind == "entry" else style.side_color(level.side)
    dash = {"limit": "solid", "stop": "dash", "entry": "dot"}[level.kind]
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": level.price,
        "y1": level.price,
        "editable": level.editable,
        "name": f"{level.kind}:{level.order_id or 'position'}",
        "line": {"color": color, "width": 2 if level.editable else 1, "dash": dash},
        "label": {
            "text": level.label + (" ⇕" if level.editable else ""),
            "textposition": "end",
            "yanchor": "bottom",
            "font": {"size": 11, "color": color},
        },
    }


def _set_levels_trace(trace: Any, levels: list[Level], x: np.ndarray) -> None:
    """Clickable markers at the right edge, one per line (shapes themselves get no clicks)."""
    at = x[-1] if len(x) else None
    trace.update(
        x=[at] * len(levels),
        y=[level.price for level in levels],
        hovertext=[level.label for level in levels],
        marker={
            "color": [
                style.ENTRY if level.kind == "entry" else style.side_color(level.side)
                for level in levels
            ]
        },
    )


def _set_fills_trace(trace: Any, items: list[Fill]) -> None:
    times = pd.DatetimeIndex([f.time for f in items], dtype="datetime64[ns, UTC]")
    trace.update(
        x=_local_times(times) if len(items) else [],
        y=[f.price for f in items],
        hovertext=[f"{f.side.upper()} {f.qty:g} @ {price_text(f.price)}" for f in items],
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _moved(shape: Any, price: float) -> bool:
    y0, y1 = _number(shape.y0), _number(shape.y1)
    if math.isnan(y0) or math.isnan(y1):
        return False
    return abs(y0 - price) > 1e-9 or abs(y1 - price) > 1e-9


@contextlib.contextmanager
def _batch(fig: go.Figure) -> Iterator[None]:
    """``batch_update`` on a FigureWidget (one message to the browser), nothing otherwise."""
    if isinstance(fig, go.FigureWidget):
        with fig.batch_update():
            yield
    else:
        yield

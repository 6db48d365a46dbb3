"""The chart's browser side: an anywidget that draws the figure with plotly.js.

Why not plotly's ``FigureWidget``: it redraws an editable shape on every mouse move
and sends each position to Python, so one drag of an order line became a replace per
move; and its widget state carries the whole plotly.js bundle (about 5 MB) with every
chart. Here:

* ``chart.js`` draws the figure Python builds (:mod:`.figure`) and handles the mouse
  itself: pressing on an order line and dragging moves a ghost of it, and only the
  release sends one ``{"event": "move"}`` message; zoom and pan send the new visible
  range (``"view"``), a click on a candle or a line its price (``"pick"``), the
  confirm and cancel buttons of the message line theirs.
* plotly.js travels once per page: one :class:`PlotlyBundle` model per kernel holds
  the plotly package's own ``plotly.min.js`` (no CDN, no network); each chart's state
  holds only a reference to it, and the first chart on a page evaluates it for all.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets
from plotly.offline import get_plotlyjs

from .figure import CONFIG

_HERE = Path(__file__).parent


def plotly_js() -> str:
    """The plotly.js bundle shipped inside the plotly Python package (no CDN, no network)."""
    return get_plotlyjs()


class PlotlyBundle(anywidget.AnyWidget):
    """plotly.js, as the state of one model per kernel that every chart refers to."""

    _esm = "export default {};"
    source = traitlets.Unicode().tag(sync=True)


_bundle: PlotlyBundle | None = None
_bundle_lock = threading.Lock()


def plotly_bundle() -> PlotlyBundle:
    """The kernel's one ``PlotlyBundle`` (made again if it was closed)."""
    global _bundle
    with _bundle_lock:
        if _bundle is None or _bundle.comm is None:
            _bundle = PlotlyBundle(source=plotly_js())
        return _bundle


class ChartWidget(anywidget.AnyWidget):
    """The view of a :class:`~.chart.PriceChart`: figure, grabbable lines, message line.

    ``lines`` says where the order lines are and which may be dragged; ``message`` is
    ``{"text", "tone", "confirm"}``; ``handled`` is the number of the last message
    from the browser that Python has finished with (the browser keeps a released
    line in its pending style until then).
    """

    _esm = _HERE / "chart.js"
    _css = _HERE / "chart.css"
    _plotly = traitlets.Instance(PlotlyBundle).tag(sync=True, **widgets.widget_serialization)
    figure = traitlets.Dict().tag(sync=True)
    config = traitlets.Dict().tag(sync=True)
    lines = traitlets.List().tag(sync=True)
    message = traitlets.Dict().tag(sync=True)
    handled = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(560).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("config", CONFIG)
        super().__init__(_plotly=plotly_bundle(), **kwargs)

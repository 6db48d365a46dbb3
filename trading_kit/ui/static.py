"""Static renderings of the widgets, for notebooks exported to HTML (no kernel, no network).

An exported widget needs its JavaScript from a CDN and a kernel to act; offline it
shows nothing. With ``TRADING_KIT_STATIC_HTML=1`` in the kernel's environment (what
``python -m trading_kit.ui.export`` and ``make quickstart`` set), each widget shows as
plain HTML instead: the chart as its plotly figure, drawn by the plotly.js bundled in
the plotly package (written into the page once, with the first chart), the ticket and
the blotter as read-only tables of what they show.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ENV = "TRADING_KIT_STATIC_HTML"
_written = threading.Event()  # plotly.js is in the page once the first chart is


def enabled() -> bool:
    """Whether widgets display as static HTML (``TRADING_KIT_STATIC_HTML`` is set)."""
    return os.environ.get(ENV, "").strip().lower() not in ("", "0", "false", "no")


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def figure_html(figure: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """A plotly figure as a ``<div>`` and the script that draws it, plotly.js included once."""
    from .widget import plotly_js

    parts = []
    if not _written.is_set():
        _written.set()
        parts.append(f'<script type="text/javascript">{plotly_js()}</script>')
    target = f"trading-kit-chart-{uuid.uuid4().hex}"
    height = figure.get("layout", {}).get("height", 560)
    parts.append(
        f'<div id="{target}" class="trading-kit-static-chart" '
        f'style="width:100%;height:{int(height)}px"></div>'
        f'<script type="text/javascript">(function () {{'
        f"var figure = {_script_json(figure)};"
        f'Plotly.newPlot("{target}", figure.data, figure.layout, {_script_json(config)});'
        f"}})();</script>"
    )
    return "".join(parts)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    """A plain HTML table (headers kept when there are no rows, with a note instead)."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}"><i>{html.escape(empty)}</i></td></tr>'
    return f'<table class="trading-kit-static-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def panel(title: str, *sections: str, css_class: str) -> str:
    """A titled box around already-escaped sections."""
    return (
        f'<div class="{css_class}" style="border:1px solid rgba(128,128,128,0.4);'
        f'padding:6px 10px;margin:4px 0;width:max-content;max-width:100%">'
        f"<b>{html.escape(title)}</b>{''.join(sections)}</div>"
    )


def line(text: str) -> str:
    return f'<div style="margin:4px 0">{html.escape(text)}</div>' if text else ""


def plain(markup: str) -> str:
    """The words of a widget's HTML value (tags dropped)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup or ""))

"""Colours and small HTML snippets shared by the widgets, readable in light and dark themes.

Text colours are JupyterLab's CSS variables (``--jp-*``), so a dark theme restyles the
widgets without any code here; the fallbacks after the comma are mid-tone colours
that read on white and on black alike (for classic Notebook, VS Code, Voilà).
Plotly cannot read CSS variables, so the chart uses transparent backgrounds and
mid-tone colours instead.
"""

from __future__ import annotations

import html

BUY = "#26a69a"  # teal-green, legible on white and on near-black
SELL = "#ef5350"  # soft red
ENTRY = "#8c8c8c"  # mid grey
GRID = "rgba(128, 128, 128, 0.25)"
TEXT = "#8c8c8c"
#: Seconds an action's message stays before the next refresh clears it.
MESSAGE_SECONDS = 15.0

_TONES = {
    "info": "var(--jp-ui-font-color2, #8c8c8c)",
    "ok": "var(--jp-success-color1, #2e9e5b)",
    "warn": "var(--jp-warn-color1, #e08e0b)",
    "error": "var(--jp-error-color1, #e0443e)",
}


def side_color(side: str) -> str:
    """Buys (and longs) green, sells (and shorts) red."""
    return BUY if side in ("buy", "long") else SELL


def note(text: str, tone: str = "info") -> str:
    """A one-line message as HTML, escaped, coloured by ``tone`` (info/ok/warn/error)."""
    if not text:
        return ""
    color = _TONES.get(tone, _TONES["info"])
    return (
        f'<span style="color:{color}; font-size:var(--jp-ui-font-size1, 12px);'
        f' line-height:1.4">{html.escape(text)}</span>'
    )


def money(value: float) -> str:
    """``$1,234.56`` (``-$12.00``); an em dash when the value is missing."""
    if value is None or value != value:
        return "—"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"

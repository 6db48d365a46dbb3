"""The price chart in JupyterLab, driven with a real mouse (``page.mouse.down/move/up``).

The notebook talks to an exchange whose clock stands still (prices do not move, so only
the mouse decides) through a proxy that counts the requests reaching the exchange:
"exactly one replace per drag" is counted there, and the exchange's own order table
says at which price. Run with ``make test-browser`` (or ``pytest -m browser``); it
skips, saying why, without chromium, playwright or jupyterlab.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import requests

from tests.browser import lab

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(600),
    pytest.mark.skipif(lab.missing() is not None, reason=f"browser test: {lab.missing()}"),
]

STEP_MS = 30_000  # one click, one redraw, one status change
SCREENSHOTS = lab.ROOT / "build" / "browser"
PLOT = ".tk-chart .js-plotly-plot"


def open_orders(exchange: str) -> list[dict]:
    return [o for o in lab.exchange_orders(exchange) if o["status"] in ("new", "accepted")]


def the_order(exchange: str) -> dict:
    """The one resting AAPL buy limit the tests move around."""
    (order,) = [o for o in open_orders(exchange) if o["symbol"] == "AAPL" and o["side"] == "buy"]
    return order


def replacement(exchange: str, order: dict) -> dict | None:
    return next(
        (o for o in lab.exchange_orders(exchange) if o.get("replaces") == order["id"]), None
    )


@pytest.fixture(scope="module")
def page(browser, jupyter: str, notebooks: Path, proxy: lab.CountingProxy):
    """The chart notebook, run: a resting buy limit, its chart and a ticket."""
    lab.notebook(
        notebooks / "chart.ipynb",
        "import trading_kit as tk\n"
        f"kit = tk.connect(trading_url={proxy.url!r}, data_url={proxy.url!r})\n"
        "bid = kit.data.get_latest_quote('AAPL', use_cache=False)['bid_price'].iloc[0]\n"
        "order = kit.orders.place_order(\n"
        "    'AAPL', qty=5, side='buy', type='limit', limit_price=round(bid - 0.25, 2)\n"
        ")",
        "chart = kit.chart('AAPL', '1Min')\nchart",
        "ticket = kit.ticket('AAPL')\nticket",
    )
    tab = browser.new_page(viewport={"width": 1400, "height": 1100})
    tab.set_default_timeout(STEP_MS)
    lab.open_notebook(tab, jupyter, "chart.ipynb")
    tab.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    tab.wait_for_selector(".trading-kit-ticket", timeout=120_000)
    tab.wait_for_selector(".tk-handle.tk-editable", timeout=STEP_MS)
    failures = [
        t for t in tab.locator(".jp-OutputArea-output").all_inner_texts() if "Traceback" in t
    ]
    assert not failures, f"a cell failed in the browser:\n{failures[0][:2000]}"
    tab.locator(PLOT).scroll_into_view_if_needed()
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / "chart.png"))
    tab.close()


def handle(page, order: dict):
    return page.locator(f'.tk-handle[data-key="{order["id"]}:limit_price"]')


def center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2


def price_at(page, y: float) -> float:
    """The price at page height ``y``, by plotly's own pixel-to-value mapping."""
    return page.evaluate(
        """(y) => {
            const gd = document.querySelector('.tk-chart .js-plotly-plot');
            const ya = gd._fullLayout.yaxis;
            return ya.p2l(y - gd.getBoundingClientRect().top - ya._offset);
        }""",
        y,
    )


def y_at(page, price: float) -> float:
    return page.evaluate(
        """(price) => {
            const gd = document.querySelector('.tk-chart .js-plotly-plot');
            const ya = gd._fullLayout.yaxis;
            return gd.getBoundingClientRect().top + ya._offset + ya.l2p(price);
        }""",
        price,
    )


def quote(exchange: str) -> tuple[float, float]:
    q = requests.get(
        f"{exchange}/v2/stocks/AAPL/quotes/latest", headers=lab.HEADERS, timeout=5
    ).json()["quote"]
    return float(q["bp"]), float(q["ap"])


def settled(page) -> bool:
    """The kernel has handled everything the page sent (no message still in flight)."""
    return lab.kernel_idle(page) and page.evaluate(
        "() => document.querySelectorAll("
        "'.tk-ghost.tk-pending, .tk-handle[data-state=\"pending\"]').length === 0"
    )


def test_a_drag_is_one_replace_at_the_release_price(page, proxy, frozen_exchange) -> None:
    from playwright.sync_api import expect

    order = the_order(frozen_exchange)
    line = handle(page, order)
    expect(line).to_have_css("cursor", "ns-resize")  # discoverable: a resize cursor on hover
    patches = proxy.count("PATCH")
    x, y = center(line)
    release = y + 30  # 30 px lower: a lower buy limit
    expected = Decimal(str(round(price_at(page, release), 2)))

    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):  # ten moves while the button is down: no request yet
        page.mouse.move(x, y + 3 * step)
    assert proxy.count("PATCH") == patches
    page.mouse.up()

    new = lab.wait_until(lambda: replacement(frozen_exchange, order), 30, "the replace")
    lab.wait_until(lambda: settled(page), 30, "the kernel to settle")
    assert proxy.count("PATCH") == patches + 1  # one drag, one replace
    assert Decimal(new["limit_price"]) == expected  # at the release price, to the tick
    assert new["status"] in ("new", "accepted") and new["qty"] == "5"
    expect(page.locator(".tk-note")).to_contain_text("Replaced BUY 5 LMT")
    expect(handle(page, new)).to_have_count(1)

    # While a replace is in flight the line is drawn pending and further drags are ignored.
    proxy.hold["PATCH"] = 3.0
    try:
        x, y = center(handle(page, new))
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x, y + 20, steps=5)
        page.mouse.up()
        pending = page.locator(f'.tk-handle[data-key="{new["id"]}:limit_price"]')
        expect(pending).to_have_attribute("data-state", "pending")  # drawn pending, not grabbable
        page.mouse.move(x, y)  # and again, at once: ignored
        page.mouse.down()
        page.mouse.move(x, y + 40, steps=5)
        page.mouse.up()
    finally:
        proxy.hold.pop("PATCH")
    third = lab.wait_until(lambda: replacement(frozen_exchange, new), 30, "the second replace")
    lab.wait_until(lambda: settled(page), 30, "the kernel to settle")
    assert proxy.count("PATCH") == patches + 2
    assert replacement(frozen_exchange, third) is None


def test_a_drag_through_the_market_and_back_fills_nothing(page, proxy, frozen_exchange) -> None:
    order = the_order(frozen_exchange)
    bid, ask = quote(frozen_exchange)
    patches = proxy.count("PATCH")
    x, y = center(handle(page, order))
    through = y_at(page, ask + 0.05)  # above the ask: a buy limit there would fill
    assert price_at(page, through) > ask, "the ask must be inside the price axis"
    back = y + 15  # and back below the market, where it is released

    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, through, steps=10)
    assert proxy.count("PATCH") == patches  # passing through the market sends nothing
    page.mouse.move(x, back, steps=10)
    expected = Decimal(str(round(price_at(page, back), 2)))
    page.mouse.up()

    new = lab.wait_until(lambda: replacement(frozen_exchange, order), 30, "the replace")
    lab.wait_until(lambda: settled(page), 30, "the kernel to settle")
    assert proxy.count("PATCH") == patches + 1
    assert Decimal(new["limit_price"]) == expected < Decimal(str(bid))
    assert new["status"] in ("new", "accepted")
    assert not [o for o in lab.exchange_orders(frozen_exchange) if o["status"] == "filled"]
    positions = requests.get(f"{frozen_exchange}/v2/positions", headers=lab.HEADERS, timeout=5)
    assert positions.json() == []


def test_a_drag_that_would_trade_asks_first(page, proxy, frozen_exchange) -> None:
    from playwright.sync_api import expect

    order = the_order(frozen_exchange)
    _, ask = quote(frozen_exchange)
    note = page.locator(".tk-note")
    patches = proxy.count("PATCH")
    x, y = center(handle(page, order))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y_at(page, ask + 0.05), steps=10)
    page.mouse.up()

    expect(note).to_contain_text("so it would trade at once")
    expect(note.get_by_role("button", name="Send the replace")).to_be_visible()
    assert proxy.count("PATCH") == patches  # nothing sent before the answer
    note.get_by_role("button", name="Keep the order").click()
    expect(note).to_contain_text("nothing sent")
    expect(handle(page, order)).to_have_attribute("data-state", "")
    assert float(handle(page, order).get_attribute("data-price")) == float(order["limit_price"])
    lab.wait_until(lambda: settled(page), 30, "the kernel to settle")
    assert proxy.count("PATCH") == patches

    x, y = center(handle(page, order))
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y_at(page, ask + 0.05), steps=10)
    page.mouse.up()
    note.get_by_role("button", name="Send the replace").click()
    new = lab.wait_until(lambda: replacement(frozen_exchange, order), 30, "the replace")
    assert proxy.count("PATCH") == patches + 1
    # A marketable buy limit fills at once: the line goes, a fill marker and the entry come.
    lab.wait_until(
        lambda: (
            requests.get(
                f"{frozen_exchange}/v2/orders/{new['id']}", headers=lab.HEADERS, timeout=5
            ).json()["status"]
            == "filled"
        ),
        30,
        "the fill",
    )
    expect(handle(page, new)).to_have_count(0, timeout=STEP_MS)
    expect(page.locator('.tk-handle[data-key="entry:long"]')).to_have_count(1, timeout=STEP_MS)
    fills = "() => document.querySelector('.tk-chart .js-plotly-plot').data" \
        ".find(t => t.name === 'buy fills').y.length"  # fmt: skip
    lab.wait_until(lambda: page.evaluate(fills) == 1, 30, "a buy fill marker")


def test_the_chart_follows_orders_placed_anywhere(page, frozen_exchange) -> None:
    """An order placed and cancelled by someone else (straight at the exchange) shows."""
    from playwright.sync_api import expect

    bid, _ = quote(frozen_exchange)
    placed = requests.post(
        f"{frozen_exchange}/v2/orders",
        json={"symbol": "AAPL", "qty": "2", "side": "buy", "type": "limit",
              "limit_price": f"{bid - 0.15:.2f}", "time_in_force": "day"},
        headers=lab.HEADERS, timeout=5,
    ).json()  # fmt: skip
    expect(handle(page, placed)).to_have_count(1, timeout=STEP_MS)
    requests.delete(f"{frozen_exchange}/v2/orders/{placed['id']}", headers=lab.HEADERS, timeout=5)
    expect(handle(page, placed)).to_have_count(0, timeout=STEP_MS)


def figure(page) -> dict:
    return page.evaluate(
        """() => {
            const gd = document.querySelector('.tk-chart .js-plotly-plot');
            const full = gd._fullLayout, candles = gd.data[0];
            const [x0, x1] = full.xaxis.range;
            const shown = candles.x.map((x, i) => i).filter(i => candles.x[i] >= x0 && candles.x[i] <= x1);
            return {
                title: full.title.text, legend: full.showlegend, drawn: candles.x.length,
                shown: shown.length, x0, x1, last: candles.x[candles.x.length - 1],
                low: Math.min(...shown.map(i => candles.low[i])),
                high: Math.max(...shown.map(i => candles.high[i])),
                y: full.yaxis.range, width: gd.getBoundingClientRect().width,
                cell: gd.closest('.jp-OutputArea-output').getBoundingClientRect().width,
            };
        }"""
    )


def test_the_chart_is_readable_and_zooms_by_timeframe(page) -> None:
    from playwright.sync_api import expect

    shown = figure(page)
    assert shown["width"] >= 0.95 * shown["cell"]  # the whole cell's width
    assert 150 <= shown["shown"] <= 300  # candles at least a few pixels wide
    assert shown["legend"] is False and shown["title"].startswith("<b>AAPL</b> · 1Min")
    assert "New York time" in shown["title"]
    # The exchange's clock stands at 10:00 New York time: the last minute bar is 9:59.
    assert shown["last"].startswith("2024-03-05") and "09:59" in shown["last"]
    assert shown["x1"] > shown["last"]  # room right of the last candle: not clipped
    low, high = shown["y"]
    assert low <= shown["low"] and shown["high"] <= high  # the price axis fits the candles
    assert (high - low) < 2 * (shown["high"] - shown["low"])

    page.locator(f"{PLOT} .nsewdrag").last.dblclick()  # on the volume strip: everything
    expect(page.locator(f"{PLOT} .gtitle")).to_contain_text("1Min bars shown as", timeout=STEP_MS)
    assert figure(page)["drawn"] <= 1_000

    def zoom_into_the_middle(share: float) -> None:
        """Drag a zoom box over the middle ``share`` of the plot, with the mouse."""
        box = page.locator(f"{PLOT} .nsewdrag").first.bounding_box()
        y = box["y"] + box["height"] * 0.3
        page.mouse.move(box["x"] + box["width"] * (0.5 - share / 2), y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * (0.5 + share / 2), y, steps=5)
        page.mouse.up()

    title = page.locator(f"{PLOT} .gtitle")
    zoom_into_the_middle(0.10)  # a tenth of five days: finer candles, from the same bars
    expect(title).not_to_contain_text("shown as 1Hour", timeout=STEP_MS)
    expect(title).to_contain_text("shown as", timeout=STEP_MS)
    assert figure(page)["drawn"] <= 1_000
    zoom_into_the_middle(0.20)  # and closer: the bars themselves
    expect(title).not_to_contain_text("shown as", timeout=STEP_MS)
    zoomed = figure(page)
    assert zoomed["drawn"] <= 1_000 and 0 < zoomed["shown"] <= 300

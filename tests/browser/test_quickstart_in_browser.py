"""The quickstart in a real browser: JupyterLab, headless Chromium, the ticket, the exchange;
and the HTML ``make quickstart`` writes, opened with the network switched off.

The exchange and JupyterLab run on 127.0.0.1 (``tests/browser/lab.py``); the notebook's
kernel finds the exchange through ``ALPACA_TRADING_URL`` / ``ALPACA_DATA_URL``. Run
with ``make test-browser`` (or ``pytest -m browser``); it skips, saying why, without
chromium, playwright or jupyterlab. Screenshots land in ``build/browser/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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

NOTEBOOK = lab.ROOT / "notebooks" / "01_quickstart.ipynb"
SCREENSHOTS = lab.ROOT / "build" / "browser"
RUN_TIMEOUT_MS = 180_000  # every cell of the quickstart, in the browser
STEP_TIMEOUT_MS = 30_000  # one click or one status change


def _run_and_submit(page, limit_price: str) -> str:
    """Wait for every cell, check the chart, fill the ticket, submit; the ticket's status."""
    from playwright.sync_api import expect

    # The blotter is the last cell's output: once it is there every cell has run.
    page.wait_for_selector(".trading-kit-blotter", timeout=RUN_TIMEOUT_MS)
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    failures = [text for text in outputs if "Traceback" in text or "AssertionError" in text]
    assert not failures, f"a cell failed in the browser:\n{failures[0][:2000]}"
    page.wait_for_selector(".tk-chart .js-plotly-plot .main-svg", timeout=STEP_TIMEOUT_MS)
    axis = page.evaluate(
        "() => document.querySelector('.tk-chart .js-plotly-plot')._fullLayout.xaxis.type"
    )
    assert axis == "date", f"the price chart's x axis is {axis!r}, not dates: no candles drawn"

    ticket = page.locator(".trading-kit-ticket")
    expect(ticket).to_have_count(1)
    ticket.scroll_into_view_if_needed()
    ticket.locator("select").first.select_option(label="Limit")
    ticket.locator(".widget-text", has_text="Qty").locator("input").fill("7")
    price = ticket.locator(".widget-text", has_text="Limit").locator("input")
    price.fill(limit_price)
    submit = ticket.locator("button.widget-button", has_text="Buy")
    expect(submit).to_be_enabled()
    price.press("Enter")  # Enter in a field submits a valid order
    status = ticket.get_by_text("buy 7 AAPL")
    expect(status).to_contain_text(" id ", timeout=STEP_TIMEOUT_MS)
    return status.inner_text()


def test_quickstart_ticket_submits_an_order(
    browser, jupyter: str, notebooks: Path, live_exchange: str
) -> None:
    shutil.copy(NOTEBOOK, notebooks / NOTEBOOK.name)  # running it must not write into the repo
    quote = requests.get(
        f"{live_exchange}/v2/stocks/AAPL/quotes/latest", headers=lab.HEADERS, timeout=5
    ).json()["quote"]
    limit_price = f"{quote['bp'] * 0.95:.2f}"  # well below the bid: the order rests

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        lab.open_notebook(page, jupyter, NOTEBOOK.name)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        shown = _run_and_submit(page, limit_price)
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "quickstart_ticket.png"))
        page.close()

    # Compared as numbers: the exchange writes 204.9 for the 204.90 typed into the ticket.
    placed = [
        o
        for o in lab.exchange_orders(live_exchange)
        if Decimal(o["limit_price"] or 0) == Decimal(limit_price)
    ]
    assert len(placed) == 1, f"expected one order at {limit_price}, the exchange has {placed}"
    order = placed[0]
    assert (order["symbol"], order["side"], order["type"], order["qty"]) == (
        "AAPL",
        "buy",
        "limit",
        "7",
    )
    assert order["status"] in ("new", "accepted")
    assert f"id {order['id'][:8]}" in shown, f"the ticket shows {shown!r}, not {order['id']}"


def test_the_exported_quickstart_shows_its_widgets_offline(browser, workdir: Path) -> None:
    """What ``make quickstart`` writes, opened with every request off the machine refused."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    subprocess.run(
        [sys.executable, "-m", "trading_kit.ui.export", str(NOTEBOOK),
         "--output-dir", str(workdir / "html")],
        env=env, check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    page_file = workdir / "html" / "01_quickstart.html"
    html = page_file.read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" not in html  # no widget manager needed

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    refused: list[str] = []

    def offline(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    try:
        page.goto(page_file.as_uri())
        chart = page.locator(".trading-kit-static-chart").first
        chart.locator(".main-svg").first.wait_for(timeout=STEP_TIMEOUT_MS)
        candles = chart.locator(".trace.boxes path")  # plotly draws candlesticks as boxes
        assert candles.count() >= 100
        assert "New York time" in chart.locator(".gtitle").text_content()
        ticket = page.locator(".trading-kit-static-ticket")
        assert "Order ticket · AAPL" in ticket.inner_text()
        blotter = page.locator(".trading-kit-static-blotter")
        assert "Equity" in blotter.inner_text()
        assert "AAPL" in blotter.inner_text()  # the quickstart's position
        chart.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "quickstart_offline.png"))
    finally:
        page.close()
    assert all(not url.startswith("file://") for url in refused)

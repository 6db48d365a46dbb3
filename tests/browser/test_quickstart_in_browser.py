"""The quickstart in a real browser: JupyterLab, headless Chromium, the order ticket, the exchange.

The test starts the local exchange (``python -m trading_kit serve``) and JupyterLab on
127.0.0.1, points the notebook's kernel at the exchange through ``ALPACA_TRADING_URL`` /
``ALPACA_DATA_URL``, opens a copy of ``notebooks/01_quickstart.ipynb`` in Debian's
Chromium driven by Playwright (no browser download), runs every cell, fills the order
ticket and clicks its submit button. It then asks the exchange itself, over HTTP, for the
order. A screenshot is saved under ``build/browser/``.

Run it with ``make test-browser`` (or ``pytest -m browser``). It skips, saying why, when
chromium, playwright or jupyterlab is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
SCREENSHOTS = ROOT / "build" / "browser"
CHROMIUM = os.environ.get("TRADING_KIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in a container has no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HEADERS = {"APCA-API-KEY-ID": "browser-test", "APCA-API-SECRET-KEY": "browser-test"}
START_TIMEOUT = 60  # seconds for the exchange and JupyterLab to answer
RUN_TIMEOUT_MS = 120_000  # every cell of the quickstart, in the browser
STEP_TIMEOUT_MS = 30_000  # one click or one status change


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install -e '.[lab,browser]')"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(_missing() is not None, reason=f"browser test: {_missing()}"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, what: str, **kwargs) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            if requests.get(url, timeout=2, **kwargs).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{what} did not answer {url} within {START_TIMEOUT} s")


def _stop(process: subprocess.Popen) -> None:
    """End the process group we started (the server and, for Lab, its kernels)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[str]:
    """The local exchange in its own process, realtime and always open; its URL."""
    port = _free_port()
    log = (tmp_path / "exchange.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "trading_kit", "serve", "--port", str(port),
         "--clock", "realtime", "--always-open", "--db", str(tmp_path / "exchange.sqlite")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/v2/clock", process, "the local exchange", headers=HEADERS)
        yield url
    finally:
        _stop(process)
        log.close()


@pytest.fixture
def lab(exchange: str, tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a copy of the quickstart, its kernels pointed at ``exchange``."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)  # running it must not write into the repo
    config = tmp_path / "jupyter_config"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        "ALPACA_TRADING_URL": exchange,
        "ALPACA_DATA_URL": exchange,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter_runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab_settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab_workspaces"),
    }
    port, token = _free_port(), os.urandom(16).hex()
    log = (tmp_path / "jupyterlab.log").open("w")
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/api/status", process, "JupyterLab", params={"token": token})
        yield f"{url}/lab/tree/{NOTEBOOK.name}?token={token}"
    finally:
        _stop(process)
        log.close()


def _orders(exchange: str) -> list[dict]:
    response = requests.get(
        f"{exchange}/v2/orders", params={"status": "all", "limit": 500}, headers=HEADERS, timeout=5
    )
    response.raise_for_status()
    return response.json()


def _run_and_submit(page, limit_price: str) -> str:
    """Wait for every cell, check the chart, fill the ticket, submit; the ticket's status."""
    from playwright.sync_api import expect

    # The blotter is the last cell's output: once it is there every cell has run.
    page.wait_for_selector(".trading-kit-blotter", timeout=RUN_TIMEOUT_MS)
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    failures = [text for text in outputs if "Traceback" in text]
    assert not failures, f"a cell failed in the browser:\n{failures[0][:2000]}"
    page.wait_for_selector(".js-plotly-plot", timeout=STEP_TIMEOUT_MS)
    axis = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullLayout.xaxis.type")
    assert axis == "date", f"the price chart's x axis is {axis!r}, not dates: no candles drawn"

    ticket = page.locator(".trading-kit-ticket")
    expect(ticket).to_have_count(1)
    ticket.scroll_into_view_if_needed()
    ticket.locator("select").first.select_option(label="Limit")
    ticket.locator(".widget-text", has_text="Qty").locator("input").fill("7")
    ticket.locator(".widget-text", has_text="Limit").locator("input").fill(limit_price)
    submit = ticket.locator("button.widget-button", has_text="Buy")
    expect(submit).to_be_enabled()
    submit.click()
    status = ticket.get_by_text("buy 7 AAPL")
    expect(status).to_contain_text(" id ", timeout=STEP_TIMEOUT_MS)
    return status.inner_text()


def test_quickstart_ticket_submits_an_order(exchange: str, lab: str) -> None:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    quote = requests.get(
        f"{exchange}/v2/stocks/AAPL/quotes/latest", headers=HEADERS, timeout=5
    ).json()["quote"]
    limit_price = f"{quote['bp'] * 0.95:.2f}"  # well below the bid: the order rests

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(lab, timeout=60_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=60_000)
            page.wait_for_function(
                "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session"
                "?.kernel?.status === 'idle'",
                timeout=60_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            try:
                shown = _run_and_submit(page, limit_price)
            finally:
                page.screenshot(path=str(SCREENSHOTS / "quickstart_ticket.png"))
        finally:
            browser.close()

    # Compared as numbers: the exchange writes 204.9 for the 204.90 typed into the ticket.
    placed = [
        o for o in _orders(exchange) if Decimal(o["limit_price"] or 0) == Decimal(limit_price)
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
    assert order["id"] in shown, f"the ticket shows {shown!r}, not the order {order['id']}"

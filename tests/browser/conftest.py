"""Fixtures for the browser tests: exchanges, a counting proxy, JupyterLab, Chromium.

One set per test module (starting JupyterLab and Chromium costs seconds): the tests
of a module share them, and each test says which exchange state it starts from.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import lab


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def frozen_exchange(workdir: Path) -> Iterator[str]:
    """An exchange whose clock stands still at 10:00 New York time on a session day:
    prices do not move, so what a drag does is decided by the drag alone."""
    with lab.exchange(
        workdir, "--clock", "manual", "--start", "2024-03-05T15:00:00Z", "--always-open",
        "--no-partial-fills",
    ) as url:  # fmt: skip
        yield url


@pytest.fixture(scope="module")
def proxy(frozen_exchange: str) -> Iterator[lab.CountingProxy]:
    """What the notebook talks to: it counts the requests that reach the exchange."""
    with lab.CountingProxy(frozen_exchange) as counting:
        yield counting


@pytest.fixture(scope="module")
def live_exchange(workdir: Path) -> Iterator[str]:
    """A realtime exchange, always open: orders fill as time passes."""
    with lab.exchange(workdir, "--clock", "realtime", "--always-open") as url:
        yield url


@pytest.fixture(scope="module")
def notebooks(workdir: Path) -> Path:
    folder = workdir / "notebooks"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def jupyter(notebooks: Path, workdir: Path, live_exchange: str) -> Iterator[str]:
    """JupyterLab on ``notebooks``; kernels talk to ``live_exchange`` unless told otherwise."""
    env = {"ALPACA_TRADING_URL": live_exchange, "ALPACA_DATA_URL": live_exchange}
    with lab.jupyter_lab(notebooks, workdir, env) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = lab.launch(playwright)
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()

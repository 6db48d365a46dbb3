"""JupyterLab in headless Chromium against the local exchange: the pieces the browser tests
and the browser benchmark (``bench/bench_chart_browser.py``) share.

Everything runs on 127.0.0.1: the exchange (``python -m trading_kit serve``, its own
process), a counting proxy in front of it (so a test knows how many requests of each
kind reached the exchange, and can hold one back to see what the page does while it
waits), JupyterLab, and Debian's Chromium driven by Playwright (no browser download).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
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
START_TIMEOUT = 90  # seconds for the exchange and JupyterLab to answer


def missing() -> str | None:
    """Why the browser tests cannot run here (``None`` when they can)."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    for module, package in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install -e '.[lab,browser]')"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting {timeout:g} s for {what}")
        time.sleep(interval)


def _wait_for(url: str, process: subprocess.Popen, what: str, **kwargs) -> None:
    def answered() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            return requests.get(url, timeout=2, **kwargs).ok
        except requests.ConnectionError:
            return False

    wait_until(answered, START_TIMEOUT, f"{what} to answer {url}", 0.25)


def _stop(process: subprocess.Popen) -> None:
    """End the process group we started (the server and, for Lab, its kernels)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextlib.contextmanager
def exchange(workdir: Path, *options: str) -> Iterator[str]:
    """The local exchange in its own process (``options`` as for ``serve``); its URL."""
    port = free_port()
    log = (workdir / f"exchange-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "trading_kit", "serve", "--port", str(port),
         "--db", str(workdir / f"exchange-{port}.sqlite"), *options],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/v2/clock", process, "the local exchange", headers=HEADERS)
        yield url
    finally:
        _stop(process)
        log.close()


class CountingProxy:
    """A loopback proxy to ``target`` that counts requests by method and can hold them.

    ``hold[method] = seconds`` delays the answer to each such request (after the
    exchange has carried it out), so a test sees the page while a request is in flight.
    """

    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.requests: list[tuple[str, str]] = []
        self.hold: dict[str, float] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append((self.command, urlsplit(self.path).path))
                upstream = http.client.HTTPConnection(
                    proxy.target.hostname, proxy.target.port, timeout=30
                )
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                }
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    reply = upstream.getresponse()
                    content = reply.read()
                except OSError:  # the exchange has stopped (the end of a test module)
                    self.send_error(502)
                    return
                finally:
                    upstream.close()
                time.sleep(proxy.hold.get(self.command, 0.0))
                self.send_response(reply.status, reply.reason)
                for key, value in reply.getheaders():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, method: str, prefix: str = "/v2/orders") -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def jupyter_lab(root: Path, workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """JupyterLab serving ``root``, its kernels with ``env``; yields ``base?token=`` parts."""
    config = workdir / "jupyter_config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = {
        **os.environ,
        **env,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter_runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(workdir / "lab_settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab_workspaces"),
    }
    port, token = free_port(), os.urandom(16).hex()
    log = (workdir / "jupyterlab.log").open("w")
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/api/status", process, "JupyterLab", params={"token": token})
        yield f"{url}/lab/tree/{{name}}?token={token}"
    finally:
        _stop(process)
        log.close()


def notebook(path: Path, *cells: str) -> Path:
    """Write a notebook of code cells (no outputs)."""
    book = {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": source, "outputs": [],
             "execution_count": None}
            for source in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(book))
    return path


def open_notebook(page, lab_url: str, name: str) -> None:
    """Open ``name`` in JupyterLab and wait until its kernel is idle."""
    page.goto(lab_url.format(name=name) + "&reset", timeout=90_000)  # no tabs of earlier runs
    page.wait_for_function(
        """(name) => {
            const panel = window.jupyterapp?.shell.currentWidget;
            return panel?.context?.path === name
                && panel.sessionContext?.session?.kernel?.status === 'idle';
        }""",
        arg=name,
        timeout=90_000,
    )


def close_notebook(page) -> None:
    """Shut the current notebook's kernel down and close it (no confirmation dialog)."""
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.sessionContext.shutdown();
            panel.dispose();
        }"""
    )


def run_cell(page, index: int) -> None:
    """Select cell ``index`` and send it to the kernel (returns at once, not when it is done)."""
    page.evaluate(
        """(index) => {
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = index;
            window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def kernel_idle(page) -> bool:
    return page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
        " === 'idle'"
    )


def launch(playwright):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
    )


def exchange_orders(url: str) -> list[dict]:
    """Every order the exchange has (newest first), asked over HTTP, bypassing any proxy."""
    response = requests.get(
        f"{url}/v2/orders",
        params={"status": "all", "limit": 500, "nested": "false"},
        headers=HEADERS,
        timeout=5,
    )
    response.raise_for_status()
    return response.json()

"""Fixtures for the web screen's browser tests: a real ``isocross serve`` and Chromium
(see ``webscreen.py`` for how the server's ETH sell-off is made)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from webscreen import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FEED_INTERVAL_S,
    LAPTOP,
    ROOT,
    Screen,
    Server,
    free_port,
    open_screen,
    write_index,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``isocross serve`` with the demo market and the ETH sell-off, until the module ends."""
    tmp = tmp_path_factory.mktemp("web-server")
    index = tmp / "index"
    write_index(index)
    port = free_port()
    database = tmp / "data"
    log = tmp / "server.log"
    command = [
        sys.executable, "-m", "isocross.cli", "serve",
        "--port", str(port), "--database", str(database),
        "--index-data", str(index), "--feed-interval", str(FEED_INTERVAL_S),
        "--tick-interval", "1", "--log-format", "text", "--no-access-log",
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    base = f"http://127.0.0.1:{port}"
    srv = Server(base, database, log, process)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"isocross serve exited early:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"isocross serve did not come up:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, headless."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web screen's browser tests need Debian's Chromium. "
            "Install it with scripts/ensure-chromium.sh (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screen(browser: Any, server: Server) -> Iterator[Screen]:
    """The trade page on ETHUSDT at laptop width."""
    s = open_screen(browser, server.base, LAPTOP, "/?symbol=ETHUSDT")
    try:
        yield s
    finally:
        s.page.context.close()

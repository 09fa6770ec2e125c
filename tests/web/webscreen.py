"""Helpers for the web screen's browser tests: the server's index file, a signing client,
a page with what it logged.

The server runs in a process of its own on a free port, with a temporary SQLite data directory
and the demo market. Its ETHUSDT index is replayed from a one-minute-candle file written here
(``--index-data``): a steady sell-off of 0.15 % a second (``--feed-interval 0.25``), so a
leveraged long opened by a test meets a margin call and then its liquidation within seconds,
without any test-only endpoint. The other symbols follow the demo's seeded random walk.

Chromium is Debian's (``/usr/bin/chromium``; ``scripts/ensure-chromium.sh`` installs it),
driven by Playwright. Without it the tests fail, saying so: they are never skipped.
Screenshots go to ``tests/web/artifacts/`` (ignored by git) or ``$ISOCROSS_WEB_ARTIFACTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.feather as feather

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
ARTIFACTS = Path(os.environ.get("ISOCROSS_WEB_ARTIFACTS", Path(__file__).parent / "artifacts"))
FEED_INTERVAL_S = 0.25
ETH_START = 3000.0
ETH_STEP = 0.999625
"""Each feed tick multiplies the ETH index by this: −0.0375 % a tick, −0.15 % a second."""
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_index(directory: Path, ticks: int = 2400) -> None:
    """The ETH index the demo replays: ``ETH_START`` falling by ``ETH_STEP`` each tick."""
    directory.mkdir(parents=True, exist_ok=True)
    closes = [round(ETH_START * ETH_STEP**k, 2) for k in range(ticks)]
    start = 1_700_000_000_000
    table = pa.table(
        {
            "date": pa.array([start + 60_000 * k for k in range(ticks)], pa.timestamp("ms", "UTC")),
            "open": closes,
            "high": closes,
            "low": closes,
            "close": closes,
            "volume": [1.0] * ticks,
        }
    )
    feather.write_feather(table, directory / "ETH_USDT_USDT-1m-futures.feather")


@dataclass
class Server:
    base: str
    database: Path
    log: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


class Signed:
    """A native-API client signing as the browser does (for the tests' own checks)."""

    def __init__(self, base: str, api_key: str, secret: str) -> None:
        self.base = base
        self.api_key = api_key
        self.secret = secret
        self.last = 0

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        query = httpx.QueryParams(params or {})
        text = "" if body is None else json.dumps(body)
        now = max(int(time.time() * 1000), self.last + 1)
        self.last = now
        target = path + (f"?{query}" if params else "")
        signature = hmac.new(
            self.secret.encode(), f"{now}{method}{target}{text}".encode(), hashlib.sha256
        ).hexdigest()
        headers = {"X-API-KEY": self.api_key, "X-TIMESTAMP": str(now), "X-SIGNATURE": signature}
        if text:
            headers["Content-Type"] = "application/json"
        return httpx.request(
            method, f"{self.base}{target}", content=text or None, headers=headers, timeout=10
        )

    def ok(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        response = self.request(method, path, body, params)
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class Screen:
    """A page of the trading screen with what it logged."""

    page: Any
    errors: list[str]
    requests: list[str]

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def session(self) -> dict[str, Any]:
        raw = self.page.evaluate("sessionStorage.getItem('isocross.session')")
        assert raw, "no session in sessionStorage"
        data: dict[str, Any] = json.loads(raw)
        return data


def open_screen(browser: Any, base: str, viewport: dict[str, int], path: str = "/") -> Screen:
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{base}{path}")
    page.wait_for_selector("body[data-ready=true]")
    return Screen(page, errors, requests)


OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= width + 1) continue;
    let scrolled = false;
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { scrolled = true; break; }
    }
    if (!scrolled) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} ends at ${Math.round(r.right)}px`);
  }
  return out;
}"""


def overflowing(page: Any) -> list[str]:
    """Elements sticking out to the right of the viewport (outside any scrolling box)."""
    found: list[str] = page.evaluate(OVERFLOW_JS)
    return found

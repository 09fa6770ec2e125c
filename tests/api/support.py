"""Helpers for the service tests: a free port, a server process, signed HTTP clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from isocross.api.auth import native_signature, sign
from isocross.api.keys import ALL_PERMISSIONS, ApiKey, KeyStore, Permission

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    database: str
    process: subprocess.Popen[bytes]

    def keys(self) -> KeyStore:
        return KeyStore.open(self.database)

    def account(self, name: str, permissions: frozenset[Permission] = ALL_PERMISSIONS) -> ApiKey:
        store = self.keys()
        try:
            return store.create_account(name, permissions=permissions)
        finally:
            store.close()

    def add_key(self, name: str, permissions: frozenset[Permission]) -> ApiKey:
        store = self.keys()
        try:
            return store.add_key(name, permissions)
        finally:
            store.close()


@contextmanager
def server_process(tmp: Path, *args: str, ready_s: float = 180) -> Iterator[Server]:
    """``isocross serve`` in a process of its own on a free port, until the block ends."""
    port = free_port()
    database = str(tmp / "data")
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "isocross.cli",
            "serve",
            "--database",
            database,
            "--port",
            str(port),
            "--log-format",
            "text",
            *args,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "server.log").read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        yield Server(base, database, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Native:
    """A signed client of the native API."""

    def __init__(self, base: str, key: ApiKey) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        self.key = key

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        data = b"" if body is None else json.dumps(body).encode()
        ts = now_ms()
        headers = {
            "X-API-KEY": self.key.api_key,
            "X-TIMESTAMP": str(ts),
            "X-SIGNATURE": native_signature(self.key.secret, ts, method, path, query, data),
        }
        if data:
            headers["Content-Type"] = "application/json"
        url = path + ("?" + query if query else "")
        return self.http.request(method, url, content=data, headers=headers)

    def ok(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.request(method, path, body, **params)
        assert response.status_code == 200, (response.status_code, response.text)
        return response.json()


class Binance:
    """A raw signed client of the /fapi API (to test what ccxt never sends)."""

    def __init__(self, base: str, key: ApiKey) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        self.key = key

    def signed(
        self,
        method: str,
        path: str,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        **params: Any,
    ) -> httpx.Response:
        params["timestamp"] = timestamp if timestamp is not None else now_ms()
        query = urlencode(params)
        signature = sign(secret or self.key.secret, query)
        headers = {"X-MBX-APIKEY": self.key.api_key}
        if method in ("GET", "DELETE"):
            return self.http.request(
                method, f"{path}?{query}&signature={signature}", headers=headers
            )
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.http.request(
            method, path, content=f"{query}&signature={signature}", headers=headers
        )


@contextmanager
def server_thread(config: Any) -> Iterator[tuple[str, Any]]:
    """The app on uvicorn in a thread of this process (its state can be inspected)."""
    import threading

    import uvicorn

    from isocross.api.app import create_asgi

    app = create_asgi(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            lifespan="on",
            ws_max_size=64 * 1024,
            ws_per_message_deflate=False,
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 180
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(30)

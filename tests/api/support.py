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
    process: subprocess.Popen[bytes] | None
    suffix: str = ""

    def keys(self) -> KeyStore:
        return KeyStore.open(self.database)

    def account(self, name: str, permissions: frozenset[Permission] = ALL_PERMISSIONS) -> ApiKey:
        """A new account ``name`` (plus this test process's suffix: a server may be shared by
        several test workers)."""
        store = self.keys()
        try:
            return store.create_account(name + self.suffix, permissions=permissions)
        finally:
            store.close()

    def add_key(self, name: str, permissions: frozenset[Permission]) -> ApiKey:
        store = self.keys()
        try:
            return store.add_key(name + self.suffix, permissions)
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


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not; reaped here when it is our child)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@contextmanager
def shared_server_process(root: Path, name: str, *args: str) -> Iterator[Server]:
    """One ``isocross serve`` process shared by every test worker that asks for ``name`` while
    it runs (under pytest-xdist each worker would otherwise start its own): the first starts
    it, the last one out stops it. ``root`` is a directory every worker sees."""
    import fcntl
    import signal

    lock_path, state_path = root / f"{name}.lock", root / f"{name}.json"
    suffix = "-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(state_path.read_text()) if state_path.exists() else None
        if state is None or not _alive(state["pid"]):
            tmp = root / name
            tmp.mkdir(exist_ok=True)
            port = free_port()
            with open(tmp / "server.log", "ab") as log:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "isocross.cli",
                        "serve",
                        "--database",
                        str(tmp / "data"),
                        "--port",
                        str(port),
                        "--log-format",
                        "text",
                        *args,
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            state = {
                "base": f"http://127.0.0.1:{port}",
                "database": str(tmp / "data"),
                "pid": process.pid,
                "users": 0,
            }
            _wait_ready(state["base"], process, tmp / "server.log")
        state["users"] += 1
        state_path.write_text(json.dumps(state))
    try:
        yield Server(state["base"], state["database"], None, suffix)
    finally:
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(state_path.read_text())
            state["users"] -= 1
            if state["users"] > 0:
                state_path.write_text(json.dumps(state))
            else:
                state_path.unlink()
                os.kill(state["pid"], signal.SIGTERM)
                deadline = time.monotonic() + 30
                while _alive(state["pid"]) and time.monotonic() < deadline:
                    time.sleep(0.05)


def _wait_ready(
    base: str, process: subprocess.Popen[bytes], log: Path, ready_s: float = 180
) -> None:
    deadline = time.monotonic() + ready_s
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)


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

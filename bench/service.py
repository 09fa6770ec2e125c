"""Benchmark: the exchange service under signed order placement and cancellation over loopback.

A server process (``isocross serve`` with the demo market: index ticks, the market maker
requoting, risk ticks, the durable SQLite journal) and a load generator in a second process:
``--clients`` connections, each with its own account and key, each in a closed loop of
``POST /fapi/v1/order`` (a signed post-only limit order resting below the touch) and
``DELETE /fapi/v1/order`` for it. Every request is signed (HMAC-SHA256, timestamp, recvWindow)
exactly as ccxt signs it. Meanwhile ``--subscribers`` WebSocket clients follow
``btcusdt@depth@100ms`` and measure fan-out latency: arrival time minus the message's event
time ``E`` (set when the server sends it).

**orders/s** counts acknowledged order requests (placements and cancellations) per second of
the measured window; p50/p99 are per request, from sending it to reading its answer. After the
run the server is stopped and the journal is read back: every order the service acknowledged
must be in it, accepted, and every acknowledged cancellation too ("nothing lost").

The **baseline** is the same load against the bare engine in-process: the same venue
(``venue_factory``), accounts and market maker, the same place/cancel sequence handed straight
to ``Exchange.handle`` — no HTTP, no signing, no journal. The ratio shows the service's cost.

    python bench/service.py [--quick] [--clients N] [--seconds S] [--subscribers K]

Last line: ``service: N orders/s (baseline: M orders/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
SYMBOL = "BTCUSDT"


# ============================================================================ load generator
class Connection:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams (the loader must stay
    cheaper than the server it measures)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = [
            f"{method} {target} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), data


def signed(secret: str, params: dict[str, Any]) -> str:
    import hashlib
    import hmac

    query = urlencode(params)
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def client_loop(
    port: int,
    key: dict[str, str],
    deadline: float,
    warmup_end: float,
    prices: list[str],
    out: dict[str, Any],
) -> None:
    conn = Connection("127.0.0.1", port)
    rng = random.Random(key["api_key"])
    form = {"X-MBX-APIKEY": key["api_key"], "Content-Type": "application/x-www-form-urlencoded"}
    plain = {"X-MBX-APIKEY": key["api_key"]}
    while time.perf_counter() < deadline:
        price = rng.choice(prices)
        body = signed(
            key["secret"],
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTX",
                "quantity": "0.002",
                "price": price,
                "timestamp": time.time_ns() // 1_000_000,
            },
        ).encode()
        start = time.perf_counter()
        status, data = await conn.request("POST", "/fapi/v1/order", form, body)
        placed = time.perf_counter()
        if status != 200:
            out["errors"].append(data.decode()[:200])
            continue
        order_id = json.loads(data)["orderId"]
        out["acked"].append(order_id)
        query = signed(
            key["secret"],
            {"symbol": SYMBOL, "orderId": order_id, "timestamp": time.time_ns() // 1_000_000},
        )
        status, data = await conn.request("DELETE", f"/fapi/v1/order?{query}", plain)
        done = time.perf_counter()
        if status != 200:
            out["errors"].append(data.decode()[:200])
        else:
            out["canceled"].append(order_id)
        if start >= warmup_end:
            out["place_ms"].append((placed - start) * 1000)
            if status == 200:
                out["cancel_ms"].append((done - placed) * 1000)
                out["measured"] += 2
            else:
                out["measured"] += 1


async def subscriber(port: int, deadline: float, warmup_end: float, out: list[float]) -> None:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/ws/btcusdt@depth@100ms") as ws:
        while time.perf_counter() < deadline:
            try:
                raw = await asyncio.wait_for(
                    ws.recv(), timeout=max(0.01, deadline - time.perf_counter())
                )
            except TimeoutError:
                break
            arrived = time.time() * 1000
            if time.perf_counter() >= warmup_end:
                out.append(arrived - json.loads(raw)["E"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def mark_window(
    spec: dict[str, Any], warmup_end: float, deadline: float, out: dict[str, Any]
) -> None:
    await asyncio.sleep(max(0.0, warmup_end - time.perf_counter()))
    out["cpu_start"] = (cpu_seconds(spec["server_pid"]), time.process_time())
    await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
    out["cpu_end"] = (cpu_seconds(spec["server_pid"]), time.process_time())


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    port, keys = spec["port"], spec["keys"]
    start = time.perf_counter()
    warmup_end = start + spec["warmup"]
    deadline = warmup_end + spec["seconds"]
    out: dict[str, Any] = {
        "acked": [],
        "canceled": [],
        "errors": [],
        "place_ms": [],
        "cancel_ms": [],
        "measured": 0,
        "fanout_ms": [],
    }
    tasks = [client_loop(port, k, deadline, warmup_end, spec["prices"], out) for k in keys]
    tasks += [
        subscriber(port, deadline, warmup_end, out["fanout_ms"]) for _ in range(spec["subscribers"])
    ]
    tasks.append(mark_window(spec, warmup_end, deadline, out))
    await asyncio.gather(*tasks)
    out["window_s"] = time.perf_counter() - warmup_end
    return out


def worker(spec_path: str) -> None:
    """The load generator's process: read the spec, run, write the results next to it."""
    spec = json.loads(Path(spec_path).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(generate(spec))
    Path(spec_path).with_suffix(".out.json").write_text(json.dumps(result))


# ============================================================================ the run
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(data: Path, port: int, feed_interval: float) -> subprocess.Popen[bytes]:
    log = (data.parent / "server.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "isocross.cli",
            "serve",
            "--database",
            str(data),
            "--port",
            str(port),
            "--no-access-log",
            "--log-format",
            "text",
            "--weight-limit",
            "100000000",
            "--feed-interval",
            str(feed_interval),
            "--tick-interval",
            "5",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def fund(base: str, keys: list[dict[str, str]]) -> None:
    import httpx

    from isocross.api.auth import native_signature

    with httpx.Client(base_url=base, timeout=30) as http:
        for key in keys:
            body = json.dumps({"asset": "USDT", "amount": "100000"}).encode()
            ts = time.time_ns() // 1_000_000
            sig = native_signature(key["secret"], ts, "POST", "/api/v1/faucet", "", body)
            response = http.post(
                "/api/v1/faucet",
                content=body,
                headers={
                    "X-API-KEY": key["api_key"],
                    "X-TIMESTAMP": str(ts),
                    "X-SIGNATURE": sig,
                    "Content-Type": "application/json",
                },
            )
            response.raise_for_status()


def resting_prices(base: str) -> list[str]:
    """Prices 3 % below the best bid, on the tick: post-only orders that rest, however the
    demo index drifts during the run (limits stay within the 5 % band of the mark)."""
    import httpx

    book = httpx.get(f"{base}/fapi/v1/depth", params={"symbol": SYMBOL, "limit": 5}).json()
    bid = (Decimal(book["bids"][0][0]) * Decimal("0.97")).quantize(Decimal("0.1"))
    return [str(bid - Decimal("0.1") * k) for k in range(200)]


def verify_journal(data: Path, acked: list[int], canceled: list[int]) -> tuple[int, int]:
    """How many acknowledged placements and cancellations the journal lacks."""
    from isocross.engine.events import OrderUpdated
    from isocross.engine.orders import OrderStatus
    from isocross.store import Store

    store = Store.open(str(data), write=False)
    accepted: set[int] = set()
    closed: set[int] = set()
    try:
        for entry in store.entries():
            for e in entry.events:
                if isinstance(e, OrderUpdated) and e.order_id.isdigit():
                    if e.reason == "accepted":
                        accepted.add(int(e.order_id))
                    elif e.status is OrderStatus.CANCELED:
                        closed.add(int(e.order_id))
    finally:
        store.close()
    return len(set(acked) - accepted), len(set(canceled) - closed)


def baseline(keys: list[dict[str, str]], prices: list[str], count: int) -> float:
    """Orders/s of the same place/cancel sequence handed straight to the engine."""
    from isocross.api.venue import venue_factory
    from isocross.engine import commands as c
    from isocross.engine.events import OrderUpdated
    from isocross.engine.market_maker import MarketMaker
    from isocross.engine.orders import OrderType, TimeInForce
    from isocross.model.enums import Side

    ex = venue_factory()
    clock = [1_800_000_000_000]

    def handle(cmd: Any) -> Any:
        clock[0] += 1
        return ex.handle(cmd, ts=clock[0])

    handle(c.OpenAccount("mm", "MM"))
    handle(c.Deposit("mm", "USDT", Decimal(10**8)))
    handle(c.Transfer("mm", "USDT", Decimal(10**8)))
    top = Decimal(prices[0]) + Decimal("0.1")
    index = top * Decimal("1.0005")
    handle(c.SetIndexPrice(SYMBOL, index))
    for cmd in MarketMaker("mm", SYMBOL, Decimal("0.8")).quotes(ex, index):
        handle(cmd)
    accounts = [k["account_id"] for k in keys]
    for a in accounts:
        handle(c.OpenAccount(a))
        handle(c.Deposit(a, "USDT", Decimal(100_000)))
        handle(c.Transfer(a, "USDT", Decimal(100_000)))
    rng = random.Random(1)
    plan = [(accounts[i % len(accounts)], Decimal(rng.choice(prices))) for i in range(count // 2)]
    start = time.perf_counter()
    done = 0
    for account, price in plan:
        outcome = handle(
            c.PlaceOrder(
                account,
                SYMBOL,
                Side.BUY,
                OrderType.LIMIT,
                Decimal("0.002"),
                price,
                time_in_force=TimeInForce.GTX,
            )
        )
        order_id = next(e.order_id for e in outcome.events if isinstance(e, OrderUpdated))
        handle(c.CancelOrder(account, order_id))
        done += 2
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument(
        "--feed-interval", type=float, default=1.0, help="seconds between demo index ticks"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.quick:
        args.seconds, args.warmup = min(args.seconds, 10.0), 2.0

    from isocross.api.keys import KeyStore

    tmp = Path(tempfile.mkdtemp(prefix="isocross-bench-"))
    data = tmp / "data"
    store = KeyStore.open(str(data))
    keys = []
    for i in range(args.clients):
        key = store.create_account(f"bench{i:03d}")
        keys.append({"account_id": key.account_id, "api_key": key.api_key, "secret": key.secret})
    store.close()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = start_server(data, port, args.feed_interval)
    try:
        wait_ready(base, server)
        fund(base, keys)
        prices = resting_prices(base)
        spec = {
            "port": port,
            "keys": keys,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "subscribers": args.subscribers,
            "prices": prices,
            "server_pid": server.pid,
        }
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        subprocess.run([sys.executable, __file__, "--worker", str(spec_path)], check=True, cwd=ROOT)
        result = json.loads(spec_path.with_suffix(".out.json").read_text())
        import httpx

        health = httpx.get(f"{base}/health").json()
    finally:
        server.terminate()
        server.wait(timeout=60)
    lost_orders, lost_cancels = verify_journal(data, result["acked"], result["canceled"])
    rate = result["measured"] / result["window_s"]
    base_rate = baseline(keys, prices, max(20_000, int(rate * 5)))
    shutil.rmtree(tmp, ignore_errors=True)

    place, cancel, fan = result["place_ms"], result["cancel_ms"], result["fanout_ms"]
    both = place + cancel
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; server and load generator share it"
    )
    print(
        f"load: {args.clients} signed clients, closed loop place+cancel on {SYMBOL}, "
        f"{args.seconds:g} s measured after {args.warmup:g} s warm-up; demo market running"
    )
    print(
        f"acknowledged: {len(result['acked'])} placements, {len(result['canceled'])} "
        f"cancellations; refused: {len(result['errors'])}"
    )
    print(f"throughput: {rate:,.0f} orders/s (placements + cancellations)")
    server_cpu = result["cpu_end"][0] - result["cpu_start"][0]
    loader_cpu = result["cpu_end"][1] - result["cpu_start"][1]
    print(
        f"CPU per order request: server {server_cpu / result['measured'] * 1e6:,.0f} µs "
        f"(all threads; {server_cpu / result['window_s']:.2f} cores busy), load generator "
        f"{loader_cpu / result['measured'] * 1e6:,.0f} µs; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"latency p50/p99: all {percentile(both, 0.5):.1f}/{percentile(both, 0.99):.1f} ms, "
        f"place {percentile(place, 0.5):.1f}/{percentile(place, 0.99):.1f} ms, "
        f"cancel {percentile(cancel, 0.5):.1f}/{percentile(cancel, 0.99):.1f} ms"
    )
    print(
        f"websocket fan-out ({args.subscribers} subscribers of btcusdt@depth@100ms, "
        f"{len(fan)} messages): p50 {percentile(fan, 0.5):.1f} ms, "
        f"p99 {percentile(fan, 0.99):.1f} ms"
    )
    print(
        f"journal: {health['journal_entries']:,} entries in {health['journal_batches']:,} "
        f"commits ({health['journal_entries'] / max(1, health['journal_batches']):.1f} per commit)"
    )
    print(
        f"journal: {lost_orders} acknowledged orders and {lost_cancels} acknowledged "
        f"cancellations missing (nothing lost: {lost_orders == lost_cancels == 0})"
    )
    if result["errors"]:
        print(f"first refusal: {result['errors'][0]}")
    print(
        f"baseline (bare engine, in-process, same place/cancel sequence): {base_rate:,.0f} orders/s"
    )
    print(
        f"service: {rate:,.0f} orders/s (baseline: {base_rate:,.0f} orders/s, "
        f"ratio: {rate / base_rate:.2f}×)"
    )


if __name__ == "__main__":
    main()

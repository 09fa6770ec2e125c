"""The native API and the streams, against the app served in-process: previews in both margin
modes equal to what really happens, what-ifs, bulk margin modes with blockers, history,
WebSocket market and user streams (with margin calls), weights and 429, key revocation, and
recovery of every acknowledged command after a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Binance, Native, now_ms, server_thread
from websockets.sync.client import connect

from isocross.api.config import ServiceConfig
from isocross.api.keys import ApiKey, KeyStore

LIMIT = 300


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> ServiceConfig:
    return ServiceConfig(
        database=str(tmp_path_factory.mktemp("native") / "data"),
        feed_interval_s=3600,
        tick_interval_s=3600,
        weight_limit=LIMIT,
        key_cache_s=0.2,
        index_data="",
    )


@pytest.fixture(scope="module")
def base(config: ServiceConfig) -> Iterator[str]:
    with server_thread(config) as (url, _app):
        yield url


def funded(config: ServiceConfig, base: str, name: str, amount: str = "10000") -> ApiKey:
    store = KeyStore.open(config.database)
    try:
        key = store.create_account(name)
    finally:
        store.close()
    Native(base, key).ok("POST", "/api/v1/faucet", {"asset": "USDT", "amount": amount})
    return key


def best(base: str, side: str) -> Decimal:
    book = httpx.get(f"{base}/api/v1/markets/BTCUSDT/book", params={"levels": 1}).json()
    return Decimal(book["asks" if side == "BUY" else "bids"][0][0])


def below(base: str) -> str:
    """A buy price that rests: 3 % under the best bid, on the tick."""
    return str((best(base, "SELL") * Decimal("0.97")).quantize(Decimal("0.1")))


@pytest.mark.parametrize("mode", ["cross", "isolated"])
def test_preview_liquidation_price_is_what_the_order_then_has(
    config: ServiceConfig, base: str, mode: str
) -> None:
    # Arrange
    client = Native(base, funded(config, base, f"preview-{mode}"))
    client.ok(
        "PUT", "/api/v1/symbols/BTCUSDT/margin-mode", {"mode": mode}
    ) if mode != "cross" else None
    client.ok("PUT", "/api/v1/symbols/BTCUSDT/leverage", {"leverage": 10})
    ask = best(base, "BUY")

    # Act
    preview = client.ok(
        "POST",
        "/api/v1/orders/preview",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.01"},
    )
    client.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.01"},
    )
    (position,) = client.ok("GET", "/api/v1/positions")

    # Assert: the simulated position is the real one, figure for figure
    assert Decimal(preview["fill_price"]) == ask
    assert Decimal(preview["cost"]) >= Decimal("0.01") * ask / 10
    assert set(preview["modes"]) == {"cross", "isolated"}
    simulated = preview["modes"][mode]["position"]
    for field in (
        "qty",
        "entry_price",
        "liquidation_price",
        "bankruptcy_price",
        "maintenance_margin",
        "initial_margin",
        "isolated_wallet",
    ):
        assert simulated[field] == position[field], field
    other = "isolated" if mode == "cross" else "cross"
    assert preview["modes"][other]["position"]["liquidation_price"] != position["liquidation_price"]


def test_what_if_moves_every_figure(config: ServiceConfig, base: str) -> None:
    client = Native(base, funded(config, base, "whatif"))
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "1.5"}
    client.ok("POST", "/api/v1/orders", order)
    (position,) = client.ok("GET", "/api/v1/positions")
    crash = str(Decimal(position["liquidation_price"]) - 1)

    result = client.ok("POST", "/api/v1/what-if", {"moves": {"BTCUSDT": crash}})

    (moved,) = result["as_is"]["positions"]
    (isolated,) = result["all_isolated"]["positions"]
    assert moved["mark_price"] == crash and moved["liquidatable"] is True
    assert moved["liquidation_price"] == position["liquidation_price"]
    assert result["as_is"]["pools"][0]["liquidatable"] is True
    assert isolated["margin_mode"] == "isolated"
    assert Decimal(isolated["liquidation_price"]) > Decimal(position["liquidation_price"])


def test_bulk_margin_modes_list_every_blocker(config: ServiceConfig, base: str) -> None:
    client = Native(base, funded(config, base, "bulk"))
    client.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.05", "price": "1000"},
    )
    client.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.002"},
    )

    blockers = client.ok("GET", "/api/v1/margin-modes/blockers", mode="isolated")
    refused = client.request("POST", "/api/v1/margin-modes", {"mode": "isolated"})
    allowed = client.ok(
        "POST", "/api/v1/margin-modes", {"mode": "isolated", "symbols": ["SOLUSDT", "XRPUSDT"]}
    )

    assert {b["symbol"]: b["code"] for b in blockers["blocked"]} == {
        "BTCUSDT": "MARGIN_MODE_POSITION_EXISTS",
        "ETHUSDT": "MARGIN_MODE_OPEN_ORDERS",
    }
    assert refused.status_code == 400
    assert refused.json()["details"]["blocked"] == blockers["blocked"]
    assert allowed["seq"] > 0
    settings = {s["symbol"]: s["margin_mode"] for s in client.ok("GET", "/api/v1/symbols")}
    assert settings["SOLUSDT"] == "isolated" and settings["BTCUSDT"] == "cross"


def test_history_and_orders(config: ServiceConfig, base: str) -> None:
    client = Native(base, funded(config, base, "history"))
    price = below(base)
    placed = client.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.002", "price": price},
    )
    order_id = placed["order"]["order_id"]
    assert placed["order"]["status"] == "NEW"
    assert [o["order_id"] for o in client.ok("GET", "/api/v1/orders")] == [order_id]
    assert Decimal(client.ok("GET", f"/api/v1/orders/{order_id}")["price"]) == Decimal(price)
    client.ok("DELETE", f"/api/v1/orders/{order_id}")
    client.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "qty": "0.002"},
    )

    orders = client.ok("GET", "/api/v1/history/orders")
    trades = client.ok("GET", "/api/v1/history/trades")

    assert [o["status"] for o in orders] == ["CANCELED", "FILLED"]
    assert len(trades) == 1 and trades[0]["side"] == "SELL"
    assert all(e.get("account_id", "history") == "history" for e in placed["events"])


def _collect(ws: Any, wanted: set[str], timeout: float = 5.0) -> dict[str, list[Any]]:
    """Messages by event type until every ``wanted`` type arrived (combined or raw)."""
    got: dict[str, list[Any]] = {}
    deadline = time.monotonic() + timeout
    while not wanted <= set(got):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"missing {wanted - set(got)}; got {sorted(got)}")
        message = json.loads(ws.recv(timeout=left))
        data = message.get("data", message)
        got.setdefault(data.get("e", "?"), []).append(data)
    return got


def test_market_streams(config: ServiceConfig, base: str) -> None:
    client = Native(base, funded(config, base, "streamer"))
    ws_base = base.replace("http", "ws")
    with (
        connect(f"{ws_base}/ws/btcusdt@depth") as depth,
        connect(f"{ws_base}/stream?streams=btcusdt@aggTrade/btcusdt@kline_1m") as trades,
    ):
        client.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.003"},
        )
        update = _collect(depth, {"depthUpdate"})["depthUpdate"][0]
        streamed = _collect(trades, {"aggTrade", "kline"})
        trade, kline = streamed["aggTrade"][0], streamed["kline"][0]
    assert update["s"] == "BTCUSDT" and update["u"] >= update["U"] and update["a"]
    assert trade["q"] == "0.003" and trade["m"] is False
    assert kline["k"]["i"] == "1m"


def test_user_streams_with_margin_calls_and_isolation(config: ServiceConfig, base: str) -> None:
    alice = funded(config, base, "user-a")
    other = funded(config, base, "user-b")
    client = Native(base, alice)
    client.ok("PUT", "/api/v1/margin-call-thresholds", {"margin_level": ["100000"]})
    binance_key = (
        Binance(base, alice)
        .http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": alice.api_key})
        .json()["listenKey"]
    )
    native_key = client.ok("POST", "/api/v1/listen-key")["listen_key"]
    assert native_key == binance_key
    ws_base = base.replace("http", "ws")
    with (
        connect(f"{ws_base}/ws/{binance_key}") as binance,
        connect(f"{ws_base}/api/v1/ws?listenKey={native_key}") as native,
    ):
        Native(base, other).ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.002"},
        )
        client.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.01"},
        )
        user = _collect(binance, {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "MARGIN_CALL"})
        mine = _collect(native, {"OrderUpdated", "FillSettled", "MarginCall", "LedgerPosted"})
    order, account = user["ORDER_TRADE_UPDATE"][-1], user["ACCOUNT_UPDATE"][-1]
    call = user["MARGIN_CALL"][0]
    events = [e for batch in mine.values() for e in batch if "account_id" in e]
    assert order["o"]["s"] == "BTCUSDT" and order["o"]["S"] == "BUY"
    assert order["o"]["X"] == "FILLED" and order["o"]["x"] == "TRADE"
    assert account["a"]["P"][0]["pa"] == "0.01"
    assert call["p"][0]["s"] == "BTCUSDT" and call["metric"] == "margin_level"
    assert all(e["account_id"] == "user-a" for e in events)


def test_weight_limit_answers_429_with_retry_after(config: ServiceConfig, base: str) -> None:
    key = funded(config, base, "greedy")
    client = Binance(base, key)
    codes = []
    for _ in range(LIMIT // 5 + 2):
        response = client.signed("GET", "/fapi/v3/account")
        codes.append(response.status_code)
        if response.status_code == 429:
            break
    assert codes[0] == 200 and codes[-1] == 429
    assert response.json()["code"] == -1003
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_a_revoked_key_stops_working(config: ServiceConfig, base: str) -> None:
    key = funded(config, base, "revoked")
    client = Native(base, key)
    assert client.request("GET", "/api/v1/account").status_code == 200
    store = KeyStore.open(config.database)
    try:
        assert store.revoke(key.api_key)
    finally:
        store.close()
    time.sleep(0.3)
    response = client.request("GET", "/api/v1/account")
    assert response.status_code == 401 and response.json()["code"] == -2015


def test_bad_native_requests_are_4xx(config: ServiceConfig, base: str) -> None:
    client = Native(base, funded(config, base, "sloppy"))
    cases = [
        client.request("POST", "/api/v1/orders", {"symbol": "BTCUSDT", "side": "BUY"}),
        client.request(
            "POST",
            "/api/v1/orders",
            {"symbol": "NOPE", "side": "BUY", "type": "MARKET", "qty": "1"},
        ),
        client.request(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": 0.1},
        ),
        client.request("PUT", "/api/v1/symbols/BTCUSDT/leverage", {"leverage": 500}),
        client.request("GET", "/api/v1/orders/999999"),
        client.request("POST", "/api/v1/what-if", {"moves": {"BTCUSDT": "0"}}),
    ]
    unsigned = httpx.get(f"{base}/api/v1/account")
    stale = httpx.get(
        f"{base}/api/v1/account",
        headers={
            "X-API-KEY": client.key.api_key,
            "X-TIMESTAMP": str(now_ms() - 60_000),
            "X-SIGNATURE": "00",
        },
    )
    assert [r.status_code for r in cases] == [400] * len(cases), [r.text for r in cases]
    assert all("code" in r.json() and "msg" in r.json() for r in cases)
    assert unsigned.status_code == 401 and stale.json()["code"] == -1021


def test_every_acknowledged_command_survives_a_restart(tmp_path: Path) -> None:
    config = ServiceConfig(
        database=str(tmp_path / "data"), feed_interval_s=3600, tick_interval_s=3600, index_data=""
    )
    with server_thread(config) as (base, _app):
        client = Native(base, funded(config, base, "durable"))
        placed = client.ok(
            "POST",
            "/api/v1/orders",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "qty": "0.002",
                "price": below(base),
            },
        )
        client.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.004"},
        )
        before = (client.ok("GET", "/api/v1/account"), client.ok("GET", "/api/v1/positions"))
    with server_thread(replace(config, demo=False)) as (base, _app):
        client = Native(base, client.key)
        orders = client.ok("GET", "/api/v1/orders")
        positions = client.ok("GET", "/api/v1/positions")
        account = client.ok("GET", "/api/v1/account")
    assert [o["order_id"] for o in orders] == [placed["order"]["order_id"]]
    assert [(p["qty"], p["entry_price"]) for p in positions] == [
        (p["qty"], p["entry_price"]) for p in before[1]
    ]
    assert account["assets"][0]["wallet_balance"] == before[0]["assets"][0]["wallet_balance"]

"""Acceptance: a stock ccxt ``binanceusdm`` client against a real ``isocross serve`` process,
and a raw signed HTTP client for the error paths ccxt never takes.

The server runs the demo market with one index tick (``--feed-interval 3600``): the market maker
quotes once and the mark stays put, so figures read through two APIs can be compared exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from support import Binance, Native, Server, now_ms, shared_server_process

from isocross.api.keys import Permission
from isocross.catalogue import load_catalogue
from isocross.model.money import exponent, round_up

pytestmark = pytest.mark.acceptance
BTC = "BTC/USDT:USDT"
INST = load_catalogue().instrument("BTCUSDT")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server process for this module, shared by the test workers that run it."""
    root = tmp_path_factory.getbasetemp().parent
    args = ("--no-access-log", "--feed-interval", "3600", "--weight-limit", "100000")
    with shared_server_process(root, "ccxt-acceptance", *args) as srv:
        yield srv


def ccxt_client(base: str, key: Any) -> ccxt.binanceusdm:
    """ccxt's binanceusdm, unchanged, pointed at the local server (the README's recipe)."""
    exchange = ccxt.binanceusdm(
        {"apiKey": key.api_key, "secret": key.secret, "options": {"fetchCurrencies": False}}
    )
    for name, url in exchange.urls["api"].items():
        if isinstance(url, str):
            exchange.urls["api"][name] = url.replace("https://fapi.binance.com", base)
    return exchange


@pytest.fixture(scope="session")
def alice(server: Server) -> Any:
    key = server.account("alice")
    Native(server.base, key).ok("POST", "/api/v1/faucet", {"asset": "USDT", "amount": "10000"})
    return key


@pytest.fixture(scope="session")
def bob(server: Server) -> Any:
    key = server.account("bob")
    Native(server.base, key).ok("POST", "/api/v1/faucet", {"asset": "USDT", "amount": "5000"})
    return key


def test_ccxt_walkthrough(server: Server, alice: Any) -> None:
    # Arrange
    ex = ccxt_client(server.base, alice)
    native = Native(server.base, alice)

    # Act / Assert: markets and balance
    ex.load_markets()
    assert BTC in ex.markets and ex.markets[BTC]["linear"]
    assert ex.markets[BTC]["precision"]["price"] == 0.1
    balance = ex.fetch_balance()
    assert balance["USDT"]["free"] == 10_000 and balance["USDT"]["total"] == 10_000

    # position mode: hedge and back
    ex.set_position_mode(True)
    assert ex.fetch_position_mode(BTC)["hedged"] is True
    ex.set_position_mode(False)
    assert ex.fetch_position_mode(BTC)["hedged"] is False

    # margin mode and leverage
    ex.set_margin_mode("isolated", BTC)
    ex.set_leverage(10, BTC)
    leverage = ex.fetch_leverage(BTC)
    assert leverage["marginMode"] == "isolated" and leverage["longLeverage"] == 10

    # a resting limit order, listed, then canceled
    book = ex.fetch_order_book(BTC, 5)
    best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
    limit = ex.create_order(BTC, "limit", "buy", 0.01, round(best_bid * 0.98, 1))
    assert limit["status"] == "open"
    assert [o["id"] for o in ex.fetch_open_orders(BTC)] == [limit["id"]]
    assert ex.cancel_order(limit["id"], BTC)["status"] == "canceled"
    assert ex.fetch_open_orders(BTC) == []

    # a market order fills against the market maker's ask
    market = ex.create_order(BTC, "market", "buy", 0.01)
    assert market["status"] == "closed" and market["filled"] == 0.01
    assert market["average"] == best_ask

    # a stop order waits (Binance's algo-order API), then is canceled
    stop = ex.create_order(
        BTC,
        "stop_market",
        "sell",
        0.01,
        None,
        {"stopPrice": round(best_bid * 0.9, 1), "reduceOnly": True},
    )
    assert stop["status"] == "open" and stop["triggerPrice"] == round(best_bid * 0.9, 1)
    waiting = ex.fetch_open_orders(BTC, params={"trigger": True})
    assert [o["id"] for o in waiting] == [stop["id"]]
    ex.cancel_order(stop["id"], BTC, params={"trigger": True})
    assert ex.fetch_open_orders(BTC, params={"trigger": True}) == []

    # positions: every figure equal to the engine's (the native API) and to the margin core
    (position,) = ex.fetch_positions([BTC])
    (engine,) = native.ok("GET", "/api/v1/positions")
    mark = Decimal(engine["mark_price"])
    expected_mm = round_up(INST.maintenance_margin(Decimal("0.01"), mark), exponent(8))
    assert position["contracts"] == 0.01 and position["side"] == "long"
    assert position["marginMode"] == "isolated" and engine["margin_mode"] == "isolated"
    assert Decimal(position["info"]["liquidationPrice"]) == Decimal(engine["liquidation_price"])
    assert position["liquidationPrice"] == float(engine["liquidation_price"])
    assert Decimal(position["info"]["maintMargin"]) == Decimal(engine["maintenance_margin"])
    assert Decimal(engine["maintenance_margin"]) == expected_mm
    assert Decimal(str(position["maintenanceMargin"])) == expected_mm  # tier 1: cum = 0
    assert position["leverage"] == 10

    # isolated margin: add 10, remove 5
    wallet = Decimal(engine["isolated_wallet"])
    ex.add_margin(BTC, 10)
    ex.reduce_margin(BTC, 5)
    (after,) = native.ok("GET", "/api/v1/positions")
    assert Decimal(after["isolated_wallet"]) == wallet + 5

    # leverage tiers are the catalogue's
    tiers = ex.fetch_leverage_tiers([BTC])[BTC]
    assert len(tiers) == len(INST.tiers.tiers)
    for got, want in zip(tiers, INST.tiers.tiers, strict=True):
        assert got["maxLeverage"] == want.max_leverage
        assert Decimal(str(got["maintenanceMarginRate"])) == want.mmr

    # funding rate and mark
    funding = ex.fetch_funding_rate(BTC)
    prices = native.ok("GET", "/api/v1/markets/BTCUSDT/prices")
    assert Decimal(str(funding["fundingRate"])) == Decimal(prices["funding_rate_estimate"])
    assert Decimal(str(funding["markPrice"])) == mark

    # my trades: the market order's fill, taker fee 0.05 %
    (trade,) = ex.fetch_my_trades(BTC)
    assert trade["order"] == market["id"] and trade["amount"] == 0.01
    assert trade["takerOrMaker"] == "taker"
    fee = Decimal(str(trade["fee"]["cost"]))
    assert fee == Decimal("0.01") * Decimal(str(best_ask)) * Decimal("0.0005")


# ---------------------------------------------------------------------------- raw errors
def code_of(response: Any) -> int:
    return int(response.json()["code"])


def test_bad_signature_is_refused(server: Server, alice: Any) -> None:
    client = Binance(server.base, alice)
    response = client.signed("GET", "/fapi/v3/account", secret="0" * 64)
    assert response.status_code == 400 and code_of(response) == -1022


def test_expired_and_future_timestamps_are_refused(server: Server, alice: Any) -> None:
    client = Binance(server.base, alice)
    old = client.signed("GET", "/fapi/v3/account", timestamp=now_ms() - 10_000)
    ahead = client.signed("GET", "/fapi/v3/account", timestamp=now_ms() + 5_000)
    wide = client.signed("GET", "/fapi/v3/account", timestamp=now_ms() - 10_000, recvWindow=60_000)
    assert (old.status_code, code_of(old)) == (400, -1021)
    assert (ahead.status_code, code_of(ahead)) == (400, -1021)
    assert wide.status_code == 200


def test_a_replayed_signed_request_is_refused(server: Server, alice: Any) -> None:
    client = Binance(server.base, alice)
    params = f"symbol=ETHUSDT&leverage=9&timestamp={now_ms()}"
    from isocross.api.auth import sign

    body = f"{params}&signature={sign(alice.secret, params)}"
    headers = {"X-MBX-APIKEY": alice.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    first = client.http.post("/fapi/v1/leverage", content=body, headers=headers)
    again = client.http.post("/fapi/v1/leverage", content=body, headers=headers)
    assert first.status_code == 200
    assert (again.status_code, code_of(again)) == (400, -1022)


def test_unknown_and_malformed_keys_are_unauthorized(server: Server, alice: Any) -> None:
    client = Binance(server.base, alice)
    unknown = client.http.get(
        "/fapi/v3/account",
        headers={"X-MBX-APIKEY": "ab" * 32},
        params={"timestamp": now_ms(), "signature": "00"},
    )
    malformed = client.http.get(
        "/fapi/v3/account",
        headers={"X-MBX-APIKEY": "not a key"},
        params={"timestamp": now_ms(), "signature": "00"},
    )
    missing = client.http.get("/fapi/v3/account", params={"timestamp": now_ms()})
    assert (unknown.status_code, code_of(unknown)) == (401, -2015)
    assert (malformed.status_code, code_of(malformed)) == (401, -2014)
    assert (missing.status_code, code_of(missing)) == (401, -2014)


def test_a_foreign_order_id_is_unknown(server: Server, alice: Any, bob: Any) -> None:
    # Arrange: alice rests an order far from the touch
    mine = Binance(server.base, alice)
    order = mine.signed(
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price="80000",
    ).json()
    theirs = Binance(server.base, bob)

    # Act
    query = theirs.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=order["orderId"])
    cancel = theirs.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=order["orderId"])
    native = Native(server.base, bob).request("DELETE", f"/api/v1/orders/{order['orderId']}")

    # Assert: to bob the order does not exist; it is still alice's and still open
    assert (query.status_code, code_of(query)) == (400, -2013)
    assert (cancel.status_code, code_of(cancel)) == (400, -2013)
    assert (native.status_code, code_of(native)) == (400, -2013)
    still = mine.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=order["orderId"])
    assert still.json()["status"] == "NEW"
    mine.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=order["orderId"])


def test_mode_switches_with_an_open_order_are_refused(server: Server, bob: Any) -> None:
    client = Binance(server.base, bob)
    order = client.signed(
        "POST",
        "/fapi/v1/order",
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.05",
        price="1000",
    )
    assert order.status_code == 200, order.text

    margin = client.signed("POST", "/fapi/v1/marginType", symbol="ETHUSDT", marginType="ISOLATED")
    position = client.signed("POST", "/fapi/v1/positionSide/dual", dualSidePosition="true")
    bulk = Native(server.base, bob).request(
        "POST", "/api/v1/margin-modes", {"mode": "isolated", "symbols": []}
    )

    assert (margin.status_code, code_of(margin)) == (400, -4047)
    assert (position.status_code, code_of(position)) == (400, -4067)
    assert bulk.status_code == 400 and bulk.json()["error"] == "MARGIN_MODE_BULK_BLOCKED"
    assert [b["symbol"] for b in bulk.json()["details"]["blocked"]] == ["ETHUSDT"]
    client.signed("DELETE", "/fapi/v1/allOpenOrders", symbol="ETHUSDT")


def test_permissions_are_enforced(server: Server, bob: Any) -> None:
    reader = server.add_key("bob", frozenset({Permission.READ}))
    assert reader.account_id == bob.account_id
    client = Binance(server.base, reader)
    assert client.signed("GET", "/fapi/v3/account").status_code == 200
    order = client.signed(
        "POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001"
    )
    transfer = Native(server.base, reader).request(
        "POST", "/api/v1/transfers", {"asset": "USDT", "amount": "1"}
    )
    assert (order.status_code, code_of(order)) == (403, -2015)
    assert transfer.status_code == 403


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"side": "BUY", "type": "LIMIT", "quantity": "abc", "price": "1"}, -1100),
        ({"type": "MARKET", "quantity": "0.001"}, -1102),
        ({"side": "UP", "type": "MARKET", "quantity": "0.001"}, -1117),
        ({"side": "BUY", "type": "ICEBERG", "quantity": "0.001"}, -1116),
        (
            {
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "1",
                "timeInForce": "XYZ",
            },
            -1115,
        ),
        ({"side": "BUY", "type": "LIMIT", "quantity": "0.0001", "price": "90000"}, -4023),
        ({"side": "BUY", "type": "LIMIT", "quantity": "0", "price": "90000"}, -4003),
        ({"side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "90000.05"}, -4014),
        ({"side": "BUY", "type": "MARKET", "quantity": "2"}, -2019),
        ({"side": "BUY", "type": "MARKET", "quantity": "1000"}, -2027),
    ],
)
def test_bad_orders_are_4xx_with_binance_codes(
    server: Server, bob: Any, params: dict[str, str], code: int
) -> None:
    response = Binance(server.base, bob).signed(
        "POST", "/fapi/v1/order", symbol="BTCUSDT", **params
    )
    assert response.status_code == 400, response.text
    assert code_of(response) == code


def test_unknown_symbol_and_oversized_requests(server: Server, bob: Any) -> None:
    client = Binance(server.base, bob)
    unknown = client.signed("GET", "/fapi/v3/positionRisk", symbol="DOGEUSDT")
    huge = client.http.post(
        "/fapi/v1/order", content=b"x" * 70_000, headers={"X-MBX-APIKEY": bob.api_key}
    )
    assert (unknown.status_code, code_of(unknown)) == (400, -1121)
    assert (huge.status_code, code_of(huge)) == (413, -1101)


def test_account_isolation(server: Server) -> None:
    # Arrange: carol trades; dave, another account, looks
    carol_key, dave_key = server.account("carol"), server.account("dave")
    carol = Native(server.base, carol_key)
    carol.ok("POST", "/api/v1/faucet", {"asset": "USDT", "amount": "5000"})
    dave = Native(server.base, dave_key)
    carol.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.002"},
    )
    resting = carol.ok(
        "POST",
        "/api/v1/orders",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.002", "price": "80000"},
    )

    # Act
    mine = carol.ok("GET", "/api/v1/history/trades")
    theirs = dave.ok("GET", "/api/v1/history/trades")
    peek = dave.request("GET", f"/api/v1/orders/{resting['order']['order_id']}")

    # Assert: each key sees its own account only
    assert dave.ok("GET", "/api/v1/account")["account_id"] == dave_key.account_id
    assert len(mine) == 1 and theirs == []
    assert dave.ok("GET", "/api/v1/positions") == []
    assert dave.ok("GET", "/api/v1/orders") == []
    assert (peek.status_code, peek.json()["code"]) == (400, -2013)
    owner = carol_key.account_id
    assert all(e.get("account_id", owner) == owner for e in resting["events"])


def test_health_and_metrics(server: Server) -> None:
    import httpx

    health = httpx.get(f"{server.base}/health").json()
    metrics = httpx.get(f"{server.base}/metrics").text
    assert health["status"] == "ok" and health["seq"] > 0
    assert "isocross_commands_total" in metrics and "isocross_http_request_seconds" in metrics
    assert "isocross_insurance_fund_balance" in metrics


def test_readme_snippet_runs(server: Server) -> None:
    """The README's ccxt snippet, word for word, against this server."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("```python\nimport ccxt")
    snippet = readme[start + len("```python\n") : readme.index("```", start + 10)]
    snippet = snippet.replace("http://127.0.0.1:8000", server.base)
    namespace: dict[str, Any] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["position"]["contracts"] == 0.01

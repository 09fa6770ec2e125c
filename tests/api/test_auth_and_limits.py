"""Unit tests of the service's guards, no server: signatures, timestamps, replays, request
weights, parameter parsing, API keys and their permissions, error mapping."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from isocross.api.auth import (
    Authenticator,
    Principal,
    native_signature,
    sign,
    strip_signature,
)
from isocross.api.errors import ApiError
from isocross.api.keys import KeyManagementError, KeyStore, Permission, parse_permissions
from isocross.api.params import Params, parse_params
from isocross.api.ratelimit import WeightLimiter
from isocross.model.errors import ErrorCode, IsocrossError


class Clock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[KeyStore]:
    store = KeyStore.open(str(tmp_path / "data"))
    yield store
    store.close()


def code(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, int]:
    return exc.value.status, exc.value.code


# ---------------------------------------------------------------------------- keys
def test_keys_are_issued_listed_and_revoked(keys: KeyStore) -> None:
    key = keys.create_account("alice", permissions={Permission.READ, Permission.TRADE})
    extra = keys.add_key("alice", {Permission.READ})

    assert len(key.api_key) == 64 and len(key.secret) == 64
    assert keys.lookup(key.api_key) == key
    assert [k.secret for k in keys.keys("alice")] == ["", ""]
    assert keys.revoke(extra.api_key) and not keys.revoke(extra.api_key)
    assert keys.lookup(extra.api_key) is None
    assert [a.account_id for a in keys.accounts()] == ["alice"]


@pytest.mark.parametrize(
    ("account", "tier", "message"),
    [("bad id!", "VIP0", "not allowed"), ("ok", "VIP7", "unknown fee tier")],
)
def test_bad_accounts_are_refused(keys: KeyStore, account: str, tier: str, message: str) -> None:
    with pytest.raises(KeyManagementError, match=message):
        keys.create_account(account, fee_tier=tier)


def test_duplicates_unknown_accounts_and_permissions(keys: KeyStore) -> None:
    keys.create_account("bob")
    with pytest.raises(KeyManagementError, match="already exists"):
        keys.create_account("bob")
    with pytest.raises(KeyManagementError, match="no account"):
        keys.add_key("nobody", {Permission.READ})
    with pytest.raises(KeyManagementError, match="unknown permission"):
        parse_permissions("read,withdraw")
    assert parse_permissions(" Trade ,read") == {Permission.TRADE, Permission.READ}


# ---------------------------------------------------------------------------- signatures
def test_the_binance_signature_covers_query_and_body(keys: KeyStore) -> None:
    # Arrange: Binance's documented example (secret, query, body → signature)
    key = keys.create_account("sig")
    clock = Clock()
    auth = Authenticator(keys, clock)
    query = f"symbol=BTCUSDT&side=BUY&timestamp={clock.now}".encode()
    body = b"quantity=1&price=9000"
    signature = sign(key.secret, query + body)

    # Act
    principal = asyncio.run(
        auth.binance(
            key.api_key,
            "POST",
            query,
            body + f"&signature={signature}".encode(),
            {"timestamp": str(clock.now)},
        )
    )

    # Assert
    assert principal.account_id == "sig"
    assert strip_signature(b"a=1&signature=ff&b=2") == (b"a=1&b=2", "ff")
    assert sign(
        "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        "&recvWindow=5000&timestamp=1499827319559",
    ) == ("c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


def test_wrong_signature_time_and_replays_are_refused(keys: KeyStore) -> None:
    key = keys.create_account("guard")
    clock = Clock()
    auth = Authenticator(keys, clock)

    def call(method: str, ts: int, secret: str = key.secret, window: str | None = None) -> None:
        query = f"timestamp={ts}" + (f"&recvWindow={window}" if window else "")
        params = {"timestamp": str(ts)} | ({"recvWindow": window} if window else {})
        raw = f"{query}&signature={sign(secret, query)}".encode()
        asyncio.run(auth.binance(key.api_key, method, raw, b"", params))

    call("GET", clock.now)
    call("GET", clock.now)  # a read may repeat
    with pytest.raises(ApiError) as bad:
        call("GET", clock.now, secret="f" * 64)
    with pytest.raises(ApiError) as old:
        call("GET", clock.now - 5001)
    with pytest.raises(ApiError) as ahead:
        call("GET", clock.now + 1000)
    with pytest.raises(ApiError) as window:
        call("GET", clock.now, window="60001")
    call("POST", clock.now - 1)
    with pytest.raises(ApiError) as replay:
        call("POST", clock.now - 1)

    assert code(bad) == (400, -1022)
    assert code(old) == (400, -1021) and code(ahead) == (400, -1021)
    assert code(window) == (400, -1130)
    assert code(replay) == (400, -1022) and replay.value.error == "REPLAYED_REQUEST"


def test_native_signature_and_key_errors(keys: KeyStore) -> None:
    key = keys.create_account("native")
    clock = Clock()
    auth = Authenticator(keys, clock)
    body = b'{"symbol":"BTCUSDT"}'
    good = native_signature(key.secret, clock.now, "POST", "/api/v1/orders", "", body)
    headers = {"x-api-key": key.api_key, "x-timestamp": str(clock.now), "x-signature": good}

    principal = asyncio.run(auth.native(headers, "POST", "/api/v1/orders", b"", body))
    with pytest.raises(ApiError) as tampered:
        asyncio.run(auth.native(headers, "POST", "/api/v1/orders", b"", body + b" "))
    with pytest.raises(ApiError) as unknown:
        asyncio.run(auth.key("ab" * 32))
    with pytest.raises(ApiError) as malformed:
        asyncio.run(auth.key("zz"))
    reader = keys.add_key("native", {Permission.READ})
    read_only = asyncio.run(auth.key(reader.api_key))
    with pytest.raises(ApiError) as forbidden:
        Principal(read_only).require(Permission.TRADE)

    assert principal.account_id == "native"
    assert code(tampered) == (400, -1022)
    assert code(unknown) == (401, -2015) and code(malformed) == (401, -2014)
    assert code(forbidden) == (403, -2015)


# ---------------------------------------------------------------------------- weights
def test_weight_windows_refuse_with_retry_after() -> None:
    clock = Clock(1_700_000_010_000)  # 30 s into a minute
    limiter = WeightLimiter(10, clock)

    assert limiter.charge("k", 6) == 6
    with pytest.raises(ApiError) as refused:
        limiter.charge("k", 5)
    assert limiter.charge("other", 10) == 10
    clock.now += 30_000  # the next minute
    assert limiter.charge("k", 10) == 10

    assert code(refused) == (429, -1003)
    assert refused.value.headers["Retry-After"] == "30"
    assert refused.value.headers["X-MBX-USED-WEIGHT-1M"] == "6"


# ---------------------------------------------------------------------------- parameters
def test_parameters_are_parsed_and_checked() -> None:
    params = Params(parse_params(b"symbol=BTCUSDT&quantity=0.010", b"price=1.5&x=", "form"))

    assert params.decimal("quantity") == Decimal("0.010")
    assert params.decimal("price") == Decimal("1.5")
    assert params.text("x") is None and params.boolean("reduceOnly") is False
    with pytest.raises(ApiError) as dup:
        parse_params(b"a=1", b"a=2", "application/x-www-form-urlencoded")
    with pytest.raises(ApiError) as illegal:
        Params({"quantity": "1e5"}).decimal("quantity")
    with pytest.raises(ApiError) as missing:
        Params({}).decimal("quantity", required=True)
    with pytest.raises(ApiError) as outside:
        Params({"limit": "5000"}).integer("limit", high=1000)
    assert [e.value.code for e in (dup, illegal, missing, outside)] == [-1101, -1100, -1102, -1130]


def test_engine_refusals_keep_binance_codes() -> None:
    refusal = ApiError.from_refusal(
        IsocrossError(ErrorCode.MARGIN_MODE_POSITION_EXISTS, "has a position", field="symbol")
    )
    bulk = ApiError.from_refusal(IsocrossError(ErrorCode.MARGIN_MODE_BULK_BLOCKED, "blocked"))
    unknown = ApiError.from_refusal(IsocrossError(ErrorCode.UNKNOWN_ORDER, "no such order"))

    assert (refusal.status, refusal.binance_body()) == (
        400,
        {"code": -4048, "msg": "has a position"},
    )
    assert refusal.native_body()["error"] == "MARGIN_MODE_POSITION_EXISTS"
    assert bulk.code == -4047 and unknown.code == -2013

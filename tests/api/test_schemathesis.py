"""Property-based: schemathesis generates requests from the native API's OpenAPI schema (valid
and invalid ones), signs them like a client would, and checks that the server never answers
with a server error and that every answer fits the schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import Native, server_thread

from isocross.api.auth import native_signature
from isocross.api.config import ServiceConfig
from isocross.api.keys import ApiKey, KeyStore


class Signer(requests.auth.AuthBase):
    """Signs every prepared request the native way (after schemathesis built it)."""

    def __init__(self, key: ApiKey) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        path, _, query = (request.path_url or "/").partition("?")
        body = request.body or b""
        data = body.encode() if isinstance(body, str) else body
        ts = time.time_ns() // 1_000_000
        request.headers["X-API-KEY"] = self.key.api_key
        request.headers["X-TIMESTAMP"] = str(ts)
        request.headers["X-SIGNATURE"] = native_signature(
            self.key.secret, ts, request.method or "GET", path, query, data
        )
        return request


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ApiKey]]:
    config = ServiceConfig(
        database=str(tmp_path_factory.mktemp("schema") / "data"),
        feed_interval_s=3600,
        tick_interval_s=3600,
        weight_limit=1_000_000,
        index_data="",
    )
    with server_thread(config) as (base, _app):
        store = KeyStore.open(config.database)
        try:
            key = store.create_account("fuzz")
        finally:
            store.close()
        client = Native(base, key)
        client.ok("POST", "/api/v1/faucet", {"asset": "USDT", "amount": "100000"})
        client.ok(
            "POST",
            "/api/v1/orders",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "qty": "0.01"},
        )
        yield base, key


@pytest.fixture(scope="module")
def native_schema(service: tuple[str, ApiKey]) -> Any:
    base, _key = service
    return (
        schemathesis.openapi.from_url(f"{base}/openapi.json")
        .include(path_regex="^/api/v1/")
        .exclude(path_regex="^/api/v1/demo/")
    )


@pytest.fixture(scope="module")
def session(service: tuple[str, ApiKey]) -> requests.Session:
    s = requests.Session()
    s.auth = Signer(service[1])
    return s


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_native_api_never_fails(native_schema: Any, session: requests.Session) -> None:
    """Every operation: 10 generated valid requests, then 6 invalid ones (one server)."""
    for mode, examples in ((GenerationMode.POSITIVE, 10), (GenerationMode.NEGATIVE, 6)):
        _fuzz(native_schema, session, mode, examples)


def _fuzz(native_schema: Any, session: requests.Session, mode: Any, examples: int) -> None:
    """Every operation, ``examples`` generated requests of ``mode`` each."""
    failures: list[str] = []
    operations = 0
    for result in native_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if mode is GenerationMode.NEGATIVE and not (
            len(operation.query) or len(operation.path_parameters) or len(operation.body)
        ):
            continue  # nothing to get wrong but the signature headers (tested elsewhere)

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(session=session, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            continue  # no invalid request can be built for this operation
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}"[:2000])
    assert operations >= 30
    assert not failures, "\n\n".join(failures)

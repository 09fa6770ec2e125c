"""The machinery of the Binance-compatible API: declared routes, parameters, signing,
weights and Binance's ``{code, msg}`` errors (see :mod:`isocross.api.binance`)."""

from __future__ import annotations

import decimal
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.types import Receive, Scope, Send

from isocross.api.auth import Principal
from isocross.api.errors import ApiError, unavailable
from isocross.api.keys import Permission
from isocross.api.params import SYMBOL, Params, parse_params
from isocross.api.service import Service
from isocross.api.views import dec0
from isocross.engine.exchange import Outcome
from isocross.model.errors import IsocrossError
from isocross.model.instrument import Instrument
from isocross.store import StoreError

log = logging.getLogger("isocross.api")
PERPETUAL_DELIVERY = 4133404800000
DEPTH_LIMITS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}
NONE, USER_STREAM, SIGNED = "NONE", "USER_STREAM", "SIGNED"
Weight = int | Callable[[Params], int]


@dataclass(frozen=True, slots=True)
class RawRequest:
    """What a handler may know about the HTTP request (the raw ASGI view: no framework)."""

    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    client: str


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    service: Service
    request: RawRequest
    params: Params
    principal: Principal | None

    @property
    def account_id(self) -> str:
        assert self.principal is not None
        return self.principal.account_id

    @property
    def now(self) -> int:
        return self.service.clock()

    def symbol(self, required: bool = True) -> str | None:
        """A listed linear symbol (-1121 otherwise)."""
        value = self.params.text("symbol", required=required, max_len=30)
        if value is None:
            return None
        inst = self.service.venue.catalogue.instruments.get(value)
        if not SYMBOL.match(value) or inst is None or not linear(inst):
            raise ApiError(400, -1121, "Invalid symbol.", error="UNKNOWN_SYMBOL", field="symbol")
        return value

    def required_symbol(self) -> str:
        symbol = self.symbol()
        assert symbol is not None
        return symbol


@dataclass(frozen=True, slots=True)
class Spec:
    handler: Callable[[Call], Awaitable[Any]]
    weight: Weight
    security: str
    permission: Permission


ROUTES: dict[str, dict[str, Spec]] = {}


def api(
    method: str,
    *paths: str,
    weight: Weight = 1,
    security: str = NONE,
    permission: Permission = Permission.READ,
) -> Callable[[Callable[[Call], Awaitable[Any]]], Callable[[Call], Awaitable[Any]]]:
    """Declare a handler for ``method`` on ``paths``."""

    def register(fn: Callable[[Call], Awaitable[Any]]) -> Callable[[Call], Awaitable[Any]]:
        for path in paths:
            ROUTES.setdefault(path, {})[method] = Spec(fn, weight, security, permission)
        return fn

    return register


def linear(inst: Instrument) -> bool:
    return inst.contract_type.value == "linear" and inst.margin_asset.name == inst.quote_asset


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return dec0(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


class TooLargeError(Exception):
    """The request body passed the size limit."""


async def _body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def serve(
    service: Service, scope: Scope, receive: Receive, send: Send, max_body: int
) -> tuple[int, int | None]:
    """Answer one ``/fapi`` request straight from ASGI (the hot path skips the framework's
    routing and request objects). Returns the status and the refusal's code, if any."""
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    client = scope.get("client")
    request = RawRequest(
        scope["method"],
        scope["path"],
        scope.get("query_string", b""),
        headers,
        client[0] if client else "unknown",
    )
    weight_used: int | None = None
    try:
        body = await _body(receive, max_body)
        spec = ROUTES[request.path].get(request.method)
        if spec is None:
            raise ApiError(405, -1000, f"{request.method} is not allowed here.", error="METHOD")
        status, payload, weight_used = 200, await _dispatch(service, request, body, spec), None
        weight_used = payload[1]
        data = json_bytes(payload[0])
        code: int | None = None
    except TooLargeError:
        status, data, code = 413, json_bytes({"code": -1101, "msg": "Request too large."}), -1101
    except Exception as exc:
        error = _refusal(exc, request)
        status, data, code = error.status, json_bytes(error.binance_body()), error.code
        weight_used = getattr(exc, "weight_used", None)
        extra = error.headers
    else:
        extra = {}
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if weight_used is not None:
        out.append((b"x-mbx-used-weight-1m", str(weight_used).encode()))
    out += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": data})
    return status, code


def _refusal(exc: Exception, request: RawRequest) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, IsocrossError):
        return ApiError.from_refusal(exc)
    if isinstance(exc, StoreError):
        return unavailable(f"The journal is unavailable: {exc}")
    if isinstance(exc, decimal.DecimalException):
        return ApiError(400, -1130, "A value sent is out of the range this request can use.")
    log.exception("unexpected error on %s %s", request.method, request.path)
    return ApiError(500, -1000, "An unknown error occurred while processing the request.")


async def _dispatch(
    service: Service, request: RawRequest, body: bytes, spec: Spec
) -> tuple[Any, int]:
    """Parse, authenticate, charge the weight, run; returns the result and the weight used."""
    params = Params(parse_params(request.query, body, request.headers.get("content-type", "")))
    weight = spec.weight(params) if callable(spec.weight) else spec.weight
    principal = None
    try:
        if spec.security == SIGNED:
            principal = await service.auth.binance(
                request.headers.get("x-mbx-apikey"),
                request.method,
                request.query,
                body,
                dict(params.values),
            )
        elif spec.security == USER_STREAM:
            principal = Principal(await service.auth.key(request.headers.get("x-mbx-apikey")))
    except ApiError:
        service.limiter.charge(f"ip:{request.client}", 1)
        raise
    identity = principal.key.api_key if principal is not None else f"ip:{request.client}"
    used = service.limiter.charge(identity, weight)
    try:
        if principal is not None:
            principal.require(spec.permission)
        return await spec.handler(Call(service, request, params, principal)), used
    except Exception as exc:
        exc.weight_used = used  # type: ignore[attr-defined]
        raise


async def submit(call: Call, command: Any) -> Outcome:
    outcome = await call.service.submit(command)
    if outcome.error is not None:
        raise ApiError.from_refusal(outcome.error)
    return outcome


def all_weight(single: int, every: int) -> Callable[[Params], int]:
    """Weight ``single`` with a symbol, ``every`` without (all symbols)."""
    return lambda params: single if "symbol" in params else every


def linear_symbols(call: Call) -> list[str]:
    return [s for s, i in call.service.venue.catalogue.instruments.items() if linear(i)]

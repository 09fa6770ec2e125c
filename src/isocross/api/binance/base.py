"""The machinery of the Binance-compatible API: declared routes, parameters, signing,
weights and Binance's ``{code, msg}`` errors (see :mod:`isocross.api.binance`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

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


@dataclass(slots=True)
class Call:
    """One request as a handler sees it."""

    service: Service
    request: Request
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


async def _dispatch(request: Request, path: str) -> Response:
    """Every /fapi request: parse, authenticate, charge the weight, run, answer."""
    service: Service = request.app.state.service
    request.scope["route_path"] = path
    spec = ROUTES[path].get(request.method)
    weight_used: int | None = None
    try:
        if spec is None:
            raise ApiError(405, -1000, f"{request.method} is not allowed here.", error="METHOD")
        query = request.scope.get("query_string", b"")
        body = await request.body()
        params = Params(parse_params(query, body, request.headers.get("content-type", "")))
        weight = spec.weight(params) if callable(spec.weight) else spec.weight
        principal = None
        client = request.client.host if request.client else "unknown"
        try:
            if spec.security == SIGNED:
                principal = await service.auth.binance(
                    request.headers.get("x-mbx-apikey"),
                    request.method,
                    query,
                    body,
                    dict(params.values),
                )
            elif spec.security == USER_STREAM:
                principal = Principal(await service.auth.key(request.headers.get("x-mbx-apikey")))
        except ApiError:
            service.limiter.charge(f"ip:{client}", 1)
            raise
        identity = principal.key.api_key if principal is not None else f"ip:{client}"
        weight_used = service.limiter.charge(identity, weight)
        if principal is not None:
            principal.require(spec.permission)
        result = await spec.handler(Call(service, request, params, principal))
        response = Response(json_bytes(result), media_type="application/json")
    except ApiError as exc:
        response = _error(request, exc)
    except IsocrossError as exc:
        response = _error(request, ApiError.from_refusal(exc))
    except StoreError as exc:
        response = _error(request, unavailable(f"The journal is unavailable: {exc}"))
    if weight_used is not None:
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(weight_used)
    return response


def _error(request: Request, exc: ApiError) -> Response:
    request.state.error_code = exc.code
    response = Response(
        json_bytes(exc.binance_body()), status_code=exc.status, media_type="application/json"
    )
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def routes() -> list[Route]:
    """The Starlette routes of every declared path."""
    return [
        Route(path, _endpoint(path), methods=sorted(specs), include_in_schema=False)
        for path, specs in ROUTES.items()
    ]


def _endpoint(path: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _dispatch(request, path)

    return endpoint


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

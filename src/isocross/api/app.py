"""The ASGI app: native API, Binance-compatible ``/fapi``, WebSockets, health, metrics, web.

``create_app(config)`` builds it; its lifespan opens the store (recovering the exchange), starts
the service (and the demo market) and, on shutdown, finishes queued commands and snapshots.

A thin pure-ASGI middleware wraps every HTTP request: it refuses bodies and query strings over
the limits (413, -1101) before anything reads them, times the request for ``/metrics``, adds the
used weight header and writes one structured access-log line.
"""

from __future__ import annotations

import asyncio
import decimal
import importlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from isocross.api import binance, native
from isocross.api.config import ServiceConfig
from isocross.api.errors import ApiError, not_found, unavailable
from isocross.api.metrics import CONTENT_TYPE
from isocross.api.models import HealthOut
from isocross.api.service import Service
from isocross.api.streams import serve_socket
from isocross.model.errors import IsocrossError
from isocross.store import StoreError

log = logging.getLogger("isocross.api")
access = logging.getLogger("isocross.api.access")

DESCRIPTION = """
A paper-trading USDⓈ-M perpetual futures exchange with exact cross and isolated margin.

**Signing.** Signed endpoints need `X-API-KEY`, `X-TIMESTAMP` (ms since the epoch, within
`X-RECV-WINDOW` ms, default 5000, of the server's clock) and `X-SIGNATURE` = hex
HMAC-SHA256(secret, `X-TIMESTAMP` + METHOD + path[?query] + body). A state-changing signature
is accepted once. Keys carry permissions: `read`, `trade`, `transfer`
(`isocross accounts create NAME`).

**Numbers.** Amounts, prices and quantities are decimal strings, exact to the digit.

**Errors.** Every refusal is a 4xx with Binance's numeric `code`, a `msg` and isocross's stable
`error` name (plus `field` and `details` where useful). Request weight is limited per key and
minute (429, code -1003, `Retry-After`).

**Also here.** The Binance USDⓈ-M-compatible API under `/fapi` (ccxt's `binanceusdm` works
against it unchanged), WebSocket streams (`/ws/<stream>`, `/stream?streams=…`,
`/api/v1/ws?listenKey=…`), `/health` and Prometheus `/metrics`.
"""

PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>isocross</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>isocross</h1>
<p>A paper-trading perpetual futures exchange with exact cross and isolated margin.
The trading screen will live here.</p>
<ul>
<li><a href="/docs">API documentation</a> (<a href="/openapi.json">OpenAPI schema</a>)</li>
<li>Binance USDⓈ-M-compatible API: <code>/fapi/v1/…</code> (point ccxt's
<code>binanceusdm</code> here)</li>
<li>Streams: <code>/ws/btcusdt@depth</code>, <code>/stream?streams=…</code>,
<code>/api/v1/ws?listenKey=…</code></li>
<li><a href="/health">/health</a> · <a href="/metrics">/metrics</a></li>
</ul></body></html>
"""


class _TooLargeError(Exception):
    pass


class Guard:
    """Size limits, timing, metrics, the weight header and the access log (pure ASGI)."""

    def __init__(self, app: ASGIApp, config: ServiceConfig) -> None:
        self.app = app
        self.max_body = config.max_body_bytes
        self.max_query = config.max_query_bytes
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False
        if len(scope.get("query_string", b"")) > self.max_query or self._declared(scope):
            await _send_json(
                send, 413, {"code": -1101, "msg": "Request too large.", "error": "TOO_LARGE"}
            )
            self._log(scope, 413, start, -1101)
            return
        if scope["path"] in binance.ROUTES:
            service: Service = scope["app"].state.service
            status, code = await binance.serve(service, scope, receive, send, self.max_body)
            scope["route_path"] = scope["path"]
            self._log(scope, status, start, code)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLargeError
            return message

        async def sending(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                used = scope.get("state", {}).get("weight_used")
                if used is not None:
                    headers = list(message.get("headers", []))
                    names = {k.lower() for k, _ in headers}
                    if b"x-mbx-used-weight-1m" not in names:
                        headers.append((b"x-mbx-used-weight-1m", str(used).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except _TooLargeError:
            if not started:
                await _send_json(
                    send, 413, {"code": -1101, "msg": "Request too large.", "error": "TOO_LARGE"}
                )
                status = 413
        code = scope.get("state", {}).get("error_code")
        self._log(scope, status, start, code)

    def _declared(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return not value.isdigit() or int(value) > self.max_body
        return False

    def _log(self, scope: Scope, status: int, start: float, code: Any) -> None:
        elapsed = time.perf_counter() - start
        label = getattr(scope.get("route"), "path", None) or scope.get("route_path", "unmatched")
        app = scope.get("app")
        service: Service | None = getattr(getattr(app, "state", None), "service", None)
        if service is not None:
            key = (label, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    service.metrics.requests.labels(label, str(status)),
                    service.metrics.latency.labels(label),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(elapsed)
            if code is not None:
                service.metrics.rejections.labels(str(code)).inc()
        if access.isEnabledFor(logging.INFO):
            access.info(
                "request",
                extra={
                    "fields": {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "ms": round(elapsed * 1000, 3),
                        "code": code,
                        "client": (scope.get("client") or ("?",))[0],
                    }
                },
            )


class Gateway:
    """The outermost ASGI app ``isocross serve`` runs: ``/fapi`` requests (the hot path) go
    straight to the Binance-compatible handlers through :class:`Guard`; everything else —
    lifespan, the native API, WebSockets, docs — to the FastAPI app."""

    def __init__(self, app: FastAPI, config: ServiceConfig) -> None:
        self.app = app
        self.guard = Guard(app, config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in binance.ROUTES:
            scope["app"] = self.app
            await self.guard(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_asgi(config: ServiceConfig | None = None) -> Gateway:
    """The app to serve: :func:`create_app` behind the :class:`Gateway`."""
    config = config or ServiceConfig()
    return Gateway(create_app(config), config)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _error_response(request: Request, exc: ApiError) -> JSONResponse:
    request.state.error_code = exc.code
    body = exc.binance_body() if request.url.path.startswith("/fapi") else exc.native_body()
    return JSONResponse(body, status_code=exc.status, headers=exc.headers or None)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(request, exc)

    @app.exception_handler(IsocrossError)
    async def refusal(request: Request, exc: IsocrossError) -> JSONResponse:
        return _error_response(request, ApiError.from_refusal(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return _error_response(request, unavailable(f"The journal is unavailable: {exc}"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        field = None
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("body",))
            field = field or where
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        error = ApiError(
            400, -1102, "; ".join(problems) or "invalid request", error="INVALID_INPUT", field=field
        )
        return _error_response(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error_response(request, not_found("Not found: no such endpoint."))
        if exc.status_code == 405:
            return _error_response(
                request, ApiError(405, -1000, "Method not allowed.", error="METHOD")
            )
        return _error_response(
            request, ApiError(exc.status_code, -1000, str(exc.detail), error="HTTP")
        )

    @app.exception_handler(decimal.DecimalException)
    async def arithmetic(request: Request, exc: decimal.DecimalException) -> JSONResponse:
        # A number the engine cannot compute with (zero where it divides, out of range):
        # the request's values are at fault, never the server's state.
        log.warning("arithmetic refusal on %s %s: %r", request.method, request.url.path, exc)
        error = ApiError(
            400,
            -1130,
            "A value sent is out of the range this request can use.",
            error="INVALID_INPUT",
        )
        return _error_response(request, error)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {
            "code": -1000,
            "msg": "An unknown error occurred while processing the request.",
            "error": "INTERNAL",
        }
        return JSONResponse(body, status_code=500)


def _install_web(app: FastAPI) -> bool:
    """Let the web screen (``isocross.web``) take ``/`` if it is installed: its
    ``install(app)``, else its ``static/`` directory at ``/static``."""
    try:
        web = importlib.import_module("isocross.web")
    except ImportError:
        return False
    install = getattr(web, "install", None)
    if callable(install):
        install(app)
        return True
    static = Path(getattr(web, "__file__", "") or ".").parent / "static"
    if static.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=static), name="static")
    return False


def create_app(config: ServiceConfig | None = None) -> FastAPI:
    """The whole service as an ASGI app (see the module docstring)."""
    config = config or ServiceConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = await asyncio.to_thread(Service.open, config)
        app.state.service = service
        try:
            await service.start()
            yield
        finally:
            await service.stop()
            await asyncio.to_thread(service.close)

    app = FastAPI(
        title="isocross",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "market", "description": "Instruments, books, trades, candles, prices"},
            {"name": "account", "description": "Balances, modes, leverage, alert settings"},
            {"name": "positions", "description": "Positions with every margin figure"},
            {"name": "orders", "description": "Orders, previews"},
            {"name": "wallet", "description": "Transfers and the demo faucet"},
            {"name": "history", "description": "Fills, orders, funding, liquidations"},
            {"name": "streams", "description": "Listen keys for the user stream"},
            {"name": "ops", "description": "Health and metrics"},
        ],
    )
    _install_handlers(app)
    app.include_router(native.router)

    @app.get("/health", tags=["ops"])
    async def health(request: Request) -> HealthOut:
        """Liveness and where the journal is."""
        service: Service = request.app.state.service
        writer = service.venue.durable.writer
        if writer.failed is not None:
            raise unavailable(str(writer.failed))
        return HealthOut(
            status="ok",
            seq=service.market.seq,
            journal_backlog=writer.backlog,
            journal_batches=writer.batches,
            journal_entries=writer.committed,
            uptime_s=round((service.clock() - service.started_ms) / 1000, 3),
            demo=service.config.demo,
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics(request: Request) -> Response:
        """Prometheus metrics."""
        service: Service = request.app.state.service
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    @app.websocket("/ws/{stream:path}")
    async def raw_stream(websocket: WebSocket, stream: str) -> None:
        service: Service = websocket.app.state.service
        await serve_socket(
            service.hub, websocket, [s for s in stream.split("/") if s], combined=False
        )

    @app.websocket("/ws")
    async def bare_stream(websocket: WebSocket) -> None:
        service: Service = websocket.app.state.service
        await serve_socket(service.hub, websocket, [], combined=False)

    @app.websocket("/stream")
    async def combined_stream(websocket: WebSocket) -> None:
        service: Service = websocket.app.state.service
        names = websocket.query_params.get("streams", "")
        await serve_socket(
            service.hub, websocket, [s for s in names.split("/") if s], combined=True
        )

    @app.websocket("/api/v1/ws")
    async def native_stream(websocket: WebSocket) -> None:
        service: Service = websocket.app.state.service
        names = websocket.query_params.get("streams", "")
        key = websocket.query_params.get("listenKey", "")
        await serve_socket(
            service.hub,
            websocket,
            [s for s in names.split("/") if s],
            combined=True,
            native_key=key,
        )

    if not _install_web(app):

        @app.get("/", include_in_schema=False)
        async def home() -> HTMLResponse:
            return HTMLResponse(PLACEHOLDER)

    app.add_middleware(Guard, config=config)
    return app

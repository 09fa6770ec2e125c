"""The native API under ``/api/v1``, documented by its OpenAPI schema (``/openapi.json``).

Signed requests carry ``X-API-KEY``, ``X-TIMESTAMP`` (ms), optional ``X-RECV-WINDOW`` and
``X-SIGNATURE`` = hex HMAC-SHA256(secret, timestamp + METHOD + path[?query] + body). Each
endpoint says which permission its key needs (read, trade, transfer). Amounts are decimal
strings both ways. Every refusal is a 4xx ``ErrorBody``: Binance's numeric ``code`` and ``msg``
plus isocross's stable ``error`` name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader

from isocross.api import models as m
from isocross.api import views
from isocross.api.auth import Principal
from isocross.api.errors import ApiError, not_found
from isocross.api.keys import Permission
from isocross.api.service import Service
from isocross.api.streams import _owners
from isocross.book import SelfTradePrevention
from isocross.engine import commands as c
from isocross.engine.events import OrderUpdated
from isocross.engine.exchange import Exchange, Outcome
from isocross.engine.orders import Order, OrderType, TimeInForce, WorkingType
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode
from isocross.risk import commands as rc
from isocross.store.codec import EVENTS

API_KEY = APIKeyHeader(
    name="X-API-KEY",
    scheme_name="ApiKey",
    auto_error=False,
    description="The API key (from `isocross accounts create`).",
)
TIMESTAMP = APIKeyHeader(
    name="X-TIMESTAMP",
    scheme_name="Timestamp",
    auto_error=False,
    description="Milliseconds since the epoch, within X-RECV-WINDOW "
    "(default 5000 ms) of the server's clock.",
)
SIGNATURE = APIKeyHeader(
    name="X-SIGNATURE",
    scheme_name="Signature",
    auto_error=False,
    description="hex HMAC-SHA256(secret, X-TIMESTAMP + METHOD + path[?query] + body).",
)
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": m.ErrorBody, "description": text}
    for status, text in (
        (400, "Invalid request or refused by the exchange"),
        (401, "Missing, malformed, unknown or revoked API key"),
        (403, "The key lacks the permission"),
        (404, "Not found"),
        (413, "Request too large"),
        (429, "Request weight exhausted (see Retry-After)"),
        (503, "The journal is unavailable"),
    )
}
SymbolPath = Annotated[
    str, Path(json_schema_extra={"enum": m.SYMBOLS}, examples=["BTCUSDT"], max_length=30)
]
Limit = Annotated[int, Query(ge=1, le=1000)]

router = APIRouter(prefix="/api/v1", responses=ERRORS)


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def signed(permission: Permission, weight: int = 1) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated caller, with ``permission``, charged ``weight``."""

    async def dependency(
        request: Request,
        _key: Annotated[str | None, Security(API_KEY)] = None,
        _ts: Annotated[str | None, Security(TIMESTAMP)] = None,
        _sig: Annotated[str | None, Security(SIGNATURE)] = None,
    ) -> Principal:
        service = service_of(request)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.startswith("x-")}
        try:
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            principal = await service.auth.native(
                headers,
                request.method,
                raw_path.decode("latin-1"),
                request.scope.get("query_string", b""),
                body,
            )
        except ApiError:
            service.limiter.charge(f"ip:{_client(request)}", 1)
            raise
        request.state.weight_used = service.limiter.charge(principal.key.api_key, weight)
        principal.require(permission)
        return principal

    dependency.__name__ = f"signed_{permission.value}"
    return dependency


def public(weight: int = 1) -> Callable[[Request], Awaitable[None]]:
    """A dependency: charge ``weight`` to the client's address."""

    async def dependency(request: Request) -> None:
        service = service_of(request)
        request.state.weight_used = service.limiter.charge(f"ip:{_client(request)}", weight)

    return dependency


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Reader = Annotated[Principal, Depends(signed(Permission.READ))]
Trader = Annotated[Principal, Depends(signed(Permission.TRADE))]
Mover = Annotated[Principal, Depends(signed(Permission.TRANSFER))]


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _symbol(service: Service, symbol: str) -> str:
    service.venue.catalogue.instrument(symbol)
    return symbol


async def _command(service: Service, principal: Principal, command: Any) -> Outcome:
    outcome = await service.submit(command)
    if outcome.error is not None:
        raise ApiError.from_refusal(outcome.error)
    return outcome


def _own_events(outcome: Outcome, account_id: str) -> list[dict[str, Any]]:
    """The caller's events of a command (other accounts' never leave the server)."""
    out = []
    for e in outcome.events:
        if account_id in _owners(e):
            data = EVENTS.encode(e)
            data["e"] = data.pop("@")
            data["seq"] = e.seq
            data["ts"] = e.ts
            out.append(data)
    return out


def _accepted(outcome: Outcome, principal: Principal) -> m.Accepted:
    assert outcome.seq is not None
    return m.Accepted(seq=outcome.seq, events=_own_events(outcome, principal.account_id))


# ============================================================================ public
@router.get("/time", tags=["market"], dependencies=[Depends(public())])
async def server_time(request: Request) -> m.ServerTime:
    """The server's clock (milliseconds since the epoch): sign with it."""
    return m.ServerTime(server_time=service_of(request).clock())


@router.get("/instruments", tags=["market"], dependencies=[Depends(public())])
async def instruments(request: Request) -> list[m.InstrumentOut]:
    """Every listed perpetual with its trading filters and leverage tiers."""
    catalogue = service_of(request).venue.catalogue
    return [m.InstrumentOut(**views.instrument_json(i)) for i in catalogue.instruments.values()]


@router.get("/instruments/{symbol}", tags=["market"], dependencies=[Depends(public())])
async def instrument(request: Request, symbol: SymbolPath) -> m.InstrumentOut:
    """One instrument; ``tiers`` is its leverage tier table (floor < notional ≤ cap)."""
    service = service_of(request)
    return m.InstrumentOut(**views.instrument_json(service.venue.catalogue.instrument(symbol)))


@router.get("/markets/{symbol}/book", tags=["market"], dependencies=[Depends(public(2))])
async def book(
    request: Request, symbol: SymbolPath, levels: Annotated[int, Query(ge=1, le=1000)] = 20
) -> m.BookOut:
    """The order book, best prices first; ``seq`` is the journal sequence it reflects (diffs
    on the ``<symbol>@depth`` stream with ``u`` > ``seq`` follow it)."""
    service = service_of(request)
    mirror = service.market.books[_symbol(service, symbol)]
    bids, asks = mirror.top(levels)
    return m.BookOut(
        symbol=symbol,
        seq=mirror.seq,
        bids=[[views.dec0(p), views.dec0(q)] for p, q in bids],
        asks=[[views.dec0(p), views.dec0(q)] for p, q in asks],
    )


@router.get("/markets/{symbol}/trades", tags=["market"], dependencies=[Depends(public())])
async def trades(request: Request, symbol: SymbolPath, limit: Limit = 100) -> list[m.TradeOut]:
    """Recent trades, oldest first."""
    service = service_of(request)
    rows = list(service.market.trades[_symbol(service, symbol)])[-limit:]
    return [
        m.TradeOut(
            trade_id=t.trade_id,
            price=views.dec0(t.price),
            qty=views.dec0(t.qty),
            quote_qty=views.dec0(t.quote_qty),
            time=t.time,
            buyer_is_maker=t.buyer_is_maker,
        )
        for t in rows
    ]


@router.get("/markets/{symbol}/candles", tags=["market"], dependencies=[Depends(public())])
async def candles(
    request: Request,
    symbol: SymbolPath,
    interval: m.Interval = m.Interval.m1,
    limit: Limit = 500,
    start: Annotated[int | None, Query(ge=0)] = None,
    end: Annotated[int | None, Query(ge=0)] = None,
) -> list[m.CandleOut]:
    """OHLCV candles built from the trades (oldest first)."""
    from isocross.api.marketdata import INTERVALS

    service = service_of(request)
    step = INTERVALS[interval.value]
    rows = service.market.klines(_symbol(service, symbol), interval.value, start, end, limit)
    return [
        m.CandleOut(
            open_time=k.open_time,
            close_time=k.open_time + step - 1,
            open=views.dec0(k.open),
            high=views.dec0(k.high),
            low=views.dec0(k.low),
            close=views.dec0(k.close),
            volume=views.dec0(k.volume),
            quote_volume=views.dec0(k.quote_volume),
            trades=k.count,
        )
        for k in rows
    ]


def _prices(service: Service, info: dict[str, Any], symbol: str) -> m.PricesOut:
    mark, index, last_rate, estimate, next_time, _interest = info[symbol]
    trades = service.market.trades[symbol]
    return m.PricesOut(
        symbol=symbol,
        mark_price=views.dec(mark),
        index_price=views.dec(index),
        last_price=views.dec(trades[-1].price) if trades else None,
        funding_rate_estimate=views.dec(estimate),
        last_funding_rate=views.dec(last_rate),
        next_funding_time=next_time,
    )


@router.get("/prices", tags=["market"], dependencies=[Depends(public(5))])
async def prices(request: Request) -> list[m.PricesOut]:
    """Mark, index and last price and funding of every symbol."""
    from isocross.api.binance.market import funding_view

    service = service_of(request)
    info = await service.venue.read(funding_view)
    return [_prices(service, info, s) for s in service.venue.catalogue.instruments]


@router.get("/markets/{symbol}/prices", tags=["market"], dependencies=[Depends(public())])
async def symbol_prices(request: Request, symbol: SymbolPath) -> m.PricesOut:
    """Mark, index, last price; the funding rate estimate, the last rate and the next
    funding time."""
    from isocross.api.binance.market import funding_view

    service = service_of(request)
    _symbol(service, symbol)
    info = await service.venue.read(funding_view)
    return _prices(service, info, symbol)


@router.get("/markets/{symbol}/funding-rates", tags=["market"], dependencies=[Depends(public())])
async def funding_rates(
    request: Request, symbol: SymbolPath, limit: Limit = 100
) -> list[m.FundingRateOut]:
    """Funding settlements of the symbol, oldest first."""
    service = service_of(request)
    rows = service.market.funding.get(_symbol(service, symbol), [])[-limit:]
    return [
        m.FundingRateOut(
            symbol=r.symbol, time=r.time, rate=views.dec0(r.rate), mark_price=views.dec(r.mark)
        )
        for r in rows
    ]


@router.get("/insurance-fund", tags=["market"], dependencies=[Depends(public(5))])
async def insurance_fund(request: Request, limit: Limit = 100) -> m.InsuranceOut:
    """The insurance fund's balance per asset and its latest movements."""
    service = service_of(request)

    def balances(ex: Exchange) -> dict[str, str]:
        fund = views.risk(ex).fund
        return {a: views.dec0(fund.balance(a)) for a in sorted(ex.catalogue.assets)}

    history = service.history
    rows = await history.run(lambda: history.insurance(None, limit))
    return m.InsuranceOut(
        balances=await service.venue.read(balances),
        history=[
            m.InsuranceMoveOut(
                seq=r["seq"],
                time=r["ts"],
                asset=r["asset"],
                change=views.dec0(r["change"]),
                balance=views.dec0(r["balance"]),
                reason=r["reason"],
            )
            for r in rows
        ],
    )


# ============================================================================ account (read)
@router.get("/account", tags=["account"])
async def account(request: Request, principal: Reader) -> m.AccountOut:
    """Per margin asset: wallet, unrealized PnL, margin balance, available balance, margin
    ratio and margin level of the cross pool, max withdrawable, spot wallet; the position
    mode, the margin-call thresholds and the alerts currently raised."""
    data = await service_of(request).venue.read(
        lambda ex: views.account_json(ex, principal.account_id)
    )
    return m.AccountOut(**data)


@router.get("/positions", tags=["positions"])
async def positions(request: Request, principal: Reader) -> list[m.PositionOut]:
    """Every open position with every figure: notional, initial and maintenance margin,
    unrealized PnL, ROE, liquidation and bankruptcy price, isolated wallet, margin ratio,
    max removable margin, ADL quantile (0–5), auto-add margin."""
    rows = await service_of(request).venue.read(
        lambda ex: views.positions_json(ex, principal.account_id)
    )
    return [m.PositionOut(**r) for r in rows]


@router.get("/symbols", tags=["account"])
async def symbol_settings(request: Request, principal: Reader) -> list[m.SymbolSettingsOut]:
    """Margin mode, leverage and auto-add margin of every symbol for this account."""
    rows = await service_of(request).venue.read(
        lambda ex: views.symbol_settings_json(ex, principal.account_id)
    )
    return [m.SymbolSettingsOut(**r) for r in rows]


@router.get("/margin-modes/blockers", tags=["account"])
async def margin_mode_blockers(
    request: Request,
    principal: Reader,
    mode: m.MarginModeIn,
    symbols: Annotated[
        list[str] | None,
        Query(max_length=50, json_schema_extra={"items": {"type": "string", "enum": m.SYMBOLS}}),
    ] = None,
) -> m.BlockersOut:
    """What would block switching ``symbols`` (all when empty) to ``mode`` now: open orders,
    waiting stop orders and positions, per symbol. Nothing changes."""
    target = MarginMode(mode.value)
    rows = await service_of(request).venue.read(
        lambda ex: views.margin_mode_blockers(ex, principal.account_id, target, symbols)
    )
    return m.BlockersOut(mode=mode.value, blocked=[m.BlockerOut(**r) for r in rows])


@router.post("/orders/preview", tags=["orders"])
async def preview(request: Request, principal: Reader, body: m.PreviewIn) -> m.PreviewOut:
    """Order cost and max quantity for a hypothetical order, and — simulated on a copy of the
    account — the position it leaves with its liquidation price in cross and in isolated
    margin. Nothing is placed."""
    kind = OrderType(body.type.value)
    if kind.has_limit_price and body.price is None:
        raise ApiError(
            400,
            -1102,
            "price is required for a limit order preview",
            error="MISSING_PARAMETER",
            field="price",
        )
    qty, price = _positive(body.qty, "qty"), _positive(body.price, "price")
    data = await service_of(request).venue.read(
        lambda ex: views.preview_order(
            ex,
            principal.account_id,
            body.symbol,
            Side(body.side.value),
            kind,
            qty,
            price,
            PositionSide(body.position_side.value),
            body.leverage,
        )
    )
    return m.PreviewOut(**data)


def _positive(value: str | None, field: str) -> Decimal | None:
    number = _dec(value)
    if number is not None and number <= 0:
        raise ApiError(400, -1102, f"{field} must be positive", error="INVALID_INPUT", field=field)
    return number


@router.post("/what-if", tags=["positions"])
async def what_if(request: Request, principal: Reader, body: m.WhatIfIn) -> m.WhatIfOut:
    """Every figure if the marks moved to ``moves``: the account as it stands, all-cross and
    all-isolated (simulated; nothing changes)."""
    moves = {s: Decimal(p) for s, p in body.moves.items()}
    data = await service_of(request).venue.read(
        lambda ex: views.what_if(ex, principal.account_id, moves)
    )
    return m.WhatIfOut(**data)


# ============================================================================ orders
def _order_out(
    service: Service, order: Order, event: OrderUpdated | None = None, *, waiting: bool = False
) -> m.OrderOut:
    data = views.order_json(order, service.market.order_times, waiting=waiting)
    if event is not None:
        data.update(
            status=event.status.value,
            filled_qty=views.dec0(event.filled_qty),
            remaining_qty=views.dec0(event.remaining_qty),
            qty=views.dec0(event.filled_qty + event.remaining_qty),
        )
    return m.OrderOut(**data)


@router.get("/orders", tags=["orders"])
async def orders(
    request: Request,
    principal: Reader,
    symbol: Annotated[str | None, Query(json_schema_extra={"enum": m.SYMBOLS})] = None,
    open_only: bool = True,
    limit: Limit = 500,
) -> list[m.OrderOut]:
    """The account's open orders (``open_only=false``: its latest orders of any status)."""
    service = service_of(request)
    if symbol is not None:
        _symbol(service, symbol)

    def view(ex: Exchange) -> list[tuple[Order, bool]]:
        rows = (
            views.open_orders(ex, principal.account_id, symbol)
            if open_only
            else views.account_orders(ex, principal.account_id, symbol, limit)
        )
        return [(replace(o), views.is_waiting(ex, o)) for o in rows[-limit:]]

    return [_order_out(service, o, waiting=w) for o, w in await service.venue.read(view)]


@router.get("/orders/{order_id}", tags=["orders"])
async def order(
    request: Request, principal: Reader, order_id: Annotated[str, Path(max_length=40)]
) -> m.OrderOut:
    """One order of this account (404-style -2013 for anyone else's)."""
    service = service_of(request)
    found, waiting = await service.venue.read(lambda ex: _find(ex, principal.account_id, order_id))
    return _order_out(service, found, waiting=waiting)


def _find(ex: Exchange, account_id: str, order_id: str) -> tuple[Order, bool]:
    o = views.find_order(ex, account_id, order_id, None)
    return replace(o), views.is_waiting(ex, o)


@router.post("/orders", tags=["orders"])
async def place_order(request: Request, principal: Trader, body: m.OrderIn) -> m.OrderAccepted:
    """Place an order (every type: limit, market, stop / take-profit, market or limit, and
    trailing stop; GTC/IOC/FOK/post-only; reduce-only, close-position)."""
    service = service_of(request)
    command = c.PlaceOrder(
        principal.account_id,
        body.symbol,
        Side(body.side.value),
        OrderType(body.type.value),
        _positive(body.qty, "qty"),
        _dec(body.price),
        _dec(body.stop_price),
        TimeInForce(body.time_in_force.value),
        PositionSide(body.position_side.value),
        body.reduce_only,
        body.close_position,
        WorkingType(body.working_type.value),
        _dec(body.callback_rate),
        _dec(body.activation_price),
        SelfTradePrevention(body.self_trade_prevention.value),
        body.client_order_id,
    )
    outcome = await _command(service, principal, command)
    placed = next(
        e
        for e in outcome.events
        if isinstance(e, OrderUpdated) and e.account_id == principal.account_id
    )
    last = [
        e for e in outcome.events if isinstance(e, OrderUpdated) and e.order_id == placed.order_id
    ][-1]
    found = service.order(placed.order_id)
    assert found is not None
    assert outcome.seq is not None
    waiting = found.type.is_conditional and last.reason == "accepted"
    return m.OrderAccepted(
        seq=outcome.seq,
        events=_own_events(outcome, principal.account_id),
        order=_order_out(service, found, last, waiting=waiting),
    )


@router.patch("/orders/{order_id}", tags=["orders"])
async def amend_order(
    request: Request,
    principal: Trader,
    order_id: Annotated[str, Path(max_length=40)],
    body: m.AmendIn,
) -> m.Accepted:
    """New price and/or quantity for a resting limit order."""
    command = c.AmendOrder(
        principal.account_id, order_id, _positive(body.qty, "qty"), _positive(body.price, "price")
    )
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.delete("/orders/{order_id}", tags=["orders"])
async def cancel_order(
    request: Request, principal: Trader, order_id: Annotated[str, Path(max_length=40)]
) -> m.Accepted:
    """Cancel one open order of this account."""
    outcome = await _command(
        service_of(request), principal, c.CancelOrder(principal.account_id, order_id)
    )
    return _accepted(outcome, principal)


@router.delete("/orders", tags=["orders"])
async def cancel_all(
    request: Request,
    principal: Trader,
    symbol: Annotated[str, Query(json_schema_extra={"enum": m.SYMBOLS}, max_length=30)],
) -> m.CanceledAll:
    """Cancel every open order of this account on ``symbol``."""
    service = service_of(request)
    _symbol(service, symbol)
    outcome = await _command(service, principal, c.CancelAll(principal.account_id, symbol))
    canceled = sum(1 for e in outcome.events if isinstance(e, OrderUpdated))
    assert outcome.seq is not None
    return m.CanceledAll(
        seq=outcome.seq, events=_own_events(outcome, principal.account_id), canceled=canceled
    )


# ============================================================================ settings
@router.put("/position-mode", tags=["account"])
async def position_mode(
    request: Request, principal: Trader, body: m.PositionModeBody
) -> m.Accepted:
    """One-way or hedge (refused while any order or position is open)."""
    command = c.SetPositionMode(principal.account_id, PositionMode(body.mode.value))
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.put("/symbols/{symbol}/margin-mode", tags=["account"])
async def margin_mode(
    request: Request, principal: Trader, symbol: SymbolPath, body: m.MarginModeBody
) -> m.Accepted:
    """Cross or isolated for one symbol (refused with an open order or position on it)."""
    command = c.SetMarginMode(principal.account_id, symbol, MarginMode(body.mode.value))
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.post("/margin-modes", tags=["account"])
async def margin_modes(
    request: Request, principal: Trader, body: m.BulkMarginModeBody
) -> m.Accepted:
    """Switch many symbols at once, all or nothing; a refusal lists every blocker in
    ``details.blocked`` (see also ``GET /margin-modes/blockers``)."""
    service = service_of(request)
    mode = MarginMode(body.mode.value)
    command = c.SetMarginModes(principal.account_id, mode, list(body.symbols), body.as_default)
    outcome = await service.submit(command)
    if outcome.error is not None:
        error = ApiError.from_refusal(outcome.error)
        if outcome.error.error is ErrorCode.MARGIN_MODE_BULK_BLOCKED and not error.details:
            # The journal keeps a refusal's code and message; list the blockers again.
            symbols = list(body.symbols) or None
            error.details = {
                "blocked": await service.venue.read(
                    lambda ex: views.margin_mode_blockers(ex, principal.account_id, mode, symbols)
                )
            }
        raise error
    return _accepted(outcome, principal)


@router.put("/symbols/{symbol}/leverage", tags=["account"])
async def leverage(
    request: Request, principal: Trader, symbol: SymbolPath, body: m.LeverageBody
) -> m.Accepted:
    """Leverage 1 … the tier's maximum for the position-plus-orders notional."""
    command = c.SetLeverage(principal.account_id, symbol, body.leverage)
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.post("/positions/{symbol}/margin", tags=["positions"])
async def isolated_margin(
    request: Request, principal: Trader, symbol: SymbolPath, body: m.MarginBody
) -> m.Accepted:
    """Add margin to, or remove it from (up to ``max_removable``), an isolated position."""
    command = c.AdjustIsolatedMargin(
        principal.account_id,
        symbol,
        Decimal(body.amount),
        body.action is m.MarginAction.add,
        PositionSide(body.position_side.value),
    )
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.put("/symbols/{symbol}/auto-add-margin", tags=["positions"])
async def auto_add_margin(
    request: Request, principal: Trader, symbol: SymbolPath, body: m.AutoAddBody
) -> m.Accepted:
    """Opt an isolated symbol in or out of auto-add margin."""
    command = rc.SetAutoAddMargin(principal.account_id, symbol, body.enabled)
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.put("/margin-call-thresholds", tags=["account"])
async def margin_call_thresholds(
    request: Request, principal: Trader, body: m.ThresholdsBody
) -> m.Accepted:
    """Where margin calls are raised (on the user stream and in the margin-call history)."""
    command = rc.SetMarginCallThresholds(
        principal.account_id,
        tuple(Decimal(x) for x in body.margin_ratio),
        tuple(Decimal(x) for x in body.margin_level),
    )
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.put("/auto-replenish", tags=["account"])
async def auto_replenish(request: Request, principal: Trader, body: m.ReplenishBody) -> m.Accepted:
    """Move spot funds into the futures wallet when the cross margin level falls below
    ``below`` percent, back up to ``restore_to``."""
    command = rc.SetAutoReplenish(
        principal.account_id,
        body.asset,
        body.enabled,
        Decimal(body.below),
        Decimal(body.restore_to),
    )
    return _accepted(await _command(service_of(request), principal, command), principal)


# ============================================================================ money
@router.post("/transfers", tags=["wallet"])
async def transfer(request: Request, principal: Mover, body: m.TransferBody) -> m.Accepted:
    """Between the spot wallet and the futures (cross) wallet; leaving the futures wallet is
    limited to its max withdrawable."""
    command = c.Transfer(
        principal.account_id,
        body.asset,
        Decimal(body.amount),
        body.direction is m.Direction.to_futures,
    )
    return _accepted(await _command(service_of(request), principal, command), principal)


@router.post("/faucet", tags=["wallet"])
async def faucet(request: Request, principal: Mover, body: m.FaucetBody) -> m.Accepted:
    """Demo money: deposit ``amount`` into the spot wallet (and move it to futures)."""
    service = service_of(request)
    if not service.config.demo:
        raise not_found("The faucet is only open in demo mode.")
    amount = Decimal(body.amount)
    if amount > Decimal(service.config.faucet_max):
        raise ApiError(
            400,
            -1130,
            f"the faucet gives at most {service.config.faucet_max} per call",
            error="INVALID_INPUT",
            field="amount",
        )
    outcome = await _command(
        service, principal, c.Deposit(principal.account_id, body.asset, amount)
    )
    if body.to_futures:
        outcome = await _command(
            service, principal, c.Transfer(principal.account_id, body.asset, amount)
        )
    return _accepted(outcome, principal)


@router.post("/demo/signup", tags=["wallet"], dependencies=[Depends(public(100))])
async def signup(request: Request, body: m.SignupBody | None = None) -> m.SignupOut:
    """Demo mode only: a new account with 10,000 USDT in its futures wallet and a key with
    every permission (the secret is shown once)."""
    import secrets

    service = service_of(request)
    if not service.config.demo:
        raise not_found("Sign-up is only open in demo mode.")
    account_id = f"demo-{secrets.token_hex(6)}"
    key = await service.history.run(
        lambda: service.keys.create_account(account_id, label=body.label if body else "")
    )
    await service.venue.ensure_account(account_id)
    for command in (
        c.Deposit(account_id, "USDT", Decimal(10_000)),
        c.Transfer(account_id, "USDT", Decimal(10_000)),
    ):
        outcome = await service.submit(command)
        if outcome.error is not None:
            raise ApiError.from_refusal(outcome.error)
    return m.SignupOut(
        account_id=account_id,
        api_key=key.api_key,
        secret=key.secret,
        permissions=sorted(p.value for p in key.permissions),
    )


# ============================================================================ history
@router.get("/history/trades", tags=["history"])
async def history_trades(
    request: Request,
    principal: Reader,
    symbol: Annotated[str | None, Query(json_schema_extra={"enum": m.SYMBOLS})] = None,
    limit: Limit = 500,
) -> list[m.FillOut]:
    """The account's fills (each side of a trade as this account saw it), oldest first."""
    h = service_of(request).history
    rows = await h.run(lambda: h.fills(principal.account_id, symbol, limit=limit))
    return [
        m.FillOut(
            seq=r["seq"],
            time=r["ts"],
            trade_id=r["trade_id"],
            order_id=r["order_id"],
            symbol=r["symbol"],
            side=r["side"],
            qty=views.dec0(r["qty"]),
            price=views.dec0(r["price"]),
            is_maker=bool(r["is_maker"]),
            fee=views.dec0(r["fee"]),
            realized_pnl=views.dec0(r["realized_pnl"]),
            asset=r["asset"],
        )
        for r in rows
    ]


@router.get("/history/orders", tags=["history"])
async def history_orders(
    request: Request,
    principal: Reader,
    symbol: Annotated[str | None, Query(json_schema_extra={"enum": m.SYMBOLS})] = None,
    limit: Limit = 500,
) -> list[m.OrderHistoryOut]:
    """Every order of the account with its last status and why (from the journal)."""
    h = service_of(request).history
    rows = await h.run(lambda: h.orders(principal.account_id, symbol, limit))
    return [
        m.OrderHistoryOut(
            order_id=r["order_id"],
            symbol=r["symbol"],
            side=r["side"],
            type=r["type"],
            price=views.dec(r["price"]),
            stop_price=views.dec(r["stop_price"]),
            client_order_id=r["client_order_id"],
            status=r["status"],
            filled_qty=views.dec0(r["filled_qty"]),
            remaining_qty=views.dec0(r["remaining_qty"]),
            reason=r["reason"],
            created_time=r["created_ts"],
            update_time=r["updated_ts"],
        )
        for r in rows
    ]


@router.get("/history/funding", tags=["history"])
async def history_funding(
    request: Request, principal: Reader, limit: Limit = 500
) -> list[m.FundingPaymentOut]:
    """Funding paid (negative) and received, per position."""
    h = service_of(request).history
    rows = await h.run(lambda: h.funding(principal.account_id, limit=limit))
    return [
        m.FundingPaymentOut(
            seq=r["seq"],
            time=r["ts"],
            symbol=r["symbol"],
            position_side=r["position_side"],
            rate=views.dec0(r["rate"]),
            amount=views.dec0(r["amount"]),
            asset=r["asset"],
        )
        for r in rows
    ]


@router.get("/history/liquidations", tags=["history"])
async def history_liquidations(
    request: Request, principal: Reader, limit: Limit = 500
) -> list[m.LiquidationOut]:
    """Every liquidation step (started, filled by the book / insurance / ADL, ended) and
    auto-deleveraging of this account."""
    h = service_of(request).history
    rows = await h.run(lambda: h.liquidations(principal.account_id, limit))
    return [
        m.LiquidationOut(
            seq=r["seq"],
            time=r["ts"],
            kind=r["kind"],
            pool=r["pool"],
            symbol=r["symbol"],
            position_side=r["position_side"],
            qty=views.dec(r["qty"]),
            price=views.dec(r["price"]),
            details=r["details"],
        )
        for r in rows
    ]


@router.get("/history/margin-calls", tags=["history"])
async def history_margin_calls(
    request: Request, principal: Reader, limit: Limit = 500
) -> list[m.MarginCallOut]:
    """Margin calls raised for this account."""
    h = service_of(request).history
    rows = await h.run(lambda: h.margin_calls(principal.account_id, limit))
    return [
        m.MarginCallOut(
            seq=r["seq"],
            time=r["ts"],
            pool=r["pool"],
            metric=r["metric"],
            threshold=views.dec0(r["threshold"]),
            value=views.dec(r["value"]),
        )
        for r in rows
    ]


# ============================================================================ user stream
@router.post("/listen-key", tags=["streams"])
async def listen_key(request: Request, principal: Reader) -> m.ListenKeyOut:
    """A listen key for ``/api/v1/ws?listenKey=…`` (and Binance's ``/ws/<key>``); valid 60
    minutes, extended by ``PUT``."""
    return m.ListenKeyOut(listen_key=service_of(request).listen_keys.issue(principal.account_id))


@router.put("/listen-key", tags=["streams"])
async def keep_listen_key(request: Request, principal: Reader) -> m.ListenKeyOut:
    """Extend the account's listen key by 60 minutes."""
    key = service_of(request).listen_keys.keepalive(principal.account_id)
    if key is None:
        raise not_found("This listen key does not exist.", -1125)
    return m.ListenKeyOut(listen_key=key)


@router.delete("/listen-key", tags=["streams"])
async def close_listen_key(request: Request, principal: Reader) -> m.ListenKeyOut:
    """Close the account's listen key (its streams end)."""
    service = service_of(request)
    key = service.listen_keys.keepalive(principal.account_id) or ""
    service.listen_keys.close(principal.account_id)
    return m.ListenKeyOut(listen_key=key)


__all__ = ["router"]

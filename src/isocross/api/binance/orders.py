"""Orders: new, test, amend, cancel, query, open and all orders, cancel all; and the
algo-order API (conditional orders: stop, take-profit, trailing stop) that ccxt uses for them."""

from __future__ import annotations

import itertools
import logging
import secrets
from decimal import Decimal
from typing import Any

from isocross.api.binance.base import SIGNED, Call, all_weight, api, submit
from isocross.api.errors import ApiError, bad_param, missing, unavailable
from isocross.api.keys import Permission
from isocross.api.params import Params
from isocross.api.views import dec0
from isocross.book import SelfTradePrevention
from isocross.engine import commands as c
from isocross.engine.events import FillSettled, OrderUpdated
from isocross.engine.exchange import Exchange, Outcome
from isocross.engine.orders import Order, OrderType, TimeInForce, WorkingType
from isocross.model.enums import PositionSide, Side
from isocross.model.money import ZERO

log = logging.getLogger("isocross.api")
RUN = secrets.token_hex(6)
CLIENT_IDS = (f"iso-{RUN}-{n}" for n in itertools.count(1))
"""Client order ids given to orders sent without one (unique: a random run prefix)."""


# ============================================================================ orders
def binance_order(
    order: Order,
    times: tuple[int, int],
    *,
    status: str | None = None,
    executed: Decimal | None = None,
    cum_quote: Decimal | None = None,
    update_time: int | None = None,
) -> dict[str, Any]:
    """An order in Binance's shape; dynamic fields may be given (from the command's events)."""
    executed = order.filled_qty if executed is None else executed
    cum_quote = order.filled_notional if cum_quote is None else cum_quote
    avg = cum_quote / executed if executed else None
    tif = order.time_in_force.value if order.type.has_limit_price else "GTC"
    return {
        "orderId": int(order.order_id) if order.order_id.isdigit() else 0,
        "symbol": order.symbol,
        "status": status or order.status.value,
        "clientOrderId": order.client_order_id or "",
        "price": dec0(order.price),
        "avgPrice": dec0(avg.quantize(Decimal("1e-8")) if avg is not None else None),
        "origQty": dec0(order.qty),
        "executedQty": dec0(executed),
        "cumQty": dec0(executed),
        "cumQuote": dec0(cum_quote),
        "timeInForce": tif,
        "type": order.type.value,
        "origType": order.type.value,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side.value,
        "positionSide": order.position_side.value,
        "stopPrice": dec0(order.stop_price),
        "workingType": order.working_type.value,
        "priceProtect": False,
        "activatePrice": dec0(order.activation_price),
        "priceRate": dec0(order.callback_rate * 100 if order.callback_rate else None),
        "priceMatch": "NONE",
        "selfTradePreventionMode": order.stp.value,
        "goodTillDate": 0,
        "time": times[0],
        "updateTime": update_time if update_time is not None else times[1],
    }


def _from_events(
    call: Call, order: Order, outcome: Outcome, *, placed: bool = False
) -> dict[str, Any]:
    """The order as the command that placed (``placed``: every fill is in its events),
    amended or canceled it left it."""
    last: OrderUpdated | None = None
    cum = ZERO
    for e in outcome.events:
        if isinstance(e, OrderUpdated) and e.order_id == order.order_id:
            last = e
        elif isinstance(e, FillSettled) and e.order_id == order.order_id:
            cum += e.qty * e.price
    times = _times(call, order)
    if last is None:
        return binance_order(order, times)
    return binance_order(
        order,
        times,
        status=last.status.value,
        executed=last.filled_qty,
        cum_quote=cum if placed else None,
        update_time=last.ts,
    )


def _placed_order_id(outcome: Outcome, account_id: str) -> str:
    for e in outcome.events:
        if isinstance(e, OrderUpdated) and e.account_id == account_id and e.reason == "accepted":
            return e.order_id
    raise unavailable("the order was accepted but its id is missing")


def place_command(call: Call, account_id: str) -> c.PlaceOrder:
    """A ``PlaceOrder`` from Binance's new-order parameters."""
    p = call.params
    symbol = call.required_symbol()
    side = p.choice("side", Side, code=-1117)
    kind = p.choice("type", OrderType, code=-1116)
    position_side = p.choice("positionSide", PositionSide, default=PositionSide.BOTH)
    tif_text = p.text("timeInForce", max_len=5)
    if tif_text == "GTD":
        raise bad_param("Time in force GTD is not supported.", "timeInForce", -1115)
    tif = p.choice("timeInForce", TimeInForce, default=TimeInForce.GTC, code=-1115)
    close_position = p.boolean("closePosition")
    qty = p.decimal("quantity")
    if qty is None and not close_position:
        raise missing("quantity")
    price = p.decimal("price")
    if kind.has_limit_price and price is None:
        raise missing("price")
    callback = p.decimal("callbackRate")
    working = p.choice("workingType", WorkingType, default=WorkingType.CONTRACT_PRICE)
    stp = p.choice(
        "selfTradePreventionMode", SelfTradePrevention, default=SelfTradePrevention.EXPIRE_TAKER
    )
    client_id = p.client_id("newClientOrderId") or next(CLIENT_IDS)
    return c.PlaceOrder(
        account_id,
        symbol,
        side,
        kind,
        qty,
        price if kind.has_limit_price else None,
        p.decimal("stopPrice"),
        tif,
        position_side,
        p.boolean("reduceOnly"),
        close_position,
        working,
        callback / 100 if callback is not None else None,
        p.decimal("activationPrice"),
        stp,
        client_id,
    )


@api("POST", "/fapi/v1/order", security=SIGNED, permission=Permission.TRADE)
async def new_order(call: Call) -> Any:
    command = place_command(call, call.account_id)
    outcome = await submit(call, command)
    order_id = _placed_order_id(outcome, call.account_id)
    order = call.service.order(order_id)
    if order is None:
        raise unavailable("the order was accepted but cannot be found")
    return _from_events(call, order, outcome, placed=True)


@api("POST", "/fapi/v1/order/test", security=SIGNED, permission=Permission.TRADE)
async def test_order(call: Call) -> Any:
    place_command(call, call.account_id)
    return {}


def _owned_order(
    call: Call,
    *,
    symbol: str | None,
    id_param: str = "orderId",
    client_param: str = "origClientOrderId",
) -> Order:
    """The caller's order named by its id or client id (-2013 for anyone else's: an order of
    another account is indistinguishable from one that does not exist)."""
    order_id = call.params.integer(id_param, low=0)
    client_id = call.params.client_id(client_param)
    if order_id is None and client_id is None:
        raise missing(id_param)
    order: Order | None = None
    if order_id is not None:
        order = call.service.order(str(order_id))
    if order is None and client_id is not None:
        order = _by_client_id(call, client_id)
    if (
        order is None
        or order.account_id != call.account_id
        or (symbol is not None and order.symbol != symbol)
    ):
        raise ApiError(400, -2013, "Order does not exist.", error="UNKNOWN_ORDER", field=id_param)
    return order


def _by_client_id(call: Call, client_id: str) -> Order | None:
    for oid in reversed(list(call.service.market.order_times)):
        o = call.service.order(oid)
        if o is not None and o.account_id == call.account_id and o.client_order_id == client_id:
            return o
    return None


@api("DELETE", "/fapi/v1/order", security=SIGNED, permission=Permission.TRADE)
async def cancel_order(call: Call) -> Any:
    symbol = call.required_symbol()
    order = _owned_order(call, symbol=symbol)
    outcome = await call.service.submit(c.CancelOrder(call.account_id, order.order_id))
    if outcome.error is not None:
        raise ApiError(400, -2011, "Unknown order sent.", error=outcome.error.code, field="orderId")
    return _from_events(call, order, outcome)


@api("PUT", "/fapi/v1/order", security=SIGNED, permission=Permission.TRADE)
async def amend_order(call: Call) -> Any:
    symbol = call.required_symbol()
    order = _owned_order(call, symbol=symbol)
    call.params.choice("side", Side, code=-1117)
    qty = call.params.decimal("quantity", required=True)
    price = call.params.decimal("price", required=True)
    outcome = await submit(call, c.AmendOrder(call.account_id, order.order_id, qty, price))
    return _from_events(call, order, outcome)


def _times(call: Call, order: Order) -> tuple[int, int]:
    return call.service.market.order_times.get(order.order_id, (0, 0))


@api("GET", "/fapi/v1/order", security=SIGNED)
async def query_order(call: Call) -> Any:
    symbol = call.required_symbol()
    order = _owned_order(call, symbol=symbol)
    snapshot = await call.service.venue.read(lambda ex: _copy(ex.orders[order.order_id]))
    return binance_order(snapshot, _times(call, order))


def _copy(order: Order) -> Order:
    from dataclasses import replace

    return replace(order)


@api("GET", "/fapi/v1/openOrder", security=SIGNED)
async def query_open_order(call: Call) -> Any:
    symbol = call.required_symbol()
    order = _owned_order(call, symbol=symbol)
    snapshot = await call.service.venue.read(lambda ex: _copy(ex.orders[order.order_id]))
    if not snapshot.is_open:
        raise ApiError(400, -2013, "Order does not exist.", error="UNKNOWN_ORDER")
    return binance_order(snapshot, _times(call, order))


@api("GET", "/fapi/v1/openOrders", weight=all_weight(1, 40), security=SIGNED)
async def open_orders(call: Call) -> Any:
    symbol = call.symbol(required=False)
    orders = await call.service.venue.read(
        lambda ex: [
            _copy(o)
            for o in ex.open_orders(call.account_id, symbol)
            if o.order_id not in ex.conditionals[o.symbol]
        ]
    )
    orders.sort(key=lambda o: int(o.order_id) if o.order_id.isdigit() else 0)
    return [binance_order(o, _times(call, o)) for o in orders]


@api("GET", "/fapi/v1/allOrders", weight=5, security=SIGNED)
async def all_orders(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500
    from_id = call.params.integer("orderId", low=0)

    def view(ex: Exchange) -> list[Order]:
        mine = [
            _copy(o)
            for o in ex.orders.values()
            if o.account_id == call.account_id
            and o.symbol == symbol
            and (from_id is None or (o.order_id.isdigit() and int(o.order_id) >= from_id))
        ]
        return mine[:limit] if from_id is not None else mine[-limit:]

    return [binance_order(o, _times(call, o)) for o in await call.service.venue.read(view)]


@api("DELETE", "/fapi/v1/allOpenOrders", security=SIGNED, permission=Permission.TRADE)
async def cancel_all(call: Call) -> Any:
    symbol = call.required_symbol()
    await submit(call, c.CancelAll(call.account_id, symbol))
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


# ============================================================================ algo orders
ALGO_NAMES = {
    "triggerPrice": "stopPrice",
    "activatePrice": "activationPrice",
    "clientAlgoId": "newClientOrderId",
}


def algo_order(
    order: Order, times: tuple[int, int], *, waiting: bool, status: str | None = None
) -> dict[str, Any]:
    """A conditional order in the shape of Binance's algo-order API."""
    state = status or order.status.value
    if state in ("NEW", "PARTIALLY_FILLED") and not waiting:
        state = "TRIGGERED"
    elif waiting:
        state = "NEW"
    return {
        "algoId": int(order.order_id) if order.order_id.isdigit() else 0,
        "clientAlgoId": order.client_order_id or "",
        "algoType": "CONDITIONAL",
        "orderType": order.type.value,
        "symbol": order.symbol,
        "side": order.side.value,
        "positionSide": order.position_side.value,
        "timeInForce": order.time_in_force.value if order.type.has_limit_price else "GTC",
        "quantity": dec0(order.qty),
        "algoStatus": state,
        "triggerPrice": dec0(order.stop_price),
        "price": dec0(order.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": order.stp.value,
        "workingType": order.working_type.value,
        "priceMatch": "NONE",
        "closePosition": order.close_position,
        "priceProtect": False,
        "reduceOnly": order.reduce_only,
        "activatePrice": dec0(order.activation_price),
        "callbackRate": dec0(order.callback_rate * 100 if order.callback_rate else None),
        "createTime": times[0],
        "updateTime": times[1],
        "triggerTime": 0 if waiting else times[1],
        "goodTillDate": 0,
    }


@api("POST", "/fapi/v1/algoOrder", security=SIGNED, permission=Permission.TRADE)
async def new_algo_order(call: Call) -> Any:
    algo_type = call.params.required("algoType", max_len=20)
    if algo_type != "CONDITIONAL":
        raise bad_param("algoType must be CONDITIONAL.", "algoType", -1130)
    renamed = {ALGO_NAMES.get(k, k): v for k, v in call.params.values.items()}
    command = place_command(
        Call(call.service, call.request, Params(renamed), call.principal), call.account_id
    )
    if not command.type.is_conditional:
        raise bad_param(f"Invalid orderType {command.type.value} for an algo order.", "type", -1116)
    outcome = await submit(call, command)
    order = call.service.order(_placed_order_id(outcome, call.account_id))
    if order is None:
        raise unavailable("the order was accepted but cannot be found")
    return algo_order(order, _times(call, order), waiting=True, status="NEW")


def _owned_algo(call: Call) -> Order:
    return _owned_order(
        call, symbol=call.symbol(required=False), id_param="algoId", client_param="clientAlgoId"
    )


@api("DELETE", "/fapi/v1/algoOrder", security=SIGNED, permission=Permission.TRADE)
async def cancel_algo_order(call: Call) -> Any:
    order = _owned_algo(call)
    outcome = await call.service.submit(c.CancelOrder(call.account_id, order.order_id))
    if outcome.error is not None:
        raise ApiError(400, -2011, "Unknown order sent.", error=outcome.error.code, field="algoId")
    return {
        "algoId": int(order.order_id),
        "clientAlgoId": order.client_order_id or "",
        "code": "200",
        "msg": "success",
    }


@api("GET", "/fapi/v1/algoOrder", security=SIGNED)
async def query_algo_order(call: Call) -> Any:
    order = _owned_algo(call)
    snapshot, waiting = await call.service.venue.read(
        lambda ex: (
            _copy(ex.orders[order.order_id]),
            order.order_id in ex.conditionals[order.symbol],
        )
    )
    return algo_order(snapshot, _times(call, order), waiting=waiting)


@api("GET", "/fapi/v1/openAlgoOrders", weight=all_weight(1, 40), security=SIGNED)
async def open_algo_orders(call: Call) -> Any:
    symbol = call.symbol(required=False)

    def view(ex: Exchange) -> list[Order]:
        return [
            _copy(o)
            for s, waiting in ex.conditionals.items()
            if symbol in (None, s)
            for o in waiting.values()
            if o.account_id == call.account_id
        ]

    orders = await call.service.venue.read(view)
    orders.sort(key=lambda o: int(o.order_id))
    return [algo_order(o, _times(call, o), waiting=True) for o in orders]


@api("GET", "/fapi/v1/allAlgoOrders", weight=5, security=SIGNED)
async def all_algo_orders(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500

    def view(ex: Exchange) -> list[tuple[Order, bool]]:
        mine = [
            (_copy(o), o.order_id in ex.conditionals[o.symbol])
            for o in ex.orders.values()
            if o.account_id == call.account_id and o.symbol == symbol and o.type.is_conditional
        ]
        return mine[-limit:]

    rows = await call.service.venue.read(view)
    return [algo_order(o, _times(call, o), waiting=w) for o, w in rows]


@api("DELETE", "/fapi/v1/algoOpenOrders", security=SIGNED, permission=Permission.TRADE)
async def cancel_all_algo(call: Call) -> Any:
    symbol = call.required_symbol()

    def waiting(ex: Exchange) -> list[str]:
        return [
            o.order_id for o in ex.conditionals[symbol].values() if o.account_id == call.account_id
        ]

    for order_id in await call.service.venue.read(waiting):
        await call.service.submit(c.CancelOrder(call.account_id, order_id))
    return {"code": 200, "msg": "The operation of cancel all open order is done."}

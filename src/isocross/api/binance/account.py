"""Account endpoints: account, balance, position risk, leverage brackets, symbol and
account configuration, position mode, margin type, leverage, position margin, user trades,
income, listen keys."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from isocross.api import views
from isocross.api.binance.base import SIGNED, USER_STREAM, Call, api, linear, linear_symbols, submit
from isocross.api.errors import bad_param, not_found
from isocross.api.keys import Permission
from isocross.api.views import dec0, risk
from isocross.engine import commands as c
from isocross.engine.exchange import Exchange
from isocross.margin.figures import PositionFigures
from isocross.model.enums import MarginMode, PositionMode, PositionSide
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO

log = logging.getLogger("isocross.api")


# ============================================================================ account
def _position_risk(
    ex: Exchange, account_id: str, p: PositionFigures, orders: dict[str, Decimal]
) -> dict[str, Any]:
    iso = p.margin_mode is MarginMode.ISOLATED
    settings = ex.account(account_id).settings(p.symbol)
    return {
        "symbol": p.symbol,
        "positionSide": p.side.value,
        "positionAmt": dec0(p.qty),
        "entryPrice": dec0(p.entry_price),
        "breakEvenPrice": dec0(p.entry_price),
        "markPrice": dec0(p.mark_price),
        "unRealizedProfit": dec0(p.unrealized_pnl),
        "liquidationPrice": dec0(p.liquidation_price),
        "isolatedMargin": dec0(p.margin_balance) if iso else "0",
        "notional": dec0(p.notional if p.qty > 0 else -p.notional),
        "marginAsset": p.margin_asset,
        "isolatedWallet": dec0(p.isolated_wallet) if iso else "0",
        "initialMargin": dec0(p.initial_margin + orders.get(p.symbol, ZERO)),
        "maintMargin": dec0(p.maintenance_margin),
        "positionInitialMargin": dec0(p.initial_margin),
        "openOrderInitialMargin": dec0(orders.get(p.symbol, ZERO)),
        "adl": risk(ex).adl_quantile(account_id, p.symbol, p.side),
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": ex.now,
        "leverage": str(p.leverage),
        "marginType": "isolated" if iso else "cross",
        "isolated": iso,
        "isAutoAddMargin": "true" if settings.auto_add_margin else "false",
        "maxNotionalValue": _max_notional(ex.catalogue.instrument(p.symbol), p.leverage),
    }


def _order_margin(ex: Exchange, account_id: str) -> dict[str, Decimal]:
    acct = ex.account(account_id)
    out: dict[str, Decimal] = {}
    for o in acct.open_orders():
        out[o.symbol] = out.get(o.symbol, ZERO) + acct.order_initial_margin(o)
    return out


def _max_notional(inst: Instrument, leverage: int) -> str:
    caps = [t.cap for t in inst.tiers.tiers if t.max_leverage >= leverage]
    cap = caps[-1] if caps else ZERO
    return dec0(cap) if cap is not None else "9223372036854775807"


def _account_view(ex: Exchange, account_id: str) -> dict[str, Any]:
    acct = ex.account(account_id)
    figs = acct.figures(ex.marks)
    orders = _order_margin(ex, account_id)
    now = ex.now
    assets = []
    for name in sorted(ex.catalogue.assets):
        if not any(
            linear(i) and i.margin_asset.name == name for i in ex.catalogue.instruments.values()
        ):
            continue
        pool = figs.pools.get(name) or views.empty_pool(name)
        iso_upnl = sum(
            (
                p.unrealized_pnl
                for p in figs.positions
                if p.margin_asset == name and p.margin_mode is MarginMode.ISOLATED
            ),
            ZERO,
        )
        iso_im = sum(
            (
                p.initial_margin
                for p in figs.positions
                if p.margin_asset == name and p.margin_mode is MarginMode.ISOLATED
            ),
            ZERO,
        )
        iso_mm = sum(
            (
                p.maintenance_margin
                for p in figs.positions
                if p.margin_asset == name and p.margin_mode is MarginMode.ISOLATED
            ),
            ZERO,
        )
        wallet = pool.wallet_balance + pool.isolated_wallet_balance
        upnl = pool.unrealized_pnl + iso_upnl
        initial = pool.position_initial_margin + pool.open_order_initial_margin + iso_im
        assets.append(
            {
                "asset": name,
                "walletBalance": dec0(wallet),
                "unrealizedProfit": dec0(upnl),
                "marginBalance": dec0(wallet + upnl),
                "maintMargin": dec0(pool.maintenance_margin + iso_mm),
                "initialMargin": dec0(initial),
                "positionInitialMargin": dec0(pool.position_initial_margin + iso_im),
                "openOrderInitialMargin": dec0(pool.open_order_initial_margin),
                "crossWalletBalance": dec0(pool.wallet_balance),
                "crossUnPnl": dec0(pool.unrealized_pnl),
                "availableBalance": dec0(max(ZERO, pool.available_balance)),
                "maxWithdrawAmount": dec0(pool.max_withdrawable),
                "marginAvailable": True,
                "updateTime": now or 1,
            }
        )
    positions = [
        _position_risk(ex, account_id, p, orders)
        for p in figs.positions
        if linear(ex.catalogue.instrument(p.symbol))
    ]
    usdt = next((a for a in assets if a["asset"] == "USDT"), None)

    def total(field: str) -> str:
        return str(usdt[field]) if usdt else "0"

    return {
        "totalInitialMargin": total("initialMargin"),
        "totalMaintMargin": total("maintMargin"),
        "totalWalletBalance": total("walletBalance"),
        "totalUnrealizedProfit": total("unrealizedProfit"),
        "totalMarginBalance": total("marginBalance"),
        "totalPositionInitialMargin": total("positionInitialMargin"),
        "totalOpenOrderInitialMargin": total("openOrderInitialMargin"),
        "totalCrossWalletBalance": total("crossWalletBalance"),
        "totalCrossUnPnl": total("crossUnPnl"),
        "availableBalance": total("availableBalance"),
        "maxWithdrawAmount": total("maxWithdrawAmount"),
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "assets": assets,
        "positions": positions,
    }


@api("GET", "/fapi/v3/account", "/fapi/v2/account", weight=5, security=SIGNED)
async def account(call: Call) -> Any:
    return await call.service.venue.read(lambda ex: _account_view(ex, call.account_id))


@api("GET", "/fapi/v3/balance", "/fapi/v2/balance", weight=5, security=SIGNED)
async def balance(call: Call) -> Any:
    view = await call.service.venue.read(lambda ex: _account_view(ex, call.account_id))
    return [
        {
            "accountAlias": call.account_id,
            "asset": a["asset"],
            "balance": a["walletBalance"],
            "crossWalletBalance": a["crossWalletBalance"],
            "crossUnPnl": a["crossUnPnl"],
            "availableBalance": a["availableBalance"],
            "maxWithdrawAmount": a["maxWithdrawAmount"],
            "marginAvailable": True,
            "updateTime": a["updateTime"],
        }
        for a in view["assets"]
    ]


@api("GET", "/fapi/v3/positionRisk", "/fapi/v2/positionRisk", weight=5, security=SIGNED)
async def position_risk(call: Call) -> Any:
    symbol = call.symbol(required=False)
    every = call.request.path.startswith("/fapi/v2")

    def view(ex: Exchange) -> list[dict[str, Any]]:
        acct = ex.account(call.account_id)
        figs = acct.figures(ex.marks)
        orders = _order_margin(ex, call.account_id)
        rows = [
            _position_risk(ex, call.account_id, p, orders)
            for p in figs.positions
            if linear(ex.catalogue.instrument(p.symbol)) and symbol in (None, p.symbol)
        ]
        if every:
            held = {(r["symbol"], r["positionSide"]) for r in rows}
            for s, inst in ex.catalogue.instruments.items():
                if not linear(inst) or symbol not in (None, s):
                    continue
                sides = ("LONG", "SHORT") if acct.position_mode is PositionMode.HEDGE else ("BOTH",)
                for side in sides:
                    if (s, side) not in held:
                        rows.append(_empty_position(ex, call.account_id, s, side))
        return rows

    return await call.service.venue.read(view)


def _empty_position(ex: Exchange, account_id: str, symbol: str, side: str) -> dict[str, Any]:
    settings = ex.account(account_id).settings(symbol)
    iso = settings.margin_mode is MarginMode.ISOLATED
    inst = ex.catalogue.instrument(symbol)
    return {
        "symbol": symbol,
        "positionSide": side,
        "positionAmt": "0",
        "entryPrice": "0",
        "breakEvenPrice": "0",
        "markPrice": dec0(ex.marks.get(symbol)),
        "unRealizedProfit": "0",
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": "0",
        "marginAsset": inst.margin_asset.name,
        "isolatedWallet": "0",
        "initialMargin": "0",
        "maintMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": 0,
        "leverage": str(settings.leverage),
        "marginType": "isolated" if iso else "cross",
        "isolated": iso,
        "isAutoAddMargin": "true" if settings.auto_add_margin else "false",
        "maxNotionalValue": _max_notional(inst, settings.leverage),
    }


def _brackets(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": k,
                "initialLeverage": t.max_leverage,
                "notionalCap": float(t.cap) if t.cap is not None else 9.0e15,
                "notionalFloor": float(t.floor),
                "maintMarginRatio": float(t.mmr),
                "cum": float(t.cum),
            }
            for k, t in enumerate(inst.tiers.tiers, start=1)
        ],
    }


@api("GET", "/fapi/v1/leverageBracket", security=SIGNED)
async def leverage_bracket(call: Call) -> Any:
    symbol = call.symbol(required=False)
    catalogue = call.service.venue.catalogue
    if symbol is not None:
        return [_brackets(catalogue.instrument(symbol))]
    return [_brackets(catalogue.instrument(s)) for s in linear_symbols(call)]


@api("GET", "/fapi/v1/symbolConfig", weight=5, security=SIGNED)
async def symbol_config(call: Call) -> Any:
    symbol = call.symbol(required=False)

    def view(ex: Exchange) -> list[dict[str, Any]]:
        acct = ex.account(call.account_id)
        out = []
        for s, inst in ex.catalogue.instruments.items():
            if not linear(inst) or symbol not in (None, s):
                continue
            st = acct.settings(s)
            out.append(
                {
                    "symbol": s,
                    "marginType": "ISOLATED"
                    if st.margin_mode is MarginMode.ISOLATED
                    else "CROSSED",
                    "isAutoAddMargin": st.auto_add_margin,
                    "leverage": st.leverage,
                    "maxNotionalValue": _max_notional(inst, st.leverage),
                }
            )
        return out

    return await call.service.venue.read(view)


@api("GET", "/fapi/v1/accountConfig", weight=5, security=SIGNED)
async def account_config(call: Call) -> Any:
    def view(ex: Exchange) -> dict[str, Any]:
        acct = ex.account(call.account_id)
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "dualSidePosition": acct.position_mode is PositionMode.HEDGE,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    return await call.service.venue.read(view)


@api("GET", "/fapi/v1/commissionRate", weight=20, security=SIGNED)
async def commission_rate(call: Call) -> Any:
    symbol = call.required_symbol()
    ex = call.service.venue.exchange
    rates = ex.fees.rates(ex.fee_tiers.get(call.account_id, "VIP0"))
    return {
        "symbol": symbol,
        "makerCommissionRate": dec0(rates.maker),
        "takerCommissionRate": dec0(rates.taker),
    }


@api("GET", "/fapi/v1/positionSide/dual", weight=30, security=SIGNED)
async def get_position_mode(call: Call) -> Any:
    hedge = await call.service.venue.read(
        lambda ex: ex.account(call.account_id).position_mode is PositionMode.HEDGE
    )
    return {"dualSidePosition": hedge}


@api("POST", "/fapi/v1/positionSide/dual", security=SIGNED, permission=Permission.TRADE)
async def set_position_mode(call: Call) -> Any:
    hedge = call.params.text("dualSidePosition", required=True, max_len=5)
    if hedge not in ("true", "false"):
        raise bad_param("dualSidePosition must be 'true' or 'false'.", "dualSidePosition", -1130)
    mode = PositionMode.HEDGE if hedge == "true" else PositionMode.ONE_WAY
    await submit(call, c.SetPositionMode(call.account_id, mode))
    return {"code": 200, "msg": "success"}


@api("POST", "/fapi/v1/marginType", security=SIGNED, permission=Permission.TRADE)
async def set_margin_type(call: Call) -> Any:
    symbol = call.required_symbol()
    value = call.params.required("marginType", max_len=10).upper()
    modes = {
        "ISOLATED": MarginMode.ISOLATED,
        "CROSSED": MarginMode.CROSS,
        "CROSS": MarginMode.CROSS,
    }
    if value not in modes:
        raise bad_param("marginType must be ISOLATED or CROSSED.", "marginType", -1130)
    await submit(call, c.SetMarginMode(call.account_id, symbol, modes[value]))
    return {"code": 200, "msg": "success"}


@api("POST", "/fapi/v1/leverage", security=SIGNED, permission=Permission.TRADE)
async def set_leverage(call: Call) -> Any:
    symbol = call.required_symbol()
    leverage = call.params.integer("leverage", required=True, low=1, high=125)
    assert leverage is not None
    await submit(call, c.SetLeverage(call.account_id, symbol, leverage))
    inst = call.service.venue.catalogue.instrument(symbol)
    return {
        "leverage": leverage,
        "maxNotionalValue": _max_notional(inst, leverage),
        "symbol": symbol,
    }


@api("POST", "/fapi/v1/positionMargin", security=SIGNED, permission=Permission.TRADE)
async def position_margin(call: Call) -> Any:
    symbol = call.required_symbol()
    amount = call.params.decimal("amount", required=True)
    assert amount is not None
    kind = call.params.integer("type", required=True, low=1, high=2)
    side = call.params.choice("positionSide", PositionSide, default=PositionSide.BOTH)
    await submit(call, c.AdjustIsolatedMargin(call.account_id, symbol, amount, kind == 1, side))
    asset = call.service.venue.catalogue.instrument(symbol).margin_asset.name
    return {
        "amount": float(amount),
        "code": 200,
        "msg": "Successfully modify position margin.",
        "type": kind,
        "symbol": symbol,
        "asset": asset,
        "time": call.now,
    }


@api("GET", "/fapi/v1/userTrades", weight=5, security=SIGNED)
async def user_trades(call: Call) -> Any:
    symbol = call.required_symbol()
    limit = call.params.integer("limit", default=500, low=1, high=1000) or 500
    start = call.params.integer("startTime", low=0)
    end = call.params.integer("endTime", low=0)
    from_id = call.params.integer("fromId", low=0)
    history = call.service.history
    rows = await history.run(
        lambda: history.fills(call.account_id, symbol, start, end, from_id, limit)
    )
    out = []
    for r in rows:
        order = call.service.order(r["order_id"])
        out.append(
            {
                "buyer": r["side"] == "BUY",
                "commission": dec0(r["fee"]),
                "commissionAsset": r["asset"],
                "id": r["trade_id"],
                "maker": bool(r["is_maker"]),
                "orderId": int(r["order_id"]) if str(r["order_id"]).isdigit() else 0,
                "price": dec0(r["price"]),
                "qty": dec0(r["qty"]),
                "quoteQty": dec0(r["price"] * r["qty"]),
                "realizedPnl": dec0(r["realized_pnl"]),
                "side": r["side"],
                "positionSide": order.position_side.value if order is not None else "BOTH",
                "symbol": r["symbol"],
                "time": r["ts"],
            }
        )
    return out


@api("GET", "/fapi/v1/income", weight=30, security=SIGNED)
async def income(call: Call) -> Any:
    symbol = call.symbol(required=False)
    income_type = call.params.text("incomeType", max_len=30)
    if income_type not in (None, "REALIZED_PNL", "COMMISSION", "FUNDING_FEE"):
        return []
    limit = call.params.integer("limit", default=100, low=1, high=1000) or 100
    start = call.params.integer("startTime", low=0)
    end = call.params.integer("endTime", low=0)
    history = call.service.history
    rows = await history.run(
        lambda: history.income(call.account_id, symbol, income_type, start, end, limit)
    )
    return [
        {
            "symbol": r["symbol"],
            "incomeType": r["incomeType"],
            "income": dec0(r["income"]),
            "asset": r["asset"],
            "info": r["incomeType"],
            "time": r["time"],
            "tranId": r["time"],
            "tradeId": r["tradeId"],
        }
        for r in rows
    ]


# ============================================================================ user stream
@api("POST", "/fapi/v1/listenKey", security=USER_STREAM)
async def new_listen_key(call: Call) -> Any:
    return {"listenKey": call.service.listen_keys.issue(call.account_id)}


@api("PUT", "/fapi/v1/listenKey", security=USER_STREAM)
async def keepalive_listen_key(call: Call) -> Any:
    key = call.service.listen_keys.keepalive(call.account_id)
    if key is None:
        raise not_found("This listenKey does not exist.", -1125)
    return {"listenKey": key}


@api("DELETE", "/fapi/v1/listenKey", security=USER_STREAM)
async def close_listen_key(call: Call) -> Any:
    call.service.listen_keys.close(call.account_id)
    return {}

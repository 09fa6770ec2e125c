"""Read-only views of the exchange for the API, as plain dicts of strings (exact decimals).

Every function here takes the live :class:`~isocross.engine.Exchange` and runs on the store's
sequencer (through :meth:`~isocross.api.venue.Venue.read`), between two commands. Nothing here
changes the exchange: previews and what-ifs work on a *sandbox*, a throw-away copy of one
account (its wallets, positions and open orders on a ledger of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, localcontext
from typing import Any

from isocross.engine.exchange import Exchange
from isocross.engine.orders import Order, OrderType
from isocross.margin.account import Account
from isocross.margin.figures import AccountFigures, PoolFigures, PositionFigures
from isocross.model.enums import MarginMode, PositionSide, Side
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent, round_up
from isocross.risk.engine import RiskEngine, risk_of


def dec(value: Decimal | None) -> str | None:
    """A decimal as plain text: no exponent, no trailing zeros (``None`` stays ``None``)."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def dec0(value: Decimal | None) -> str:
    """Like :func:`dec`, with ``"0"`` for ``None`` (Binance's way of saying "none")."""
    return dec(value) or "0"


def risk(ex: Exchange) -> RiskEngine:
    return risk_of(ex)


# ---------------------------------------------------------------------------- instruments
def instrument_json(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol,
        "base_asset": inst.base_asset,
        "quote_asset": inst.quote_asset,
        "margin_asset": inst.margin_asset.name,
        "contract_type": inst.contract_type.value,
        "contract_size": dec0(inst.contract_size),
        "tick_size": dec0(inst.tick_size),
        "step_size": dec0(inst.step_size),
        "min_qty": dec0(inst.min_qty),
        "min_notional": dec0(inst.min_notional),
        "price_precision": inst.price_precision,
        "max_leverage": inst.tiers.max_leverage,
        "tiers": tiers_json(inst),
    }


def tiers_json(inst: Instrument) -> list[dict[str, Any]]:
    return [
        {
            "tier": k,
            "floor": dec0(t.floor),
            "cap": dec(t.cap),
            "max_leverage": t.max_leverage,
            "maintenance_margin_rate": dec0(t.mmr),
            "maintenance_amount": dec0(t.cum),
        }
        for k, t in enumerate(inst.tiers.tiers, start=1)
    ]


# ---------------------------------------------------------------------------- accounts
def figures(ex: Exchange, account_id: str) -> AccountFigures:
    """Every figure of the account at the current marks, liquidation prices included."""
    return ex.account(account_id).figures(ex.marks)


def thresholds(ex: Exchange, account_id: str) -> tuple[tuple[Decimal, ...], tuple[Decimal, ...]]:
    """The account's margin-call thresholds (its own, else the venue's defaults)."""
    engine = risk(ex)
    return engine.thresholds.get(
        account_id, (engine.config.margin_ratio_alerts, engine.config.margin_level_alerts)
    )


def pool_json(pool: PoolFigures) -> dict[str, Any]:
    return {
        "asset": pool.asset,
        "wallet_balance": dec0(pool.wallet_balance),
        "unrealized_pnl": dec0(pool.unrealized_pnl),
        "margin_balance": dec0(pool.margin_balance),
        "position_initial_margin": dec0(pool.position_initial_margin),
        "open_order_initial_margin": dec0(pool.open_order_initial_margin),
        "maintenance_margin": dec0(pool.maintenance_margin),
        "margin_ratio": dec(pool.margin_ratio),
        "margin_level": dec(pool.margin_level),
        "available_balance": dec0(pool.available_balance),
        "max_withdrawable": dec0(pool.max_withdrawable),
        "isolated_wallet_balance": dec0(pool.isolated_wallet_balance),
        "liquidatable": pool.liquidatable,
    }


def account_json(ex: Exchange, account_id: str) -> dict[str, Any]:
    """The account summary: per margin asset its cross pool, spot wallet and alert settings."""
    acct = ex.account(account_id)
    figs = acct.figures(ex.marks, prices=False)
    ratios, levels = thresholds(ex, account_id)
    engine = risk(ex)
    fired = sorted(
        (pool, metric, dec0(t))
        for (aid, pool, metric, t) in engine.alerts.fired
        if aid == account_id
    )
    assets = []
    for name in sorted(ex.catalogue.assets):
        pool = figs.pools.get(name)
        spot = acct.spot_balance(name)
        if pool is None and spot == 0:
            continue
        row = pool_json(pool) if pool is not None else pool_json(empty_pool(name))
        row["spot_balance"] = dec0(spot)
        row["auto_replenish"] = _replenish(engine, account_id, name)
        assets.append(row)
    return {
        "account_id": account_id,
        "fee_tier": ex.fee_tiers.get(account_id, "VIP0"),
        "position_mode": acct.position_mode.value,
        "default_margin_mode": acct.default_margin_mode.value,
        "assets": assets,
        "margin_call_thresholds": {
            "margin_ratio": [dec0(t) for t in ratios],
            "margin_level": [dec0(t) for t in levels],
        },
        "alerts_active": [{"pool": p, "metric": m, "threshold": t} for p, m, t in fired],
        "update_time": ex.now,
    }


def _replenish(engine: RiskEngine, account_id: str, asset: str) -> dict[str, Any] | None:
    rule = engine.replenish.get((account_id, asset))
    if rule is None:
        return None
    return {"below": dec0(rule[0]), "restore_to": dec0(rule[1])}


def empty_pool(asset: str) -> PoolFigures:
    return PoolFigures(
        asset, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, None, ZERO, ZERO, ZERO, ZERO, False
    )


def position_json(ex: Exchange, account_id: str, p: PositionFigures) -> dict[str, Any]:
    acct = ex.account(account_id)
    return {
        "symbol": p.symbol,
        "position_side": p.side.value,
        "side": "LONG" if p.qty > 0 else "SHORT",
        "margin_mode": p.margin_mode.value,
        "leverage": p.leverage,
        "qty": dec0(p.qty),
        "entry_price": dec0(p.entry_price),
        "mark_price": dec0(p.mark_price),
        "margin_asset": p.margin_asset,
        "notional": dec0(p.notional),
        "initial_margin": dec0(p.initial_margin),
        "maintenance_margin": dec0(p.maintenance_margin),
        "unrealized_pnl": dec0(p.unrealized_pnl),
        "roe": dec0(p.roe),
        "liquidation_price": dec(p.liquidation_price),
        "bankruptcy_price": dec(p.bankruptcy_price),
        "isolated_wallet": dec(p.isolated_wallet),
        "margin_balance": dec(p.margin_balance),
        "margin_ratio": dec(p.margin_ratio),
        "max_removable": dec(p.max_removable),
        "liquidatable": p.liquidatable,
        "adl_quantile": risk(ex).adl_quantile(account_id, p.symbol, p.side),
        "auto_add_margin": acct.settings(p.symbol).auto_add_margin,
    }


def positions_json(ex: Exchange, account_id: str) -> list[dict[str, Any]]:
    figs = figures(ex, account_id)
    return [position_json(ex, account_id, p) for p in figs.positions]


def symbol_settings_json(ex: Exchange, account_id: str) -> list[dict[str, Any]]:
    acct = ex.account(account_id)
    out = []
    for symbol in ex.catalogue.instruments:
        s = acct.settings(symbol)
        out.append(
            {
                "symbol": symbol,
                "margin_mode": s.margin_mode.value,
                "leverage": s.leverage,
                "auto_add_margin": s.auto_add_margin,
                "max_leverage": ex.catalogue.instrument(symbol).tiers.max_leverage,
            }
        )
    return out


def margin_mode_blockers(
    ex: Exchange, account_id: str, mode: MarginMode, symbols: list[str] | None
) -> list[dict[str, str]]:
    """What would block a bulk switch to ``mode`` now (nothing changes): open orders,
    conditional orders and positions, per symbol."""
    acct = ex.account(account_id)
    names = symbols if symbols else list(ex.catalogue.instruments)
    out = []
    for symbol in dict.fromkeys(names):
        ex.catalogue.instrument(symbol, field="symbols")
        if acct.settings(symbol).margin_mode is mode:
            continue
        waiting = [o for o in ex.conditionals[symbol].values() if o.account_id == account_id]
        if acct.open_orders(symbol) or waiting:
            n = len(acct.open_orders(symbol)) + len(waiting)
            out.append(
                {
                    "symbol": symbol,
                    "code": ErrorCode.MARGIN_MODE_OPEN_ORDERS.code,
                    "reason": f"{symbol} has {n} open order(s); cancel them first",
                }
            )
        elif any(p.symbol == symbol for p in acct.positions()):
            out.append(
                {
                    "symbol": symbol,
                    "code": ErrorCode.MARGIN_MODE_POSITION_EXISTS.code,
                    "reason": f"{symbol} has an open position; close it first",
                }
            )
    return out


# ---------------------------------------------------------------------------- orders
def order_json(
    order: Order, times: Mapping[str, tuple[int, int]], *, waiting: bool = False
) -> dict[str, Any]:
    """An order as the native API shows it (``waiting``: a conditional order not yet
    triggered)."""
    created, updated = times.get(order.order_id, (0, 0))
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "status": order.status.value,
        "qty": dec0(order.qty),
        "filled_qty": dec0(order.filled_qty),
        "remaining_qty": dec0(order.remaining),
        "price": dec(order.price),
        "average_price": dec(order.average_price),
        "stop_price": dec(order.stop_price),
        "time_in_force": order.time_in_force.value,
        "position_side": order.position_side.value,
        "reduce_only": order.reduce_only,
        "close_position": order.close_position,
        "working_type": order.working_type.value,
        "callback_rate": dec(order.callback_rate),
        "activation_price": dec(order.activation_price),
        "waiting_for_trigger": waiting,
        "created_time": created,
        "update_time": updated,
    }


def open_orders(ex: Exchange, account_id: str, symbol: str | None = None) -> list[Order]:
    """Open orders, conditional ones waiting for their trigger included."""
    ex.account(account_id)
    return sorted(ex.open_orders(account_id, symbol), key=lambda o: int(o.order_id))


def find_order(
    ex: Exchange, account_id: str, order_id: str | None, client_order_id: str | None
) -> Order:
    """An order of this account by id or client id (-2013 when it is not this account's)."""
    order: Order | None = None
    if order_id is not None:
        order = ex.orders.get(order_id)
    elif client_order_id is not None:
        for o in reversed(list(ex.orders.values())):
            if o.account_id == account_id and o.client_order_id == client_order_id:
                order = o
                break
    if order is None or order.account_id != account_id:
        raise IsocrossError(ErrorCode.UNKNOWN_ORDER, "Order does not exist.", field="orderId")
    return order


def account_orders(ex: Exchange, account_id: str, symbol: str | None, limit: int) -> list[Order]:
    """The account's latest orders (open or not), oldest first."""
    mine = [
        o
        for o in ex.orders.values()
        if o.account_id == account_id and (symbol is None or o.symbol == symbol)
    ]
    return mine[-limit:]


def is_waiting(ex: Exchange, order: Order) -> bool:
    """A conditional order that has not been triggered yet."""
    return order.order_id in ex.conditionals[order.symbol]


# ---------------------------------------------------------------------------- previews
def sandbox(
    ex: Exchange, account_id: str, mode: MarginMode | None = None, only: str | None = None
) -> Account:
    """A copy of the account on a ledger of its own (nothing it does reaches the exchange).

    With ``mode``, positions (of ``only``, or all) are rebuilt in that margin mode: to cross,
    an isolated wallet folds back into the cross wallet; to isolated, the position takes its
    initial margin at entry (``N(entry)/leverage``, rounded up) from the cross wallet."""
    acct = ex.account(account_id)
    sim = Account(
        ex.catalogue,
        account_id,
        position_mode=acct.position_mode,
        default_margin_mode=acct.default_margin_mode,
    )
    wallets = {a: acct.cross_wallet(a) for a in ex.catalogue.assets}
    placed: list[tuple[Any, Decimal]] = []
    with localcontext(CONTEXT):
        for pos in acct.positions():
            inst = ex.catalogue.instrument(pos.symbol)
            asset = inst.margin_asset.name
            iso = (
                acct.isolated_wallet(pos.symbol, pos.side)
                if pos.margin_mode is MarginMode.ISOLATED
                else ZERO
            )
            target = pos.margin_mode
            if mode is not None and (only is None or pos.symbol == only):
                target = mode
            if target is not pos.margin_mode:
                if target is MarginMode.ISOLATED:
                    need = round_up(
                        inst.notional(pos.qty, pos.entry_price) / pos.leverage,
                        exponent(inst.margin_asset.precision),
                    )
                    wallets[asset] = wallets.get(asset, ZERO) - need
                    iso = need
                else:
                    wallets[asset] = wallets.get(asset, ZERO) + iso
                    iso = ZERO
            placed.append((replace(pos, margin_mode=target), iso))
    for asset, amount in wallets.items():
        if amount:
            sim.restore_cross_wallet(asset, amount)
    for pos, iso in placed:
        sim.restore_position(pos, iso)
    held = {p.symbol for p in sim.positions()}
    for symbol in ex.catalogue.instruments:
        if symbol in held:
            continue
        want = acct.settings(symbol)
        if mode is not None and (only is None or symbol == only):
            want = replace(want, margin_mode=mode)
        if sim.settings(symbol).margin_mode is not want.margin_mode:
            sim.set_margin_mode(symbol, want.margin_mode)
        if sim.settings(symbol).leverage != want.leverage:
            sim.set_leverage(symbol, want.leverage, ex.marks)
    for order in acct.open_orders():
        sim.add_open_order(order)
    return sim


def estimate_fill_price(ex: Exchange, symbol: str, side: Side, qty: Decimal) -> Decimal:
    """Where a market order of ``qty`` would fill on average now (the mark if the book
    cannot fill it all: what is missing is priced at the price band's edge)."""
    mark = ex.mark(symbol)
    bids, asks = ex.depth(symbol, 200)
    levels = asks if side is Side.BUY else bids
    left, cost = qty, ZERO
    edge = mark * (1 + ex.price_band) if side is Side.BUY else mark * (1 - ex.price_band)
    with localcontext(CONTEXT):
        for price, size in levels:
            if (price > edge) if side is Side.BUY else (price < edge):
                break
            take = min(left, size)
            cost += take * price
            left -= take
            if left <= 0:
                break
        if left > 0:
            cost += left * edge
        inst = ex.catalogue.instrument(symbol)
        return (cost / qty).quantize(exponent(inst.price_precision))


def preview_order(
    ex: Exchange,
    account_id: str,
    symbol: str,
    side: Side,
    order_type: OrderType,
    qty: Decimal | None,
    price: Decimal | None,
    position_side: PositionSide,
    leverage: int | None,
) -> dict[str, Any]:
    """Order cost, max quantity, and the position after the order fills — its liquidation
    price in cross and in isolated margin — without placing anything."""
    acct = ex.account(account_id)
    inst = ex.catalogue.instrument(symbol)
    mark = ex.mark(symbol)
    current = acct.settings(symbol)
    lev = leverage if leverage is not None else current.leverage
    if isinstance(lev, bool) or not 1 <= lev <= inst.tiers.max_leverage:
        raise IsocrossError(
            ErrorCode.INVALID_LEVERAGE,
            f"leverage must be a whole number from 1 to {inst.tiers.max_leverage}",
            field="leverage",
        )
    limit_price = price if order_type.has_limit_price else None
    max_qty = ex.max_order_qty(account_id, symbol, side, limit_price, position_side, lev)
    out: dict[str, Any] = {
        "symbol": symbol,
        "side": side.value,
        "type": order_type.value,
        "leverage": lev,
        "mark_price": dec0(mark),
        "max_qty": dec0(max_qty),
        "current_margin_mode": current.margin_mode.value,
    }
    if qty is None:
        return out | {"qty": None, "cost": None, "fill_price": None, "modes": {}}
    cost = ex.order_cost(account_id, symbol, side, qty, limit_price, position_side, lev)
    fill = limit_price if limit_price is not None else estimate_fill_price(ex, symbol, side, qty)
    rates = ex.fees.rates(ex.fee_tiers.get(account_id, "VIP0"))
    rate = rates.maker if limit_price is not None else rates.taker
    with localcontext(CONTEXT):
        fee = inst.notional(qty, fill) * rate
    modes = {}
    for mode in (MarginMode.CROSS, MarginMode.ISOLATED):
        modes[mode.value] = _simulate(
            ex, account_id, symbol, side, qty, fill, position_side, lev, mode, fee
        )
    return out | {
        "qty": dec0(qty),
        "cost": dec0(cost),
        "fill_price": dec0(fill),
        "fee": dec0(round_up(fee, exponent(inst.margin_asset.precision))),
        "modes": modes,
    }


def _simulate(
    ex: Exchange,
    account_id: str,
    symbol: str,
    side: Side,
    qty: Decimal,
    price: Decimal,
    position_side: PositionSide,
    leverage: int,
    mode: MarginMode,
    fee: Decimal,
) -> dict[str, Any]:
    try:
        sim = sandbox(ex, account_id, mode, only=symbol)
        if sim.settings(symbol).leverage != leverage:
            sim.set_leverage(symbol, leverage, ex.marks)
        sim.apply_fill(
            symbol, side, qty, price, ex.marks, position_side=position_side, fee=fee, enforce=True
        )
        figs = sim.figures(ex.marks)
    except IsocrossError as exc:
        return {"feasible": False, "error": exc.code, "message": exc.message, "position": None}
    pos = next((p for p in figs.positions if p.symbol == symbol and p.side is position_side), None)
    pool = figs.pools.get(ex.catalogue.instrument(symbol).margin_asset.name)
    return {
        "feasible": True,
        "error": None,
        "message": None,
        "position": None if pos is None else _plain_position(pos),
        "pool": None if pool is None else pool_json(pool),
    }


def _plain_position(p: PositionFigures) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "position_side": p.side.value,
        "margin_mode": p.margin_mode.value,
        "leverage": p.leverage,
        "qty": dec0(p.qty),
        "entry_price": dec0(p.entry_price),
        "mark_price": dec0(p.mark_price),
        "notional": dec0(p.notional),
        "initial_margin": dec0(p.initial_margin),
        "maintenance_margin": dec0(p.maintenance_margin),
        "unrealized_pnl": dec0(p.unrealized_pnl),
        "liquidation_price": dec(p.liquidation_price),
        "bankruptcy_price": dec(p.bankruptcy_price),
        "isolated_wallet": dec(p.isolated_wallet),
        "margin_ratio": dec(p.margin_ratio),
        "max_removable": dec(p.max_removable),
        "liquidatable": p.liquidatable,
    }


def what_if(ex: Exchange, account_id: str, moves: Mapping[str, Decimal]) -> dict[str, Any]:
    """Every figure after the marks move to ``moves`` (symbol → price), as the account stands
    and rebuilt all-cross and all-isolated."""
    for symbol, price in moves.items():
        ex.catalogue.instrument(symbol, field="moves")
        if price <= 0:
            raise IsocrossError(ErrorCode.INVALID_INPUT, "prices must be positive", field="moves")
    marks = {**ex.marks, **moves}
    out: dict[str, Any] = {"marks": {s: dec0(p) for s, p in sorted(marks.items())}}
    for name, mode in (
        ("as_is", None),
        ("all_cross", MarginMode.CROSS),
        ("all_isolated", MarginMode.ISOLATED),
    ):
        try:
            sim = sandbox(ex, account_id, mode)
            figs = sim.figures(marks)
        except IsocrossError as exc:
            out[name] = {"error": exc.code, "message": exc.message, "positions": [], "pools": []}
            continue
        out[name] = {
            "error": None,
            "message": None,
            "positions": [_plain_position(p) for p in figs.positions],
            "pools": [pool_json(p) for p in figs.pools.values()],
        }
    return out

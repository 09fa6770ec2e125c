"""Every figure of a position, an isolated bucket and a cross pool, from state and marks.

Formulas (Binance USDⓈ-M FAQ "Margin Ratio", "Liquidation Price", "Isolated margin"; the seeds'
margin level):

* notional ``N = |q|·P`` (inverse: ``|q|·CS/P``), initial margin ``IM = N / leverage``,
  maintenance ``MM = N·mmr − cum`` (tier of ``N``), unrealized PnL as the contract defines it;
* margin balance = wallet + Σ unrealized PnL (cross: the pool's wallet and cross positions;
  isolated: the position's own wallet and PnL);
* margin ratio = MM / margin balance (liquidation at 100 %; undefined, reported ``None``, when
  the margin balance is exhausted while MM > 0);
* margin level = margin balance / used margin × 100, used margin = position IM + open-order IM;
* available = margin balance − used margin;
* max withdrawable = max(0, min(WB − orderIM − MM, WB + UPNL − IM − orderIM));
* isolated max removable = max(0, min(W − MM, W + UPNL − N/leverage)).

Rounding (see :mod:`isocross.model.money`): IM and MM up, PnL and withdrawable down, ratios up,
margin level down; liquidation and bankruptcy prices are exact and shown to the instrument's
price precision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from isocross.margin.liquidation import Leg, bankruptcy_price, liquidation_price
from isocross.margin.portfolio import (
    PortfolioLeg,
    PortfolioParams,
    PortfolioRequirement,
    portfolio_params,
    requirement,
)
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionSide
from isocross.model.instrument import Instrument
from isocross.model.money import (
    CONTEXT,
    HUNDRED,
    RATIO_PLACES,
    ZERO,
    exponent,
    round_down,
    round_nearest,
    round_up,
)

LEVEL_PLACES = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PositionFigures:
    """What a trader sees on one position row."""

    symbol: str
    side: PositionSide
    margin_mode: MarginMode
    leverage: int
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal
    margin_asset: str
    notional: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    unrealized_pnl: Decimal
    roe: Decimal
    liquidation_price: Decimal | None
    bankruptcy_price: Decimal | None
    isolated_wallet: Decimal | None
    margin_balance: Decimal | None
    margin_ratio: Decimal | None
    max_removable: Decimal | None
    liquidatable: bool


@dataclass(frozen=True, slots=True)
class PoolFigures:
    """The cross pool of one margin asset (isolated wallets are listed, not pooled)."""

    asset: str
    wallet_balance: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    maintenance_margin: Decimal
    margin_ratio: Decimal | None
    margin_level: Decimal | None
    available_balance: Decimal
    max_withdrawable: Decimal
    max_addable_to_isolated: Decimal
    isolated_wallet_balance: Decimal
    liquidatable: bool


@dataclass(frozen=True, slots=True)
class AccountFigures:
    positions: tuple[PositionFigures, ...]
    pools: Mapping[str, PoolFigures]
    portfolio: Mapping[str, PortfolioRequirement] = field(default_factory=dict)
    """Per margin asset: the portfolio-margin requirement and its worst scenario, if any."""

    def position(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> PositionFigures:
        return next(p for p in self.positions if p.symbol == symbol and p.side is side)


def margin_ratio(maintenance: Decimal, balance: Decimal) -> Decimal | None:
    """``MM / margin balance`` rounded up to 8 places; 0 with no MM; ``None`` if exhausted."""
    if maintenance <= 0:
        return ZERO
    if balance <= 0:
        return None
    return round_up(maintenance / balance, RATIO_PLACES)


def is_liquidatable(maintenance: Decimal, balance: Decimal) -> bool:
    """Liquidate when margin balance ≤ maintenance margin (margin ratio ≥ 100 %), with MM > 0."""
    return maintenance > 0 and balance <= maintenance


@dataclass(frozen=True, slots=True)
class _Exact:
    """Unrounded per-position values, kept so liquidation prices see exact inputs."""

    position: Position
    instrument: Instrument
    mark: Decimal
    notional: Decimal
    maintenance: Decimal
    pnl: Decimal


def compute_figures(
    positions: Iterable[Position],
    instrument_of: Callable[[str], Instrument],
    cross_wallets: Mapping[str, Decimal],
    isolated_wallets: Mapping[tuple[str, PositionSide], Decimal],
    order_margin: Mapping[str, Decimal],
    marks: Mapping[str, Decimal],
    *,
    prices: bool = True,
    portfolio: PortfolioParams | None = None,
) -> AccountFigures:
    """Figures of every open position and every margin asset's cross pool at ``marks``.

    ``prices=False`` skips the liquidation and bankruptcy prices (reported ``None``): the
    margin checks of every order and transfer need only the balances, not the solver.
    """
    with localcontext(CONTEXT):
        exact: list[_Exact] = []
        for pos in positions:
            if not pos.is_open:
                continue
            inst = instrument_of(pos.symbol)
            mark = marks[pos.symbol]
            exact.append(
                _Exact(
                    pos,
                    inst,
                    mark,
                    inst.notional(pos.qty, mark),
                    inst.maintenance_margin(pos.qty, mark),
                    inst.unrealized_pnl(pos.qty, pos.entry_price, mark),
                )
            )
        cross = [e for e in exact if e.position.margin_mode.pooled]
        pool_mm: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        pool_pnl: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        for e in cross:
            if e.position.margin_mode is MarginMode.CROSS:
                pool_mm[e.instrument.margin_asset.name] += e.maintenance
            pool_pnl[e.instrument.margin_asset.name] += e.pnl
        pm = _portfolio_requirements(cross, portfolio)
        rounded: dict[str, tuple[Decimal, Decimal]] = {}
        for asset, req in pm.items():
            pool_mm[asset] += req.maintenance
            quantum = next(
                exponent(e.instrument.margin_asset.precision)
                for e in cross
                if e.instrument.margin_asset.name == asset
            )
            rounded[asset] = (round_up(req.initial, quantum), round_up(req.maintenance, quantum))

        rows = tuple(
            _position_figures(
                e,
                cross,
                cross_wallets,
                isolated_wallets,
                pool_mm,
                pool_pnl,
                prices=prices,
                portfolio=portfolio,
            )
            for e in exact
        )
        assets = set(cross_wallets) | set(order_margin) | {r.margin_asset for r in rows}
        pools = {
            asset: _pool_figures(
                asset,
                rows,
                cross_wallets,
                order_margin,
                pool_mm[asset],
                pool_pnl[asset],
                rounded.get(asset),
            )
            for asset in sorted(assets)
        }
        return AccountFigures(rows, pools, pm)


def _portfolio_requirements(
    pooled: list[_Exact], params: PortfolioParams | None
) -> dict[str, PortfolioRequirement]:
    """The portfolio-margin requirement of each asset's portfolio positions (exact)."""
    legs: defaultdict[str, list[PortfolioLeg]] = defaultdict(list)
    for e in pooled:
        if e.position.margin_mode is MarginMode.PORTFOLIO:
            pos = e.position
            legs[e.instrument.margin_asset.name].append(
                PortfolioLeg(
                    e.instrument, pos.qty, pos.entry_price, e.mark, f"{pos.symbol}:{pos.side.value}"
                )
            )
    params = params or portfolio_params()
    return {asset: requirement(ls, params) for asset, ls in legs.items()}


def _position_figures(
    e: _Exact,
    cross: list[_Exact],
    cross_wallets: Mapping[str, Decimal],
    isolated_wallets: Mapping[tuple[str, PositionSide], Decimal],
    pool_mm: Mapping[str, Decimal],
    pool_pnl: Mapping[str, Decimal],
    *,
    prices: bool = True,
    portfolio: PortfolioParams | None = None,
) -> PositionFigures:
    pos, inst = e.position, e.instrument
    asset = inst.margin_asset.name
    quantum = exponent(inst.margin_asset.precision)
    price_quantum = exponent(inst.price_precision)
    initial = round_up(e.notional / pos.leverage, quantum)
    maintenance = round_up(e.maintenance, quantum)
    pnl = round_down(e.pnl, quantum)
    if pos.margin_mode is MarginMode.ISOLATED:
        wallet = isolated_wallets.get((pos.symbol, pos.side), ZERO)
        legs = [Leg(pos.qty, pos.entry_price)]
        liq = liquidation_price(inst, legs, wallet, mark=e.mark) if prices else None
        bust = bankruptcy_price(inst, legs, wallet) if prices else None
        balance = wallet + pnl
        removable = max(ZERO, min(wallet - maintenance, balance - initial))
        iso: tuple[Decimal | None, ...] = (
            wallet,
            balance,
            margin_ratio(maintenance, balance),
            round_down(removable, quantum),
        )
        liquidatable = is_liquidatable(e.maintenance, wallet + e.pnl)
    else:
        same = [c for c in cross if c.position.symbol == pos.symbol]
        other_pnl = pool_pnl[asset] - sum((c.pnl for c in same), ZERO)
        wallet = cross_wallets.get(asset, ZERO)
        legs = [Leg(c.position.qty, c.position.entry_price) for c in same]
        if not prices:
            liq = None
        elif pos.margin_mode is MarginMode.PORTFOLIO:
            liq = _portfolio_liquidation_price(
                e, cross, wallet + other_pnl, pool_mm[asset], portfolio or portfolio_params()
            )
        else:
            other_mm = pool_mm[asset] - sum((c.maintenance for c in same), ZERO)
            liq = liquidation_price(
                inst, legs, wallet, mark=e.mark, other_pnl=other_pnl, other_maintenance=other_mm
            )
        bust = bankruptcy_price(inst, legs, wallet, other_pnl=other_pnl) if prices else None
        iso = (None, None, None, None)
        liquidatable = is_liquidatable(pool_mm[asset], wallet + pool_pnl[asset])
    return PositionFigures(
        symbol=pos.symbol,
        side=pos.side,
        margin_mode=pos.margin_mode,
        leverage=pos.leverage,
        qty=pos.qty,
        entry_price=pos.entry_price,
        mark_price=e.mark,
        margin_asset=asset,
        notional=round_nearest(e.notional, quantum),
        initial_margin=initial,
        maintenance_margin=maintenance,
        unrealized_pnl=pnl,
        roe=round_down(pnl / initial, RATIO_PLACES) if initial else ZERO,
        liquidation_price=None if liq is None else round_nearest(liq, price_quantum),
        bankruptcy_price=None if bust is None else round_nearest(bust, price_quantum),
        isolated_wallet=iso[0],
        margin_balance=iso[1],
        margin_ratio=iso[2],
        max_removable=iso[3],
        liquidatable=liquidatable,
    )


def _portfolio_liquidation_price(
    e: _Exact,
    pooled: list[_Exact],
    base_balance: Decimal,
    pool_maintenance: Decimal,
    params: PortfolioParams,
) -> Decimal | None:
    """Where a portfolio position's pool reaches its requirement as this symbol's price moves
    against it (the pool's other prices fixed): the requirement has no closed form, so bisect
    on price in exact Decimal until the bracket is below a hundredth of a tick."""
    inst, symbol = e.instrument, e.position.symbol
    asset = inst.margin_asset.name
    mine = [c for c in pooled if c.position.symbol == symbol]
    portfolio = [
        c
        for c in pooled
        if c.position.margin_mode is MarginMode.PORTFOLIO
        and c.instrument.margin_asset.name == asset
    ]
    base_req = requirement(
        [
            PortfolioLeg(c.instrument, c.position.qty, c.position.entry_price, c.mark)
            for c in portfolio
        ],
        params,
    ).maintenance
    fixed_mm = pool_maintenance - base_req  # the pool's cross positions

    def slack(price: Decimal) -> Decimal:
        pnl = sum(
            (inst.unrealized_pnl(c.position.qty, c.position.entry_price, price) for c in mine), ZERO
        )
        legs = [
            PortfolioLeg(
                c.instrument,
                c.position.qty,
                c.position.entry_price,
                price if c.position.symbol == symbol else c.mark,
            )
            for c in portfolio
        ]
        return base_balance + pnl - fixed_mm - requirement(legs, params).maintenance

    net = sum((c.position.qty for c in mine), ZERO)
    if net == 0:
        return None
    down = net > 0
    safe = e.mark
    if slack(safe) <= 0:
        return safe
    step = Decimal("0.01")
    far = safe
    for _ in range(40):  # bracket: move against the position, doubling the step
        far = safe * (1 - step) if down else safe * (1 + step)
        if far <= inst.tick_size or far > e.mark * 1000:
            far = inst.tick_size if down else e.mark * 1000
            if slack(far) > 0:
                return None
            break
        if slack(far) <= 0:
            break
        safe, step = far, step * 2
    else:
        return None
    while abs(safe - far) > inst.tick_size / 100:
        mid = (safe + far) / 2
        if slack(mid) > 0:
            safe = mid
        else:
            far = mid
    return far


def _pool_figures(
    asset: str,
    rows: tuple[PositionFigures, ...],
    cross_wallets: Mapping[str, Decimal],
    order_margin: Mapping[str, Decimal],
    exact_maintenance: Decimal,
    exact_pnl: Decimal,
    portfolio: tuple[Decimal, Decimal] | None = None,
) -> PoolFigures:
    """``portfolio``: the portfolio positions' (initial, maintenance) requirement, rounded up."""
    mine = [r for r in rows if r.margin_asset == asset]
    cross = [r for r in mine if r.margin_mode.pooled]
    only_cross = [r for r in cross if r.margin_mode is MarginMode.CROSS]
    wallet = cross_wallets.get(asset, ZERO)
    pnl = sum((r.unrealized_pnl for r in cross), ZERO)
    position_im = sum((r.initial_margin for r in only_cross), ZERO)
    orders_im = order_margin.get(asset, ZERO)
    maintenance = sum((r.maintenance_margin for r in only_cross), ZERO)
    if portfolio is not None:
        position_im += portfolio[0]
        maintenance += portfolio[1]
    balance = wallet + pnl
    used = position_im + orders_im
    available = balance - used
    withdrawable = max(ZERO, min(wallet - orders_im - maintenance, available))
    return PoolFigures(
        asset=asset,
        wallet_balance=wallet,
        unrealized_pnl=pnl,
        margin_balance=balance,
        position_initial_margin=position_im,
        open_order_initial_margin=orders_im,
        maintenance_margin=maintenance,
        margin_ratio=margin_ratio(maintenance, balance),
        margin_level=round_down(balance / used * HUNDRED, LEVEL_PLACES) if used > 0 else None,
        available_balance=available,
        max_withdrawable=withdrawable,
        max_addable_to_isolated=withdrawable,
        isolated_wallet_balance=sum(
            (r.isolated_wallet or ZERO for r in mine if r.isolated_wallet is not None), ZERO
        ),
        liquidatable=is_liquidatable(exact_maintenance, wallet + exact_pnl),
    )

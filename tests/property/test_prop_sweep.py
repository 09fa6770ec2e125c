"""The margin sweep never misses a liquidation: a differential test against the exact path.

Random portfolios — several accounts, one-way and hedge, linear and inverse contracts, cross and
isolated positions, USDT/USDC/BTC margin, catalogue tables of every venue and random tables built
with the cum recurrence, notionals landing exactly on tier caps, prices from 10⁻⁴ to 10⁶ — are
funded so that every pool sits at, just inside or just outside its exact liquidation point
(``W = MM − PnL + δ``, ``δ`` from 0 through ±10⁻¹⁶ of MM to far away). Then:

* every pool that ``Account.figures(..., prices=False)`` finds liquidatable is flagged by
  :meth:`MarginSweep.candidates`, and each flagged pool is confirmed or rejected by
  :func:`confirm` exactly as the exact path says;
* a flagged pool the exact path does not liquidate is within 10⁻¹² of its size of liquidation
  (the sweep's tolerance is about 10⁻¹⁴): false positives are only pools at the edge;
* a symbol's re-check flags exactly the flagged pools holding that symbol;
* on a seeded book of pools spread around their liquidation points, under 1 % of the pools are
  false positives.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prop_support import BINANCE, CATALOGUES, D, prices, quantities, tier_tables

from isocross.catalogue import Catalogue
from isocross.engine import Exchange
from isocross.engine import commands as c
from isocross.margin.position import Position
from isocross.model.enums import ContractType, MarginMode, PositionMode, PositionSide
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO
from isocross.risk.sweep import MarginSweep, confirm

SYMBOLS = list(BINANCE.instruments)
PoolId = tuple[str, str, str | None, PositionSide | None]
"""(account, asset, symbol, side): symbol and side None for a cross pool."""


@dataclass
class Leg:
    symbol: str
    side: PositionSide
    qty: Decimal
    entry: Decimal
    mode: MarginMode


@dataclass
class Portfolio:
    catalogue: Catalogue
    marks: dict[str, Decimal]
    accounts: dict[str, tuple[bool, list[Leg]]]
    offsets: dict[PoolId, Decimal] = field(default_factory=dict)


# ===================================================================== strategies
@st.composite
def catalogues(draw: st.DrawFn) -> Catalogue:
    """Binance's instruments, each keeping its table, taking another venue's or a random one."""
    instruments: dict[str, Instrument] = {}
    for symbol, inst in BINANCE.instruments.items():
        choice = draw(st.sampled_from(["own", "venue", "random"]))
        if choice == "venue":
            others = [c.instruments[symbol] for c in CATALOGUES.values() if symbol in c.instruments]
            inst = inst.with_tiers(draw(st.sampled_from(others)).tiers)
        elif choice == "random":
            inverse = inst.contract_type is ContractType.INVERSE
            inst = inst.with_tiers(draw(tier_tables(D("0.01") if inverse else D(1000))))
        instruments[symbol] = inst
    return Catalogue(BINANCE.venue, BINANCE.assets, instruments, BINANCE.source)


def deltas() -> st.SearchStrategy[Decimal]:
    """How far a pool's wallet sits from its liquidation point, as a fraction of its MM."""
    return st.one_of(
        st.just(ZERO),
        st.builds(
            lambda m, e, s: s * D(m).scaleb(-e),
            st.integers(1, 9),
            st.sampled_from([1, 3, 8, 12, 14, 15, 16, 20]),
            st.sampled_from([1, -1]),
        ),
        st.integers(-5, 5).map(D),
    )


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    cat = draw(catalogues())
    held = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
    marks = {s: draw(prices()) for s in held}
    accounts: dict[str, tuple[bool, list[Leg]]] = {}
    for k in range(draw(st.integers(1, 3))):
        hedge = draw(st.booleans())
        legs: list[Leg] = []
        for symbol in draw(st.lists(st.sampled_from(held), min_size=1, max_size=4, unique=True)):
            inst = cat.instrument(symbol)
            mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]))
            if hedge:
                sides = draw(
                    st.sampled_from(
                        [[PositionSide.LONG], [PositionSide.SHORT], list(PositionSide)[1:]]
                    )
                )
            else:
                sides = [PositionSide.BOTH]
            for side in sides:
                size = draw(quantities(inst))
                if draw(st.integers(0, 4)) == 0 and inst.tiers.caps:
                    # Land exactly on a tier cap: N = |q|·S·P (inverse |q|·CS/P) = cap.
                    cap = draw(st.sampled_from(inst.tiers.caps))
                    with localcontext(CONTEXT):
                        if inst.contract_type is ContractType.INVERSE:
                            marks[symbol] = size * inst.contract_size / cap
                        else:
                            marks[symbol] = cap / (size * inst.contract_size)
                    event("notional on a tier cap")
                short = side is PositionSide.SHORT or (
                    side is PositionSide.BOTH and draw(st.booleans())
                )
                ratio = D(draw(st.integers(200, 1800))) / 1000
                legs.append(Leg(symbol, side, -size if short else size, ratio, mode))
        accounts[f"acct{k}"] = (hedge, legs)
    # Entries relative to the (final) marks.
    for _, legs in accounts.values():
        for leg in legs:
            with localcontext(CONTEXT):
                leg.entry = marks[leg.symbol] * leg.entry
    portfolio = Portfolio(cat, marks, accounts)
    for pool in pool_ids(portfolio):
        portfolio.offsets[pool] = draw(deltas())
    return portfolio


def pool_of(cat: Catalogue, account: str, leg: Leg) -> PoolId:
    asset = cat.instrument(leg.symbol).margin_asset.name
    if leg.mode is MarginMode.ISOLATED:
        return (account, asset, leg.symbol, leg.side)
    return (account, asset, None, None)


def pool_ids(p: Portfolio) -> list[PoolId]:
    out: dict[PoolId, None] = {}
    for account, (_, legs) in p.accounts.items():
        for leg in legs:
            out[pool_of(p.catalogue, account, leg)] = None
    return list(out)


# ===================================================================== building
def exact_terms(p: Portfolio) -> dict[PoolId, tuple[Decimal, Decimal, Decimal]]:
    """Per pool: exact Σ PnL, Σ MM and the size Σ |q|·(|a| + |e|) the sweep's bound uses."""
    out: defaultdict[PoolId, tuple[Decimal, Decimal, Decimal]] = defaultdict(
        lambda: (ZERO, ZERO, ZERO)
    )
    with localcontext(CONTEXT):
        for account, (_, legs) in p.accounts.items():
            for leg in legs:
                inst = p.catalogue.instrument(leg.symbol)
                mark = p.marks[leg.symbol]
                pool = pool_of(p.catalogue, account, leg)
                pnl, mm, size = out[pool]
                if inst.contract_type is ContractType.INVERSE:
                    scale = abs(leg.qty) * inst.contract_size * (1 / mark + 1 / leg.entry)
                else:
                    scale = abs(leg.qty) * inst.contract_size * (mark + leg.entry)
                out[pool] = (
                    pnl + inst.unrealized_pnl(leg.qty, leg.entry, mark),
                    mm + inst.maintenance_margin(leg.qty, mark),
                    size + scale,
                )
    return dict(out)


def build(p: Portfolio) -> tuple[Exchange, dict[PoolId, Decimal]]:
    """The exchange holding ``p``, each pool's wallet ``MM − PnL + δ·MM``; and the wallets."""
    ex = Exchange(p.catalogue)
    terms = exact_terms(p)
    wallets: dict[PoolId, Decimal] = {}
    with localcontext(CONTEXT):
        for pool, (pnl, mm, _) in terms.items():
            wallets[pool] = mm - pnl + p.offsets[pool] * mm
    for account, (hedge, legs) in p.accounts.items():
        assert ex.handle(c.OpenAccount(account, "VIP0")).accepted
        acct = ex.accounts[account]
        if hedge:
            acct.set_position_mode(PositionMode.HEDGE)
        for leg in legs:
            pool = pool_of(p.catalogue, account, leg)
            iso = wallets[pool] if leg.mode is MarginMode.ISOLATED else ZERO
            position = Position(leg.symbol, leg.side, leg.qty, leg.entry, leg.mode, 10)
            acct.restore_position(position, iso)
        for (owner, asset, symbol, _), wallet in wallets.items():
            if owner == account and symbol is None:
                acct.restore_cross_wallet(asset, wallet)
    return ex, wallets


def exact_liquidatable(ex: Exchange, marks: dict[str, Decimal]) -> set[PoolId]:
    out: set[PoolId] = set()
    for account, acct in ex.accounts.items():
        figures = acct.figures(marks, prices=False)
        out |= {(account, a, None, None) for a, pool in figures.pools.items() if pool.liquidatable}
        out |= {
            (account, f.margin_asset, f.symbol, f.side)
            for f in figures.positions
            if f.margin_mode is MarginMode.ISOLATED and f.liquidatable
        }
    return out


# ===================================================================== properties
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios())
def test_the_sweep_never_misses_a_liquidation(p: Portfolio) -> None:
    ex, wallets = build(p)
    sweep = MarginSweep.from_exchange(ex)
    candidates = sweep.candidates(p.marks)
    flagged = {(x.account_id, x.asset, x.symbol, x.position_side) for x in candidates}
    must = exact_liquidatable(ex, p.marks)
    assert must <= flagged
    confirmed = confirm(ex.accounts, candidates, p.marks)
    assert {(x.account_id, x.asset, x.symbol, x.position_side) for x in confirmed} == must
    terms = exact_terms(p)
    with localcontext(CONTEXT):
        for pool in flagged - must:
            pnl, mm, size = terms[pool]
            surplus = wallets[pool] + pnl - mm
            assert surplus <= D("1e-12") * (abs(wallets[pool]) + size), (pool, surplus)
    event(f"liquidatable pools: {min(len(must), 3)}{'+' if len(must) > 3 else ''}")
    event(f"false positives: {len(flagged - must)}")
    for symbol in p.marks:
        holding = {
            pool_of(p.catalogue, account, leg)
            for account, (_, legs) in p.accounts.items()
            for leg in legs
            if leg.symbol == symbol
        }
        rechecked = {
            (x.account_id, x.asset, x.symbol, x.position_side)
            for x in sweep.candidates(p.marks, symbol)
        }
        assert rechecked == flagged & holding


def test_false_positives_are_rare_on_random_books() -> None:
    """500 accounts, 1–4 positions each (random symbols, modes, sizes, entries within ±30 %),
    wallets spread from 50 % short of the liquidation point to 50 % beyond it, a tenth of them
    exactly on it: the sweep flags every liquidatable pool and under 1 % of pools besides."""
    rng = random.Random(11)
    cat = BINANCE
    marks = {s: D(rng.randint(1, 100_000)) for s in SYMBOLS}
    accounts: dict[str, tuple[bool, list[Leg]]] = {}
    for k in range(500):
        legs = []
        for symbol in rng.sample(SYMBOLS, rng.randint(1, 4)):
            inst = cat.instrument(symbol)
            with localcontext(CONTEXT):
                usd = D(rng.randint(10, 2_000_000))
                size = usd / inst.contract_size
                if inst.contract_type is not ContractType.INVERSE:
                    size = (size / marks[symbol]).quantize(D("0.001")) or D("0.001")
                else:
                    size = size.quantize(D(1)) or D(1)
                entry = marks[symbol] * D(rng.randint(700, 1300)) / 1000
            mode = rng.choice([MarginMode.CROSS, MarginMode.ISOLATED])
            qty = size * rng.choice([1, -1])
            legs.append(Leg(symbol, PositionSide.BOTH, qty, entry, mode))
        accounts[f"a{k}"] = (False, legs)
    p = Portfolio(cat, marks, accounts)
    for pool in pool_ids(p):
        p.offsets[pool] = ZERO if rng.random() < 0.1 else D(rng.randint(-500, 500)) / 1000
    ex, _ = build(p)
    sweep = MarginSweep.from_exchange(ex)
    flagged = {(x.account_id, x.asset, x.symbol, x.position_side) for x in sweep.candidates(marks)}
    must = exact_liquidatable(ex, marks)
    assert must <= flagged
    assert len(must) > 100
    assert len(flagged - must) <= 0.01 * len(p.offsets)

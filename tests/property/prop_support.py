"""Strategies and exact helpers shared by the property tests (not a test module).

Everything is computed at the core's precision (:data:`isocross.model.money.CONTEXT`, 50
significant digits), so the tolerances in the tests are about the solver, not about floats.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal, localcontext
from typing import ParamSpec, TypeVar

from hypothesis import strategies as st

from isocross.catalogue import Catalogue, load_catalogue, venues
from isocross.margin.liquidation import Leg
from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument, Tier, TierTable, derive_cum
from isocross.model.money import CONTEXT, ZERO, exponent, round_down

D = Decimal
P = ParamSpec("P")
R = TypeVar("R")

BINANCE = load_catalogue("binance")
CATALOGUES: dict[str, Catalogue] = {venue: load_catalogue(venue) for venue in venues()}
CATALOGUE_INSTRUMENTS: list[Instrument] = [
    inst for cat in CATALOGUES.values() for inst in cat.instruments.values()
]
LINEAR_BASES = [BINANCE.instrument(s) for s in ("BTCUSDT", "SOLUSDT", "XRPUSDT", "BTCUSDC")]
INVERSE_BASE = BINANCE.instrument("BTCUSD_PERP")

assert any(i.contract_type is ContractType.INVERSE for i in CATALOGUE_INSTRUMENTS)
assert any(len(i.tiers.tiers) == 1 for i in CATALOGUE_INSTRUMENTS)


def is_inverse(inst: Instrument) -> bool:
    return inst.contract_type is ContractType.INVERSE


def scaled(mantissa_max: int, exp_min: int, exp_max: int) -> st.SearchStrategy[Decimal]:
    """Positive decimals ``m·10^e`` spread over many orders of magnitude."""
    return st.builds(
        lambda m, e: D(m).scaleb(e),
        st.integers(1, mantissa_max),
        st.integers(exp_min, exp_max),
    )


@st.composite
def tier_tables(draw: st.DrawFn, unit: Decimal) -> TierTable:
    """A valid random tier table whose cum follows the recurrence (``derive_cum``).

    ``unit`` scales the floors (USDT-like for linear, BTC-like for inverse contracts).
    """
    n = draw(st.integers(1, 6))
    steps = draw(st.lists(st.integers(1, 10**6), min_size=n - 1, max_size=n - 1, unique=True))
    floors = [ZERO, *(D(s) * unit for s in sorted(steps))]
    rates = [
        D(r) / 10_000 for r in sorted(draw(st.lists(st.integers(1, 4999), min_size=n, max_size=n)))
    ]
    levs = sorted(draw(st.lists(st.integers(1, 125), min_size=n, max_size=n)), reverse=True)
    last_cap: Decimal | None = None
    if draw(st.booleans()):
        last_cap = floors[-1] + D(draw(st.integers(1, 10**6))) * unit
    caps: list[Decimal | None] = [*floors[1:], last_cap]
    cums = derive_cum(floors, rates)
    tiers = [Tier(floors[k], caps[k], levs[k], rates[k], cums[k]) for k in range(n)]
    return TierTable.of(tiers)


@st.composite
def instruments(draw: st.DrawFn, *, kind: str | None = None) -> Instrument:
    """A catalogue instrument (any venue) or a real one with a random derived tier table.

    ``kind`` restricts to ``"linear"`` or ``"inverse"``.
    """
    pool = CATALOGUE_INSTRUMENTS
    if kind is not None:
        pool = [i for i in pool if i.contract_type.value == kind]
    if draw(st.booleans()):
        return draw(st.sampled_from(pool))
    if kind == "inverse" or (kind is None and draw(st.booleans())):
        return INVERSE_BASE.with_tiers(draw(tier_tables(D("0.01"))))
    base = draw(st.sampled_from(LINEAR_BASES))
    return base.with_tiers(draw(tier_tables(D(1000))))


def prices() -> st.SearchStrategy[Decimal]:
    """Prices from 0.0001 to ~10^6."""
    return scaled(999_999, -4, 0)


def quantities(inst: Instrument) -> st.SearchStrategy[Decimal]:
    """Positive sizes: whole contracts for inverse, 0.001 … ~10^7 base units for linear."""
    if is_inverse(inst):
        return scaled(9_999, 0, 3)
    return scaled(9_999, -3, 3)


def ratio_of(value: Decimal, k: int, per: int = 1000) -> Decimal:
    with localcontext(CONTEXT):
        return value * k / per


def money(inst: Instrument, value: Decimal) -> Decimal:
    """``value`` rounded down to the margin asset's precision."""
    with localcontext(CONTEXT):
        return round_down(value, exponent(inst.margin_asset.precision))


def equity_and_mm(
    inst: Instrument,
    legs: Sequence[Leg],
    wallet: Decimal,
    price: Decimal,
    *,
    other_pnl: Decimal = ZERO,
    other_mm: Decimal = ZERO,
) -> tuple[Decimal, Decimal]:
    """Margin balance and maintenance of ``legs`` valued at ``price`` (exact, 50 digits)."""
    with localcontext(CONTEXT):
        equity = wallet + other_pnl
        mm = other_mm
        for leg in legs:
            equity += inst.unrealized_pnl(leg.qty, leg.entry_price, price)
            mm += inst.maintenance_margin(leg.qty, price)
        return equity, mm


def slack(
    inst: Instrument,
    legs: Sequence[Leg],
    wallet: Decimal,
    price: Decimal,
    *,
    other_pnl: Decimal = ZERO,
    other_mm: Decimal = ZERO,
) -> Decimal:
    """Margin balance minus maintenance: positive healthy, zero at the liquidation price."""
    equity, mm = equity_and_mm(inst, legs, wallet, price, other_pnl=other_pnl, other_mm=other_mm)
    with localcontext(CONTEXT):
        return equity - mm


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def catalogue_with(instrument: Instrument) -> Catalogue:
    """The Binance catalogue with ``instrument`` replacing the one of the same symbol."""
    return replace(BINANCE, instruments={**BINANCE.instruments, instrument.symbol: instrument})


def exact(test: Callable[P, R]) -> Callable[P, R]:
    """Run ``test`` at the core's 50-digit precision (also outside pytest's autouse fixture)."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with localcontext(CONTEXT):
            return test(*args, **kwargs)

    return run

"""Liquidation and bankruptcy prices, solved exactly across tier boundaries.

The liquidation price of the legs of one symbol is the price ``P`` at which the equity backing
them equals their maintenance requirement, everything else held at mark:

    WB + UPNL₁ + Σ_legs PnL_i(P) = TMM₁ + Σ_legs (N_i(P)·mmr_i − cum_i)

(Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"; ``WB`` is the
cross wallet or the isolated wallet, ``TMM₁``/``UPNL₁`` the maintenance margin and PnL of the
pool's other positions, zero for isolated). Within a segment of prices where every leg stays in
one tier this is linear in ``P`` (linear contracts) or in ``1/P`` (inverse), with the closed forms

    linear:  P = (A + Σcum − S·Σq·EP) / (S·(Σ|q|·mmr − Σq))
    inverse: P = S·(Σ|q|·mmr + Σq) / (A + Σcum + S·Σq/EP)

where ``A = WB + UPNL₁ − TMM₁`` and ``S`` the contract size. Binance's rule — "use the tier in
which the notional at the liquidation price falls; if it differs, recompute" — is applied exactly
by solving every segment between tier boundaries and keeping the roots that fall inside their own
segment; when several exist (hedged legs) the one nearest the mark is the one the market reaches
first. A single leg makes the equation monotone in ``P``, so a root found inside its own tier
is the only one: that case first walks from the tier at mark (Binance's recompute rule, a few
steps at most) and enumerates segments only if the walk does not settle.

The bankruptcy price solves the same equation with no maintenance requirement (equity = 0).
A price that does not exist (fully collateralized) is ``None``, never a negative number. Beyond
the last tier's cap the last tier's rate keeps applying: a position opened inside the table can be
pushed past it by the price (a short's linear notional, a long's inverse one), and its
liquidation price is still reported there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument, Tier
from isocross.model.money import CONTEXT, ZERO


@dataclass(frozen=True, slots=True)
class Leg:
    """A position leg of the symbol being priced: signed quantity and entry price."""

    qty: Decimal
    entry_price: Decimal


def _solve_segment(
    instrument: Instrument, legs: Sequence[Leg], tiers: Sequence[Tier | None], base: Decimal
) -> Decimal | None:
    """Closed-form root for fixed tiers (``None`` tier: no maintenance, for bankruptcy)."""
    size = instrument.contract_size
    sum_q = sum((leg.qty for leg in legs), ZERO)
    rate = sum((abs(leg.qty) * t.mmr for leg, t in zip(legs, tiers, strict=True) if t), ZERO)
    cum = sum((t.cum for t in tiers if t), ZERO)
    if instrument.contract_type is ContractType.INVERSE:
        num = size * (rate + sum_q)
        den = base + cum + size * sum((leg.qty / leg.entry_price for leg in legs), ZERO)
    else:
        num = base + cum - size * sum((leg.qty * leg.entry_price for leg in legs), ZERO)
        den = size * (rate - sum_q)
    if den == 0:
        return None
    price = num / den
    return price if price > 0 else None


def _breakpoints(instrument: Instrument, legs: Sequence[Leg]) -> list[Decimal]:
    """Prices at which some leg's notional crosses a tier floor."""
    points: set[Decimal] = set()
    size = instrument.contract_size
    for leg in legs:
        q = abs(leg.qty)
        for tier in instrument.tiers.tiers[1:]:
            if instrument.contract_type is ContractType.INVERSE:
                points.add(q * size / tier.floor)
            else:
                points.add(tier.floor / (q * size))
    return sorted(points)


def liquidation_price(
    instrument: Instrument,
    legs: Sequence[Leg],
    wallet: Decimal,
    *,
    mark: Decimal,
    other_pnl: Decimal = ZERO,
    other_maintenance: Decimal = ZERO,
) -> Decimal | None:
    """Price at which ``legs`` (one symbol) are liquidated; unrounded, ``None`` if unreachable.

    ``wallet`` is the cross wallet (with the pool's other positions' PnL and maintenance given
    as ``other_pnl`` / ``other_maintenance``) or the isolated wallet (both zero).
    """
    legs = [leg for leg in legs if leg.qty != 0]
    if not legs:
        return None
    with localcontext(CONTEXT):
        base = wallet + other_pnl - other_maintenance
        if len(legs) == 1:
            found = _walk_tiers(instrument, legs[0], base, mark)
            if found is not None:
                return found
        bounds = [ZERO, *_breakpoints(instrument, legs)]
        roots: list[Decimal] = []
        for i, low in enumerate(bounds):
            high = bounds[i + 1] if i + 1 < len(bounds) else None
            probe = (low + high) / 2 if high is not None else low * 2 + 1
            tiers = [instrument.tiers.tier_for(instrument.notional(leg.qty, probe)) for leg in legs]
            root = _solve_segment(instrument, legs, tiers, base)
            if root is not None and low <= root and (high is None or root <= high):
                roots.append(root)
        if not roots:
            return None
        return min(roots, key=lambda p: abs(p - mark))


def _walk_tiers(instrument: Instrument, leg: Leg, base: Decimal, mark: Decimal) -> Decimal | None:
    """Single-leg fast path: the root once it lies in the tier it was solved with; ``None``
    when the walk does not settle (the caller then enumerates every segment)."""
    tiers = instrument.tiers
    tier = tiers.tier_for(instrument.notional(leg.qty, mark))
    for _ in range(len(tiers.tiers)):
        root = _solve_segment(instrument, [leg], [tier], base)
        if root is None:
            return None  # no positive root with this tier: let the enumeration decide
        settled = tiers.tier_for(instrument.notional(leg.qty, root))
        if settled == tier:
            return root
        tier = settled
    return None


def bankruptcy_price(
    instrument: Instrument, legs: Sequence[Leg], wallet: Decimal, *, other_pnl: Decimal = ZERO
) -> Decimal | None:
    """Price at which the equity backing ``legs`` reaches exactly zero; ``None`` if never."""
    legs = [leg for leg in legs if leg.qty != 0]
    if not legs:
        return None
    with localcontext(CONTEXT):
        return _solve_segment(instrument, legs, [None] * len(legs), wallet + other_pnl)

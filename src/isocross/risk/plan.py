"""What a liquidation does to a pool: the bankruptcy price of each of its positions and how much
a partial liquidation closes. Pure functions over exact (unrounded) figures.

Bankruptcy prices of a pool (Binance closes a liquidated pool at the bankruptcy price, faq
360033525271): the pool's equity ``E = WB + Σ UPNL`` is shared among its positions in proportion
to their maintenance margin, ``eᵢ = E·MMᵢ/MM``, and position *i* is bankrupt at the price where
its PnL has fallen by ``eᵢ`` from mark ``m``:

* linear ``q·S·(bᵢ − m) = −eᵢ``  →  ``bᵢ = m − eᵢ/(q·S)``;
* inverse ``q·CS·(1/m − 1/bᵢ) = −eᵢ``  →  ``1/bᵢ = 1/m + eᵢ/(q·CS)`` (none if that is ≤ 0).

Closing every position at its ``bᵢ`` leaves the pool at exactly zero; with ``E < 0`` (the price
gapped through bankruptcy) each ``bᵢ`` lies beyond mark and the insurance fund absorbs ``|E|``.
For a single isolated position this is its ordinary bankruptcy price.

Partial size (``restore``): closing ``x`` of a position at mark leaves the margin balance less
the clearance fee, ``MB − r·N(x)``, against the requirement ``MM − MMᵖ(q) + MMᵖ(q − x)``; the
pool is compliant when the balance exceeds the requirement. As tiers step down with the size,
``f(x) = MB − r·N(x) − MM(x)`` is concave in ``x``: it rises while the remaining tier's MMR
exceeds ``r`` and falls after; the smallest compliant ``x`` is found by binary search on the
rising part. If none exists (an MMR below the fee rate: "small positions are almost always fully
liquidated", Binance), the pool is liquidated in full.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO


@dataclass(frozen=True, slots=True)
class PoolLeg:
    """One position of a pool at mark, with exact (unrounded) figures."""

    instrument: Instrument
    qty: Decimal
    mark: Decimal
    maintenance: Decimal
    pnl: Decimal


def bankruptcy_prices(legs: Sequence[PoolLeg], wallet: Decimal) -> list[Decimal | None]:
    """Each leg's bankruptcy price when the pool's equity is shared by maintenance margin."""
    equity = wallet + sum((leg.pnl for leg in legs), ZERO)
    total_mm = sum((leg.maintenance for leg in legs), ZERO)
    total_n = sum((leg.instrument.notional(leg.qty, leg.mark) for leg in legs), ZERO)
    out: list[Decimal | None] = []
    for leg in legs:
        if total_mm > 0:
            share = equity * leg.maintenance / total_mm
        else:
            share = equity * leg.instrument.notional(leg.qty, leg.mark) / total_n
        out.append(price_after_loss(leg.instrument, leg.qty, leg.mark, share))
    return out


def price_after_loss(
    inst: Instrument, qty: Decimal, mark: Decimal, loss: Decimal
) -> Decimal | None:
    """The price at which a position of ``qty`` has lost ``loss`` more than at ``mark``."""
    size = inst.contract_size
    if inst.contract_type is ContractType.LINEAR:
        price = mark - loss / (qty * size)
        return price if price > 0 else None
    inverse = 1 / mark + loss / (qty * size)
    return 1 / inverse if inverse > 0 else None


def order_price(inst: Instrument, qty: Decimal, price: Decimal | None) -> Decimal:
    """A liquidation order's limit: the bankruptcy price on the tick grid, rounded in the
    trader's favour (a long is sold at or above it, a short bought at or below it)."""
    tick = inst.tick_size
    if price is None:  # never bankrupt: sell at any positive price / buy at the band
        return tick if qty > 0 else Decimal(10) ** 18
    rounding = ROUND_CEILING if qty > 0 else ROUND_FLOOR
    ticks = (price / tick).to_integral_value(rounding=rounding)
    return max(ticks, Decimal(1)) * tick


def restore_size(
    leg: PoolLeg,
    balance: Decimal,
    maintenance: Decimal,
    fee_rate: Decimal,
    *,
    target_ratio: Decimal = Decimal(1),
    requirement_after: Callable[[Decimal], Decimal] | None = None,
) -> Decimal | None:
    """The smallest quantity (a multiple of the step) of ``leg`` whose close at mark, after the
    clearance fee, brings the pool to ``MM < target_ratio × MB``; ``None`` if no close of this
    leg does. (All of it, when the pool has no other leg, is a full liquidation.)"""
    inst = leg.instrument
    lots = int(abs(leg.qty) / inst.step_size)
    sign = 1 if leg.qty > 0 else -1
    other_mm = maintenance - leg.maintenance

    def after(rest: Decimal) -> Decimal:
        if requirement_after is not None:
            return requirement_after(rest)
        return other_mm + (inst.maintenance_margin(rest, leg.mark) if rest else ZERO)

    def slack(k: int) -> Decimal:
        closed = k * inst.step_size
        rest = (abs(leg.qty) - closed) * sign
        after_mm = after(rest)
        after_mb = balance - fee_rate * inst.notional(closed, leg.mark)
        return target_ratio * after_mb - after_mm

    peak = _last_rising(slack, lots)
    if slack(peak) <= 0:
        return None
    lo, hi = 0, peak  # slack(lo) may be ≤ 0, slack(hi) > 0
    if slack(0) > 0:
        return ZERO
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if slack(mid) > 0:
            hi = mid
        else:
            lo = mid
    return hi * inst.step_size


def _last_rising(f: Callable[[int], Decimal], n: int) -> int:
    """The argmax of a concave ``f`` on ``0..n`` (binary search on the sign of the step)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if f(mid + 1) > f(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def ladder_size(
    leg: PoolLeg,
    balance: Decimal,
    maintenance: Decimal,
    fee_rate: Decimal,
    *,
    requirement_after: Callable[[Decimal], Decimal] | None = None,
) -> Decimal | None:
    """Bybit's step-down: close down to the cap of each lower tier in turn until the pool is
    compliant after the fee; ``None`` at the lowest tier (take it all)."""
    inst = leg.instrument
    tiers = inst.tiers.tiers
    index = inst.tiers.index_for(inst.notional(leg.qty, leg.mark))
    other_mm = maintenance - leg.maintenance
    sign = 1 if leg.qty > 0 else -1
    while index > 0:
        cap = tiers[index - 1].cap
        assert cap is not None
        if inst.contract_type is ContractType.LINEAR:
            keep = cap / (leg.mark * inst.contract_size)
        else:
            keep = cap * leg.mark / inst.contract_size
        keep_lots = (keep / inst.step_size).to_integral_value(rounding=ROUND_FLOOR)
        rest = min(abs(leg.qty), keep_lots * inst.step_size)
        closed = abs(leg.qty) - rest
        if requirement_after is not None:
            after_mm = requirement_after(rest * sign)
        else:
            after_mm = other_mm + (inst.maintenance_margin(rest * sign, leg.mark) if rest else ZERO)
        after_mb = balance - fee_rate * inst.notional(closed, leg.mark)
        if rest > 0 and after_mb > after_mm:
            return closed
        index -= 1
    return None

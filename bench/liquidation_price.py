"""Benchmark: exact liquidation prices across tier boundaries.

Measures the segment solver (:func:`isocross.margin.liquidation.liquidation_price`, every tier
segment solved, roots checked against their own tier) against the baseline most bots use:
Binance's closed form with the tier at mark, re-solved while the tier at the answer differs
(the FAQ's "recompute" rule, iterated). Both are exact Decimal; the two must agree on every case.

    python bench/liquidation_price.py [--quick]

Last line: ``liquidation_price: N prices/s (baseline: M prices/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal, localcontext

from isocross.catalogue import load_catalogue
from isocross.margin.liquidation import Leg, liquidation_price
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT


def iterative(inst: Instrument, leg: Leg, wallet: Decimal, mark: Decimal) -> Decimal | None:
    """Baseline: tier at mark, closed form, recompute with the tier at the answer until stable."""
    with localcontext(CONTEXT):
        q, ep, s = abs(leg.qty), leg.entry_price, (1 if leg.qty > 0 else -1)
        tier = inst.tiers.tier_for(q * mark)
        for _ in range(len(inst.tiers.tiers)):
            price = (wallet + tier.cum - s * q * ep) / (q * tier.mmr - s * q)
            if price <= 0:
                return None
            again = inst.tiers.tier_for(q * price)
            if again == tier:
                return price
            tier = again
        return price


def cases(n: int) -> list[tuple[Instrument, Leg, Decimal, Decimal]]:
    rng = random.Random(7)
    inst = load_catalogue().instrument("BTCUSDT")
    out = []
    for _ in range(n):
        mark = Decimal(rng.randint(20_000, 120_000))
        qty = Decimal(rng.randint(1, 400_000)) / 1000 * rng.choice((1, -1))
        leverage = rng.choice((2, 5, 10, 20, 50))
        wallet = (abs(qty) * mark / leverage).quantize(Decimal("0.01"))
        out.append((inst, Leg(qty, mark), wallet, mark))
    return out


def rate(fn: object, work: list[tuple[Instrument, Leg, Decimal, Decimal]], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for inst, leg, wallet, mark in work:
            fn(inst, leg, wallet, mark)  # type: ignore[operator]
        done += len(work)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of ~30")
    args = parser.parse_args()
    seconds = 2.0 if args.quick else 15.0
    work = cases(500)

    def exact(inst: Instrument, leg: Leg, wallet: Decimal, mark: Decimal) -> Decimal | None:
        return liquidation_price(inst, [leg], wallet, mark=mark)

    disagreements = sum(1 for c in work if exact(*c) != iterative(*c))
    ours = rate(exact, work, seconds)
    base = rate(iterative, work, seconds)
    print(
        f"cases: {len(work)} BTCUSDT positions, 1 BTC..400 BTC, 2x..50x; "
        f"answers that differ between the two: {disagreements}"
    )
    print(
        f"liquidation_price: {ours:,.0f} prices/s "
        f"(baseline: {base:,.0f} prices/s, ratio: {ours / base:.2f}×)"
    )


if __name__ == "__main__":
    main()

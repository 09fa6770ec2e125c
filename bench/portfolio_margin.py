"""Benchmark: portfolio-margin requirements of 50-position accounts over the full scenario grid.

Each account holds 50 linear positions (long and short, tiers 1–4) spread over 12 underlyings —
copies of the catalogue's USDT perpetuals renamed ``U00USDT`` … so correlation and hedges across
units matter. The shipped parameters (``catalogue/portfolio_margin.json``): 4 grid levels and the
extreme level, each with the market up and down, and three idiosyncratic moves per underlying.

Measured in the same run, on the same accounts:

* **vectorized** — :func:`isocross.margin.portfolio.requirements_vectorized` over the whole batch
  (NumPy float64; the positions' arrays built once beforehand, their build time reported apart);
* **baseline** — the per-scenario Python loop: for every account, every level, every underlying
  and every idiosyncratic move, sum the positions' float losses (the same model, no NumPy);
* **exact** — :func:`isocross.margin.portfolio.requirement` per account (Decimal, 50 digits: the
  reference the other two are checked against, relative 1e-9).

    python bench/portfolio_margin.py [--quick]

Last line: ``portfolio_margin: N accounts/s (baseline: M accounts/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

import numpy as np

from isocross.catalogue import load_catalogue
from isocross.margin.portfolio import (
    PortfolioArrays,
    PortfolioLeg,
    PortfolioParams,
    portfolio_params,
    requirement,
    requirements_vectorized,
)
from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument

POSITIONS = 50
UNDERLYINGS = 12
CATALOGUE = load_catalogue()
TEMPLATES = [CATALOGUE.instrument(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")]
MARKS = {"BTCUSDT": 60_000, "ETHUSDT": 3_000, "SOLUSDT": 150, "XRPUSDT": 0.6}


def universe() -> list[tuple[Instrument, Decimal]]:
    """``UNDERLYINGS`` instruments (each a renamed catalogue perpetual) with their marks."""
    out = []
    for i in range(UNDERLYINGS):
        base = TEMPLATES[i % len(TEMPLATES)]
        inst = replace(base, symbol=f"U{i:02d}USDT", base_asset=f"U{i:02d}")
        mark = Decimal(str(MARKS[base.symbol])) * (1 + Decimal(i) / 100)
        out.append((inst, mark))
    return out


def accounts(n: int, seed: int = 11) -> list[list[PortfolioLeg]]:
    """``n`` accounts of ``POSITIONS`` positions, notionals 1,000 … 2,000,000 (log-uniform)."""
    rng = random.Random(seed)
    names = universe()
    out = []
    for _ in range(n):
        legs = []
        for _ in range(POSITIONS):
            inst, mark = rng.choice(names)
            notional = Decimal(str(round(10 ** rng.uniform(3, 6.3), 2)))
            lots = max(1, int(notional / (mark * inst.step_size)))
            qty = lots * inst.step_size * rng.choice((1, -1))
            legs.append(PortfolioLeg(inst, qty, mark, mark))
        out.append(legs)
    return out


# ===================================================================== baseline
Row = tuple[str, bool, float, float, float, float, float]
"""unit, linear, qty, size, mark, tier MMR, correlation (floats, prepared once)."""


def rows_of(legs: Sequence[PortfolioLeg], params: PortfolioParams) -> list[Row]:
    out = []
    for leg in legs:
        inst = leg.instrument
        mmr = inst.tiers.tier_for(inst.notional(leg.qty, leg.mark)).mmr
        out.append(
            (
                inst.base_asset,
                inst.contract_type is ContractType.LINEAR,
                float(leg.qty),
                float(inst.contract_size),
                float(leg.mark),
                float(mmr),
                float(params.correlation_of(inst.base_asset)),
            )
        )
    return out


def loop_requirement(rows: Sequence[Row], params: PortfolioParams) -> float:
    """The per-scenario Python loop: every level, every unit, every idiosyncratic move."""
    units: dict[str, list[Row]] = {}
    for row in rows:
        if row[2] != 0:
            units.setdefault(row[0], []).append(row)
    delta = {u: float(params.shock_multiplier) * max(r[5] for r in rs) for u, rs in units.items()}
    weight = float(params.extreme_weight)
    grid = extreme = 0.0
    for kind, level_d, factor in params.levels():
        level = float(level_d)
        total = 0.0
        for u, rs in units.items():
            c = rs[0][6]
            best = -float("inf")
            for e in (-1.0, 0.0, 1.0):
                move = delta[u] * level * (c * factor + (1 - c) * e)
                if move <= -1:
                    continue
                loss = 0.0
                for _, linear, qty, size, mark, _, _ in rs:
                    if linear:
                        loss -= qty * size * mark * move
                    else:
                        loss -= qty * size * (1 / mark - 1 / (mark * (1 + move)))
                best = max(best, loss)
            total += best if best != -float("inf") else 0.0
        if kind == "extreme":
            extreme = max(extreme, total * weight)
        else:
            grid = max(grid, total)
    minimum = concentration = 0.0
    gross: dict[str, float] = {}
    for u, linear, qty, size, mark, _, _ in rows:
        notional = abs(qty) * size * mark if linear else abs(qty) * size / mark
        minimum += notional * float(params.minimum_rate)
        gross[u] = gross.get(u, 0.0) + notional
    threshold = float(params.concentration_threshold)
    for g in gross.values():
        concentration += max(0.0, g - threshold) * float(params.concentration_rate)
    return max(grid, extreme, minimum) + concentration


# ===================================================================== vectorized input
def arrays_of(batch: Sequence[Sequence[PortfolioLeg]], params: PortfolioParams) -> PortfolioArrays:
    unit_index: dict[str, int] = {}
    cols: list[list[float | int | bool]] = [[] for _ in range(8)]
    for a, legs in enumerate(batch):
        for row in rows_of(legs, params):
            u = unit_index.setdefault(row[0], len(unit_index))
            for col, value in zip(cols, (a, u, *row[1:]), strict=True):
                col.append(value)
    return PortfolioArrays(
        account=np.array(cols[0], dtype=np.int64),
        unit=np.array(cols[1], dtype=np.int64),
        linear=np.array(cols[2], dtype=np.bool_),
        qty=np.array(cols[3], dtype=np.float64),
        size=np.array(cols[4], dtype=np.float64),
        mark=np.array(cols[5], dtype=np.float64),
        mmr=np.array(cols[6], dtype=np.float64),
        corr=np.array(cols[7], dtype=np.float64),
        accounts=len(batch),
    )


def rate(run: Callable[[], int], seconds: float) -> float:
    """Accounts per second: repeat ``run`` (returns accounts done) for at least ``seconds``."""
    done, start = 0, time.perf_counter()
    while True:
        done += run()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="well under a minute")
    args = parser.parse_args()
    params = portfolio_params()
    n_batch = 500 if args.quick else 4000
    seconds = 2.0 if args.quick else 10.0
    batch = accounts(n_batch)
    start = time.perf_counter()
    rows = [rows_of(legs, params) for legs in batch]
    arrays = arrays_of(batch, params)
    build = time.perf_counter() - start

    # Agreement on a sample (the exact path is slow): vectorized and loop against Decimal.
    sample = range(0, n_batch, max(1, n_batch // 50))
    vec = requirements_vectorized(arrays, params)
    worst_vec = worst_loop = 0.0
    for i in sample:
        want = float(requirement(batch[i], params).maintenance)
        worst_vec = max(worst_vec, abs(vec[i] - want) / want)
        worst_loop = max(worst_loop, abs(loop_requirement(rows[i], params) - want) / want)
    assert worst_vec < 1e-9, worst_vec
    assert worst_loop < 1e-9, worst_loop

    def vectorized() -> int:
        requirements_vectorized(arrays, params)
        return n_batch

    cursor = [0]

    def one_by_one(fn: Callable[[int], object]) -> Callable[[], int]:
        def run() -> int:
            fn(cursor[0] % n_batch)
            cursor[0] += 1
            return 1

        return run

    ours = rate(vectorized, seconds)
    base = rate(one_by_one(lambda i: loop_requirement(rows[i], params)), seconds)
    exact = rate(one_by_one(lambda i: requirement(batch[i], params)), seconds / 2)
    levels = len(params.levels())
    print(
        f"accounts: {n_batch:,} × {POSITIONS} linear positions over {UNDERLYINGS} underlyings; "
        f"{levels} market levels × 3 idiosyncratic moves per underlying "
        f"(≡ {levels}·3^{UNDERLYINGS} = {levels * 3**UNDERLYINGS:,} joint scenarios per account)"
    )
    print(
        f"agreement with the exact Decimal requirement on {len(sample)} accounts: "
        f"vectorized max rel. error {worst_vec:.1e}, loop {worst_loop:.1e}"
    )
    print(
        f"arrays and float rows built once in {build:.2f} s "
        f"({n_batch / build:,.0f} accounts/s, not in the timings below)"
    )
    print(
        f"exact Decimal requirement(): {exact:,.0f} accounts/s; "
        f"vectorized batch of {n_batch:,}: {n_batch / ours * 1e3:,.1f} ms"
    )
    print(
        f"portfolio_margin: {ours:,.0f} accounts/s "
        f"(baseline: {base:,.0f} accounts/s, ratio: {ours / base:.2f}×)"
    )


if __name__ == "__main__":
    main()

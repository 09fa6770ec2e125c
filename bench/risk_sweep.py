"""Benchmark: the margin sweep (every account re-checked at new marks) against a Python loop.

A seeded book of random accounts, 10 positions each, over 500 symbols whose tier tables are the
catalogue's (every venue's tables, cycled; linear and inverse, USDT/USDC/BTC margined), 20 % of
positions isolated, cross wallets and isolated margins drawn around 2×–20× leverage, entries a few
percent from mark (about 1 % of pools end up flagged). One symbol is held by only 100 accounts.

Timed, on one core, median of several runs after the JIT warm-up:

* the full sweep (:meth:`isocross.risk.sweep.MarginSweep.flagged`): every pool of every
  account, float64 with the proven error bound;
* the re-check of one symbol's tick with few holders, and with a typical number of holders;
* the baseline: a straightforward per-object Python loop over the same data (each account an
  object holding position objects, float arithmetic, ``bisect`` on the tier caps). It is timed
  on a sample of accounts and scaled to positions/s; it must flag a subset of what the sweep
  flags (the sweep adds its error tolerance).

    python bench/risk_sweep.py [--quick]

Last line: ``risk_sweep: N M positions/s (baseline: M M positions/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from isocross.catalogue import load_catalogue, venues
from isocross.model.enums import ContractType
from isocross.model.instrument import Instrument
from isocross.risk.sweep import MarginSweep

POSITIONS_PER_ACCOUNT = 10
RARE_HOLDERS = 100
LEVERAGES = np.array([2.0, 3.0, 5.0, 10.0, 20.0])


def instruments(n: int) -> list[Instrument]:
    """``n`` symbols cycling through every venue's catalogue instruments (their tier tables)."""
    templates = [i for v in venues() for i in load_catalogue(v).instruments.values()]
    return [replace(templates[k % len(templates)], symbol=f"S{k:03d}") for k in range(n)]


@dataclass
class Book:
    insts: list[Instrument]
    marks: NDArray[np.float64]
    offsets: NDArray[np.int64]
    symbol: NDArray[np.int32]
    qty: NDArray[np.float64]
    entry: NDArray[np.float64]
    isolated: NDArray[np.bool_]
    isolated_wallet: NDArray[np.float64]
    cross_wallet: dict[str, NDArray[np.float64]]


def book(n_accounts: int, n_symbols: int, seed: int = 7) -> Book:
    rng = np.random.default_rng(seed)
    insts = instruments(n_symbols)
    inverse = np.array([i.contract_type is ContractType.INVERSE for i in insts])
    size = np.array([float(i.contract_size) for i in insts])
    marks = np.exp(rng.uniform(np.log(0.5), np.log(100_000.0), n_symbols))
    k = POSITIONS_PER_ACCOUNT
    n = n_accounts * k
    # Ten distinct symbols per account: an arithmetic progression modulo a prime (499).
    common = n_symbols - 1
    start = rng.integers(0, common, n_accounts)
    step = rng.integers(1, common, n_accounts)
    sym = ((start[:, None] + step[:, None] * np.arange(k)) % common).astype(np.int32)
    rare = rng.choice(n_accounts, RARE_HOLDERS, replace=False)
    sym[rare, 0] = common  # the last symbol: held by few
    sym = sym.ravel()
    price = marks[sym]
    usd = np.exp(rng.uniform(np.log(20.0), np.log(2_000_000.0), n))  # position size in USD
    side = rng.choice((-1.0, 1.0), n)
    inv = inverse[sym]
    contracts = np.where(inv, np.maximum(1.0, np.round(usd / size[sym])), usd / (size[sym] * price))
    qty = side * contracts
    entry = price * np.exp(rng.normal(0.0, 0.02, n))
    notional = np.where(inv, contracts * size[sym] / entry, contracts * size[sym] * entry)
    margin = notional / rng.choice(LEVERAGES, n)
    isolated = rng.random(n) < 0.2
    isolated_wallet = np.where(isolated, margin, 0.0)
    account = np.repeat(np.arange(n_accounts), k)
    assets = sorted({i.margin_asset.name for i in insts})
    sym_asset = np.array([assets.index(i.margin_asset.name) for i in insts])
    cross_wallet: dict[str, NDArray[np.float64]] = {}
    for a, name in enumerate(assets):
        mine = (~isolated) & (sym_asset[sym] == a)
        need = np.bincount(account[mine], weights=margin[mine], minlength=n_accounts)
        cross_wallet[name] = need * rng.uniform(0.5, 2.0, n_accounts)
    offsets = np.arange(0, n + 1, k, dtype=np.int64)
    return Book(insts, marks, offsets, sym, qty, entry, isolated, isolated_wallet, cross_wallet)


# ------------------------------------------------------------------------------ the baseline
@dataclass(slots=True)
class Sym:
    inverse: bool
    size: float
    asset: str
    caps: list[float]
    mmr: list[float]
    cum: list[float]


@dataclass(slots=True)
class Pos:
    sym: int
    qty: float
    entry: float
    isolated: bool
    wallet: float


@dataclass(slots=True)
class Acct:
    positions: list[Pos]
    cross: dict[str, float]


def objects(b: Book, accounts: range) -> tuple[list[Sym], list[Acct]]:
    syms = [
        Sym(
            i.contract_type is ContractType.INVERSE,
            float(i.contract_size),
            i.margin_asset.name,
            [float(c) for c in i.tiers.caps],
            [float(t.mmr) for t in i.tiers.tiers],
            [float(t.cum) for t in i.tiers.tiers],
        )
        for i in b.insts
    ]
    accts = []
    for a in accounts:
        lo, hi = int(b.offsets[a]), int(b.offsets[a + 1])
        positions = [
            Pos(
                int(b.symbol[i]),
                float(b.qty[i]),
                float(b.entry[i]),
                bool(b.isolated[i]),
                float(b.isolated_wallet[i]),
            )
            for i in range(lo, hi)
        ]
        accts.append(Acct(positions, {k: float(v[a]) for k, v in b.cross_wallet.items()}))
    return syms, accts


def baseline(syms: list[Sym], accts: list[Acct], marks: list[float]) -> list[tuple[int, str | int]]:
    """Per account, per position: notional, tier (bisect), MM and PnL; then each pool."""
    out: list[tuple[int, str | int]] = []
    for a, acct in enumerate(accts):
        balance: dict[str, float] = {}
        maintenance: dict[str, float] = {}
        for pos in acct.positions:
            sym = syms[pos.sym]
            price = marks[pos.sym]
            if sym.inverse:
                notional = abs(pos.qty) * sym.size / price
                pnl = pos.qty * sym.size * (1 / pos.entry - 1 / price)
            else:
                notional = abs(pos.qty) * sym.size * price
                pnl = pos.qty * sym.size * (price - pos.entry)
            k = bisect_left(sym.caps, notional)
            mm = notional * sym.mmr[k] - sym.cum[k]
            if pos.isolated:
                if mm > 0 and pos.wallet + pnl <= mm:
                    out.append((a, pos.sym))
            else:
                balance[sym.asset] = balance.get(sym.asset, 0.0) + pnl
                maintenance[sym.asset] = maintenance.get(sym.asset, 0.0) + mm
        for asset, mm in maintenance.items():
            if mm > 0 and acct.cross.get(asset, 0.0) + balance[asset] <= mm:
                out.append((a, asset))
    return out


# ------------------------------------------------------------------------------ timing
def timings(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timings(fn, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 accounts, under a minute")
    args = parser.parse_args()
    n_accounts = 100_000 if args.quick else 1_000_000
    n_symbols = 500
    sample = 5_000 if args.quick else 20_000
    runs = 7 if args.quick else 11

    start = time.perf_counter()
    b = book(n_accounts, n_symbols)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    sweep = MarginSweep.from_arrays(
        b.insts, b.offsets, b.symbol, b.qty, b.entry, b.isolated, b.isolated_wallet, b.cross_wallet
    )
    built = time.perf_counter() - start
    n_pos = sweep.n_positions
    marks = b.marks
    start = time.perf_counter()
    flagged = sweep.flagged(marks)
    warm = time.perf_counter() - start
    full_runs = timings(lambda: sweep.flagged(marks), runs)
    full = statistics.median(full_runs)

    rare, common = sweep.symbols[-1], sweep.symbols[0]
    sweep.flagged(marks, rare)
    one_rare = median_time(lambda: sweep.flagged(marks, rare), 201)
    one_common = median_time(lambda: sweep.flagged(marks, common), 21)

    syms, accts = objects(b, range(sample))
    mark_list = marks.tolist()
    sample_pos = sum(len(a.positions) for a in accts)
    base_hits: list[tuple[int, str | int]] = []

    def run_baseline() -> None:
        base_hits[:] = baseline(syms, accts, mark_list)

    base = median_time(run_baseline, 3)
    index = {name: k for k, name in enumerate(sweep.symbols)}
    ours_in_sample = set()
    for p in flagged.tolist():
        account, asset, symbol, _ = sweep.describe(p)
        if int(account) < sample:
            ours_in_sample.add((int(account), asset if symbol is None else index[symbol]))
    theirs = set(base_hits)
    ours_rate = n_pos / full
    base_rate = sample_pos / base

    print(
        f"book: {n_accounts:,} accounts × {POSITIONS_PER_ACCOUNT} positions = {n_pos:,} positions, "
        f"{sweep.n_pools:,} margin pools, {n_symbols} symbols "
        f"(generated in {generated:.1f} s, laid out in {built:.1f} s)"
    )
    print(
        f"full sweep: {full * 1e3:.1f} ms median of {runs}, fastest {min(full_runs) * 1e3:.1f} ms "
        f"(first call incl. JIT load {warm * 1e3:.0f} ms), {flagged.shape[0]:,} pools flagged "
        f"({flagged.shape[0] / sweep.n_pools:.2%}); load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"one symbol's tick: {one_rare * 1e6:.1f} µs with {sweep.symbol_holders(rare)} holders, "
        f"{one_common * 1e3:.2f} ms with {sweep.symbol_holders(common):,} holders (median)"
    )
    print(
        f"baseline: per-object Python loop timed on the first {sample:,} accounts "
        f"({sample_pos:,} positions, {base:.2f} s median of 3) and scaled; it flags "
        f"{len(theirs)} pools there, the sweep {len(ours_in_sample)}"
    )
    if not theirs <= ours_in_sample:
        raise SystemExit("the baseline loop flagged a pool the sweep did not")
    print(
        f"risk_sweep: {ours_rate / 1e6:,.0f} M positions/s "
        f"(baseline: {base_rate / 1e6:.2f} M positions/s, ratio: {ours_rate / base_rate:,.0f}×)"
    )


if __name__ == "__main__":
    main()

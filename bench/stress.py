"""Benchmark: Monte Carlo stress paths per second, cross and isolated.

The portfolio is the built-in ``hedged-pair`` example (1,000 USDT, long BTC / short ETH at 10x),
calibrated on its real Binance 5-minute bars of 25 March – 13 April 2025; each path is 7 days of
5-minute bars (2,016 bars), block bootstrap of real bars (and GBM with jumps, timed too).

Timed in the same run, on one core, in-process:

* the stress run (:func:`isocross.sim.stress.run_stress`: path generation, then the fast path of
  both modes per path, every decision confirmed exactly), after a warm-up;
* the baseline: the same paths on the exact Decimal loop (:func:`isocross.sim.exact.run_exact`,
  every bar exact), on a sample of paths, scaled to paths/s; the two must agree on every path.

Without ``--quick`` it also runs the same paths on a local Dask cluster of two worker processes
(one thread each) and checks that the results are identical.

    python bench/stress.py [--quick]

Last line: ``stress: N paths/s (baseline: M paths/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np

from isocross.sim import rules
from isocross.sim import stress as st
from isocross.sim.exact import run_exact
from isocross.sim.examples import load_example
from isocross.sim.fast import run_fast

HOUR = 3_600_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under a minute")
    args = parser.parse_args()
    numba.set_num_threads(1)
    portfolio = load_example("hedged-pair")
    market = portfolio.load_market()
    paths = 300 if args.quick else 3_000
    sample = 4 if args.quick else 20
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}"
    )
    config = st.StressConfig(paths=paths, horizon=7 * 24 * HOUR, method="bootstrap", seed=1)
    st.run_stress(portfolio, market, st.StressConfig(paths=2, horizon=config.horizon))  # warm-up
    start = time.perf_counter()
    result = st.run_stress(portfolio, market, config)
    elapsed = time.perf_counter() - start
    rate = paths / elapsed
    for name, s in result.modes.items():
        print(
            f"  {name}: P(liquidation) {s.p_liquidation:.1%}, expected loss "
            f"{s.expected_loss:,.2f}, 99 % loss {s.var99[0]:,.2f}"
        )
    print(f"bootstrap: {paths:,} paths of 2,016 bars in {elapsed:.2f} s")
    gbm = st.StressConfig(**{**config.__dict__, "method": "gbm", "paths": paths // 3})
    start = time.perf_counter()
    st.run_stress(portfolio, market, gbm)
    print(f"gbm with jumps: {gbm.paths / (time.perf_counter() - start):,.0f} paths/s")

    # The baseline: the exact loop on a sample of the same paths; both paths must agree.
    cal = st.calibrate(portfolio, market)
    exact_s, differ = 0.0, 0
    for i in range(sample):
        path = st.path_market(cal, config, i)
        for name in portfolio.modes:
            rule = rules.rule(name)
            t = time.perf_counter()
            exact = run_exact(portfolio, path, rule)
            exact_s += time.perf_counter() - t
            fast = run_fast(portfolio, path, rule)
            differ += (exact.final_equity, exact.cross_wallet, exact.isolated_wallets) != (
                fast.final_equity,
                fast.cross_wallet,
                fast.isolated_wallets,
            ) or [x.fills for x in exact.liquidations] != [x.fills for x in fast.liquidations]
            assert float(exact.final_equity) == result.outcomes[name][i].equity
    base = sample / exact_s
    print(
        f"exact loop: {base:,.2f} paths/s ({sample} paths, both modes); paths that differ: {differ}"
    )

    if not args.quick:
        from distributed import LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
            start = time.perf_counter()
            remote = st.run_stress(portfolio, market, config, scheduler=cluster.scheduler_address)
            took = time.perf_counter() - start
        same = all(
            np.array_equal(remote.modes[m].losses, result.modes[m].losses) for m in result.modes
        )
        print(
            f"dask, 2 worker processes: {paths / took:,.0f} paths/s (start-up and shipping "
            f"included); identical to in-process: {same}"
        )
    print(
        f"stress: {rate:,.0f} paths/s (baseline: {base:,.2f} paths/s, ratio: {rate / base:,.0f}×)"
    )


if __name__ == "__main__":
    main()

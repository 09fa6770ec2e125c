"""Benchmark: one year of 1-minute bars through a 3-position portfolio, cross and isolated.

The market is real minute data from ``shared/data`` (see its README), tiled to 525,600 bars
(:func:`isocross.sim.market.tile`, mirrored: every other month plays backwards, so the path keeps
to the month's range):

* BTCUSDT and ETHUSDT: Binance USDⓈ-M 1m candles of 4 May – 3 June 2025 with the real 8-hour
  funding (repeated with the bars), up to 3 June 08:00 (where the funding file ends);
* SOLUSDT: a STAND-IN — the FTX BTC-PERP 1m candles of January 2022 (nautilus_trader's test
  data), re-stamped to 4 May 2025 and scaled to open at 150 USDT, no funding.

The portfolio: 10,000 USDT; BTC long 3x, ETH short 3x, SOL long 5x, $2,000 margin each.

Timed in the same run, on one core:

* the fast path (:func:`isocross.sim.simulate.simulate`: the Numba loop with every decision
  confirmed exactly), both modes, median of several runs after a warm-up;
* the baseline: the exact engine path (:mod:`isocross.sim.replay`: a real ``Exchange`` with the
  ``RiskEngine`` attached, every bar as commands) on a slice of the year, both modes, scaled to
  bars/s — the whole year would take hours;
* for reference, the exact Decimal bar loop (:func:`isocross.sim.exact.run_exact`) on a slice,
  and backtesting.py (PyPI ``backtesting``) running a buy-and-hold strategy on the same bars:
  it handles one instrument per run, so it runs once per symbol and the times add up.

The fast path must agree with the exact loop on the slice (liquidations, balances).
"bars/s" counts bars of the whole 3-symbol portfolio, each run through both modes.

    python bench/simulate.py [--quick]

Last line: ``simulate: N bars/s (baseline: M bars/s, ratio: R×)``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from isocross.sim import rules
from isocross.sim.exact import run_exact
from isocross.sim.examples import find_data_root
from isocross.sim.fast import run_fast
from isocross.sim.files import OPEN, parse_time
from isocross.sim.market import Market, SymbolSource, load_market, tile
from isocross.sim.replay import replay
from isocross.sim.simulate import simulate
from isocross.sim.spec import Portfolio, parse_portfolio

YEAR = 525_600
START = "2025-05-04T15:33:00Z"


def build(root: Path) -> tuple[Portfolio, Market]:
    data = {
        "description": "bench: BTC long 3x, ETH short 3x, SOL (stand-in) long 5x",
        "balance": "10000",
        "market": {"kind": "scripted", "prices": {"BTCUSDT": "1", "ETHUSDT": "1", "SOLUSDT": "1"}},
        "positions": [
            {"symbol": "BTCUSDT", "side": "long", "leverage": 3, "margin": "2000"},
            {"symbol": "ETHUSDT", "side": "short", "leverage": 3, "margin": "2000"},
            {"symbol": "SOLUSDT", "side": "long", "leverage": 5, "margin": "2000"},
        ],
    }
    portfolio = parse_portfolio(data, base_dir=root)
    b = root / "binance_usdm_2025_typhonun"
    sources = [
        SymbolSource(
            "BTCUSDT",
            b / "BTC_USDT_USDT-1m-futures.feather",
            funding=b / "BTC_USDT_USDT-8h-funding_rate.feather",
        ),
        SymbolSource(
            "ETHUSDT",
            b / "ETH_USDT_USDT-1m-futures.feather",
            funding=b / "ETH_USDT_USDT-8h-funding_rate.feather",
        ),
        SymbolSource(
            "SOLUSDT",
            root / "ftx_btc_perp_2022_nautilus" / "ftx-btc-perp-20211231-20220201_1m.csv",
            shift_to=parse_time(START, "bench"),
            rescale_to=Decimal(150),
            tick=portfolio.instrument("SOLUSDT").tick_size,
        ),
    ]
    month = load_market(sources, end=parse_time("2025-06-03T08:00:00Z", "bench"))
    return portfolio, tile(month, YEAR)


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (JIT, caches)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def backtesting_rate(market: Market, bars: int) -> float:
    """backtesting.py buy-and-hold on ``bars`` bars of each symbol: bars/s of the set."""
    from backtesting import Backtest, Strategy

    class BuyAndHold(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            pass

        def next(self) -> None:
            if not self.position:
                self.buy()

    total = 0.0
    for s in range(len(market.symbols)):
        ohlc = market.trade[s, :bars]
        frame = pd.DataFrame(
            ohlc,
            columns=["Open", "High", "Low", "Close"],
            index=pd.to_datetime(market.time[:bars], unit="ms"),
        )
        frame["Volume"] = 1.0
        bt = Backtest(frame, BuyAndHold, cash=1e12, commission=0.0005, finalize_trades=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            bt.run()
            total += time.perf_counter() - start
    return bars / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under a minute")
    args = parser.parse_args()
    root = find_data_root()
    if root is None:
        raise SystemExit("the real data (shared/data) is needed: set ISOCROSS_DATA")
    numba.set_num_threads(1)
    portfolio, market = build(root)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}"
    )
    print(
        f"market: {market.n:,} bars of 1m x {len(market.symbols)} symbols "
        f"({', '.join(market.symbols)}); {market.notes[-1]}"
    )
    repeat = 3 if args.quick else 7
    fast_s = timed(lambda: simulate(portfolio, market), repeat)
    report = simulate(portfolio, market)
    for name, s in report.modes.items():
        print(
            f"  {name}: final equity {float(s.final_equity):,.2f}, liquidations "
            f"{len(s.liquidations)}, bars on the exact path {s.run.exact_bars:,}"
        )
    fast = market.n / fast_s
    print(f"fast path: {fast_s * 1000:,.0f} ms for the year in both modes")

    # The exact Decimal loop on a slice, and the agreement of the two paths on it.
    loop_bars = 5_000 if args.quick else 30_000
    part = market.window(0, loop_bars)
    differ = 0
    loop_s = 0.0
    for name in portfolio.modes:
        rule = rules.rule(name)
        start = time.perf_counter()
        exact = run_exact(portfolio, part, rule)
        loop_s += time.perf_counter() - start
        quick = run_fast(portfolio, part, rule)
        same = (
            [(x.bar, x.fills) for x in exact.liquidations]
            == [(x.bar, x.fills) for x in quick.liquidations]
            and exact.final_equity == quick.final_equity
            and exact.cross_wallet == quick.cross_wallet
            and exact.isolated_wallets == quick.isolated_wallets
        )
        differ += not same
    loop = loop_bars / loop_s
    print(
        f"exact Decimal loop: {loop:,.0f} bars/s (slice of {loop_bars:,} bars, both modes); "
        f"fast and exact differ in {differ} of {len(portfolio.modes)} modes"
    )

    # The baseline: the exchange with its risk engine, on a slice, scaled.
    engine_bars = 300 if args.quick else 2_000
    part = market.window(0, engine_bars)
    engine_s = 0.0
    for name in portfolio.modes:
        rule = rules.rule(name)
        trades = run_exact(portfolio, part, rule).trades
        start = time.perf_counter()
        replay(portfolio, part, rule, trades)
        engine_s += time.perf_counter() - start
    engine = engine_bars / engine_s
    print(
        f"exact engine path (Exchange + RiskEngine): {engine:,.1f} bars/s, timed on "
        f"{engine_bars:,} bars in both modes and scaled: the year would take "
        f"{market.n / engine / 3600:,.1f} h"
    )

    bt_bars = 100_000 if args.quick else market.n
    bt = backtesting_rate(market, bt_bars)
    print(
        f"backtesting.py buy-and-hold (peer reference): {bt:,.0f} bars/s of the 3 symbols "
        f"({bt_bars:,} bars each, one run per symbol); fast path ratio {fast / bt:,.1f}×"
    )
    assert market.trade[0, 0, OPEN] > 0
    ratio = fast / engine
    print(f"simulate: {fast:,.0f} bars/s (baseline: {engine:,.1f} bars/s, ratio: {ratio:,.0f}×)")


if __name__ == "__main__":
    main()

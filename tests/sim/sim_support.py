"""Builders and comparisons shared by the simulator tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from isocross.sim.market import Market, build_market, on_grid
from isocross.sim.records import ModeRun
from isocross.sim.spec import Portfolio, parse_portfolio

HOUR = 3_600_000


def portfolio(positions: list[dict[str, Any]], *, prices: dict[str, str], **top: Any) -> Portfolio:
    """A portfolio on a (placeholder) scripted market; tests pass their own Market."""
    data: dict[str, Any] = {
        "balance": "1000",
        "funding": True,
        "market": {"kind": "scripted", "prices": prices},
        "positions": positions,
        **top,
    }
    return parse_portfolio(data, base_dir=Path.cwd())


def random_market(
    seed: int,
    symbols: dict[str, tuple[float, Decimal]],
    bars: int,
    *,
    vol: float = 0.01,
    drift: float = 0.0,
    funding: float = 0.0,
    step: int = HOUR,
    mark_noise: float = 0.0,
) -> Market:
    """A random walk per symbol (start price, tick): OHLC on the tick grid; funding every 8h;
    with ``mark_noise``, a mark series off the trades by up to that fraction (6 decimals)."""
    rng = np.random.default_rng(seed)
    n_sym = len(symbols)
    trade = np.empty((n_sym, bars, 4))
    for s, (p0, tick) in enumerate(symbols.values()):
        steps = rng.normal(drift, vol, bars)
        close = p0 * np.exp(np.cumsum(steps))
        open_ = np.r_[p0, close[:-1]]
        wick = np.abs(rng.normal(0, vol / 2, (2, bars)))
        high = np.maximum(open_, close) * (1 + wick[0])
        low = np.minimum(open_, close) * (1 - wick[1])
        ohlc = on_grid(np.stack([open_, high, low, close], axis=1), tick)
        ohlc[:, 1] = np.maximum(ohlc[:, 1], ohlc[:, [0, 3]].max(axis=1))
        ohlc[:, 2] = np.minimum(ohlc[:, 2], ohlc[:, [0, 3]].min(axis=1))
        trade[s] = ohlc
    time = 1_735_689_600_000 + step * np.arange(bars, dtype=np.int64)
    rates = np.zeros((n_sym, bars))
    if funding:
        stamps = (time % (8 * HOUR)) == 0
        rates[:, stamps] = np.round(rng.normal(funding, abs(funding), (n_sym, stamps.sum())), 6)
    mark = None
    if mark_noise:
        mark = np.round(trade * (1 + rng.uniform(-mark_noise, mark_noise, trade.shape)), 6)
        mark[:, :, 1] = np.maximum(mark[:, :, 1], mark[:, :, [0, 3]].max(axis=2))
        mark[:, :, 2] = np.minimum(mark[:, :, 2], mark[:, :, [0, 3]].min(axis=2))
    return build_market(list(symbols), time, step, trade, mark, rates)


def liquidations(run: ModeRun) -> list[tuple[Any, ...]]:
    """Every liquidation as (bar, step, pool, kind, fills, loss): time, prices and money."""
    return [
        (
            liq.bar,
            liq.step,
            liq.pool,
            liq.kind,
            tuple((f.symbol, f.qty, f.price, f.how) for f in liq.fills),
            liq.loss,
        )
        for liq in run.liquidations
    ]


def assert_same_money(a: ModeRun, b: ModeRun) -> None:
    """Same liquidations, trades, wallets, fees and funding (exactly: both are Decimal)."""
    assert liquidations(a) == liquidations(b)
    assert [(t.bar, t.action, t.qty, t.price) for t in a.trades] == [
        (t.bar, t.action, t.qty, t.price) for t in b.trades
    ]
    assert a.cross_wallet == b.cross_wallet
    assert a.isolated_wallets == b.isolated_wallets
    assert a.final_equity == b.final_equity
    assert a.fees == b.fees
    assert a.funding_paid == b.funding_paid
    assert abs(float(a.final_equity) - float(b.final_equity)) < 0.005

"""The fast path: a float64 Numba loop over quiet bars; every decision confirmed exactly.

Most bars change nothing but prices: no entry is due, no stop is near, no pool is near its
requirement. :func:`_advance` runs those bars in float64 — funding, equity, margin level,
trailing-stop best prices — and stops at the first bar where something *might* happen; that bar
runs on the exact path (:meth:`isocross.sim.exact.ExactBook.process_bar`), after the exact path
has settled the skipped bars' funding itself (:meth:`~isocross.sim.exact.ExactBook.sync_to`).
Money is therefore always the exact path's: the floats only decide which bars may be skipped,
and that decision is sound:

* **Entries** stop the loop on the bar they are due (a limit: when the bar may reach it).
* **Exits**: a bar whose range comes within a relative ``10⁻⁹`` (plus one tick for a trailing
  stop, whose level the float loop only approximates) of a stop, take-profit or trailing level.
* **Liquidation**: per pool, the surplus ``s = W + Σ (PnLᵢ − MMᵢ)`` at every position's adverse
  extreme (the same worst case as the exact path's step 4; the open and close are never worse,
  as ``s`` is monotone in each price when ``mmr < 1``). With ``u = 2⁻⁵³``, ``k`` positions,
  ``Σ̂ = |W| + Σ|qᵢ|·(aᵢ + eᵢ)`` (``a = S·P``, ``e = S·E``) and ``f`` funding payments applied in
  float since the last exact bar, the float surplus is within
  ``(4k + 128 + 32f)·u·Σ̂ + f·10⁻⁸`` of the exact one (the bound of :mod:`isocross.risk.sweep`
  plus, per payment, the exact path's rounding to ``10⁻⁸`` and the float error of ``N·rate``).
  A bar is skipped only when the float surplus exceeds twice that: then the exact surplus is
  positive and no check of the bar can liquidate.
  The exact path checks before the bar's funding and after each payment, so the float check
  uses the lowest wallet of those states (the wallet less every payment the bar makes).
* **Checkpoints** are exact bars.

The tier lookup and the error analysis follow :mod:`isocross.risk.sweep`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

from isocross.sim.exact import ExactBook, run_exact
from isocross.sim.files import F64, I64
from isocross.sim.market import Market
from isocross.sim.records import Metrics, ModeRun
from isocross.sim.rules import MarginRule
from isocross.sim.spec import Portfolio

U = 2.0**-53
NEAR = 1e-9
"""Relative distance at which a price counts as near a level (an exact bar)."""
PENDING, OPEN, DONE = 0, 1, 2
CHUNK = 1 << 17
"""Bars per kernel call (progress is reported between calls)."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(fn: _F) -> _F:
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


@_jit
def _mm(n: float, t0: int, t1: int, cap: F64, mmr: F64, cum: F64) -> float:
    k = t0
    while k < t1 - 1 and n > cap[k]:
        k += 1
    return float(n * mmr[k] - cum[k])


@_jit
def _advance(
    t0: int,
    t1: int,
    pooled: bool,
    fund_on: bool,
    trade: F64,
    mark: F64,
    funding: F64,
    exact_bar: NDArray[np.bool_],
    size: F64,
    tick: F64,
    tier_start: I64,
    cap: F64,
    mmr: F64,
    cum: F64,
    status: NDArray[np.int8],
    sym: I64,
    qty: F64,
    entry: F64,
    wallet: F64,
    lev: F64,
    stop: F64,
    take: F64,
    trail: F64,
    peak: F64,
    entry_bar: I64,
    limit: F64,
    cross: F64,
    nfund: I64,
    eq: F64,
    eqw: F64,
    lv: F64,
    lvw: F64,
) -> int:
    """Advance quiet bars ``t0 … t1−1``; return the first bar that must run exactly (or
    ``t1``). State arrays are updated for the bars skipped; the returned bar is untouched."""
    n_pos = len(status)
    w_tmp = np.empty(n_pos)
    for t in range(t0, t1):
        if exact_bar[t]:
            return t
        # -- entries and exits that may trigger on this bar
        for k in range(n_pos):
            s = sym[k]
            lo = trade[s, t, 2]
            hi = trade[s, t, 1]
            if status[k] == 0:
                if entry_bar[k] <= t:
                    if np.isnan(limit[k]):
                        return t
                    if qty[k] > 0 and lo <= limit[k] * (1 + NEAR):
                        return t
                    if qty[k] < 0 and hi >= limit[k] * (1 - NEAR):
                        return t
                continue
            if status[k] != 1:
                continue
            if qty[k] > 0:
                if lo <= stop[k] * (1 + NEAR) or hi >= take[k] * (1 - NEAR):
                    return t
                if lo <= peak[k] * (1 - trail[k]) * (1 + NEAR) + tick[s]:
                    return t
            else:
                if hi >= stop[k] * (1 - NEAR) or lo <= take[k] * (1 + NEAR):
                    return t
                if hi >= peak[k] * (1 + trail[k]) * (1 - NEAR) - tick[s]:
                    return t
        # -- funding at the open (tentative until the bar is known to be quiet)
        w_pool = cross[0]
        w_low = cross[0]
        nf = nfund[0]
        for k in range(n_pos):
            w_tmp[k] = wallet[k]
            if status[k] != 1 or not fund_on:
                continue
            s = sym[k]
            rate = funding[s, t]
            if rate == 0.0:
                continue
            amount = abs(qty[k]) * size[s] * mark[s, t, 0] * abs(rate)
            pays = (qty[k] > 0) == (rate > 0)
            delta = -amount if pays else amount
            if pooled:
                w_pool += delta
                if delta < 0:
                    w_low += delta
            else:
                w_tmp[k] += delta
            nf += 1
        # -- the adverse extreme: is any pool within the error bound of liquidation?
        # the check runs before and after each payment: take the lowest wallet of those states
        pool_s = w_low
        pool_scale = abs(w_low) + abs(w_pool)
        pool_k = 0
        pool_im = 0.0
        pool_pnl = 0.0
        eq_w = w_pool
        lvl_w = np.inf
        for k in range(n_pos):
            if status[k] != 1:
                continue
            s = sym[k]
            col = 2 if qty[k] > 0 else 1
            a = size[s] * mark[s, t, col]
            e = size[s] * entry[k]
            aq = abs(qty[k])
            notional = aq * a
            mm = _mm(notional, tier_start[s], tier_start[s + 1], cap, mmr, cum)
            pnl = qty[k] * (a - e)
            im = notional / lev[k]
            eq_w += pnl
            if pooled:
                pool_s += pnl - mm
                pool_scale += aq * (a + e)
                pool_k += 1
                pool_im += im
                pool_pnl += pnl
            else:
                eq_w += w_tmp[k]
                surplus = min(wallet[k], w_tmp[k]) + pnl - mm
                scale = abs(wallet[k]) + abs(w_tmp[k]) + aq * (a + e)
                tol = 2.0 * ((132.0 + 32.0 * nf) * U * scale + nf * 1e-8) + 1e-12
                if not surplus > tol:
                    return t
                level = (w_tmp[k] + pnl) / im * 100.0
                lvl_w = min(lvl_w, level)
        if pooled and pool_k > 0:
            tol = 2.0 * ((4.0 * pool_k + 128.0 + 32.0 * nf) * U * pool_scale + nf * 1e-8) + 1e-12
            if not pool_s > tol:
                return t
            lvl_w = (w_pool + pool_pnl) / pool_im * 100.0
        # -- quiet: commit the bar
        cross[0] = w_pool
        nfund[0] = nf
        eq_c = w_pool
        lvl_c = np.inf
        pool_im = 0.0
        pool_pnl = 0.0
        any_open = False
        for k in range(n_pos):
            if status[k] != 1:
                continue
            any_open = True
            wallet[k] = w_tmp[k]
            s = sym[k]
            a = size[s] * mark[s, t, 3]
            pnl = qty[k] * (a - size[s] * entry[k])
            im = abs(qty[k]) * a / lev[k]
            eq_c += pnl
            if pooled:
                pool_im += im
                pool_pnl += pnl
            else:
                eq_c += wallet[k]
                lvl_c = min(lvl_c, (wallet[k] + pnl) / im * 100.0)
            if qty[k] > 0:
                peak[k] = max(peak[k], trade[s, t, 1])
            else:
                peak[k] = min(peak[k], trade[s, t, 2])
        if pooled and any_open:
            lvl_c = (w_pool + pool_pnl) / pool_im * 100.0
        eq[t] = eq_c
        eqw[t] = eq_w
        lv[t] = lvl_c if any_open else np.nan
        lvw[t] = lvl_w if any_open else np.nan
    return t1


@dataclass(frozen=True)
class Tables:
    """Per symbol of a market: contract size, tick and the flattened tier table."""

    size: F64
    tick: F64
    tier_start: I64
    cap: F64
    mmr: F64
    cum: F64

    @classmethod
    def of(cls, portfolio: Portfolio, market: Market) -> Tables:
        size, tick, starts, caps, rates, cums = [], [], [0], [], [], []
        for symbol in market.symbols:
            inst = portfolio.instrument(symbol)
            size.append(float(inst.contract_size))
            tick.append(float(inst.tick_size))
            for tier in inst.tiers.tiers:
                caps.append(np.inf if tier.cap is None else float(tier.cap))
                rates.append(float(tier.mmr))
                cums.append(float(tier.cum))
            caps[-1] = np.inf
            starts.append(len(caps))
        f = np.asarray
        return cls(f(size), f(tick), f(starts, np.int64), f(caps), f(rates), f(cums))


class _State:
    """The kernel's view of an :class:`ExactBook` (floats of its exact values)."""

    def __init__(self, book: ExactBook) -> None:
        specs = book.p.positions
        n = len(specs)
        self.specs = specs
        self.status = np.zeros(n, np.int8)
        self.sym = np.array([book.m.index(s.symbol) for s in specs], np.int64)
        self.qty = np.array([float(s.side) for s in specs])
        self.entry = np.zeros(n)
        self.wallet = np.zeros(n)
        self.lev = np.array([float(s.leverage) for s in specs])
        self.stop = np.full(n, np.nan)
        self.take = np.full(n, np.nan)
        self.trail = np.array(
            [np.nan if s.trailing_stop is None else float(s.trailing_stop) for s in specs]
        )
        self.peak = np.zeros(n)
        self.entry_bar = np.array([book.entry_bars[s.index] for s in specs], np.int64)
        self.limit = np.array([np.nan if s.limit is None else float(s.limit) for s in specs])
        self.cross = np.zeros(1)
        self.nfund = np.zeros(1, np.int64)
        self.load(book)

    def load(self, book: ExactBook) -> None:
        pending = {s.index for s in book.pending}
        for k, spec in enumerate(self.specs):
            h = book.holdings.get(spec.index)
            if h is not None:
                self.status[k] = OPEN
                self.qty[k] = float(h.qty)
                self.entry[k] = float(h.entry)
                self.wallet[k] = float(h.wallet)
                self.stop[k] = np.nan if h.stop is None else float(h.stop)
                self.take[k] = np.nan if h.take is None else float(h.take)
                self.peak[k] = float(h.peak)
            else:
                self.status[k] = PENDING if spec.index in pending else DONE
                self.wallet[k] = 0.0
        self.cross[0] = float(book.cross)
        self.nfund[0] = 0


def run_fast(
    portfolio: Portfolio,
    market: Market,
    rule: MarginRule,
    *,
    progress: Callable[[int], None] | None = None,
    tables: Tables | None = None,
) -> ModeRun:
    """One mode on the fast path (a rule without a float requirement runs exactly)."""
    if not rule.tiered:
        return run_exact(portfolio, market, rule, progress=progress)
    book = ExactBook(portfolio, market, rule, metrics=Metrics.empty(market.n))
    tables = tables or Tables.of(portfolio, market)
    state = _State(book)
    exact_bar = np.zeros(market.n, np.bool_)
    exact_bar[list(book.checkpoints)] = True
    met = book.metrics
    n, t = market.n, 0
    while t < n:
        stop = min(n, t + CHUNK)
        event = _advance(
            t,
            stop,
            rule.pooled,
            portfolio.funding,
            market.trade,
            market.mark,
            market.funding,
            exact_bar,
            tables.size,
            tables.tick,
            tables.tier_start,
            tables.cap,
            tables.mmr,
            tables.cum,
            state.status,
            state.sym,
            state.qty,
            state.entry,
            state.wallet,
            state.lev,
            state.stop,
            state.take,
            state.trail,
            state.peak,
            state.entry_bar,
            state.limit,
            state.cross,
            state.nfund,
            met.equity,
            met.equity_worst,
            met.level,
            met.level_worst,
        )
        if event < stop:
            book.sync_to(event)
            book.process_bar(event)
            state.load(book)
            done = event + 1
        else:
            done = stop
        if progress is not None:
            progress(done - t)
        t = done
    return book.finish()

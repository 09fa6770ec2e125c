"""``simulate``: one portfolio through every margin mode side by side, and its report.

:func:`simulate` runs each mode of the portfolio (:mod:`isocross.sim.rules`) on the fast path
(:func:`isocross.sim.fast.run_fast`) or, with ``exact=True``, the exact path
(:func:`isocross.sim.exact.run_exact`); both give the same money and liquidations. The summary
per mode (:class:`ModeSummary`):

* final equity ``= cross wallet + isolated wallets + Σ unrealized PnL`` at the last mark close,
  and its change from the starting balance;
* max drawdown ``= max_t (peak_{<t} − worst equity_t) / peak_{<t}``, with the peak over the
  starting balance and every earlier close, and the worst equity of a bar taken at every
  position's adverse extreme (conservative, as the liquidation test);
* funding paid (positive: paid, negative: received), trading fees, clearance fees;
* every liquidation (time, pool, partial or full, contained or cascade, fills, the pool's loss)
  and the time from the start to the first;
* the worst margin level ``= margin balance / initial margin × 100`` over the run (at the
  adverse extremes; for isolated positions the lowest position's), and when.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from isocross.model.money import ZERO
from isocross.sim import rules
from isocross.sim.exact import run_exact
from isocross.sim.fast import Tables, run_fast
from isocross.sim.files import format_duration, human_duration, iso
from isocross.sim.market import Market
from isocross.sim.records import Liquidation, ModeRun, Snapshot, TradeRecord
from isocross.sim.spec import Portfolio

MONEY = Decimal("1e-8")


@dataclass(frozen=True)
class ModeSummary:
    mode: str
    run: ModeRun
    final_equity: Decimal
    pnl: Decimal
    return_pct: float
    max_drawdown: float
    max_drawdown_time: int | None
    funding_paid: Decimal
    fees: Decimal
    clearance_fees: Decimal
    liquidation_loss: Decimal
    first_liquidation: int | None
    """Milliseconds from the first bar's open to the first liquidation's bar."""
    worst_margin_level: float | None
    worst_margin_level_time: int | None

    @property
    def liquidations(self) -> list[Liquidation]:
        return self.run.liquidations

    @property
    def trades(self) -> list[TradeRecord]:
        return self.run.trades

    @property
    def snapshots(self) -> list[Snapshot]:
        return self.run.snapshots


@dataclass(frozen=True)
class SimReport:
    portfolio: Portfolio
    market: Market
    modes: dict[str, ModeSummary]
    path: str
    elapsed: float

    @property
    def best(self) -> str:
        """The mode that ended with the most equity (ties: the first)."""
        return max(self.modes, key=lambda m: self.modes[m].final_equity)


def summarize(portfolio: Portfolio, market: Market, run: ModeRun) -> ModeSummary:
    """The figures of one mode's run (see the module docstring for the formulas)."""
    met = run.metrics
    balance = float(portfolio.balance)
    peak = np.maximum.accumulate(np.r_[balance, met.equity])[:-1]
    worst = np.where(np.isnan(met.equity_worst), met.equity, met.equity_worst)
    drawdown = (peak - worst) / peak
    k = int(np.nanargmax(drawdown)) if len(drawdown) else 0
    dd = max(0.0, float(drawdown[k])) if len(drawdown) else 0.0
    levels = met.level_worst
    if np.all(np.isnan(levels)):
        worst_level, worst_time = None, None
    else:
        j = int(np.nanargmin(levels))
        worst_level, worst_time = float(levels[j]), int(market.time[j])
    first = int(run.liquidations[0].time - market.time[0]) if run.liquidations else None
    pnl = run.final_equity - portfolio.balance
    return ModeSummary(
        mode=run.mode,
        run=run,
        final_equity=run.final_equity,
        pnl=pnl,
        return_pct=float(pnl / portfolio.balance * 100),
        max_drawdown=dd,
        max_drawdown_time=int(market.time[k]) if dd > 0 else None,
        funding_paid=run.funding_paid,
        fees=run.fees,
        clearance_fees=run.clearance_fees,
        liquidation_loss=sum((liq.loss for liq in run.liquidations), ZERO),
        first_liquidation=first,
        worst_margin_level=worst_level,
        worst_margin_level_time=worst_time,
    )


def simulate(
    portfolio: Portfolio,
    market: Market | None = None,
    *,
    modes: Sequence[str] | None = None,
    exact: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SimReport:
    """Run ``portfolio`` on ``market`` (read from its spec by default) in every mode."""
    market = market if market is not None else portfolio.load_market()
    started = time.perf_counter()
    tables = None if exact else Tables.of(portfolio, market)
    out: dict[str, ModeSummary] = {}
    for name in modes or portfolio.modes:
        rule = rules.rule(name)
        if exact:
            run = run_exact(portfolio, market, rule, progress=progress)
        else:
            run = run_fast(portfolio, market, rule, progress=progress, tables=tables)
        out[name] = summarize(portfolio, market, run)
    return SimReport(
        portfolio, market, out, "exact" if exact else "fast", time.perf_counter() - started
    )


# ------------------------------------------------------------------------------ JSON
def money(value: Decimal) -> str:
    """Exact money as text, to the ledger unit (10⁻⁸), without trailing zeros."""
    text = f"{value.quantize(MONEY).normalize():f}"
    return "0" if text in ("-0", "0") else text


def _liquidation(liq: Liquidation) -> dict[str, Any]:
    return {
        "time": iso(liq.time),
        "bar": liq.bar,
        "step": liq.step,
        "pool": liq.pool,
        "kind": liq.kind,
        "scope": liq.scope,
        "loss": money(liq.loss),
        "margin_balance": money(liq.margin_balance),
        "maintenance": money(liq.maintenance),
        "marks": {s: f"{p.normalize():f}" for s, p in liq.marks},
        "fills": [
            {
                "symbol": f.symbol,
                "qty": f"{f.qty.normalize():f}",
                "price": f"{f.price.normalize():f}",
                "how": f.how,
            }
            for f in liq.fills
        ],
    }


def _float(value: float | None, places: int = 4) -> float | None:
    return None if value is None or not np.isfinite(value) else round(value, places)


def to_json(report: SimReport) -> dict[str, Any]:
    """The report as JSON: money as exact decimal strings, ratios as numbers."""
    p, m = report.portfolio, report.market
    modes: dict[str, Any] = {}
    for name, s in report.modes.items():
        modes[name] = {
            "final_equity": money(s.final_equity),
            "pnl": money(s.pnl),
            "return_pct": _float(s.return_pct),
            "max_drawdown_pct": _float(s.max_drawdown * 100),
            "max_drawdown_time": None if s.max_drawdown_time is None else iso(s.max_drawdown_time),
            "funding_paid": money(s.funding_paid),
            "fees": money(s.fees),
            "clearance_fees": money(s.clearance_fees),
            "liquidation_loss": money(s.liquidation_loss),
            "liquidations": [_liquidation(liq) for liq in s.liquidations],
            "time_to_first_liquidation": (
                None if s.first_liquidation is None else human_duration(s.first_liquidation)
            ),
            "time_to_first_liquidation_s": (
                None if s.first_liquidation is None else s.first_liquidation // 1000
            ),
            "worst_margin_level_pct": _float(s.worst_margin_level, 2),
            "worst_margin_level_time": (
                None if s.worst_margin_level_time is None else iso(s.worst_margin_level_time)
            ),
            "cross_wallet": money(s.run.cross_wallet),
            "isolated_wallets": {k: money(v) for k, v in s.run.isolated_wallets.items()},
            "open_positions": {
                k: {"qty": f"{q.normalize():f}", "entry_price": f"{e.normalize():f}"}
                for k, (q, e) in s.run.open_positions.items()
            },
            "never_entered": s.run.never_entered,
            "trades": [
                {
                    "time": iso(t.time),
                    "symbol": t.symbol,
                    "action": t.action,
                    "qty": f"{t.qty.normalize():f}",
                    "price": f"{t.price.normalize():f}",
                    "fee": money(t.fee),
                    "realized_pnl": money(t.realized),
                }
                for t in s.trades
            ],
            "checkpoints": [
                {
                    "label": c.label,
                    "time": iso(c.time),
                    "equity": money(c.equity),
                    "margin_balance": {k: money(v) for k, v in c.pools},
                }
                for c in s.snapshots
            ],
            "exact_bars": s.run.exact_bars,
        }
    return {
        "portfolio": p.name,
        "description": p.description,
        "venue": p.venue,
        "balance": money(p.balance),
        "asset": p.asset,
        "market": {
            "symbols": list(m.symbols),
            "start": iso(int(m.time[0])),
            "end": iso(int(m.time[-1]) + m.step),
            "bars": m.n,
            "timeframe": format_duration(m.step),
            "mark_series": dict(zip(m.symbols, m.has_mark, strict=True)),
            "funding": p.funding and any(m.has_funding),
            "sources": list(m.sources),
            "notes": list(m.notes) + list(p.notes),
        },
        "path": report.path,
        "best_mode": report.best,
        "modes": modes,
    }

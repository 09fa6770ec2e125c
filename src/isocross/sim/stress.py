"""``stress``: Monte Carlo price paths through a portfolio in every margin mode.

**Paths** start at the market window's first open and step by its bars, for ``horizon``:

* ``bootstrap`` — blocks of ``block`` consecutive real bars drawn uniformly (with replacement)
  from the window; each bar is replayed as its ratios to the previous close
  (``O/C₋₁, H/C₋₁, L/C₋₁, C/C₋₁``), the same bar for every symbol, so cross-symbol correlation,
  intrabar ranges and (within blocks) volatility clustering are the data's. It keeps the window's
  drift: a sell-off window stresses longs.
* ``gbm`` — geometric Brownian motion with Merton jumps, zero drift, calibrated on the window's
  close-to-close log returns: a return further than 5 robust σ (``1.4826·MAD``) from the median
  is a jump; the jump-free returns give each symbol's volatility ``σ`` and the correlation matrix
  (Cholesky); the jumps give the intensity ``λ`` per bar and a normal size ``N(μ_J, σ_J)``.
  A bar opens at the previous close times its jumps (a gap) and diffuses to its close; its high
  and low are drawn from the Brownian bridge's exact extremes,
  ``max = (d + √(d² − 2σ²·ln U))/2``, ``min = (d − √(d² − 2σ²·ln V))/2`` (log, from the open).

Prices are rounded half-even to each symbol's tick. Funding, when on, settles every 8 hours at the
window's mean rate of the symbol.

**Reproducible**: path ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``, so the same seed
gives the same paths and results however the paths are split into tasks — in-process or on a
Dask cluster (``scheduler``), in any chunk size.

**Statistics** per mode, over ``n`` paths, with 95 % intervals: the probability of any
liquidation and of losing the whole pool (final equity ≤ 1 % of the starting balance), Wilson
score intervals; the expected loss ``E[balance − final equity]``, mean ± 1.96 standard errors;
the 95 % and 99 % loss quantiles (value at risk), order-statistic intervals (ranks
``np ± 1.96·√(np(1−p))``, the normal approximation to the binomial), and the expected shortfall
beyond each (point estimates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from isocross.sim import rules
from isocross.sim.fast import Tables, run_fast
from isocross.sim.files import CLOSE, F64, HIGH, HOUR, LOW, OPEN, format_duration, iso
from isocross.sim.market import Market, build_market, on_grid
from isocross.sim.records import ModeRun
from isocross.sim.spec import Portfolio

METHODS = ("bootstrap", "gbm")
WIPED = 0.01
"""A path "loses the whole pool" when its final equity is at most this fraction of the start."""
Z95 = 1.959963984540054


@dataclass(frozen=True)
class StressConfig:
    paths: int = 1000
    horizon: int = 7 * 24 * HOUR
    """Milliseconds."""
    method: str = "bootstrap"
    block: int = 48
    seed: int = 7
    chunk: int = 64


@dataclass(frozen=True)
class Calibration:
    """What path generation needs from the data (small; shipped to every worker)."""

    symbols: tuple[str, ...]
    start: int
    step: int
    first_open: F64
    ticks: tuple[Decimal, ...]
    ratios: F64
    """Bootstrap: ``(bars − 1, symbols, 4)``, each bar's OHLC over the previous close."""
    sigma: F64
    chol: F64
    jump_rate: F64
    jump_mean: F64
    jump_sd: F64
    funding: F64
    """Mean funding rate per symbol (0: none), settled every 8 hours."""


def calibrate(portfolio: Portfolio, market: Market) -> Calibration:
    """Bootstrap ratios and GBM-with-jumps parameters of ``market`` (see the module docstring)."""
    trade = market.trade
    prev = trade[:, :-1, CLOSE]
    ratios = np.transpose(trade[:, 1:, :] / prev[:, :, None], (1, 0, 2)).copy()
    logret = np.log(trade[:, 1:, CLOSE] / prev)
    n_sym = len(market.symbols)
    sigma = np.zeros(n_sym)
    rate = np.zeros(n_sym)
    jmean = np.zeros(n_sym)
    jsd = np.zeros(n_sym)
    jump = np.zeros_like(logret, dtype=np.bool_)
    for s in range(n_sym):
        r = logret[s]
        med = np.median(r)
        robust = 1.4826 * np.median(np.abs(r - med)) or np.std(r) or 1e-9
        jump[s] = np.abs(r - med) > 5 * robust
        calm = r[~jump[s]]
        sigma[s] = float(np.std(calm)) if calm.size > 1 else robust
        rate[s] = float(jump[s].mean())
        if jump[s].any():
            jmean[s] = float(np.mean(r[jump[s]]))
            jsd[s] = float(np.std(r[jump[s]]))
    calm_all = ~np.any(jump, axis=0)
    if n_sym > 1 and calm_all.sum() > n_sym + 1:
        corr = np.corrcoef(logret[:, calm_all])
        corr = np.nan_to_num(corr, nan=0.0)
        np.fill_diagonal(corr, 1.0)
        chol = np.linalg.cholesky(corr + 1e-12 * np.eye(n_sym))
    else:
        chol = np.eye(n_sym)
    funding = np.zeros(n_sym)
    if portfolio.funding:
        for s in range(n_sym):
            stamps = market.funding[s] != 0
            if market.has_funding[s] and stamps.any():
                funding[s] = float(np.mean(market.funding[s][stamps]))
    return Calibration(
        symbols=market.symbols,
        start=int(market.time[0]),
        step=market.step,
        first_open=trade[:, 0, OPEN].copy(),
        ticks=tuple(portfolio.instrument(s).tick_size for s in market.symbols),
        ratios=ratios,
        sigma=sigma,
        chol=chol,
        jump_rate=rate,
        jump_mean=jmean,
        jump_sd=jsd,
        funding=funding,
    )


def path_market(cal: Calibration, config: StressConfig, index: int) -> Market:
    """Path ``index``: its own random stream, so independent of how paths are split."""
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(index,)))
    bars = max(2, config.horizon // cal.step)
    n_sym = len(cal.symbols)
    if config.method == "bootstrap":
        pool = len(cal.ratios)
        block = max(1, min(config.block, pool))
        starts = rng.integers(0, pool - block + 1, size=math.ceil(bars / block))
        idx = (starts[:, None] + np.arange(block)[None, :]).ravel()[:bars]
        rel = np.transpose(cal.ratios[idx], (1, 0, 2))  # (symbols, bars, 4)
        closes = cal.first_open[:, None] * np.cumprod(rel[:, :, CLOSE], axis=1)
        prev = np.concatenate([cal.first_open[:, None], closes[:, :-1]], axis=1)
        ohlc = rel * prev[:, :, None]
    else:
        z = rng.standard_normal((bars, n_sym)) @ cal.chol.T
        diffusion = (cal.sigma * z - 0.5 * cal.sigma**2).T
        counts = rng.poisson(cal.jump_rate[:, None], size=(n_sym, bars))
        jumps = counts * cal.jump_mean[:, None] + np.sqrt(counts) * cal.jump_sd[
            :, None
        ] * rng.standard_normal((n_sym, bars))
        u = rng.random((2, n_sym, bars))
        var = (cal.sigma**2)[:, None]
        up = 0.5 * (diffusion + np.sqrt(diffusion**2 - 2 * var * np.log(u[0])))
        down = 0.5 * (diffusion - np.sqrt(diffusion**2 - 2 * var * np.log(u[1])))
        log_close = np.log(cal.first_open)[:, None] + np.cumsum(jumps + diffusion, axis=1)
        log_open = log_close - diffusion
        ohlc = np.stack(
            [np.exp(log_open), np.exp(log_open + up), np.exp(log_open + down), np.exp(log_close)],
            axis=2,
        )
        ohlc[:, 0, OPEN] = cal.first_open
    ohlc[:, 0, OPEN] = cal.first_open
    for s in range(n_sym):
        ohlc[s] = on_grid(ohlc[s], cal.ticks[s])
        ohlc[s] = np.maximum(ohlc[s], float(cal.ticks[s]))
    ohlc[:, :, HIGH] = np.maximum(ohlc[:, :, HIGH], np.maximum(ohlc[:, :, OPEN], ohlc[:, :, CLOSE]))
    ohlc[:, :, LOW] = np.minimum(ohlc[:, :, LOW], np.minimum(ohlc[:, :, OPEN], ohlc[:, :, CLOSE]))
    time_ = cal.start + cal.step * np.arange(bars, dtype=np.int64)
    funding = np.zeros((n_sym, bars))
    settle = (time_ % (8 * HOUR)) < cal.step
    funding[:, settle] = cal.funding[:, None]
    places = [max(0, -int(tick.as_tuple().exponent)) for tick in cal.ticks]
    return build_market(cal.symbols, time_, cal.step, ohlc, funding=funding, places=places)


@dataclass(frozen=True)
class PathOutcome:
    """One path in one mode."""

    equity: float
    liquidated: bool
    cascade: bool
    first_liquidation: int
    """Bar of the first liquidation (−1: none)."""


def _outcome(run: ModeRun) -> PathOutcome:
    liqs = run.liquidations
    return PathOutcome(
        float(run.final_equity),
        bool(liqs),
        any(liq.scope == "cascade" for liq in liqs),
        liqs[0].bar if liqs else -1,
    )


def run_chunk(
    portfolio: Portfolio, cal: Calibration, config: StressConfig, start: int, stop: int
) -> tuple[int, dict[str, list[PathOutcome]]]:
    """Paths ``start … stop−1`` in every mode (the unit of work of a Dask task)."""
    out: dict[str, list[PathOutcome]] = {m: [] for m in portfolio.modes}
    tables: Tables | None = None
    for i in range(start, stop):
        market = path_market(cal, config, i)
        tables = tables or Tables.of(portfolio, market)
        for name in portfolio.modes:
            run = run_fast(portfolio, market, rules.rule(name), tables=tables)
            out[name].append(_outcome(run))
    return start, out


# ------------------------------------------------------------------------------ statistics
def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k/n``."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


def quantile_ci(sorted_losses: F64, q: float) -> tuple[float, float, float]:
    """The ``q`` quantile (nearest rank) and its order-statistic 95 % interval."""
    n = len(sorted_losses)
    rank = min(n, max(1, math.ceil(q * n)))
    spread = Z95 * math.sqrt(n * q * (1 - q))
    lo = min(n, max(1, math.floor(n * q - spread)))
    hi = min(n, max(1, math.ceil(n * q + spread) + 1))
    return (
        float(sorted_losses[rank - 1]),
        float(sorted_losses[lo - 1]),
        float(sorted_losses[hi - 1]),
    )


@dataclass(frozen=True)
class ModeStats:
    mode: str
    losses: F64
    p_liquidation: float
    p_liquidation_ci: tuple[float, float]
    p_wiped: float
    p_wiped_ci: tuple[float, float]
    p_cascade: float
    expected_loss: float
    expected_loss_ci: tuple[float, float]
    var95: tuple[float, float, float]
    var99: tuple[float, float, float]
    es95: float
    es99: float


def stats(mode: str, outcomes: Sequence[PathOutcome], balance: float) -> ModeStats:
    """The statistics of the module docstring for one mode."""
    n = len(outcomes)
    losses = np.array([balance - o.equity for o in outcomes])
    k_liq = sum(o.liquidated for o in outcomes)
    k_wipe = sum(o.equity <= WIPED * balance for o in outcomes)
    mean = float(losses.mean())
    se = float(losses.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    ordered = np.sort(losses)
    v95, v99 = quantile_ci(ordered, 0.95), quantile_ci(ordered, 0.99)
    return ModeStats(
        mode=mode,
        losses=losses,
        p_liquidation=k_liq / n,
        p_liquidation_ci=wilson(k_liq, n),
        p_wiped=k_wipe / n,
        p_wiped_ci=wilson(k_wipe, n),
        p_cascade=sum(o.cascade for o in outcomes) / n,
        expected_loss=mean,
        expected_loss_ci=(mean - Z95 * se, mean + Z95 * se),
        var95=v95,
        var99=v99,
        es95=float(ordered[ordered >= v95[0]].mean()),
        es99=float(ordered[ordered >= v99[0]].mean()),
    )


@dataclass(frozen=True)
class StressResult:
    portfolio: Portfolio
    config: StressConfig
    calibration: Calibration
    window: tuple[int, int, int]
    """The calibration window: first bar, end, bars."""
    modes: dict[str, ModeStats]
    outcomes: dict[str, list[PathOutcome]]
    elapsed: float
    scheduler: str


def run_stress(
    portfolio: Portfolio,
    market: Market,
    config: StressConfig,
    *,
    scheduler: Any = None,
    progress: Callable[[int], None] | None = None,
) -> StressResult:
    """Simulate ``config.paths`` paths; on Dask when ``scheduler`` (an address or a
    ``distributed.Client``) is given, else in this process. Same seed, same result."""
    started = time.perf_counter()
    portfolio = replace(portfolio, checkpoints=())
    cal = calibrate(portfolio, market)
    chunks = [
        (a, min(config.paths, a + config.chunk)) for a in range(0, config.paths, config.chunk)
    ]
    results: list[tuple[int, dict[str, list[PathOutcome]]]] = []
    where = "in-process"
    if scheduler is None:
        for a, b in chunks:
            results.append(run_chunk(portfolio, cal, config, a, b))
            if progress is not None:
                progress(b - a)
    else:
        from distributed import Client, as_completed

        own = not isinstance(scheduler, Client)
        client = Client(scheduler, timeout=10) if own else scheduler  # type: ignore[no-untyped-call]
        where = f"dask {client.scheduler.address if client.scheduler else scheduler}"
        try:
            p_f, c_f = client.scatter([portfolio, cal], broadcast=True)
            futures = [
                client.submit(run_chunk, p_f, c_f, config, a, b, pure=False) for a, b in chunks
            ]
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                start, part = future.result()
                results.append((start, part))
                if progress is not None:
                    progress(sum(len(v) for v in part.values()) // max(1, len(part)))
        finally:
            if own:
                client.close()
    results.sort(key=lambda r: r[0])
    outcomes: dict[str, list[PathOutcome]] = {m: [] for m in portfolio.modes}
    for _, part in results:
        for mode, rows in part.items():
            outcomes[mode].extend(rows)
    balance = float(portfolio.balance)
    modes = {m: stats(m, rows, balance) for m, rows in outcomes.items()}
    window = (int(market.time[0]), int(market.time[-1]) + market.step, market.n)
    return StressResult(
        portfolio, config, cal, window, modes, outcomes, time.perf_counter() - started, where
    )


# ------------------------------------------------------------------------------ output
def _pct(p: float) -> str:
    return f"{p * 100:.1f} %"


def _ci(lo: float, hi: float, pct: bool = False) -> str:
    return f"[{_pct(lo)}, {_pct(hi)}]" if pct else f"[{lo:,.2f}, {hi:,.2f}]"


def _context(r: StressResult) -> str:
    c, p = r.config, r.portfolio
    return (
        f"{c.paths:,} paths of {format_duration(c.horizon)} "
        f"({max(2, c.horizon // r.calibration.step):,} bars of "
        f"{format_duration(r.calibration.step)}), {c.method}"
        + (f" (blocks of {c.block} bars)" if c.method == "bootstrap" else " with jumps, zero drift")
        + f", seed {c.seed}; calibrated on {r.window[2]:,} bars "
        f"{iso(r.window[0])} to {iso(r.window[1])}; "
        f"start {float(p.balance):,.2f} {p.asset}; {r.scheduler}, {r.elapsed:.1f} s"
    )


def _rows(r: StressResult) -> list[list[str]]:
    modes = list(r.modes.values())
    return [
        [
            "P(any liquidation)",
            *[f"{_pct(s.p_liquidation)} {_ci(*s.p_liquidation_ci, pct=True)}" for s in modes],
        ],
        [
            "P(whole pool lost)",
            *[f"{_pct(s.p_wiped)} {_ci(*s.p_wiped_ci, pct=True)}" for s in modes],
        ],
        ["P(cascade)", *[_pct(s.p_cascade) for s in modes]],
        ["expected loss", *[f"{s.expected_loss:,.2f} {_ci(*s.expected_loss_ci)}" for s in modes]],
        ["95 % loss (VaR)", *[f"{s.var95[0]:,.2f} {_ci(s.var95[1], s.var95[2])}" for s in modes]],
        ["99 % loss (VaR)", *[f"{s.var99[0]:,.2f} {_ci(s.var99[1], s.var99[2])}" for s in modes]],
        ["expected shortfall 95 %", *[f"{s.es95:,.2f}" for s in modes]],
        ["expected shortfall 99 %", *[f"{s.es99:,.2f}" for s in modes]],
    ]


def render_table(r: StressResult, console: Any) -> None:
    from rich.table import Table

    if r.portfolio.description:
        console.print(f"[dim]{r.portfolio.description}[/]")
    console.print(f"[dim]{_context(r)}[/]")
    table = Table(title="stress: loss per margin mode (95 % intervals)", title_justify="left")
    table.add_column("")
    for m in r.modes:
        table.add_column(m, justify="right")
    for row in _rows(r):
        table.add_row(*row)
    console.print(table)
    console.print("[dim]loss = starting balance − final equity (negative: a gain)[/]")


def to_json(r: StressResult) -> dict[str, Any]:
    c = r.config
    return {
        "portfolio": r.portfolio.name,
        "config": {
            "paths": c.paths,
            "horizon": format_duration(c.horizon),
            "method": c.method,
            "block": c.block,
            "seed": c.seed,
            "chunk": c.chunk,
        },
        "calibration": {
            "window": [iso(r.window[0]), iso(r.window[1])],
            "bars": r.window[2],
            "symbols": {
                s: {
                    "sigma_per_bar": float(r.calibration.sigma[i]),
                    "jumps_per_bar": float(r.calibration.jump_rate[i]),
                    "jump_mean": float(r.calibration.jump_mean[i]),
                    "jump_sd": float(r.calibration.jump_sd[i]),
                    "mean_funding_rate": float(r.calibration.funding[i]),
                }
                for i, s in enumerate(r.calibration.symbols)
            },
        },
        "modes": {
            m: {
                "p_liquidation": s.p_liquidation,
                "p_liquidation_ci95": list(s.p_liquidation_ci),
                "p_whole_pool_lost": s.p_wiped,
                "p_whole_pool_lost_ci95": list(s.p_wiped_ci),
                "p_cascade": s.p_cascade,
                "expected_loss": s.expected_loss,
                "expected_loss_ci95": list(s.expected_loss_ci),
                "var95": s.var95[0],
                "var95_ci95": [s.var95[1], s.var95[2]],
                "var99": s.var99[0],
                "var99_ci95": [s.var99[1], s.var99[2]],
                "expected_shortfall95": s.es95,
                "expected_shortfall99": s.es99,
            }
            for m, s in r.modes.items()
        },
        "elapsed_s": round(r.elapsed, 3),
        "scheduler": r.scheduler,
    }


def plot(r: StressResult, path: Path | None = None) -> bytes:
    """Loss distributions per mode (histograms) with the 95 % and 99 % losses marked."""
    import io

    import matplotlib.pyplot as plt

    from isocross.sim.render import _color

    fig, ax = plt.subplots(figsize=(10, 4.5))
    every = np.concatenate([s.losses for s in r.modes.values()])
    bins = np.linspace(float(every.min()), float(every.max()) + 1e-9, 60)
    for i, s in enumerate(r.modes.values()):
        color = _color(s.mode, i)
        ax.hist(
            s.losses,
            bins=[float(x) for x in bins],
            histtype="step",
            lw=1.6,
            color=color,
            label=s.mode,
        )
        for v, style in ((s.var95[0], "--"), (s.var99[0], ":")):
            ax.axvline(v, color=color, ls=style, lw=1)
    ax.set_xlabel(
        f"loss ({r.portfolio.asset}): starting balance − final equity   (-- 95 %, ··· 99 %)"
    )
    ax.set_ylabel("paths")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(
        f"{r.portfolio.name}: {r.config.paths:,} {r.config.method} paths of "
        f"{format_duration(r.config.horizon)}",
        fontsize=10,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        path.write_bytes(data)
    return data


def html(r: StressResult, path: Path, png: bytes | None = None) -> None:
    from isocross.sim.render import html_page

    page = html_page(
        f"isocross stress: {r.portfolio.name}",
        description=r.portfolio.description,
        context=_context(r),
        sections=[
            {
                "title": "Loss per margin mode (95 % intervals)",
                "header": ["", *r.modes],
                "rows": _rows(r),
            }
        ],
        images=[("Loss distributions", png if png is not None else plot(r))],
        kind="stress",
    )
    path.write_text(page, encoding="utf-8")


def rows_for_tests(r: StressResult) -> list[list[str]]:
    """The table rows (for tests and the benchmark)."""
    return _rows(r)


F64Array = NDArray[np.float64]

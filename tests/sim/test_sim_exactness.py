"""The three paths agree: the fast path (floats, exact confirmation) with the exact Decimal path
on every liquidation (bar, step, prices) and every balance; the exact path with a real exchange and
risk engine replaying the same bars."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_support import assert_same_money, liquidations, portfolio, random_market

from isocross.sim import rules
from isocross.sim.errors import SimInputError
from isocross.sim.exact import run_exact
from isocross.sim.examples import examples, load_example
from isocross.sim.fast import run_fast
from isocross.sim.records import ModeRun
from isocross.sim.replay import replay
from isocross.sim.spec import Portfolio, parse_portfolio

MODES = ("cross", "isolated")
SYMBOLS = {
    "BTCUSDT": (60_000.0, D("0.10")),
    "ETHUSDT": (2_500.0, D("0.01")),
    "SOLUSDT": (150.0, D("0.0100")),
}


def both(p: Portfolio, market: object, mode: str) -> tuple[ModeRun, ModeRun]:
    rule = rules.rule(mode)
    return run_fast(p, market, rule), run_exact(p, market, rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", examples())
@pytest.mark.parametrize("mode", MODES)
def test_fast_path_equals_exact_path_on_every_example(
    name: str, mode: str, request: pytest.FixtureRequest
) -> None:
    root = None if name == "seed-1000" else request.getfixturevalue("data_root")
    p = load_example(name, root)
    market = p.load_market()
    fast, exact = both(p, market, mode)
    assert_same_money(fast, exact)
    assert fast.exact_bars < market.n // 10  # the fast path skipped most bars
    assert exact.exact_bars == market.n
    np.testing.assert_allclose(fast.metrics.equity, exact.metrics.equity, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(
        fast.metrics.level_worst, exact.metrics.level_worst, rtol=1e-9, atol=1e-6
    )


positions = st.lists(
    st.tuples(
        st.sampled_from(list(SYMBOLS)),
        st.sampled_from([1, -1]),
        st.sampled_from([3, 10, 20, 50]),
        st.sampled_from(["150", "300"]),
        st.sampled_from([None, "4%"]),
        st.sampled_from([None, "6%"]),
        st.sampled_from([None, "3%"]),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    legs=positions,
    vol=st.sampled_from([0.004, 0.012, 0.03]),
    drift=st.sampled_from([-0.004, 0.0, 0.004]),
    funding=st.sampled_from([0.0, 0.0004, -0.002]),
    mark_noise=st.sampled_from([0.0, 0.003]),
)
def test_fast_path_equals_exact_path_on_random_markets(
    seed: int,
    legs: list[tuple[str, int, int, str, str | None, str | None, str | None]],
    vol: float,
    drift: float,
    funding: float,
    mark_noise: float,
) -> None:
    """Random walks with wicks, a separate mark series or none, funding every 8 hours, stops,
    take-profits, trailing stops and leverage up to 50x: every liquidation and balance agree."""
    specs = []
    for symbol, side, lev, margin, stop, take, trail in legs:
        spec = {"symbol": symbol, "side": "long" if side > 0 else "short", "leverage": lev}
        spec["margin"] = margin
        for key, value in (("stop_loss", stop), ("take_profit", take), ("trailing_stop", trail)):
            if value is not None:
                spec[key] = value
        specs.append(spec)
    p = portfolio(specs, prices=dict.fromkeys(SYMBOLS, "1"), fees={"taker": "0.0004"})
    market = random_market(
        seed, SYMBOLS, 240, vol=vol, drift=drift, funding=funding, mark_noise=mark_noise
    )
    for mode in MODES:
        fast, exact = both(p, market, mode)
        assert_same_money(fast, exact)


def partial_window(root: Path) -> Portfolio:
    """Real 5m bars of 6–7 April 2025 where both modes liquidate partly, then fully."""
    files = {
        s: {
            "candles": f"{s[:3]}_USDT_USDT-5m-futures.feather",
            "funding": f"{s[:3]}_USDT_USDT-8h-funding_rate.feather",
        }
        for s in ("BTCUSDT", "ETHUSDT")
    }
    data = {
        "balance": "700",
        "market": {
            "root": "binance_usdm_2025_typhonun",
            "start": "2025-04-06T16:00:00Z",
            "end": "2025-04-07T16:00:00Z",
            "symbols": files,
        },
        "positions": [
            {"symbol": "BTCUSDT", "side": "long", "leverage": 25, "margin": "600"},
            {"symbol": "ETHUSDT", "side": "long", "leverage": 25, "margin": "50"},
        ],
    }
    return parse_portfolio(data, base_dir=root)


def assert_exchange_agrees(p: Portfolio, market: object, mode: str) -> ModeRun:
    rule = rules.rule(mode)
    exact = run_exact(p, market, rule)  # type: ignore[arg-type]
    venue = replay(p, market, rule, exact.trades)  # type: ignore[arg-type]
    replayed = [
        (x.bar, x.step, x.pool, x.kind, tuple((s, q, pr, h) for s, q, pr, h in x.fills))
        for x in venue.liquidations
    ]
    assert replayed == [row[:5] for row in liquidations(exact)]
    for ours, theirs in zip(exact.liquidations, venue.liquidations, strict=True):
        assert (ours.margin_balance, ours.maintenance) == (
            theirs.margin_balance,
            theirs.maintenance,
        )
    assert venue.cross_wallet == exact.cross_wallet
    assert venue.isolated_wallets == exact.isolated_wallets
    assert venue.fees == exact.fees
    assert venue.funding_paid == exact.funding_paid
    assert venue.positions == exact.open_positions
    return exact


@pytest.mark.parametrize("mode", MODES)
def test_the_exchange_and_risk_engine_agree_on_the_seed(mode: str) -> None:
    p = load_example("seed-1000")
    exact = assert_exchange_agrees(p, p.load_market(), mode)
    assert [liq.kind for liq in exact.liquidations] == ["full"]


@pytest.mark.parametrize("mode", MODES)
def test_the_exchange_and_risk_engine_agree_on_partial_liquidations(
    mode: str, data_root: Path
) -> None:
    p = partial_window(data_root)
    exact = assert_exchange_agrees(p, p.load_market(), mode)
    kinds = [(liq.pool, liq.kind) for liq in exact.liquidations]
    if mode == "cross":
        assert kinds == [("USDT", "partial"), ("USDT", "full")]
    else:
        assert kinds == [("ETHUSDT", "full"), ("BTCUSDT", "partial"), ("BTCUSDT", "full")]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    lev=st.sampled_from([20, 50, 75]),
    mark_noise=st.sampled_from([0.0, 0.002]),
)
def test_the_exchange_agrees_on_random_markets(seed: int, lev: int, mark_noise: float) -> None:
    specs = [
        {"symbol": "BTCUSDT", "side": "long", "leverage": lev, "margin": "300"},
        {"symbol": "ETHUSDT", "side": "short", "leverage": min(lev, 50), "margin": "200"},
    ]
    p = portfolio(specs, prices={"BTCUSDT": "1", "ETHUSDT": "1"}, fees={"taker": "0.0005"})
    symbols = {k: SYMBOLS[k] for k in ("BTCUSDT", "ETHUSDT")}
    market = random_market(seed, symbols, 90, vol=0.01, funding=0.001, mark_noise=mark_noise)
    for mode in MODES:
        try:
            assert_exchange_agrees(p, market, mode)
        except SimInputError:  # a portfolio that cannot open is refused on every path
            with pytest.raises(SimInputError):
                run_fast(p, market, rules.rule(mode))

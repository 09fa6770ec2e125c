"""Portfolio margin (issue 9): exact requirements of small books, computed by hand.

The model (``isocross.margin.portfolio``, default parameters ``catalogue/portfolio_margin.json``):
each underlying ``u`` moves by ``x_u = δ_u·(k/4)·(c_u·f + (1 − c_u)·e_u)`` with ``δ_u`` the
largest tier MMR among its positions, ``c = 0.9`` for BTC and ETH, ``f, e_u`` in ±1 / {−1, 0, 1};
``requirement = max(worst grid loss, 0.25 × worst loss at k/4 = 3, 0.0005 × Σ N)
+ 0.002 × Σ_u max(0, gross_u − 5,000,000)``, ``initial = 1.3 × requirement``.

A linear position's scenario loss is ``−q·S·P·x`` (``N_signed·(−x)``); an inverse one's is
``−q·CS·(1/P − 1/(P·(1 + x)))`` coin. Tier 1 of BTCUSDT / ETHUSDT / BTCUSDC / BTCUSD_PERP has
``mmr = 0.004``, so ``δ = 0.004`` and, for BTC and ETH, the three idiosyncratic choices at full
level move a unit by ``∓0.004, ∓0.0036, ∓0.0032`` (``e`` with / neutral / against the market).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest

from isocross.catalogue import load_catalogue
from isocross.margin.portfolio import (
    PortfolioLeg,
    PortfolioParams,
    PortfolioRequirement,
    portfolio_params,
    requirement,
)
from isocross.model.enums import MarginMode
from isocross.scenario import as_mode, evaluate, load_example, parse, with_moves

CAT = load_catalogue()
PARAMS = portfolio_params()


def leg(symbol: str, qty: str, mark: str, entry: str | None = None) -> PortfolioLeg:
    return PortfolioLeg(CAT.instrument(symbol), D(qty), D(entry or mark), D(mark), symbol)


def req(*legs: PortfolioLeg, params: PortfolioParams = PARAMS) -> PortfolioRequirement:
    return requirement(list(legs), params)


def cross_mm(*legs: PortfolioLeg) -> D:
    return sum((lg.instrument.maintenance_margin(lg.qty, lg.mark) for lg in legs), D(0))


class TestParameters:
    def test_shipped_parameters_are_the_documented_ones(self) -> None:
        assert (PARAMS.steps, PARAMS.shock_multiplier) == (4, D(1))
        assert PARAMS.correlation_of("BTC") == PARAMS.correlation_of("ETH") == D("0.9")
        assert PARAMS.correlation_of("SOL") == D("0.8")  # the default
        assert (PARAMS.extreme_multiplier, PARAMS.extreme_weight) == (D(3), D("0.25"))
        assert (PARAMS.minimum_rate, PARAMS.initial_factor) == (D("0.0005"), D("1.3"))
        assert (PARAMS.concentration_threshold, PARAMS.concentration_rate) == (
            D(5_000_000),
            D("0.002"),
        )
        assert PARAMS.source
        # 4 grid levels × 2 market directions + the extreme level × 2.
        assert len(PARAMS.levels()) == 10

    def test_unknown_parameter_set_is_refused_by_name(self) -> None:
        with pytest.raises(KeyError, match="no portfolio-margin parameters 'nope'"):
            portfolio_params("nope")

    def test_no_positions_need_nothing(self) -> None:
        r = req()
        assert r.maintenance == 0 and r.initial == 0
        assert r.worst is None
        assert req(leg("BTCUSDT", "0", "100000")).maintenance == 0


class TestLonePosition:
    def test_long_btc_needs_exactly_its_cross_maintenance(self) -> None:
        """0.1 BTC at 100,000: N = 10,000. Worst: market down, BTC's own move down too,
        x = −0.004·(0.9 + 0.1) = −0.004 → loss 40. Extreme: 0.25 × 10,000 × 0.012 = 30.
        Minimum 0.0005 × 10,000 = 5. Requirement 40 = cross 0.004 × 10,000 − 0."""
        btc = leg("BTCUSDT", "0.1", "100000")
        r = req(btc)
        assert r.maintenance == D(40) == cross_mm(btc)
        assert (r.scenario_loss, r.minimum, r.concentration) == (D(40), D(5), D(0))
        assert r.initial == D(52)  # 1.3 × 40
        assert r.worst is not None
        assert (r.worst.kind, r.worst.level, r.worst.factor) == ("grid", D(1), -1)
        assert dict(r.worst.moves) == {"BTC": D("-0.004")}
        assert dict(r.leg_losses) == {"BTCUSDT": D(40)}
        assert dict(r.unit_losses) == {"BTC": D(40)}

    def test_short_btc_mirrors_the_long(self) -> None:
        """The short loses 40 when BTC rises 0.4 % (market up, e = +1)."""
        r = req(leg("BTCUSDT", "-0.1", "100000"))
        assert r.maintenance == D(40)
        assert r.worst is not None and r.worst.factor == 1
        assert dict(r.worst.moves) == {"BTC": D("0.004")}

    def test_entry_price_does_not_matter_only_the_mark(self) -> None:
        """Scenario losses are measured from mark; unrealized PnL is the pool's business."""
        assert req(leg("BTCUSDT", "0.1", "100000", entry="80000")).maintenance == D(40)

    def test_higher_tier_uses_its_rate(self) -> None:
        """1 BTC at 100,000: tier 2 (mmr 0.005, cum 50): cross 450; portfolio 100,000 × 0.005
        = 500 ≥ 450 (the shock is sized to the MMR; cum is not deducted)."""
        btc = leg("BTCUSDT", "1", "100000")
        assert cross_mm(btc) == D(450)
        assert req(btc).maintenance == D(500)


class TestHedges:
    def test_btcusdt_long_btcusdc_short_costs_only_the_minimum(self) -> None:
        """Same underlying, same notional 10,000 at the same mark: every move x costs
        −10,000·x + 10,000·x = 0. Only the minimum 0.0005 × 20,000 = 10 remains (cross: 80)."""
        usdt, usdc = leg("BTCUSDT", "0.1", "100000"), leg("BTCUSDC", "-0.1", "100000")
        r = req(usdt, usdc)
        assert r.scenario_loss == 0 and r.worst is None
        assert (r.maintenance, r.minimum, r.concentration) == (D(10), D(10), D(0))
        assert cross_mm(usdt, usdc) == D(80)

    def test_long_btc_short_eth_same_notional(self) -> None:
        """Long 0.1 BTC at 100,000, short 4 ETH at 2,500 ($10,000 each). Market down (f = −1,
        k = 4): BTC's worst is e = −1, x = −0.004, loss 40; ETH's worst for the short is
        e = +1, x = −0.004·(0.9 − 0.1) = −0.0032, loss 10,000 × (−0.0032) = −32: total 8.
        Market up is the mirror image (−32 + 40 = 8). Extreme (k/4 = 3): 0.25 × 24 = 6.
        Minimum 0.0005 × 20,000 = 10 > 8: requirement 10 against cross 40 + 40 = 80."""
        btc, eth = leg("BTCUSDT", "0.1", "100000"), leg("ETHUSDT", "-4", "2500")
        r = req(btc, eth)
        assert r.scenario_loss == D(8)
        assert r.minimum == D(10)
        assert r.maintenance == D(10)
        assert r.initial == D(13)
        assert cross_mm(btc, eth) == D(80)
        assert r.worst is not None
        assert (r.worst.kind, r.worst.level, r.worst.factor) == ("grid", D(1), -1)
        assert dict(r.worst.moves) == {"BTC": D("-0.004"), "ETH": D("-0.0032")}
        assert dict(r.leg_losses) == {"BTCUSDT": D(40), "ETHUSDT": D(-32)}

    def test_long_btc_short_half_the_eth_notional(self) -> None:
        """Long $10,000 BTC, short $5,000 ETH (2 at 2,500). Market down: BTC 40, the short's
        best-case choice x = −0.0032 gives 5,000 × (−0.0032) = −16: total 24. Market up:
        BTC −32 (x = +0.0032), ETH +20 (x = +0.004): −12. Extreme down: 0.25 × (120 − 48) = 18.
        Minimum 7.5. Requirement 24 (initial 31.2) against cross 40 + 20 = 60."""
        btc, eth = leg("BTCUSDT", "0.1", "100000"), leg("ETHUSDT", "-2", "2500")
        r = req(btc, eth)
        assert (r.maintenance, r.scenario_loss, r.minimum) == (D(24), D(24), D("7.5"))
        assert r.initial == D("31.2")
        assert cross_mm(btc, eth) == D(60)
        assert r.worst is not None and dict(r.worst.moves) == {
            "BTC": D("-0.004"),
            "ETH": D("-0.0032"),
        }
        assert dict(r.leg_losses) == {"BTCUSDT": D(40), "ETHUSDT": D(-16)}
        assert dict(r.unit_losses) == {"BTC": D(40), "ETH": D(-16)}

    def test_long_btc_long_eth_gets_no_relief(self) -> None:
        """Both long $10,000: market down with both idiosyncratic moves down: 40 + 40 = 80,
        exactly the cross maintenance."""
        btc, eth = leg("BTCUSDT", "0.1", "100000"), leg("ETHUSDT", "4", "2500")
        assert req(btc, eth).maintenance == D(80) == cross_mm(btc, eth)

    def test_hedge_mode_long_and_short_of_one_symbol(self) -> None:
        """A LONG and a SHORT leg of BTCUSDT (hedge mode): nothing moves the pair; minimum 10."""
        r = req(leg("BTCUSDT", "0.1", "100000"), leg("BTCUSDT", "-0.1", "100000"))
        assert (r.maintenance, r.scenario_loss) == (D(10), D(0))


class TestConcentration:
    def test_perfect_hedge_above_the_threshold_pays_the_add_on(self) -> None:
        """Long and short 30 BTC at 100,000: gross 6,000,000 (tier 3 each, 3,000,000 ≤ cap).
        Scenario loss 0; minimum 0.0005 × 6,000,000 = 3,000; concentration
        0.002 × (6,000,000 − 5,000,000) = 2,000: requirement 5,000."""
        r = req(leg("BTCUSDT", "30", "100000"), leg("BTCUSDC", "-30", "100000"))
        assert (r.scenario_loss, r.minimum, r.concentration) == (D(0), D(3000), D(2000))
        assert r.maintenance == D(5000)

    def test_at_the_threshold_there_is_no_add_on(self) -> None:
        """25 + 25 BTC: gross exactly 5,000,000: no add-on; requirement = minimum 2,500."""
        r = req(leg("BTCUSDT", "25", "100000"), leg("BTCUSDC", "-25", "100000"))
        assert (r.concentration, r.maintenance) == (D(0), D(2500))

    def test_concentration_is_per_underlying(self) -> None:
        """Two underlyings of 4,000,000 each: neither crosses 5,000,000."""
        r = req(leg("BTCUSDT", "40", "100000"), leg("ETHUSDT", "-1600", "2500"))
        assert r.concentration == 0

    def test_large_one_directional_position(self) -> None:
        """60 BTC at 100,000: N = 6,000,000, tier 4 (mmr 0.01, cum 11,450): cross 48,550.
        Scenario 6,000,000 × 0.01 = 60,000 (extreme 45,000), concentration 2,000:
        requirement 62,000."""
        btc = leg("BTCUSDT", "60", "100000")
        r = req(btc)
        assert cross_mm(btc) == D(48550)
        assert (r.scenario_loss, r.concentration, r.maintenance) == (D(60000), D(2000), D(62000))


class TestExtremeScenario:
    def test_default_weight_keeps_the_grid_worst(self) -> None:
        """Lone long 0.1 BTC: extreme 0.25 × 10,000 × 0.012 = 30 < grid 40."""
        r = req(leg("BTCUSDT", "0.1", "100000"))
        assert r.worst is not None and r.worst.kind == "grid"

    def test_a_heavier_weight_makes_the_extreme_scenario_bind(self) -> None:
        """Weight 0.5: 0.5 × 10,000 × 0.004 × 3 = 60 > 40. Losses are reported weighted."""
        params = replace(PARAMS, extreme_weight=D("0.5"))
        r = req(leg("BTCUSDT", "0.1", "100000"), params=params)
        assert (r.maintenance, r.scenario_loss) == (D(60), D(60))
        assert r.worst is not None
        assert (r.worst.kind, r.worst.level, r.worst.factor) == ("extreme", D(3), -1)
        assert dict(r.worst.moves) == {"BTC": D("-0.012")}
        assert dict(r.leg_losses) == {"BTCUSDT": D(60)}

    def test_zero_weight_ignores_the_extreme_level(self) -> None:
        params = replace(PARAMS, extreme_weight=D(0))
        assert req(leg("BTCUSDT", "0.1", "100000"), params=params).maintenance == D(40)

    def test_inverse_long_is_linear_in_the_shock(self) -> None:
        """The shock moves 1/P, so an inverse position loses N·x exactly (no convexity):
        300,000 BTCUSD_PERP contracts ($100 each) at 100,000: N = 300 BTC, tier (200, 400]
        mmr 0.125. Grid worst x = −0.125: 300 × 0.125 = 37.5; extreme x = −0.375 weighted
        0.25: 28.125. Requirement 37.5 BTC — at least cross's 300 × 0.125 − cum."""
        perp = leg("BTCUSD_PERP", "300000", "100000")
        r = req(perp)
        assert r.worst is not None and r.worst.kind == "grid"
        assert r.scenario_loss == D("37.5")
        assert r.maintenance == D("37.5") >= cross_mm(perp)


class TestInverse:
    def test_inverse_long(self) -> None:
        """100 contracts × $100 at 100,000: N = 0.1 BTC. Worst shock x = −0.004 of 1/P:
        0.1 × 0.004 = 0.0004 BTC, exactly cross's maintenance. Minimum 0.0005 × 0.1."""
        perp = leg("BTCUSD_PERP", "100", "100000")
        r = req(perp)
        assert cross_mm(perp) == D("0.0004")
        assert r.minimum == D("0.00005")
        assert r.maintenance == D("0.0004") == cross_mm(perp)
        assert r.worst is not None and dict(r.worst.moves) == {"BTC": D("-0.004")}

    def test_inverse_long_and_short_hedge(self) -> None:
        """Hedge-mode LONG and SHORT of 100 contracts: only the minimum 0.0005 × 0.2 BTC."""
        r = req(leg("BTCUSD_PERP", "100", "100000"), leg("BTCUSD_PERP", "-100", "100000"))
        assert (r.scenario_loss, r.maintenance) == (D(0), D("0.0001"))

    def test_inverse_short_needs_at_least_its_cross_maintenance(self) -> None:
        """Short 100 contracts at 100,000 (N = 0.1 BTC): cross MM 0.0004 BTC. The worst
        portfolio scenario x = +0.004 loses 10,000 × (1/100,000 − 1/100,400) = 0.0004/1.004
        = 1/2510 = 0.000398406… BTC, and the extreme 0.25 × 0.0012/1.012 is smaller: the
        requirement falls short of cross by 0.0004 − 1/2510 ≈ 1.6e-6 BTC."""
        perp = leg("BTCUSD_PERP", "-100", "100000")
        assert req(perp).maintenance >= cross_mm(perp)


class TestTopTier:
    def test_top_tier_position_has_a_requirement(self) -> None:
        """12,001 BTC at 100,000 (N = 1,200,100,000: BTCUSDT's last tier, mmr 0.5). Cross MM
        exists; the portfolio requirement should too (at least the grid loss N × 0.5)."""
        btc = leg("BTCUSDT", "12001", "100000")
        assert btc.instrument.tiers.tier_for(D(1_200_100_000)).mmr == D("0.5")
        assert req(btc).maintenance >= cross_mm(btc)


# ===================================================================== the calculator
def run_json(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "isocross.cli", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class TestCalculator:
    """``hedged-pair``: 1,000 USDT, long 0.1 BTC at 100,000 and short 4 ETH at 2,500, 20x."""

    def test_compare_modes_has_three_reports(self) -> None:
        report = run_json("risk", "--example", "hedged-pair", "--compare-modes")
        assert set(report) == {"cross", "isolated", "portfolio"}
        for mode, doc in report.items():
            assert {p["margin_mode"] for p in doc["positions"]} == {mode}
        assert report["cross"]["margin_assets"]["USDT"]["maintenance_margin"] == "80"
        pool = report["portfolio"]["margin_assets"]["USDT"]
        # Requirement 10 (the minimum), initial 13; the rest of the 1,000 is available.
        assert (pool["maintenance_margin"], pool["initial_margin"]) == ("10", "13")
        assert (pool["available_balance"], pool["max_withdrawable"]) == ("987", "987")
        assert pool["margin_ratio"] == "0.01"
        pm = report["portfolio"]["portfolio"]["USDT"]
        assert (pm["requirement"], pm["cross_maintenance"], pm["saved_versus_cross"]) == (
            "10",
            "80",
            "70",
        )
        assert "portfolio" not in report["cross"] and "portfolio" not in report["isolated"]

    def test_explain(self) -> None:
        pm = run_json("risk", "--example", "hedged-pair", "--explain")["USDT"]
        assert pm["requirement"] == "10"
        assert pm["initial_requirement"] == "13"
        assert pm["scenario_loss"] == "8"
        assert pm["minimum_charge"] == "10"
        assert pm["concentration_add_on"] == "0"
        assert pm["cross_maintenance"] == "80"
        assert pm["saved_versus_cross"] == "70"
        assert pm["worst_scenario"] == {
            "kind": "grid",
            "level": "1",
            "market": "down",
            "moves": {"BTC": "-0.004", "ETH": "-0.0032"},
        }
        assert pm["position_losses"] == {"BTCUSDT:BOTH": "40", "ETHUSDT:BOTH": "-32"}
        assert set(pm["underlyings"]) == {"BTC", "ETH"}
        assert pm["underlyings"]["BTC"]["cross_maintenance"] == "40"
        assert pm["underlyings"]["ETH"]["scenario_loss"] == "-32"

    def test_explain_after_a_move(self) -> None:
        """In process (the same path ``--explain --move`` takes). BTC −5 % (95,000), ETH +1 %
        (2,525): BTC N 9,500, ETH N 10,100. Market up: BTC's best case x = +0.0032 costs
        −30.4, ETH's worst x = +0.004 costs 40.4: 10.0; market down: 38 − 32.32 = 5.68.
        Minimum 0.0005 × 19,600 = 9.8. Requirement 10."""
        scenario = as_mode(parse(load_example("hedged-pair")), MarginMode.PORTFOLIO)
        moved = with_moves(scenario, ["BTCUSDT=-5%", "ETHUSDT=2525"])
        pm = evaluate(moved)["portfolio"]["USDT"]
        assert (pm["requirement"], pm["scenario_loss"], pm["minimum_charge"]) == ("10", "10", "9.8")
        assert pm["worst_scenario"]["market"] == "up"
        assert pm["worst_scenario"]["moves"] == {"BTC": "0.0032", "ETH": "0.004"}
        assert pm["cross_maintenance"] == "78.4"  # 0.004 × (9,500 + 10,100)
        assert pm["saved_versus_cross"] == "68.4"

"""The risk engine's pure pieces with hand-computed figures: pool bankruptcy prices, liquidation
order prices, partial-liquidation sizes (``restore`` and ``ladder``), the ADL score and ranking,
and margin-call hysteresis.

Every expected value is worked out in the comment above it. Tier tables are the shipped Binance
ones: BTCUSDT ``(0, 50k] 0.4 %``, ``(50k, 600k] 0.5 % cum 50``, ``(600k, 3M] 0.65 % cum 950``;
SOLUSDT ``(0, 20k] 0.5 %``; BTCUSD_PERP (inverse, 100 USD a contract, margined in BTC)
``(0, 5] 0.4 %``, ``(5, 10] 0.5 % cum 0.005``.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isocross.catalogue import load_catalogue
from isocross.margin.liquidation import Leg, bankruptcy_price
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO
from isocross.risk.adl import adl_score, rank
from isocross.risk.alerts import LEVEL, RATIO, AlertBook
from isocross.risk.plan import PoolLeg, bankruptcy_prices, ladder_size, order_price, restore_size

CAT = load_catalogue()
BTC = CAT.instrument("BTCUSDT")
ETH = CAT.instrument("ETHUSDT")
SOL = CAT.instrument("SOLUSDT")
INV = CAT.instrument("BTCUSD_PERP")


def leg(inst: Instrument, qty: str | D, entry: str | D, mark: str | D) -> PoolLeg:
    """A pool leg at ``mark`` with its exact maintenance margin and unrealized PnL."""
    q, e, m = D(qty), D(entry), D(mark)
    return PoolLeg(inst, q, m, inst.maintenance_margin(q, m), inst.unrealized_pnl(q, e, m))


def close(a: D | None, b: D, tol: D = D("1e-40")) -> bool:
    return a is not None and abs(a - b) <= tol * max(abs(b), D(1))


# ============================================================================ bankruptcy prices
class TestBankruptcyPrices:
    @pytest.mark.parametrize("mark", ["100000", "95000", "81000", "70000"])
    def test_single_linear_long_is_the_isolated_bankruptcy_price(self, mark: str) -> None:
        # Long 0.01 BTC from 100,000 with W = 200 (5x): b = entry − W/q = 100,000 − 20,000.
        # At mark 95,000: PnL −50, E = 150, the whole equity is the leg's share, so
        # b = 95,000 − 150/0.01 = 80,000. At 70,000 the price gapped through it (E = −100) and
        # b = 70,000 + 100/0.01 = 80,000 lies above mark: the same price from every mark.
        (b,) = bankruptcy_prices([leg(BTC, "0.01", "100000", mark)], D(200))
        assert b == D(80000)
        assert b == bankruptcy_price(BTC, [Leg(D("0.01"), D(100000))], D(200))

    @pytest.mark.parametrize("mark", ["100000", "103000", "125000"])
    def test_single_linear_short_is_the_isolated_bankruptcy_price(self, mark: str) -> None:
        # Short 0.01 from 100,000 with W = 200: b = entry + W/|q| = 120,000 (at 103,000:
        # PnL −30, E = 170, b = 103,000 + 170/0.01).
        (b,) = bankruptcy_prices([leg(BTC, "-0.01", "100000", mark)], D(200))
        assert b == D(120000)
        assert b == bankruptcy_price(BTC, [Leg(D("-0.01"), D(100000))], D(200))

    def test_a_long_that_can_never_go_bankrupt_has_none(self) -> None:
        # 1x long: W = 1,000 = q·entry, so b = 100,000 − 1,000/0.01 = 0: no positive price.
        assert bankruptcy_prices([leg(BTC, "0.01", "100000", "90000")], D(1000)) == [None]
        assert bankruptcy_prices([leg(BTC, "0.01", "100000", "90000")], D(1500)) == [None]

    def test_two_legs_share_the_equity_by_maintenance_margin(self) -> None:
        # BTC long 0.02 from 101,000 at mark 100,000: N 2,000, MM 8, PnL −20.
        # SOL short 12 from 195 at mark 200:           N 2,400, MM 12, PnL −60.
        # W = 780 → E = 700; shares 700·8/20 = 280 and 700·12/20 = 420.
        # b_BTC = 100,000 − 280/0.02 = 86,000; b_SOL = 200 + 420/12 = 235.
        legs = [leg(BTC, "0.02", "101000", "100000"), leg(SOL, "-12", "195", "200")]
        assert [lg.maintenance for lg in legs] == [D(8), D(12)]
        assert bankruptcy_prices(legs, D(780)) == [D(86000), D(235)]
        # Closing both at those prices loses exactly the wallet:
        # 0.02·(86,000 − 101,000) = −300 and −12·(235 − 195) = −480; 780 − 300 − 480 = 0.
        assert BTC.unrealized_pnl(D("0.02"), D(101000), D(86000)) == D(-300)
        assert SOL.unrealized_pnl(D(-12), D(195), D(235)) == D(-480)

    def test_a_gapped_pool_puts_every_leg_beyond_mark(self) -> None:
        # Same legs, W = 30: E = 30 − 80 = −50, shares −20 and −30.
        # b_BTC = 100,000 + 20/0.02 = 101,000 (above mark: the long is closed at a loss the
        # fund absorbs) and b_SOL = 200 − 30/12 = 197.5 (below mark).
        legs = [leg(BTC, "0.02", "101000", "100000"), leg(SOL, "-12", "195", "200")]
        assert bankruptcy_prices(legs, D(30)) == [D(101000), D("197.5")]

    @pytest.mark.parametrize(
        ("wallet", "marks"),
        [
            ("1234.56789", ("98765.4", "3210.98", "187.3")),
            ("77.7", ("100001", "2999.99", "201.01")),
            ("15.5", ("99000", "3100", "190")),  # E < 0
        ],
    )
    def test_losses_at_bankruptcy_sum_to_the_equity(
        self, wallet: str, marks: tuple[str, str, str]
    ) -> None:
        # Σ PnL_i(b_i) − Σ PnL_i(m_i) = −E, i.e. W + Σ PnL_i(b_i) = 0 (up to 50-digit division).
        spec = [(BTC, "0.037", "97531.2"), (ETH, "-1.234", "3000.01"), (SOL, "13", "185.5")]
        legs = [leg(i, q, e, m) for (i, q, e), m in zip(spec, marks, strict=True)]
        busts = bankruptcy_prices(legs, D(wallet))
        total = D(wallet) + sum(
            (i.unrealized_pnl(D(q), D(e), b) for (i, q, e), b in zip(spec, busts, strict=True)),
            ZERO,
        )
        assert abs(total) < D("1e-40")
        # Each leg's loss from mark is its maintenance share of the equity.
        equity = D(wallet) + sum((lg.pnl for lg in legs), ZERO)
        mm = sum((lg.maintenance for lg in legs), ZERO)
        for lg, b, (i, q, e) in zip(legs, busts, spec, strict=True):
            drop = lg.pnl - i.unrealized_pnl(D(q), D(e), b)
            assert close(drop, equity * lg.maintenance / mm)

    def test_legs_without_maintenance_share_by_notional(self) -> None:
        # (Not reachable with positive MMRs, but defined:) N 1,000 and 3,000, E = 400 →
        # shares 100 and 300: b = 100,000 − 100/0.01 = 90,000 and 3,000 − 300/1 = 2,700.
        legs = [
            PoolLeg(BTC, D("0.01"), D(100000), ZERO, ZERO),
            PoolLeg(ETH, D(1), D(3000), ZERO, ZERO),
        ]
        assert bankruptcy_prices(legs, D(400)) == [D(90000), D(2700)]

    def test_inverse_long(self) -> None:
        # BTCUSD_PERP long 10 contracts (1,000 USD) from 50,000 with W = 0.005 BTC.
        # Isolated: 1/b = 1/EP + W/(q·CS) = 0.00002 + 0.005/1,000 = 0.000025 → b = 40,000.
        (b,) = bankruptcy_prices([leg(INV, "10", "50000", "50000")], D("0.005"))
        assert b == D(40000)
        # From mark 45,000: PnL = 1,000·(1/50,000 − 1/45,000) = −0.00222…, E = 0.00277…,
        # 1/b = 1/45,000 + E/1,000 = 0.000025 again.
        (b,) = bankruptcy_prices([leg(INV, "10", "50000", "45000")], D("0.005"))
        assert close(b, D(40000))
        assert close(b, bankruptcy_price(INV, [Leg(D(10), D(50000))], D("0.005")) or D(0))

    def test_inverse_short(self) -> None:
        # Short 10 from 50,000, W = 0.005: 1/b = 0.00002 − 0.000005 = 0.000015 → 66,666.66…
        (b,) = bankruptcy_prices([leg(INV, "-10", "50000", "52000")], D("0.005"))
        assert close(b, D(1) / D("0.000015"))
        # W = 0.02 BTC = the whole notional at entry: 1/b = 0, a 1x short is never bankrupt.
        assert bankruptcy_prices([leg(INV, "-10", "50000", "52000")], D("0.02")) == [None]
        assert bankruptcy_price(INV, [Leg(D(-10), D(50000))], D("0.02")) is None


# ============================================================================ order price
class TestOrderPrice:
    @pytest.mark.parametrize(
        ("inst", "qty", "bust", "expected"),
        [
            # A long is sold at or above its bankruptcy price (ceiling to the tick) …
            (BTC, "0.01", "86000.04", "86000.10"),
            (BTC, "0.01", "86000.00", "86000.00"),
            (BTC, "0.01", "86000.1000001", "86000.2"),
            # … a short bought at or below it (floor).
            (BTC, "-0.01", "86000.06", "86000.00"),
            (BTC, "-0.01", "86000.10", "86000.10"),
            (ETH, "-1", "2345.6789", "2345.67"),
            (ETH, "1", "2345.6711", "2345.68"),
            (INV, "10", "66666.6666", "66666.7"),
            (INV, "-10", "66666.6666", "66666.6"),
            # A long's price never rounds below one tick.
            (BTC, "0.01", "0.03", "0.10"),
        ],
    )
    def test_rounds_in_the_traders_favour(
        self, inst: Instrument, qty: str, bust: str, expected: str
    ) -> None:
        price = order_price(inst, D(qty), D(bust))
        assert price == D(expected)
        assert price % inst.tick_size == 0
        assert (price >= D(bust)) if D(qty) > 0 else (price <= D(bust))

    def test_no_bankruptcy_price_sells_at_any_price_and_buys_at_any_price(self) -> None:
        assert order_price(BTC, D("0.01"), None) == BTC.tick_size
        assert order_price(BTC, D("-0.01"), None) == D(10) ** 18


# ============================================================================ restore
def compliant_after(
    lg: PoolLeg, balance: D, maintenance: D, fee: D, closed: D, target: D = D(1)
) -> bool:
    """Independently: close ``closed`` of the leg at mark, pay the fee, compare."""
    sign = 1 if lg.qty > 0 else -1
    rest = (abs(lg.qty) - closed) * sign
    mm = maintenance - lg.maintenance + lg.instrument.maintenance_margin(rest, lg.mark)
    mb = balance - fee * lg.instrument.notional(closed, lg.mark)
    return target * mb > mm


class TestRestoreSize:
    def test_just_enough_to_restore_a_single_leg(self) -> None:
        # Long 1 BTC at mark 100,000: N 100,000 in tier 2, MM = 500 − 50 = 450; MB = 440.
        # Closing x (fee 0.3 %): MB' = 440 − 300x; while the rest stays in tier 2,
        # MM' = 500(1 − x) − 50 = 450 − 500x; slack = −10 + 200x > 0 ⟺ x > 0.05.
        # On the 0.001 grid: 50 steps leave slack exactly 0 (not compliant), 51 steps do.
        lg = leg(BTC, "1", "100000", "100000")
        assert lg.maintenance == D(450)
        size = restore_size(lg, D(440), D(450), D("0.003"))
        assert size == D("0.051")
        assert not compliant_after(lg, D(440), D(450), D("0.003"), D("0.050"))
        assert compliant_after(lg, D(440), D(450), D("0.003"), D("0.051"))

    def test_a_short_and_another_leg_in_the_pool(self) -> None:
        # Short 2 ETH at 3,000 (N 6,000, tier 1, MM 24) plus another leg holding MM 40:
        # pool MM 64, MB 60. Closing x at fee 0.1 %: MB' = 60 − 3x, MM' = 40 + 12(2 − x)
        # = 64 − 12x; slack = −4 + 9x > 0 ⟺ x > 4/9 = 0.444… → 0.445 (445 steps).
        lg = leg(ETH, "-2", "2900", "3000")
        assert lg.maintenance == D(24)
        size = restore_size(lg, D(60), D(64), D("0.001"))
        assert size == D("0.445")
        assert not compliant_after(lg, D(60), D(64), D("0.001"), D("0.444"))
        assert compliant_after(lg, D(60), D(64), D("0.001"), D("0.445"))

    def test_a_target_ratio_below_one_asks_for_more(self) -> None:
        # As the first case with target 0.8: 0.8(440 − 300x) > 450 − 500x ⟺ 260x > 98
        # ⟺ x > 0.37692… → 0.377.
        lg = leg(BTC, "1", "100000", "100000")
        size = restore_size(lg, D(440), D(450), D("0.003"), target_ratio=D("0.8"))
        assert size == D("0.377")
        assert not compliant_after(lg, D(440), D(450), D("0.003"), D("0.376"), D("0.8"))
        assert compliant_after(lg, D(440), D(450), D("0.003"), D("0.377"), D("0.8"))

    def test_already_compliant_needs_nothing(self) -> None:
        lg = leg(BTC, "1", "100000", "100000")
        assert restore_size(lg, D(451), D(450), D("0.003")) == ZERO

    def test_crossing_a_tier_down(self) -> None:
        # Long 1 BTC at 100,000, MB 300 (fee 0.3 %): in tier 2 slack = −150 + 200x, positive
        # only past x = 0.75, where the rest (25,000) is in tier 1: MM' = 400(1 − x),
        # slack = 300 − 300x − 400 + 400x = −100 + 100x > 0 ⟺ x > 1: only closing all of it
        # (rest 0, MM' 0, slack 300 − 300 = 0) is not enough either → None.
        lg = leg(BTC, "1", "100000", "100000")
        assert restore_size(lg, D(300), D(450), D("0.003")) is None
        # MB 420: tier 2 slack −30 + 200x, x > 0.15 → 0.151 (rest 84,900 still in tier 2).
        assert restore_size(lg, D(420), D(450), D("0.003")) == D("0.151")
        # MB 360: tier 2 needs x > 0.45, the rest is then 54,900 (tier 2): 0.451.
        assert restore_size(lg, D(360), D(450), D("0.003")) == D("0.451")
        # MB 352: tier-2 formula would need x > 0.49 → 0.491 (rest 50,900, still tier 2).
        assert restore_size(lg, D(352), D(450), D("0.003")) == D("0.491")
        # MB 345: tier 2 gives x > 0.525, but there the rest (47,500) is in tier 1, where
        # slack = 345 − 300x − 400 + 400x = −55 + 100x > 0 ⟺ x > 0.55 → 0.551.
        assert restore_size(lg, D(345), D(450), D("0.003")) == D("0.551")
        assert not compliant_after(lg, D(345), D(450), D("0.003"), D("0.550"))
        assert compliant_after(lg, D(345), D(450), D("0.003"), D("0.551"))

    def test_a_tier_mmr_below_the_fee_rate_is_a_full_liquidation(self) -> None:
        # Long 0.1 BTC at 100,000: N 10,000 in tier 1 (MMR 0.4 %), MM 40, MB 39, fee 0.5 %.
        # slack = 39 − 500x − 400(0.1 − x) = −1 − 100x: every close makes it worse → None.
        lg = leg(BTC, "0.1", "100000", "100000")
        assert restore_size(lg, D(39), D(40), D("0.005")) is None
        # The same with the fee below the MMR restores: slack = −1 + 100x (fee 0.3 %) → 0.011.
        assert restore_size(lg, D(39), D(40), D("0.003")) == D("0.011")

    def test_inverse(self) -> None:
        # BTCUSD_PERP long 2,000 contracts at 25,000: N = 2,000·100/25,000 = 8 BTC (tier 2),
        # MM = 0.04 − 0.005 = 0.035; MB 0.034; fee 0.3 %: closing x contracts,
        # MB' = 0.034 − 0.003·0.004x (0.004x BTC closed), MM' = 0.005(8 − 0.004x) − 0.005 = 0.035 − 0.00002x;
        # slack = −0.001 + 0.000008x > 0 ⟺ x > 125 → 126 contracts.
        lg = leg(INV, "2000", "26000", "25000")
        assert lg.maintenance == D("0.035")
        assert restore_size(lg, D("0.034"), D("0.035"), D("0.003")) == D(126)
        assert not compliant_after(lg, D("0.034"), D("0.035"), D("0.003"), D(125))
        assert compliant_after(lg, D("0.034"), D("0.035"), D("0.003"), D(126))

    @settings(max_examples=150, deadline=None)
    @given(
        inst=st.sampled_from([BTC, SOL, INV]),
        lots=st.integers(1, 400),
        long=st.booleans(),
        mark_ticks=st.integers(1, 10**6),
        other=st.integers(0, 5000),
        short_of=st.integers(-50, 2000),
        fee=st.sampled_from([D(0), D("0.0006"), D("0.003"), D("0.005"), D("0.01")]),
    )
    def test_the_smallest_compliant_step_multiple(
        self,
        inst: Instrument,
        lots: int,
        long: bool,
        mark_ticks: int,
        other: int,
        short_of: int,
        fee: D,
    ) -> None:
        # Against a brute force over every step multiple: the smallest k with the pool
        # compliant after closing k steps, or None when no k is.
        scale = {"BTCUSDT": D(100), "SOLUSDT": D("0.5"), "BTCUSD_PERP": D(50)}[inst.symbol]
        qty = lots * inst.step_size if long else -lots * inst.step_size
        mark = mark_ticks * inst.tick_size * scale
        lg = leg(inst, qty, mark, mark)
        unit = D("0.0001") if inst.symbol == "BTCUSD_PERP" else D("0.1")
        maintenance = lg.maintenance + other * unit
        balance = maintenance - short_of * unit / 10
        n = int(abs(qty) / inst.step_size)
        expected = next(
            (
                k * inst.step_size
                for k in range(n + 1)
                if compliant_after(lg, balance, maintenance, fee, k * inst.step_size)
            ),
            None,
        )
        assert restore_size(lg, balance, maintenance, fee) == expected


# ============================================================================ ladder
class TestLadderSize:
    def test_closes_down_to_the_previous_tier_cap(self) -> None:
        # Long 1 BTC at 100,000 (tier 2, MM 450, MB 440). The previous tier's cap is 50,000:
        # keep 0.5, close 0.5. MM' = 0.4 % · 50,000 = 200, MB' = 440 − 0.0006·50,000 = 410.
        lg = leg(BTC, "1", "100000", "100000")
        assert ladder_size(lg, D(440), D(450), D("0.0006")) == D("0.500")

    def test_keeps_whole_steps_within_the_cap(self) -> None:
        # Short 2 BTC at 30,000 (N 60,000, tier 2, MM 250): keep 50,000/30,000 = 1.666… →
        # 1.666 on the 0.001 grid (N 49,980, tier 1, MM' 199.92), close 0.334:
        # MB' = 240 − 0.0006·10,020 = 233.988 > 199.92.
        lg = leg(BTC, "-2", "29000", "30000")
        assert lg.maintenance == D(250)
        assert ladder_size(lg, D(240), D(250), D("0.0006")) == D("0.334")
        # With MB 200 the reduced position would still be deficient (193.988 ≤ 199.92), and
        # tier 1 is the lowest: None.
        assert ladder_size(lg, D(200), D(250), D("0.0006")) is None

    def test_steps_down_more_than_one_tier_when_one_is_not_enough(self) -> None:
        # Long 10 BTC at 100,000: N 1,000,000 (tier 3), MM = 6,500 − 950 = 5,550; MB 3,000.
        # To 600,000 (keep 6): MM' = 3,000 − 50 = 2,950, MB' = 3,000 − 0.0006·400,000 = 2,760:
        # not enough. To 50,000 (keep 0.5): MM' = 200, MB' = 3,000 − 570 = 2,430 → close 9.5.
        lg = leg(BTC, "10", "100000", "100000")
        assert lg.maintenance == D(5550)
        assert ladder_size(lg, D(3000), D(5550), D("0.0006")) == D("9.500")
        # With MB 3,200 the first step is enough: 3,200 − 240 = 2,960 > 2,950 → close 4.
        assert ladder_size(lg, D(3200), D(5550), D("0.0006")) == D("4.000")

    def test_none_at_the_lowest_tier_or_when_no_step_restores(self) -> None:
        assert ladder_size(leg(BTC, "0.1", "100000", "100000"), D(39), D(40), D(0)) is None
        lg = leg(BTC, "10", "100000", "100000")
        assert ladder_size(lg, D(100), D(5550), D("0.0006")) is None

    def test_inverse(self) -> None:
        # BTCUSD_PERP long 2,000 at 25,000: N 8 BTC (tier 2). Keep 5 BTC = 5·25,000/100 = 1,250
        # contracts, close 750 (3 BTC): MM' = 0.02, MB' = 0.034 − 0.0006·3 = 0.0322.
        lg = leg(INV, "2000", "26000", "25000")
        assert ladder_size(lg, D("0.034"), D("0.035"), D("0.0006")) == D(750)


# ============================================================================ ADL
class TestAdlScore:
    def test_the_forum_sample(self) -> None:
        # dev.binance.vision thread 17801: UPNL 40.2, WB 4.27, margin ratio 13.42 %.
        # PnL% = 40.2/4.27 = 9.41451990632318…; LeveragePnL = 9.4145… × 0.1342 = 1.26342857…
        upnl, wb, ratio = D("40.2"), D("4.27"), D("0.1342")
        pnl_pct = upnl / wb
        assert str(pnl_pct)[:12] == "9.4145199063"
        maintenance = ratio * (wb + upnl)  # MM = 0.1342 × 44.47 = 5.967874
        assert maintenance == D("5.967874")
        score = adl_score(upnl, wb, maintenance)
        assert score == pnl_pct * ratio
        assert close(score, D("5.39484") / D("4.27"))
        assert score.quantize(D("0.0001")) == D("1.2634")

    def test_a_wallet_below_one_counts_as_one(self) -> None:
        # PnL% = 10/max(1, 0.5) = 10; ratio = 2/10.5 → 20/10.5 = 1.904761…
        assert adl_score(D(10), D("0.5"), D(2)) == D(10) * (D(2) / D("10.5"))

    def test_a_loss_or_an_exhausted_balance_scores_zero(self) -> None:
        assert adl_score(D(-5), D(100), D(3)) == 0
        assert adl_score(D(0), D(100), D(3)) == 0
        assert adl_score(D(5), D(-5), D(3)) == 0  # WB + UPNL = 0
        assert adl_score(D(5), D(-10), D(3)) == 0


class TestRank:
    def test_highest_score_first_then_size_then_account(self) -> None:
        entries = [
            ("a", "BOTH", D(1), D("0.5")),
            ("b", "BOTH", D(-3), D("2")),
            ("c", "LONG", D(2), D("0.5")),  # same score as a, larger size: before a
            ("d", "BOTH", D(2), D("0.5")),  # same score and size as c: after c (id)
            ("e", "SHORT", D(9), D(0)),
        ]
        ranked = rank(entries)
        assert [r.account_id for r in ranked] == ["b", "c", "d", "a", "e"]
        # n = 5: ceil(5·(5 − i)/5) = 5, 4, 3, 2, and 0 for the zero score (never in line).
        assert [r.quantile for r in ranked] == [5, 4, 3, 2, 0]
        assert ranked[0].qty == D(-3) and ranked[1].position_side == "LONG"

    @pytest.mark.parametrize(
        ("n", "quantiles"),
        [
            (1, [5]),
            (2, [5, 3]),  # ceil(10/2), ceil(5/2)
            (3, [5, 4, 2]),  # ceil(15/3), ceil(10/3), ceil(5/3)
            (7, [5, 5, 4, 3, 3, 2, 1]),  # ceil(35/7 … 5/7)
            (10, [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]),
        ],
    )
    def test_quantiles(self, n: int, quantiles: list[int]) -> None:
        entries = [(f"u{i:02}", "BOTH", D(1), D(n - i)) for i in range(n)]
        ranked = rank(entries)
        assert [r.account_id for r in ranked] == [f"u{i:02}" for i in range(n)]
        assert [r.quantile for r in ranked] == quantiles

    def test_empty(self) -> None:
        assert rank([]) == []


# ============================================================================ alerts
RATIOS = (D("0.5"), D("0.7"), D("0.8"))
LEVELS = (D(300), D(200), D(150))


class TestAlertBook:
    def test_margin_ratio_fires_once_per_crossing_with_hysteresis(self) -> None:
        book = AlertBook()

        def feed(value: str | None) -> list[D]:
            v = None if value is None else D(value)
            return list(book.update("acct", "USDT", RATIO, v, RATIOS, D("0.05")))

        assert feed("0.4") == []
        assert feed("0.5") == [D("0.5")]  # at the threshold: fires
        assert feed("0.6") == []  # already fired
        assert feed("0.47") == []  # inside the band: still fired
        assert feed("0.52") == []  # hovering does not alert again
        assert feed("0.45") == []  # exactly t − h is not a recovery …
        assert feed("0.5") == []  # … so this is no new crossing
        assert feed("0.4499") == []  # below t − h: re-armed
        assert feed("0.51") == [D("0.5")]  # falls back: fires again
        assert feed("0.85") == [D("0.7"), D("0.8")]
        assert feed(None) == []  # exhausted = worst, everything already fired
        assert feed("0.1") == []  # recovers from all three
        assert feed(None) == list(RATIOS)  # an exhausted balance is past every threshold
        assert book.fired == {("acct", "USDT", RATIO, t) for t in RATIOS}

    def test_margin_level_alerts_the_other_way(self) -> None:
        book = AlertBook()

        def feed(value: str | None) -> list[D]:
            v = None if value is None else D(value)
            return list(book.update("acct", "USDT", LEVEL, v, LEVELS, D(10)))

        assert feed("350") == []
        assert feed("300") == [D(300)]  # falls to the threshold
        assert feed("250") == []
        assert feed("305") == []  # inside the band
        assert feed("310") == []  # exactly L + h is not a recovery
        assert feed("290") == []
        assert feed("310.01") == []  # above L + h: re-armed
        assert feed("299.99") == [D(300)]
        assert feed("140") == [D(200), D(150)]
        assert feed(None) == []  # nothing used: best, re-arms everything
        assert feed("140") == list(LEVELS)

    def test_keys_are_independent_and_forget_rearms_a_pool(self) -> None:
        book = AlertBook()
        assert list(book.update("a", "USDT", RATIO, D("0.9"), RATIOS, D("0.05"))) == list(RATIOS)
        assert list(book.update("b", "USDT", RATIO, D("0.9"), RATIOS, D("0.05"))) == list(RATIOS)
        assert list(book.update("a", "BTC", RATIO, D("0.6"), RATIOS, D("0.05"))) == [D("0.5")]
        assert list(book.update("a", "USDT", LEVEL, D(100), LEVELS, D(10))) == list(LEVELS)
        book.forget("a", "USDT")
        assert {k[:2] for k in book.fired} == {("b", "USDT"), ("a", "BTC")}
        assert list(book.update("a", "USDT", RATIO, D("0.9"), RATIOS, D("0.05"))) == list(RATIOS)
        assert list(book.update("b", "USDT", RATIO, D("0.9"), RATIOS, D("0.05"))) == []

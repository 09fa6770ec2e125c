"""Mark price (median rule, basis window) and funding (impact prices, premium, rate, cap, schedule).

Figures from Binance FAQ 360033525071 / 360033525031 and the 2025-09-16 announcement, as quoted
in the reference notes §1.4; the rest are hand-computed.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.catalogue import load_catalogue
from isocross.model.errors import IsocrossError
from isocross.model.instrument import Instrument, Tier, TierTable
from isocross.risk.funding import (
    BINANCE_FUNDING,
    CapRule,
    FundingConfig,
    FundingState,
    average_premium,
    funding_cap,
    funding_payment,
    funding_rate,
    impact_margin_notional,
    impact_price,
    instrument_funding_cap,
    next_settlement,
    premium_index,
)
from isocross.risk.mark import (
    BINANCE_LEGACY,
    MarkPriceConfig,
    MarkPriceState,
    MarkSource,
    basis_sample,
    funding_adjusted_index,
    median,
)

BTC = load_catalogue().instrument("BTCUSDT")
COIN_M = load_catalogue().instrument("BTCUSD_PERP")
SOL_DYDX = load_catalogue("dydx").instrument("SOLUSDT")  # IMF 5 % → 20x, like BNBUSDT's example
HOUR = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00:00 UTC, a settlement time


def bnb_like() -> Instrument:
    """BTCUSDT's filters with a one-tier 20x table (the FAQ's BNBUSDT: 20x, IMR 5 %)."""
    return BTC.with_tiers(TierTable.of([Tier(D(0), None, 20, D("0.025"), D(0))]))


# ===================================================================== mark price
class TestMarkComponents:
    def test_price1_scales_the_rate_by_time_left(self) -> None:
        # Index 50,000, rate 0.01 %, 4 h of 8 h left: 50,000 × (1 + 0.0001 × 0.5) = 50,002.5.
        assert funding_adjusted_index(D(50_000), D("0.0001"), 4 * HOUR, 8 * HOUR) == D("50002.5")

    def test_price1_time_left_is_clamped_to_one_interval(self) -> None:
        assert funding_adjusted_index(D(50_000), D("0.0001"), 20 * HOUR, 8 * HOUR) == D("50005")
        assert funding_adjusted_index(D(50_000), D("0.0001"), -5, 8 * HOUR) == D(50_000)

    def test_basis_sample_is_mid_minus_index(self) -> None:
        assert basis_sample(D(50_000), D("50010.0"), D("50010.2")) == D("10.1")

    def test_median_of_two_is_their_mean(self) -> None:
        assert median([D(3), D(1), D(2)]) == D(2)
        assert median([D(1), D(2)]) == D("1.5")
        assert median([D(7)]) == D(7)
        with pytest.raises(IsocrossError):
            median([])


def state_with_basis(
    basis_mid: D, ts: int, config: MarkPriceConfig | None = None
) -> MarkPriceState:
    state = MarkPriceState(BTC, config or MarkPriceConfig())
    # One sample: bid/ask straddle index + basis_mid.
    assert state.sample_basis(
        ts, D(50_000), D(50_000) + basis_mid - D("0.05"), D(50_000) + basis_mid + D("0.05")
    )
    return state


class TestMedianCases:
    """Index 50,000, 4 h of 8 h to funding. Price1 = 50,000 × (1 + r/2); Price2 = 50,000 + basis."""

    ts = T0 + 4 * HOUR
    next_funding = T0 + 8 * HOUR

    def test_price1_is_the_median(self) -> None:
        # Price1 = 50,000 × (1 + 0.0002/2) = 50,005; Price2 = 50,010; last = 50,000.
        state = state_with_basis(D(10), self.ts)
        mark = state.mark(self.ts, D(50_000), D(50_000), D("0.0002"), self.next_funding)
        assert mark == D("50005.00")

    def test_price2_is_the_median(self) -> None:
        # Price1 = 50,005; Price2 = 50,003; last = 49,990.
        state = state_with_basis(D(3), self.ts)
        mark = state.mark(self.ts, D(50_000), D(49_990), D("0.0002"), self.next_funding)
        assert mark == D("50003.00")

    def test_last_price_is_the_median(self) -> None:
        # Price1 = 50,005; Price2 = 49,990; last = 50,001.23.
        state = state_with_basis(D(-10), self.ts)
        mark = state.mark(self.ts, D(50_000), D("50001.23"), D("0.0002"), self.next_funding)
        assert mark == D("50001.23")

    def test_rounded_half_even_to_price_precision(self) -> None:
        # Price1 = 50,000 × (1 + 0.0000001/2) = 50,000.0025 → 50,000.00 (half-even, 2 places);
        # Price2 = 50,000.005 → median of (50,000.0025, 50,000.005, 50,010) = 50,000.005 → 50,000.00.
        state = state_with_basis(D("0.005"), self.ts)
        mark = state.mark(self.ts, D(50_000), D(50_010), D("0.0000001"), self.next_funding)
        assert mark == D("50000.00")
        state = state_with_basis(D("0.015"), self.ts)
        assert state.mark(self.ts, D(50_000), D(50_010), D("0.0000001"), self.next_funding) == D(
            "50000.02"
        )


class TestMissingInputs:
    ts = T0 + 4 * HOUR
    next_funding = T0 + 8 * HOUR

    def test_nothing_but_the_index(self) -> None:
        state = MarkPriceState(BTC)
        assert state.mark(self.ts, D("50000.004"), None, None, self.next_funding) == D("50000.00")

    def test_no_last_trade_is_the_mean_of_price1_and_price2(self) -> None:
        # Price1 = 50,005; Price2 = 50,010 → 50,007.5.
        state = state_with_basis(D(10), self.ts)
        assert state.mark(self.ts, D(50_000), None, D("0.0002"), self.next_funding) == D("50007.50")

    def test_no_book_means_no_basis_sample(self) -> None:
        state = MarkPriceState(BTC)
        assert not state.sample_basis(self.ts, D(50_000), None, D(50_001))
        assert not state.sample_basis(self.ts, D(50_000), D(49_999), None)
        assert state.samples == ()
        # Price1 = 50,005 and last 50,020: the mean, 50,012.5.
        assert state.mark(self.ts, D(50_000), D(50_020), D("0.0002"), self.next_funding) == D(
            "50012.50"
        )

    def test_no_funding_rate_means_price1_is_the_index(self) -> None:
        state = state_with_basis(D(10), self.ts)
        assert state.mark(self.ts, D(50_000), D(49_000), None, self.next_funding) == D("50000.00")

    def test_refuses_non_positive_index(self) -> None:
        with pytest.raises(IsocrossError):
            MarkPriceState(BTC).mark(self.ts, D(0), None, None, self.next_funding)


class TestBasisWindow:
    def test_one_sample_per_period(self) -> None:
        state = MarkPriceState(BTC)
        assert state.sample_basis(T0 + 100, D(100), D(99), D(101))
        assert not state.sample_basis(T0 + 999, D(100), D(99), D(105))  # same second
        assert not state.sample_basis(T0 + 50, D(100), D(99), D(105))  # earlier
        assert state.sample_basis(T0 + 1_000, D(100), D(100), D(104))
        assert [b for _, b in state.samples] == [D(0), D(2)]

    def test_window_rolls_by_count_and_by_time(self) -> None:
        # 30 one-second samples: basis k at second k (k = 0 … 39). At second 39 the window is
        # seconds 10 … 39, mean (10 + 39)/2 = 24.5.
        state = MarkPriceState(BTC)
        for k in range(40):
            state.sample_basis(T0 + k * 1_000, D(100), D(100 + k), D(100 + k))
        assert len(state.samples) == 30
        assert state.basis_average(T0 + 39_000) == D("24.5")
        # Ten seconds later with no book: only seconds 20 … 39 remain in the window.
        assert state.basis_average(T0 + 49_000) == D("29.5")
        # Thirty seconds after the last sample the window is empty: no Price2.
        assert state.basis_average(T0 + 69_000) is None

    def test_legacy_30_minute_window(self) -> None:
        state = MarkPriceState(BTC, BINANCE_LEGACY)
        assert state.sample_basis(T0, D(100), D(100), D(102))  # basis 1
        assert not state.sample_basis(T0 + 59_999, D(100), D(100), D(200))  # same minute
        assert state.sample_basis(T0 + 60_000, D(100), D(100), D(106))  # basis 3
        assert state.basis_average(T0 + 60_000) == D(2)
        assert state.basis_average(T0 + 29 * 60_000 + 59_999) == D(2)
        assert state.basis_average(T0 + 30 * 60_000) == D(3)  # the first has left the window
        assert BINANCE_LEGACY.window_ms == 30 * 60_000


class TestFeedMode:
    def test_fed_mark_wins_and_is_rounded(self) -> None:
        state = MarkPriceState(BTC, MarkPriceConfig(source=MarkSource.FEED))
        state.feed(D("50123.455"))
        assert state.mark(T0, D(40_000), D(40_000), None, T0 + 8 * HOUR) == D("50123.46")
        assert state.last_mark == D("50123.46")

    def test_before_any_feed_the_median_rule_applies(self) -> None:
        state = MarkPriceState(BTC, MarkPriceConfig(source=MarkSource.FEED))
        assert state.mark(T0, D(40_000), None, None, T0 + 8 * HOUR) == D("40000.00")

    def test_bad_config_is_refused(self) -> None:
        with pytest.raises(IsocrossError):
            MarkPriceConfig(basis_samples=0)


# ===================================================================== funding
class TestImpactMarginNotional:
    def test_btcusdt_125x(self) -> None:
        # 200 USDT / (1/125) = 25,000 USDT.
        assert impact_margin_notional(BTC) == D(25_000)

    def test_20x_symbol(self) -> None:
        # FAQ: BNBUSDT 20x, IMR 5 % → 200 / 0.05 = 4,000 USDT.
        assert impact_margin_notional(SOL_DYDX) == D(4_000)
        assert impact_margin_notional(bnb_like()) == D(4_000)
        assert FundingState(bnb_like()).impact_notional == D(4_000)


class TestImpactPrice:
    def test_linear_walk_with_a_partial_level(self) -> None:
        # 25,000 USDT: 0.2 BTC at 50,000 (10,000) + 0.3 BTC at 50,010 (15,003; we need 15,000
        # → 15,000/50,010 BTC). Average = 25,000 / (0.2 + 15,000/50,010)
        # = 25,000 × 50,010 / (0.2 × 50,010 + 15,000) = 1,250,250,000 / 25,002.
        asks = [(D(50_000), D("0.2")), (D(50_010), D("0.5"))]
        expected = D(1_250_250_000) / D(25_002)
        assert impact_price(asks, D(25_000), BTC) == expected

    def test_one_level_gives_its_price_exactly(self) -> None:
        assert impact_price([(D(3), D(100_000))], D(25_000), BTC) == D(3)

    def test_exactly_enough_depth(self) -> None:
        # 0.25 BTC at 40,000 and 0.25 at 60,000 = 10,000 + 15,000: average 25,000/0.5 = 50,000.
        assert impact_price([(D(40_000), D("0.25")), (D(60_000), D("0.25"))], D(25_000), BTC) == D(
            50_000
        )

    def test_insufficient_depth_is_none(self) -> None:
        assert impact_price([(D(50_000), D("0.4"))], D(25_000), BTC) is None
        assert impact_price([], D(25_000), BTC) is None

    def test_inverse_is_harmonic_in_usd_notional(self) -> None:
        # BTCUSD_PERP, CS = 100 USD: 25,000 USD = 250 contracts. 100 at 50,000 and 150 at 50,100:
        # coin = 10,000/50,000 + 15,000/50,100; price = 25,000 / coin
        # = 25,000 × 50,100 / (0.2 × 50,100 + 15,000) = 1,252,500,000 / 25,020.
        bids = [(D(50_000), D(100)), (D(50_100), D(400))]
        expected = D(1_252_500_000) / D(25_020)
        assert impact_price(bids, D(25_000), COIN_M) == expected


class TestPremiumIndex:
    def test_impact_bid_above_index(self) -> None:
        assert premium_index(D(50_000), D(50_025), D(50_030)) == D("0.0005")

    def test_impact_ask_below_index(self) -> None:
        assert premium_index(D(50_000), D(49_980), D(49_990)) == D("-0.0002")

    def test_index_inside_the_impact_spread(self) -> None:
        assert premium_index(D(50_000), D(49_990), D(50_010)) == D(0)


class TestAveragePremium:
    def test_linear_weights_by_hand(self) -> None:
        # Samples 0.0001, 0.0002, 0.0006: (1×0.0001 + 2×0.0002 + 3×0.0006) / 6 = 0.0023/6.
        samples = [D("0.0001"), D("0.0002"), D("0.0006")]
        assert average_premium(samples) == D("0.0023") / D(6)
        # Four samples 0.0004, 0, 0, 0.0001: (0.0004 + 0.0004) / 10 = 0.00008.
        assert average_premium([D("0.0004"), D(0), D(0), D("0.0001")]) == D("0.00008")

    def test_no_samples_is_zero(self) -> None:
        assert average_premium([]) == 0


class TestFundingRate:
    cap = D("0.003")

    def test_within_the_clamp_gives_exactly_the_interest_rate(self) -> None:
        for p in ("0.0001", "0.0006", "-0.0004", "0.00031234", "0"):
            assert funding_rate(D(p), self.cap) == D("0.0001")

    def test_outside_the_clamp(self) -> None:
        # P̄ = 0.001: 0.001 + clamp(0.0001 − 0.001) = 0.001 − 0.0005 = 0.0005.
        assert funding_rate(D("0.001"), self.cap) == D("0.0005")
        # P̄ = −0.001: −0.001 + 0.0005 = −0.0005.
        assert funding_rate(D("-0.001"), self.cap) == D("-0.0005")

    def test_four_hour_interval_divides_by_two(self) -> None:
        assert funding_rate(D("0.0002"), self.cap, interval_hours=4) == D("0.00005")
        assert funding_rate(D("0.001"), self.cap, interval_hours=4) == D("0.00025")
        one_hour = FundingConfig(interval_hours=1)
        assert funding_rate(D("0.001"), self.cap, one_hour) == D("0.0000625")

    def test_capped(self) -> None:
        # P̄ = 0.01: 0.0095 → cap 0.003; P̄ = −0.02 → −0.003.
        assert funding_rate(D("0.01"), self.cap) == D("0.003")
        assert funding_rate(D("-0.02"), self.cap) == D("-0.003")

    def test_quantized_toward_zero_to_8_places(self) -> None:
        assert funding_rate(D("0.00123456789"), self.cap) == D("0.00073456")
        assert funding_rate(D("-0.00123456789"), self.cap) == D("-0.00073456")


class TestCap:
    def test_btcusdt_cap_is_three_quarters_of_mmr(self) -> None:
        # 2025 announcement: BTCUSDT ±0.3 % = 0.75 × 0.4 %.
        assert instrument_funding_cap(BTC) == D("0.003")
        assert FundingState(BTC).cap == D("0.003")

    def test_adausdt_old_rule(self) -> None:
        # Older FAQ: ADAUSDT 75x, IMR 1.3 %, MMR 0.65 % → ±0.75 × (1.3 % − 0.65 %) = ±0.4875 %.
        assert funding_cap(D("0.013"), D("0.0065"), rule=CapRule.IMR_MINUS_MMR) == D("0.004875")

    def test_old_rule_from_a_tier_table_uses_imr_one_over_leverage(self) -> None:
        # BTCUSDT: 0.75 × (1/125 − 0.004) = 0.75 × 0.004 = 0.003.
        config = FundingConfig(cap_rule=CapRule.IMR_MINUS_MMR)
        assert instrument_funding_cap(BTC, config) == D("0.003")
        # 75x with MMR 0.65 %: 0.75 × (1/75 − 0.0065) = 0.01 − 0.004875 = 0.005125.
        ada = BTC.with_tiers(TierTable.of([Tier(D(0), None, 75, D("0.0065"), D(0))]))
        assert instrument_funding_cap(ada, config) == D("0.005125")

    def test_low_leverage_rule(self) -> None:
        config = FundingConfig(low_leverage_cap=D("0.03"))
        assert instrument_funding_cap(bnb_like(), config) == D("0.03")  # 20x ≤ 25x
        assert instrument_funding_cap(BTC, config) == D("0.003")  # 125x: the MMR rule
        assert instrument_funding_cap(bnb_like()) == D("0.01875")  # off: 0.75 × 2.5 %


class TestSchedule:
    def test_eight_hour_settlements_from_midnight_utc(self) -> None:
        assert next_settlement(T0) == T0 + 8 * HOUR  # strictly after
        assert next_settlement(T0 + 1) == T0 + 8 * HOUR
        assert next_settlement(T0 + 8 * HOUR - 1) == T0 + 8 * HOUR
        assert next_settlement(T0 + 16 * HOUR + 5) == T0 + 24 * HOUR

    def test_four_and_one_hour(self) -> None:
        assert next_settlement(T0 + 5 * HOUR, 4) == T0 + 8 * HOUR
        assert next_settlement(T0 + 5 * HOUR, 1) == T0 + 6 * HOUR

    def test_interval_must_divide_a_day(self) -> None:
        with pytest.raises(IsocrossError):
            next_settlement(T0, 5)
        with pytest.raises(IsocrossError):
            FundingConfig(interval_hours=7)


class TestFundingState:
    def test_samples_once_per_period_and_settles(self) -> None:
        state = FundingState(BTC)
        assert state.add_sample(T0, D("0.0001"))
        assert not state.add_sample(T0 + 4_999, D(1))  # same 5-second slot
        assert state.add_sample(T0 + 5_000, D("0.0002"))
        assert state.add_sample(T0 + 12_000, D("0.0006"))
        assert state.average_premium() == D("0.0023") / D(6)
        assert state.estimated_rate() == D("0.0001")
        assert state.settle() == D("0.0001")
        assert state.samples == ()
        assert state.last_rate == D("0.0001")
        assert not state.add_sample(T0 + 14_999, D(1))  # the slot was already sampled

    def test_no_samples_settles_at_the_interest_rate(self) -> None:
        state = FundingState(BTC)
        assert state.settle() == D("0.0001")
        state.interval_hours = 4
        assert state.estimated_rate() == D("0.00005")
        assert state.next_settlement(T0 + 5 * HOUR) == T0 + 8 * HOUR

    def test_capped_premium(self) -> None:
        state = FundingState(BTC)
        state.add_sample(T0, D("0.05"))
        assert state.estimated_rate() == D("0.003")

    def test_sample_book(self) -> None:
        # BTCUSDT, IMN 25,000. Index 50,000; impact bid 50,025 (1 BTC) and ask 50,030:
        # PI = 25/50,000 = 0.0005.
        state = FundingState(BTC)
        bids = [(D(50_025), D(1))]
        asks = [(D(50_030), D(1))]
        assert state.sample_book(T0, D(50_000), bids, asks)
        assert state.samples == (D("0.0005"),)
        # Too thin: no sample.
        assert not state.sample_book(T0 + 5_000, D(50_000), [(D(50_025), D("0.1"))], asks)
        assert state.samples == (D("0.0005"),)

    def test_interval_setter_validates(self) -> None:
        with pytest.raises(IsocrossError):
            FundingState(BTC).interval_hours = 5


class TestPayment:
    def test_positive_rate_longs_pay_shorts(self) -> None:
        assert funding_payment(D(50_000), D("0.0001")) == D("5")
        assert funding_payment(D(-50_000), D("0.0001")) == D("-5")

    def test_negative_rate_shorts_pay_longs(self) -> None:
        assert funding_payment(D(50_000), D("-0.0002")) == D("-10")
        assert funding_payment(D(-50_000), D("-0.0002")) == D("10")


def test_default_config_is_binance() -> None:
    assert BINANCE_FUNDING.interval_hours == 8
    assert BINANCE_FUNDING.sample_period_ms == 5_000
    assert BINANCE_FUNDING.interest_rate == D("0.0001")
    assert BINANCE_FUNDING.premium_clamp == D("0.0005")
    assert BINANCE_FUNDING.cap_multiplier == D("0.75")

"""Tier tables: lookup convention, the cum recurrence, venue rules, the loader's refusals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.catalogue import bracket_rule, load_catalogue, venues
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import derive_cum

BTC_2021 = [
    ["0", "50000", 125, "0.004", "0"],
    ["50000", "250000", 100, "0.005", "50"],
    ["250000", "1000000", 50, "0.01", "1300"],
    ["1000000", "10000000", 20, "0.025", "16300"],
]


class TestBinanceBrackets:
    def test_boundary_belongs_to_the_lower_tier(self) -> None:
        # Binance wording "50,000 < Position ≤ 250,000": a boundary notional stays in the lower tier.
        tiers = load_catalogue().instrument("BTCUSDT").tiers
        assert tiers.tier_for(D(0)).max_leverage == 125
        assert tiers.tier_for(D(50_000)).max_leverage == 125
        assert tiers.tier_for(D("50000.01")).max_leverage == 100
        assert tiers.max_leverage_for(D(1_800_000_000)) == 1
        assert tiers.max_leverage_for(D("1800000000.01")) == 0  # beyond the table

    def test_faq_maintenance_amount_of_level_3(self) -> None:
        # Binance FAQ: "maintenance amount of level 3 = 250,000 × (1 % − 0.5 %) + 50 = 1,300".
        floors = [D(r[0]) for r in BTC_2021]
        rates = [D(r[3]) for r in BTC_2021]
        assert derive_cum(floors, rates)[2] == D(1300)

    def test_faq_500k_position(self) -> None:
        # "a BTCUSDT position of 500,000 USDT → maintenance amount 1,300": MM = 500,000 × 1 % − 1,300.
        table = bracket_rule(BTC_2021, "t")
        assert table.tier_for(D(500_000)).cum == D(1300)
        assert table.maintenance_margin(D(500_000)) == D(3700)

    def test_snapshot_2024_btcusdt_matches_reference(self) -> None:
        tiers = load_catalogue().instrument("BTCUSDT").tiers.tiers
        assert [t.cum for t in tiers][:5] == [D(0), D(50), D(950), D(11450), D(131450)]
        assert tiers[-1].cum == D(421_481_450)

    def test_coin_m_level_5_maintenance_amount(self) -> None:
        # Binance COIN-M FAQ: "level 5 = 50 BTC × (5 % − 2.5 %) + 0.56 BTC = 1.81 BTC", on a
        # table whose level 4 (2.5 %) carries cum 0.56 BTC.
        floors = [D(0), D(10), D(20), D(30), D(50)]
        rates = [D("0.004"), D("0.005"), D("0.01"), D("0.025"), D("0.05")]
        cums = derive_cum(floors, rates)
        assert cums[3] == D("0.56")
        assert cums[4] == D("1.81")

    def test_coin_m_catalogue_300_btc(self) -> None:
        # A later revision of the same COIN-M page: maintenance amount for 300 BTC is 11.605 BTC.
        tiers = load_catalogue().instrument("BTCUSD_PERP").tiers
        assert tiers.tier_for(D(300)).cum == D("11.605")


class TestLoaderRefuses:
    def test_wrong_cum_is_refused_naming_the_tier(self) -> None:
        rows = [list(r) for r in BTC_2021]
        rows[2][4] = "1350"
        with pytest.raises(IsocrossError) as caught:
            bracket_rule(rows, "tiers.BTCUSDT")
        assert caught.value.error is ErrorCode.INVALID_TIER_TABLE
        assert caught.value.field == "tiers.BTCUSDT[2]"
        assert "1300" in caught.value.message

    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ((0, 0, "10"), "start at notional 0"),
            ((1, 0, "60000"), "previous tier's cap"),
            ((1, 2, 150), "leverage must not rise"),
            ((1, 3, "0.003"), "must not fall"),
            ((0, 3, "1.5"), "between 0 and 1"),
        ],
    )
    def test_malformed_tables(self, change: tuple[int, int, object], words: str) -> None:
        rows = [list(r) for r in BTC_2021]
        row, col, value = change
        rows[row][col] = value
        with pytest.raises(IsocrossError, match=words):
            bracket_rule(rows, "t")


class TestVenuePresets:
    def test_every_venue_loads(self) -> None:
        assert set(venues()) == {"binance", "bybit", "hyperliquid", "dydx"}

    def test_hyperliquid_half_initial_margin(self) -> None:
        # Hyperliquid: mmr = 1/(2·maxLev): 40x → 1.25 %, 20x → 2.5 %; deduction 150M × 1.25 %.
        tiers = load_catalogue("hyperliquid").instrument("BTCUSDT").tiers
        assert [t.mmr for t in tiers.tiers] == [D("0.0125"), D("0.025")]
        assert tiers.tiers[1].cum == D(1_875_000)
        assert tiers.maintenance_margin(D(200_000_000)) == D(3_125_000)
        assert tiers.maintenance_margin(D(150_000_000)) == D(1_875_000)

    def test_hyperliquid_10000_position(self) -> None:
        # Hyperliquid docs: $10,000 on a 20x-max asset needs MM $250 (half of IM at 20x).
        sol = load_catalogue("hyperliquid").instrument("SOLUSDT")
        assert sol.tiers.maintenance_margin(D(10_000)) == D(250)

    def test_dydx_imf_times_fraction(self) -> None:
        tiers = load_catalogue("dydx").instrument("BTCUSDT").tiers
        assert tiers.max_leverage == 50
        assert tiers.tiers[0].mmr == D("0.012")
        assert tiers.max_notional is None

    def test_bybit_deductions_follow_the_recurrence(self) -> None:
        tiers = load_catalogue("bybit").instrument("BTCUSDT").tiers.tiers
        assert [t.cum for t in tiers] == [D(0), D(510), D(1710)]

    def test_unknown_venue(self) -> None:
        with pytest.raises(IsocrossError) as caught:
            load_catalogue("ftx")
        assert caught.value.error is ErrorCode.UNKNOWN_VENUE
        assert "binance" in caught.value.message

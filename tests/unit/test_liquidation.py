"""Liquidation and bankruptcy prices against the venues' closed forms and worked examples."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.catalogue import bracket_rule, load_catalogue
from isocross.margin.liquidation import Leg, bankruptcy_price, liquidation_price
from isocross.model.instrument import Instrument

BTC_2021 = [
    ["0", "50000", 125, "0.004", "0"],
    ["50000", "250000", 100, "0.005", "50"],
    ["250000", "1000000", 50, "0.01", "1300"],
    ["1000000", "5000000", 20, "0.025", "16300"],
    ["5000000", "20000000", 10, "0.05", "141300"],
]
ETH_2021 = [
    ["0", "10000", 100, "0.005", "0"],
    ["10000", "100000", 75, "0.0065", "15"],
    ["100000", "500000", 50, "0.01", "365"],
    ["500000", "1000000", 25, "0.02", "5365"],
    ["1000000", "2000000", 10, "0.05", "35365"],
    ["2000000", "5000000", 5, "0.1", "135365"],
    ["5000000", "10000000", 4, "0.125", "260365"],
]


def inst(symbol: str, rows: list[list[object]] | None = None) -> Instrument:
    base = load_catalogue().instrument(symbol)
    return base.with_tiers(bracket_rule(rows, "t")) if rows else base


class TestBinanceCrossExample:
    """Binance FAQ one-way cross example (reference §8, oracle A)."""

    wallet = D("1535443.01")
    btc = Leg(D("109.488"), D("32481.98"))
    eth = Leg(D("3683.979"), D("1456.84"))
    btc_mark, eth_mark = D("31967.27"), D("1335.18")

    def test_btc(self) -> None:
        b, e = inst("BTCUSDT", BTC_2021), inst("ETHUSDT", ETH_2021)
        lp = liquidation_price(
            b,
            [self.btc],
            self.wallet,
            mark=self.btc_mark,
            other_pnl=e.unrealized_pnl(self.eth.qty, self.eth.entry_price, self.eth_mark),
            other_maintenance=e.maintenance_margin(self.eth.qty, self.eth_mark),
        )
        assert lp is not None
        assert lp.quantize(D("1e-9")) == D("26316.893264519")

    def test_eth(self) -> None:
        b, e = inst("BTCUSDT", BTC_2021), inst("ETHUSDT", ETH_2021)
        lp = liquidation_price(
            e,
            [self.eth],
            self.wallet,
            mark=self.eth_mark,
            other_pnl=b.unrealized_pnl(self.btc.qty, self.btc.entry_price, self.btc_mark),
            other_maintenance=b.maintenance_margin(self.btc.qty, self.btc_mark),
        )
        assert lp is not None
        assert lp.quantize(D("1e-9")) == D("1153.256464239")

    def test_intermediate_figures(self) -> None:
        b, e = inst("BTCUSDT", BTC_2021), inst("ETHUSDT", ETH_2021)
        assert b.maintenance_margin(self.btc.qty, self.btc_mark) == D("71200.811444")
        assert b.unrealized_pnl(self.btc.qty, self.btc.entry_price, self.btc_mark) == D(
            "-56354.56848"
        )
        assert e.maintenance_margin(self.eth.qty, self.eth_mark) == D("356512.508122")


class TestIsolatedClosedForms:
    @pytest.mark.parametrize("sign", [1, -1])
    def test_linear_single_position(self, sign: int) -> None:
        # LP = (WB + cum − s·|q|·EP) / (|q|·mmr − s·|q|), tier 2 of the 2024 BTCUSDT table.
        b = inst("BTCUSDT")
        q, ep, wb = D(2), D(60000), D(12000)
        lp = liquidation_price(b, [Leg(sign * q, ep)], wb, mark=ep)
        tier = b.tiers.tier_for(q * lp)  # type: ignore[operator]
        expected = (wb + tier.cum - sign * q * ep) / (q * tier.mmr - sign * q)
        assert lp == expected
        assert lp == (D(107950) / D("1.99") if sign > 0 else D(132050) / D("2.01"))

    @pytest.mark.parametrize("sign", [1, -1])
    def test_inverse_single_position(self, sign: int) -> None:
        # COIN-M: LP = |q|·CS·(mmr + s) / (WB + cum + s·|q|·CS/EP), BTC margined, CS = 100 USD.
        coin = inst("BTCUSD_PERP")
        q, ep, wb = D(100), D(25000), D("0.02")
        lp = liquidation_price(coin, [Leg(sign * q, ep)], wb, mark=ep)
        assert lp is not None
        tier = coin.tiers.tier_for(coin.notional(q, lp))
        expected = q * 100 * (tier.mmr + sign) / (wb + tier.cum + sign * q * 100 / ep)
        assert lp == expected
        # Sanity of direction: 20x long liquidates below entry, short above.
        assert (lp < ep) if sign > 0 else (lp > ep)

    def test_coin_m_notional_and_maintenance(self) -> None:
        # Binance COIN-M FAQ: 100 contracts at mark 25,000 → 0.4 BTC, MM 0.4 × 0.4 % = 0.0016 BTC.
        coin = inst("BTCUSD_PERP")
        assert coin.notional(D(100), D(25000)) == D("0.4")
        assert coin.maintenance_margin(D(100), D(25000)) == D("0.0016")

    def test_fully_collateralized_long_has_no_liquidation_price(self) -> None:
        b = inst("BTCUSDT")
        legs = [Leg(D(1), D(50000))]
        assert liquidation_price(b, legs, D(50000), mark=D(50000)) is None
        assert bankruptcy_price(b, legs, D(50000)) is None

    def test_bankruptcy_price_is_where_equity_is_zero(self) -> None:
        b = inst("BTCUSDT")
        # Long 1 BTC at 50,000 with 5,000 margin (10x): bankrupt at 45,000; short at 55,000.
        assert bankruptcy_price(b, [Leg(D(1), D(50000))], D(5000)) == D(45000)
        assert bankruptcy_price(b, [Leg(D(-1), D(50000))], D(5000)) == D(55000)


class TestTierRecomputation:
    def test_root_uses_the_tier_at_the_liquidation_price(self) -> None:
        # Short 10 BTC at 50,000 isolated with 120,000: at mark the notional (500k) is in tier 2
        # but at the liquidation price (> 600k notional) it is in tier 3; Binance says recompute.
        b = inst("BTCUSDT")
        leg = Leg(D(-10), D(50000))
        lp = liquidation_price(b, [leg], D(120000), mark=D(50000))
        assert lp is not None
        tier = b.tiers.tier_for(10 * lp)
        assert tier.mmr == D("0.0065")
        assert lp == (D(120000) + tier.cum + 10 * D(50000)) / (10 * tier.mmr + 10)
        naive_tier2 = (D(120000) + 50 + 10 * D(50000)) / (10 * D("0.005") + 10)
        assert lp != naive_tier2
        assert 10 * naive_tier2 > 600000  # the naive answer falls outside its own tier


class TestHedge:
    def test_cross_legs_share_one_price(self) -> None:
        b = inst("BTCUSDT")
        legs = [Leg(D(2), D(50000)), Leg(D(-1), D(52000))]
        lp = liquidation_price(b, legs, D(10000), mark=D(50000))
        assert lp is not None
        equity = D(10000) + sum(b.unrealized_pnl(leg.qty, leg.entry_price, lp) for leg in legs)
        mm = sum(b.maintenance_margin(leg.qty, lp) for leg in legs)
        assert abs(equity - mm) < D("1e-30")

    def test_fully_hedged_never_goes_bankrupt(self) -> None:
        b = inst("BTCUSDT")
        legs = [Leg(D(1), D(50000)), Leg(D(-1), D(50000))]
        assert bankruptcy_price(b, legs, D(1000)) is None
        # ...but the growing maintenance requirement of both legs liquidates it at some high price.
        lp = liquidation_price(b, legs, D(1000), mark=D(50000))
        assert lp is not None
        assert lp > D(50000)

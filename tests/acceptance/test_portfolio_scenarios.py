"""Portfolio margin through the exchange and the risk engine (issue 9): the same books and the
same balances in cross and in portfolio mode, driven by mark-price updates.

Fees are zero (a ``ZERO`` fee tier) so balances are plain arithmetic; the liquidation clearance
fee is the Binance preset's (0.3 % BTCUSDT, 0.5 % others). Portfolio requirement, default
parameters (``catalogue/portfolio_margin.json``): worst loss over the scenario grid, at least
0.05 % of the gross notional; initial = 1.3 × requirement. Tier 1 of BTCUSDT and ETHUSDT has
mmr 0.004, SOLUSDT 0.005; BTC and ETH correlate 0.9 with the market, SOL 0.8.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.engine import Exchange, Outcome
from isocross.engine import commands as c
from isocross.engine.events import Event
from isocross.engine.fees import FeeRates, FeeSchedule
from isocross.engine.orders import OrderType
from isocross.margin.figures import PoolFigures
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode
from isocross.risk.engine import RiskEngine, attach
from isocross.risk.events import LiquidationEnded, LiquidationFilled, LiquidationStarted

pytestmark = pytest.mark.acceptance
BTC, ETH, SOL, PERP = "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSD_PERP"
CROSS, PORTFOLIO = MarginMode.CROSS, MarginMode.PORTFOLIO


def ok(outcome: Outcome) -> Outcome:
    assert outcome.accepted, outcome.error
    return outcome


def of(outcome: Outcome, kind: type[Event]) -> list[Event]:
    return [e for e in outcome.events if isinstance(e, kind)]


class Venue:
    """An exchange with the risk engine, a ``trader`` whose symbols are all in ``mode``, and a
    deep-pocketed ``street`` counterparty; ``asset`` is the trader's (and street's) margin."""

    def __init__(
        self,
        wallet: str,
        mode: MarginMode,
        asset: str = "USDT",
        *,
        also: tuple[str, ...] = (),
        hedge_mode: bool = False,
    ) -> None:
        self.mode, self.asset = mode, asset
        self.ex = Exchange(fees=FeeSchedule({"ZERO": FeeRates(D(0), D(0))}))
        self.risk: RiskEngine = attach(self.ex)
        for account, amount in (("trader", wallet), ("street", "10000000")):
            ok(self.ex.handle(c.OpenAccount(account, "ZERO")))
            for name in (asset, *also):
                money = amount if name != "BTC" or account == "trader" else "1000"
                ok(self.ex.handle(c.Deposit(account, name, D(money))))
                ok(self.ex.handle(c.Transfer(account, name, D(money))))
        if hedge_mode:
            ok(self.ex.handle(c.SetPositionMode("trader", PositionMode.HEDGE)))

    def place(
        self,
        symbol: str,
        qty: str,
        price: str,
        leverage: int,
        position_side: PositionSide = PositionSide.BOTH,
    ) -> Outcome:
        """The street quotes, then the trader buys (qty > 0) or sells ``|qty|`` at ``price``;
        returns the trader's order outcome (refused or not)."""
        ex = self.ex
        acct = ex.accounts["trader"]
        ok(ex.handle(c.SetMarkPrice(symbol, D(price))))
        if acct.settings(symbol).margin_mode is not self.mode:
            ok(ex.handle(c.SetMarginMode("trader", symbol, self.mode)))
        if acct.settings(symbol).leverage != leverage:
            ok(ex.handle(c.SetLeverage("trader", symbol, leverage)))
        side = Side.BUY if D(qty) > 0 else Side.SELL
        size = abs(D(qty))
        self.quote(symbol, side.opposite, str(size), price)
        return ex.handle(
            c.PlaceOrder(
                "trader", symbol, side, OrderType.LIMIT, size, D(price), position_side=position_side
            )
        )

    def open(
        self,
        symbol: str,
        qty: str,
        price: str,
        leverage: int,
        position_side: PositionSide = PositionSide.BOTH,
    ) -> None:
        ok(self.place(symbol, qty, price, leverage, position_side))
        pos = self.ex.accounts["trader"].position(symbol, position_side)
        assert pos is not None and pos.qty == D(qty)

    def quote(self, symbol: str, side: Side, qty: str, price: str) -> None:
        ok(self.ex.handle(c.PlaceOrder("street", symbol, side, OrderType.LIMIT, D(qty), D(price))))

    def mark(self, symbol: str, price: str) -> Outcome:
        return ok(self.ex.handle(c.SetMarkPrice(symbol, D(price))))

    def positions(self) -> dict[str, D]:
        return {p.symbol: p.qty for p in self.ex.accounts["trader"].positions()}

    def pool(self, asset: str | None = None) -> PoolFigures:
        figures = self.ex.accounts["trader"].figures(self.ex.marks, prices=False)
        return figures.pools[asset or self.asset]

    def assert_sound(self) -> None:
        assert self.ex.ledger.imbalance() == {}
        for (name, _asset), amount in self.ex.ledger.balances().items():
            if name.startswith(("trader:", "street:")):
                assert amount >= 0, (name, amount)


# ===================================================================== the hedged pair
class TestHedgedPairSurvives:
    """Seed 003's pair: long 0.1 BTC at 100,000 and short 4 ETH at 2,500 ($10,000 each), 50x
    (order cost $200 each), on $650 in both modes."""

    def build(self, mode: MarginMode) -> Venue:
        venue = Venue("650", mode)
        venue.open(BTC, "0.1", "100000", 50)
        venue.open(ETH, "-4", "2500", 50)
        return venue

    def test_requirements_at_entry(self) -> None:
        cross, pm = self.build(CROSS).pool(), self.build(PORTFOLIO).pool()
        # Cross: 0.004 × 10,000 × 2 = 80. Portfolio: worst scenario 40 − 32 = 8 < minimum
        # 0.0005 × 20,000 = 10; initial 13 (cross: 2 × 10,000 / 50 = 400).
        assert (cross.maintenance_margin, cross.position_initial_margin) == (D(80), D(400))
        assert (pm.maintenance_margin, pm.position_initial_margin) == (D(10), D(13))
        assert (cross.available_balance, pm.available_balance) == (D(250), D(637))

    def test_btc_down_eth_up_liquidates_cross_only(self) -> None:
        cross, pm = self.build(CROSS), self.build(PORTFOLIO)
        for venue in (cross, pm):
            # ETH +1 %: the short loses 100; both pools are far from their requirement.
            assert of(venue.mark(ETH, "2525"), LiquidationStarted) == []
        # BTC −5 %: the long loses 500. Margin balance 650 − 600 = 50 in both.
        out_cross, out_pm = cross.mark(BTC, "95000"), pm.mark(BTC, "95000")
        # Cross: 0.004 × (9,500 + 10,100) = 78.4 ≥ 50 → liquidated.
        (started,) = of(out_cross, LiquidationStarted)
        assert (started.pool, started.margin_balance, started.maintenance_margin) == (  # type: ignore[attr-defined]
            "USDT",
            D(50),
            D("78.4"),
        )
        assert cross.positions() != {BTC: D("0.1"), ETH: D(-4)}
        # Portfolio: market up, BTC's own move +0.32 % (−30.4), ETH +0.4 % (+40.4): 10.0;
        # market down 38 − 32.32 = 5.68; minimum 0.0005 × 19,600 = 9.8 → requirement 10 < 50.
        assert of(out_pm, LiquidationStarted) == []
        assert pm.positions() == {BTC: D("0.1"), ETH: D(-4)}
        pool = pm.pool()
        assert (pool.margin_balance, pool.maintenance_margin) == (D(50), D(10))
        assert pool.margin_ratio == D("0.2") and not pool.liquidatable
        cross.assert_sound()
        pm.assert_sound()

    def test_liquidation_prices_move_out_and_hold(self) -> None:
        """Portfolio, BTC alone moving to P: balance 0.1·P − 9,350 against market-up
        40 − 0.00032·P (above the minimum there) → P = 9,390 / 0.10032 = 93,600.478…;
        ETH alone to Q: 10,650 − 4·Q against 0.016·Q − 32 → Q = 10,682 / 4.016 = 2,659.86.
        Cross: 94,277.11 and 2,641.93. A cent beyond the shown price liquidates."""
        prices = {}
        for mode in (CROSS, PORTFOLIO):
            ex = self.build(mode).ex
            rows = ex.accounts["trader"].figures(ex.marks)
            prices[mode] = (
                rows.position(BTC).liquidation_price,
                rows.position(ETH).liquidation_price,
            )
        assert prices == {
            CROSS: (D("94277.11"), D("2641.93")),
            PORTFOLIO: (D("93600.48"), D("2659.86")),
        }
        btc_liq, eth_liq = prices[PORTFOLIO]
        assert btc_liq is not None and eth_liq is not None
        venue = self.build(PORTFOLIO)
        assert of(venue.mark(BTC, "93600.5"), LiquidationStarted) == []
        assert of(venue.mark(BTC, str(btc_liq - D("0.01"))), LiquidationStarted) != []
        venue = self.build(PORTFOLIO)
        assert of(venue.mark(ETH, str(eth_liq - D("0.01"))), LiquidationStarted) == []
        assert of(venue.mark(ETH, str(eth_liq + D("0.01"))), LiquidationStarted) != []

    def test_portfolio_mode_liquidates_when_its_own_requirement_is_reached(self) -> None:
        """Balance 0.1·P − 9,450 (ETH at 2,525). At BTC 94,600: balance 10; requirement:
        market up −0.0032 × 9,460 + 0.004 × 10,100 = 10.128 (minimum 9.78) → liquidated.
        At 94,700 the balance (20) still covers 10.1."""
        pm = self.build(PORTFOLIO)
        pm.mark(ETH, "2525")
        assert of(pm.mark(BTC, "94700"), LiquidationStarted) == []
        (started,) = of(pm.mark(BTC, "94600"), LiquidationStarted)
        assert started.margin_balance == D(10)  # type: ignore[attr-defined]
        assert started.maintenance_margin == D("10.128")  # type: ignore[attr-defined]
        pm.assert_sound()


# ===================================================================== one underlying
class TestPerfectHedge:
    def test_hedge_mode_long_and_short_btcusdt_cost_only_the_minimum(self) -> None:
        """Hedge position mode, LONG and SHORT 0.1 BTCUSDT at 100,000, 20x, $600. Cross needs
        IM 2 × 500: the second leg is refused. Portfolio: after the LONG, IM 1.3 × 40 = 52;
        with both, no scenario loses anything: requirement = minimum 0.0005 × 20,000 = 10.
        A ±20 % move changes nothing but the minimum (0.0005 × 2 × 0.1 × P)."""
        cross = Venue("600", CROSS, hedge_mode=True)
        cross.open(BTC, "0.1", "100000", 20, PositionSide.LONG)
        refused = cross.place(BTC, "-0.1", "100000", 20, PositionSide.SHORT)
        assert refused.error is not None
        assert refused.error.code == ErrorCode.INSUFFICIENT_MARGIN.code
        pm = Venue("600", PORTFOLIO, hedge_mode=True)
        pm.open(BTC, "0.1", "100000", 20, PositionSide.LONG)
        pm.open(BTC, "-0.1", "100000", 20, PositionSide.SHORT)
        pool = pm.pool()
        assert (pool.maintenance_margin, pool.position_initial_margin) == (D(10), D(13))
        for price, minimum in (("80000", D(8)), ("120000", D(12))):
            assert of(pm.mark(BTC, price), LiquidationStarted) == []
            pool = pm.pool()
            assert (pool.margin_balance, pool.maintenance_margin) == (D(600), minimum)
        pm.assert_sound()

    def test_usdt_and_usdc_pools_are_separate_collateral(self) -> None:
        """Long 0.1 BTCUSDT, short 0.1 BTCUSDC at 100,000, $1,000 of each stablecoin. The two
        legs live in different margin-asset pools (USDT and USDC are separate collateral), so
        each pool is charged on its own: 40 + 40, as in cross. A same-underlying hedge is
        recognized within one pool (the hedge-mode legs above)."""
        pm = Venue("1000", PORTFOLIO, also=("USDC",))
        pm.open(BTC, "0.1", "100000", 20)
        pm.open("BTCUSDC", "-0.1", "100000", 20)
        assert pm.pool("USDT").maintenance_margin == D(40)
        assert pm.pool("USDC").maintenance_margin == D(40)


# ===================================================================== the pre-trade check
class TestPreTradeCheck:
    """$900 at 20x: the BTC long costs 500; the ETH hedge costs another 500."""

    def test_portfolio_account_can_open_the_hedge_cross_cannot(self) -> None:
        cross, pm = Venue("900", CROSS), Venue("900", PORTFOLIO)
        for venue in (cross, pm):
            venue.open(BTC, "0.1", "100000", 20)
        # Cross holds IM 500 for the long: 400 available. Portfolio holds 1.3 × 40 = 52.
        assert cross.pool().available_balance == D(400)
        assert pm.pool().available_balance == D(848)
        refused = cross.place(ETH, "-4", "2500", 20)
        assert refused.error is not None
        assert refused.error.code == ErrorCode.INSUFFICIENT_MARGIN.code
        assert cross.positions() == {BTC: D("0.1")}
        pm.open(ETH, "-4", "2500", 20)
        # Hedged: requirement 10, initial 13 — the hedge freed margin instead of using it.
        pool = pm.pool()
        assert (pool.maintenance_margin, pool.position_initial_margin) == (D(10), D(13))
        assert pool.available_balance == D(887)
        assert pool.max_withdrawable == D(887)
        pm.assert_sound()

    def test_max_order_qty_is_larger_in_portfolio_mode(self) -> None:
        cross, pm = Venue("900", CROSS), Venue("900", PORTFOLIO)
        for venue in (cross, pm):
            venue.open(BTC, "0.1", "100000", 20)
            ok(venue.ex.handle(c.SetMarkPrice(ETH, D("2500"))))
            if venue.mode is PORTFOLIO:
                ok(venue.ex.handle(c.SetMarginMode("trader", ETH, PORTFOLIO)))
        # Short ETH at 2,500 and 20x: 125 USDT of margin per ETH.
        assert cross.ex.max_order_qty("trader", ETH, Side.SELL, D("2500")) == D("3.2")
        assert pm.ex.max_order_qty("trader", ETH, Side.SELL, D("2500")) == D("6.784")


# ===================================================================== partial liquidation
class TestPartialLiquidationPicksTheBiggestUnhedgedRisk:
    """Long 0.05 BTC (MM 20), long 8 ETH (MM 80), short 90 SOL at 200 (MM 90), on $500.

    Requirement at entry: market down, each unit's worst idiosyncratic move: BTC 5,000 × 0.004
    = 20, ETH 20,000 × 0.004 = 80, the SOL short's best case 18,000 × (−0.003) = −54: 46.
    Removing a position changes it by: BTC −20 (to 26), ETH +28, SOL +54 — BTC is the risk the
    hedge leaves open, SOL the largest maintenance margin (what cross would cut first)."""

    def test_reduces_btc_not_the_largest_maintenance_margin(self) -> None:
        venue = Venue("500", PORTFOLIO)
        venue.open(BTC, "0.05", "100000", 50)
        venue.open(ETH, "8", "2500", 50)
        venue.open(SOL, "-90", "200", 50)
        assert venue.pool().maintenance_margin == D(46)
        venue.quote(BTC, Side.BUY, "1", "90800")
        # BTC 90,800: balance 500 − 0.05 × 9,200 = 40; requirement 0.0002 × 90,800 + 26
        # = 44.16 → liquidated. Closing x BTC at 90,800 pays 0.3 % × 90,800·x and frees
        # 0.4 % × 90,800·x: 40 − 272.4x > 44.16 − 363.2x ⇔ x > 0.0458 → 0.046 BTC.
        out = venue.mark(BTC, "90800")
        (started,) = of(out, LiquidationStarted)
        assert (started.margin_balance, started.maintenance_margin) == (D(40), D("44.16"))  # type: ignore[attr-defined]
        (fill,) = of(out, LiquidationFilled)
        assert (fill.symbol, fill.qty, fill.price, fill.partial) == (  # type: ignore[attr-defined]
            BTC,
            D("0.046"),
            D("90800"),
            True,
        )
        (ended,) = of(out, LiquidationEnded)
        # Fee 0.003 × 0.046 × 90,800 = 12.5304.
        assert (ended.outcome, ended.fee) == ("partial", D("12.5304"))  # type: ignore[attr-defined]
        assert venue.positions() == {BTC: D("0.004"), ETH: D(8), SOL: D(-90)}
        # After: balance 40 − 12.5304 = 27.4696 > 26 + 0.004 × 363.2 = 27.4528.
        pool = venue.pool()
        assert pool.margin_balance == D("27.4696")
        assert pool.maintenance_margin == D("27.4528")
        assert not pool.liquidatable
        venue.assert_sound()


# ===================================================================== one direction
class TestOneDirectionalBook:
    """A book with no hedge gets no relief: it is liquidated no later than cross."""

    @staticmethod
    def first_liquidation(venue: Venue, steps: int) -> int | None:
        """Walk BTC and ETH down 0.1 % of entry per step; the step of the first liquidation."""
        for k in range(1, steps + 1):
            outs = [
                venue.mark(BTC, str(D(100000) * (1 - D(k) / 1000))),
                venue.mark(ETH, str(D(2500) * (1 - D(k) / 1000))),
            ]
            if any(of(out, LiquidationStarted) for out in outs):
                return k
            pool = venue.pool()
            assert pool.margin_balance > pool.maintenance_margin
        return None

    def test_tier_one_book_liquidates_at_the_same_step(self) -> None:
        """Long 0.1 BTC and 4 ETH, 20x, $1,000: balance 1,000 − 20·k, maintenance
        80·(1 − k/1000) in both modes (the market-down scenario is exactly N·mmr) → k = 47."""
        steps = {}
        for mode in (CROSS, PORTFOLIO):
            venue = Venue("1000", mode)
            venue.open(BTC, "0.1", "100000", 20)
            venue.open(ETH, "4", "2500", 20)
            steps[mode] = self.first_liquidation(venue, 60)
        assert steps == {CROSS: 47, PORTFOLIO: 47}

    def test_higher_tier_book_liquidates_earlier_in_portfolio_mode(self) -> None:
        """Long 1 BTC (tier 2: mmr 0.005, cum 50) and 4 ETH, 20x, $6,000: balance
        6,000 − 110·k; cross 490·(1 − k/1000) + … − 50 ≈ 490 − 0.54k → k = 51; portfolio
        540·(1 − k/1000) (no cum deducted) → k = 50."""
        steps = {}
        maintenance = {}
        for mode in (CROSS, PORTFOLIO):
            venue = Venue("6000", mode)
            venue.open(BTC, "1", "100000", 20)
            venue.open(ETH, "4", "2500", 20)
            maintenance[mode] = venue.pool().maintenance_margin
            steps[mode] = self.first_liquidation(venue, 60)
        assert maintenance == {CROSS: D(490), PORTFOLIO: D(540)}
        assert steps == {CROSS: 51, PORTFOLIO: 50}


class TestInverseShort:
    """Short 100 BTCUSD_PERP ($100 contracts) at 100,000 on 0.01 BTC, 20x. Balance at P:
    0.01 − 0.1 + 10,000/P; cross MM 40/P → liquidated from P = 9,960/0.09 = 110,666.67.
    Portfolio requirement (40/P)/1.004 → only from 9,960.159…/0.09 = 110,668.43."""

    @staticmethod
    def build(mode: MarginMode) -> Venue:
        venue = Venue("0.01", mode, asset="BTC")
        venue.open(PERP, "-100", "100000", 20)
        return venue

    def test_cross_is_liquidated_at_110667_5(self) -> None:
        venue = self.build(CROSS)
        assert of(venue.mark(PERP, "110666.0"), LiquidationStarted) == []
        assert of(venue.mark(PERP, "110667.5"), LiquidationStarted) != []

    def test_portfolio_is_liquidated_no_later_than_cross(self) -> None:
        venue = self.build(PORTFOLIO)
        assert of(venue.mark(PERP, "110666.0"), LiquidationStarted) == []
        assert of(venue.mark(PERP, "110667.5"), LiquidationStarted) != []

"""Positions that price moves past the tier table's last cap are still liquidated.

A position opened inside the table does not stay there: a short's linear
notional (and a long's inverse notional) grows as the price moves against it, and the last
tier's rate keeps applying (``TierTable.index_for``). The account itself flags such a position
liquidatable at that price, yet the liquidation price shown is ``None`` ("never"), or, for
hedged legs, a price on the *other* side of the mark that the market does not reach first.

``liquidation_price`` keeps those roots (the last tier's rate applies beyond its cap), so these
examples pin that decision.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from prop_support import BINANCE, CATALOGUES, D, equity_and_mm

from isocross.margin.account import Account
from isocross.margin.liquidation import Leg, liquidation_price
from isocross.model.enums import MarginMode, Side
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT


def _first_crossing(
    inst: Instrument, legs: list[Leg], wallet: Decimal, low: Decimal, high: Decimal
) -> Decimal:
    """Bisect balance − maintenance between a healthy ``low`` and a liquidated ``high``."""
    with localcontext(CONTEXT):
        for _ in range(200):
            mid = (low + high) / 2
            equity, mm = equity_and_mm(inst, legs, wallet, mid)
            if equity > mm:
                low = mid
            else:
                high = mid
        return high


def test_the_account_flags_the_short_liquidatable_past_the_cap() -> None:
    """Holds today: the account's own figures say the position is liquidated at 66,000."""
    catalogue = CATALOGUES["bybit"]
    account = Account(catalogue)
    account.deposit("USDT", D(300_000))
    account.transfer_to_futures("USDT", D(300_000))
    account.set_margin_mode("BTCUSDT", MarginMode.ISOLATED)
    account.set_leverage("BTCUSDT", 10, {})
    # 40 BTC at 60,000 is 2.4M USDT: inside Bybit's 2.6M table, so the venue admits it.
    account.apply_fill("BTCUSDT", Side.SELL, D(40), D(60_000), {"BTCUSDT": D(60_000)})
    assert not account.figures({"BTCUSDT": D(60_000)}).position("BTCUSDT").liquidatable
    assert account.figures({"BTCUSDT": D(66_000)}).position("BTCUSDT").liquidatable


def test_isolated_short_pushed_past_the_cap_has_a_liquidation_price() -> None:
    inst = CATALOGUES["bybit"].instrument("BTCUSDT")
    legs = [Leg(D(-40), D(60_000))]
    wallet = D(240_000)  # 10x isolated margin
    lp = liquidation_price(inst, legs, wallet, mark=D(60_000))
    # Exact root: (240,000 + 1,710 + 40·60,000) / (40·1.0056) ≈ 65,675.2 (2.63M notional).
    expected = _first_crossing(inst, legs, wallet, D(60_000), D(66_000))
    assert lp is not None
    assert abs(lp - expected) < D("1e-30")


def test_hedged_legs_report_the_liquidation_the_market_reaches_first() -> None:
    """Long 25,000 / short 14,000 BTCUSDT at 60,000, cross wallet 500M USDT (Binance table).

    Balance − maintenance turns negative first near 77,000 (price rising; the long leg is then
    worth ~1.9B, past the 1.8B cap); the function reports ~18,456 instead.
    """
    inst = BINANCE.instrument("BTCUSDT")
    legs = [Leg(D(25_000), D(60_000)), Leg(D(-14_000), D(60_000))]
    wallet = D(500_000_000)
    lp = liquidation_price(inst, legs, wallet, mark=D(60_000))
    first = _first_crossing(inst, legs, wallet, D(60_000), D(80_000))
    assert D(76_000) < first < D(78_000)
    assert lp is not None
    assert abs(lp - first) < D("1e-30")

"""Account rules: mode switching, leverage, isolated margin, fills, transfers — and that a
refused command changes nothing while every accepted one keeps the ledger balanced."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.catalogue import Catalogue
from isocross.margin.account import CLEARING, INSURANCE, Account, OpenOrder
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode, IsocrossError


def isolated(account: Account, *symbols: str) -> Account:
    """Put ``symbols`` in isolated margin mode (all at once, as the bulk command does)."""
    account.set_margin_modes(MarginMode.ISOLATED, list(symbols))
    return account


BTC = "BTCUSDT"
MARKS = {"BTCUSDT": D(50000), "ETHUSDT": D(2500), "SOLUSDT": D(200)}


def state(account: Account) -> tuple[object, ...]:
    return (
        account.ledger.balances(),
        [(p.symbol, p.side, p.qty, p.entry_price, p.leverage) for p in account.positions()],
        {s: account.settings(s) for s in account.catalogue.instruments},
        account.position_mode,
        account.default_margin_mode,
    )


def refused(
    account: Account, code: ErrorCode, call: object, *args: object, **kw: object
) -> IsocrossError:
    before = state(account)
    with pytest.raises(IsocrossError) as caught:
        call(*args, **kw)  # type: ignore[operator]
    assert caught.value.error is code, caught.value
    assert state(account) == before, "a refused command changed state"
    assert account.ledger.imbalance() == {}
    return caught.value


def order(symbol: str = BTC, oid: str = "o1", side: PositionSide = PositionSide.BOTH) -> OpenOrder:
    return OpenOrder(oid, symbol, side, Side.BUY, D("0.01"), D(49000))


class TestMarginMode:
    def test_switch_when_flat(self, funded: Account) -> None:
        funded.set_margin_mode(BTC, MarginMode.ISOLATED)
        assert funded.settings(BTC).margin_mode is MarginMode.ISOLATED

    def test_no_need_to_change(self, funded: Account) -> None:
        refused(
            funded, ErrorCode.MARGIN_MODE_UNCHANGED, funded.set_margin_mode, BTC, MarginMode.CROSS
        )

    def test_open_order_blocks(self, funded: Account) -> None:
        funded.add_open_order(order())
        err = refused(
            funded,
            ErrorCode.MARGIN_MODE_OPEN_ORDERS,
            funded.set_margin_mode,
            BTC,
            MarginMode.ISOLATED,
        )
        assert err.error.binance_code == -4047

    def test_position_blocks(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)
        err = refused(
            funded,
            ErrorCode.MARGIN_MODE_POSITION_EXISTS,
            funded.set_margin_mode,
            BTC,
            MarginMode.ISOLATED,
        )
        assert err.error.binance_code == -4048
        # Other symbols are free.
        funded.set_margin_mode("ETHUSDT", MarginMode.ISOLATED)

    def test_unknown_symbol(self, funded: Account) -> None:
        err = refused(
            funded,
            ErrorCode.UNKNOWN_SYMBOL,
            funded.set_margin_mode,
            "DOGEUSDT",
            MarginMode.ISOLATED,
        )
        assert "BTCUSDT" in err.message


class TestBulkMarginMode:
    def test_all_or_nothing_lists_every_blocker(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)
        funded.add_open_order(order("SOLUSDT"))
        err = refused(
            funded,
            ErrorCode.MARGIN_MODE_BULK_BLOCKED,
            funded.set_margin_modes,
            MarginMode.ISOLATED,
            ["ETHUSDT", BTC, "SOLUSDT", "XRPUSDT"],
        )
        blocked = err.details["blocked"]
        assert [(b["symbol"], b["code"]) for b in blocked] == [
            (BTC, "MARGIN_MODE_POSITION_EXISTS"),
            ("SOLUSDT", "MARGIN_MODE_OPEN_ORDERS"),
        ]
        assert funded.settings("ETHUSDT").margin_mode is MarginMode.CROSS

    def test_sets_many_and_the_default(self, funded: Account) -> None:
        changed = funded.set_margin_modes(
            MarginMode.ISOLATED, ["ETHUSDT", "SOLUSDT"], as_default=True
        )
        assert changed == ["ETHUSDT", "SOLUSDT"]
        assert funded.default_margin_mode is MarginMode.ISOLATED
        assert funded.settings("XRPUSDT").margin_mode is MarginMode.ISOLATED  # not yet traded
        assert funded.settings(BTC).margin_mode is MarginMode.ISOLATED

    def test_default_does_not_override_explicit_settings(self, funded: Account) -> None:
        funded.set_margin_mode(BTC, MarginMode.ISOLATED)
        funded.set_margin_modes(MarginMode.CROSS, [], as_default=True)
        funded.set_margin_modes(MarginMode.ISOLATED, ["ETHUSDT"])
        assert funded.settings(BTC).margin_mode is MarginMode.ISOLATED
        assert funded.settings("SOLUSDT").margin_mode is MarginMode.CROSS

    def test_already_in_mode_is_not_blocked(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)  # cross position
        assert funded.set_margin_modes(MarginMode.CROSS, [BTC, "ETHUSDT"]) == []


class TestPositionMode:
    def test_switch_and_unchanged(self, funded: Account) -> None:
        funded.set_position_mode(PositionMode.HEDGE)
        assert funded.position_mode is PositionMode.HEDGE
        refused(
            funded, ErrorCode.POSITION_MODE_UNCHANGED, funded.set_position_mode, PositionMode.HEDGE
        )

    def test_orders_block(self, funded: Account) -> None:
        funded.add_open_order(order())
        refused(
            funded,
            ErrorCode.POSITION_MODE_OPEN_ORDERS,
            funded.set_position_mode,
            PositionMode.HEDGE,
        )

    def test_positions_block(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)
        refused(
            funded,
            ErrorCode.POSITION_MODE_POSITION_EXISTS,
            funded.set_position_mode,
            PositionMode.HEDGE,
        )

    def test_position_side_must_match_mode(self, funded: Account) -> None:
        refused(
            funded,
            ErrorCode.POSITION_SIDE_MISMATCH,
            funded.apply_fill,
            BTC,
            Side.BUY,
            D("0.1"),
            D(50000),
            MARKS,
            position_side=PositionSide.LONG,
        )


class TestLeverage:
    @pytest.mark.parametrize("leverage", [0, 126, -3])
    def test_outside_the_instrument(self, funded: Account, leverage: int) -> None:
        err = refused(funded, ErrorCode.INVALID_LEVERAGE, funded.set_leverage, BTC, leverage, MARKS)
        assert "1 to 125" in err.message

    def test_capped_by_the_tier_of_the_position(self, funded: Account) -> None:
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D("1.2"), D(50000), MARKS)  # 60,000 notional: tier 2
        refused(funded, ErrorCode.LEVERAGE_EXCEEDS_TIER, funded.set_leverage, BTC, 125, MARKS)
        funded.set_leverage(BTC, 100, MARKS)
        assert funded.position(BTC).leverage == 100  # type: ignore[union-attr]

    def test_fill_refused_beyond_the_tier(self, funded: Account) -> None:
        funded.set_leverage(BTC, 125, MARKS)
        refused(
            funded,
            ErrorCode.LEVERAGE_EXCEEDS_TIER,
            funded.apply_fill,
            BTC,
            Side.BUY,
            D("1.1"),
            D(50000),
            MARKS,
        )

    def test_cross_reduction_needs_margin(self, funded: Account) -> None:
        funded.set_leverage(BTC, 20, MARKS)
        funded.apply_fill(BTC, Side.BUY, D(3), D(50000), MARKS)  # IM 7,500 of 10,000
        refused(funded, ErrorCode.INSUFFICIENT_MARGIN, funded.set_leverage, BTC, 10, MARKS)
        funded.set_leverage(BTC, 15, MARKS)  # IM 10,000: exactly fits

    def test_isolated_reduction_needs_the_margin_to_cover_it(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 20, MARKS)
        funded.apply_fill(BTC, Side.BUY, D(1), D(50000), MARKS)  # isolated wallet 2,500
        err = refused(
            funded, ErrorCode.ISOLATED_LEVERAGE_REDUCTION, funded.set_leverage, BTC, 10, MARKS
        )
        assert err.error.binance_code == -4161
        assert "5000" in err.message
        funded.add_isolated_margin(BTC, D(2500), MARKS)
        funded.set_leverage(BTC, 10, MARKS)
        funded.set_leverage(BTC, 50, MARKS)  # raising isolated leverage is always fine


class TestIsolatedFills:
    def test_open_moves_initial_margin_into_the_position(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D("0.4"), D(50000), MARKS)
        assert funded.isolated_wallet(BTC) == D(2000)
        assert funded.cross_wallet("USDT") == D(8000)

    def test_partial_close_keeps_the_liquidation_price(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D("0.4"), D(50000), MARKS)
        before = funded.figures(MARKS).position(BTC).liquidation_price
        realized = funded.apply_fill(BTC, Side.SELL, D("0.1"), D(51000), MARKS)
        assert realized == D(100)
        assert funded.isolated_wallet(BTC) == D(1500)
        assert funded.cross_wallet("USDT") == D(8000) + D(500) + D(100)
        assert funded.figures(MARKS).position(BTC).liquidation_price == before

    def test_loss_beyond_the_isolated_wallet_never_reaches_the_pool(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D("0.4"), D(50000), MARKS)  # wallet 2,000
        realized = funded.apply_fill(BTC, Side.SELL, D("0.4"), D(40000), MARKS)  # −4,000
        assert realized == D(-4000)
        assert funded.cross_wallet("USDT") == D(8000)  # only the 2,000 margin was lost
        assert funded.ledger.balance(INSURANCE, "USDT") == D(-2000)
        assert funded.ledger.imbalance() == {}

    def test_open_refused_when_the_pool_cannot_fund_it(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 2, MARKS)
        refused(
            funded,
            ErrorCode.INSUFFICIENT_MARGIN,
            funded.apply_fill,
            BTC,
            Side.BUY,
            D("0.5"),
            D(50000),
            MARKS,
        )

    def test_flip_in_one_way_mode(self, funded: Account) -> None:
        isolated(funded, BTC)
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)
        realized = funded.apply_fill(BTC, Side.SELL, D("0.3"), D(52000), MARKS)
        assert realized == D(200)
        pos = funded.position(BTC)
        assert pos is not None
        assert pos.qty == D("-0.2")
        assert pos.entry_price == D(52000)
        assert funded.isolated_wallet(BTC) == D(1040)  # 0.2 × 52,000 / 10
        assert funded.cross_wallet("USDT") == D(10000) + D(200) - D(1040)


class TestIsolatedMargin:
    def open(self, account: Account) -> None:
        isolated(account, BTC)
        account.set_leverage(BTC, 10, MARKS)
        account.apply_fill(BTC, Side.BUY, D("0.4"), D(50000), MARKS)

    def test_only_for_isolated_and_positions(self, funded: Account) -> None:
        refused(funded, ErrorCode.ISOLATED_ONLY, funded.add_isolated_margin, BTC, D(1), MARKS)
        isolated(funded, BTC)
        refused(funded, ErrorCode.NO_POSITION, funded.add_isolated_margin, BTC, D(1), MARKS)

    @pytest.mark.parametrize("amount", [D(0), D(-5)])
    def test_amount_must_be_positive(self, funded: Account, amount: D) -> None:
        self.open(funded)
        refused(
            funded, ErrorCode.AMOUNT_NOT_POSITIVE, funded.add_isolated_margin, BTC, amount, MARKS
        )

    def test_add_bounded_by_the_cross_wallet(self, funded: Account) -> None:
        self.open(funded)
        refused(
            funded,
            ErrorCode.CROSS_BALANCE_INSUFFICIENT,
            funded.add_isolated_margin,
            BTC,
            D("8000.00000001"),
            MARKS,
        )
        funded.add_isolated_margin(BTC, D(8000), MARKS)
        assert funded.isolated_wallet(BTC) == D(10000)

    def test_add_moves_the_liquidation_price_away(self, funded: Account) -> None:
        self.open(funded)
        before = funded.figures(MARKS).position(BTC).liquidation_price
        funded.add_isolated_margin(BTC, D(1000), MARKS)
        after = funded.figures(MARKS).position(BTC).liquidation_price
        assert before is not None
        assert after is not None
        assert after < before

    def test_remove_up_to_the_max_and_never_liquidatable(self, funded: Account) -> None:
        self.open(funded)
        funded.add_isolated_margin(BTC, D(3000), MARKS)
        marks = MARKS | {BTC: D(48000)}  # −800 uPnL on 5,000 wallet
        limit = funded.figures(marks).position(BTC).max_removable
        # min(W − MM, W + uPnL − N/lev) = min(5000 − 76.8, 4200 − 1920) = 2280
        assert limit == D(2280)
        refused(
            funded,
            ErrorCode.ISOLATED_BALANCE_INSUFFICIENT,
            funded.remove_isolated_margin,
            BTC,
            D("2280.00000001"),
            marks,
        )
        funded.remove_isolated_margin(BTC, D(2280), marks)
        assert not funded.figures(marks).position(BTC).liquidatable


class TestTransfers:
    def test_round_trip(self, funded: Account) -> None:
        funded.transfer_to_futures("BTC", D("0.5"))
        funded.transfer_to_spot("BTC", D("0.25"), MARKS)
        assert funded.spot_balance("BTC") == D("0.75")
        assert funded.cross_wallet("BTC") == D("0.25")

    def test_more_than_spot(self, funded: Account) -> None:
        refused(funded, ErrorCode.INSUFFICIENT_BALANCE, funded.transfer_to_futures, "BTC", D(2))

    def test_too_many_decimals(self, funded: Account) -> None:
        err = refused(
            funded, ErrorCode.INVALID_AMOUNT, funded.transfer_to_futures, "BTC", D("0.000000001")
        )
        assert "8 decimal places" in err.message

    def test_withdrawal_bounded_by_positions(self, funded: Account) -> None:
        funded.set_leverage(BTC, 10, MARKS)
        funded.apply_fill(BTC, Side.BUY, D(1), D(50000), MARKS)  # IM 5,000
        refused(
            funded,
            ErrorCode.INSUFFICIENT_BALANCE,
            funded.transfer_to_spot,
            "USDT",
            D("5000.01"),
            MARKS,
        )
        funded.transfer_to_spot("USDT", D(5000), MARKS)


class TestPositions:
    def test_weighted_average_entry_linear(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS)
        funded.apply_fill(BTC, Side.BUY, D("0.3"), D(54000), MARKS)
        assert funded.position(BTC).entry_price == D(53000)  # type: ignore[union-attr]

    def test_harmonic_average_entry_inverse(self, catalogue: Catalogue) -> None:
        account = Account(catalogue)
        account.deposit("BTC", D(1))
        account.transfer_to_futures("BTC", D(1))
        marks = {"BTCUSD_PERP": D(20000)}
        account.apply_fill("BTCUSD_PERP", Side.BUY, D(100), D(20000), marks)
        account.apply_fill("BTCUSD_PERP", Side.BUY, D(100), D(30000), marks)
        # 200 contracts / (100/20,000 + 100/30,000) = 24,000
        assert account.position("BTCUSD_PERP").entry_price == D(24000)  # type: ignore[union-attr]
        realized = account.apply_fill("BTCUSD_PERP", Side.SELL, D(200), D(24000), marks)
        assert realized == 0

    def test_cross_realized_pnl_goes_through_the_clearing_account(self, funded: Account) -> None:
        funded.apply_fill(BTC, Side.SELL, D("0.2"), D(50000), MARKS, fee=D("4"))
        realized = funded.apply_fill(BTC, Side.BUY, D("0.2"), D(45000), MARKS, fee=D("3.6"))
        assert realized == D(1000)
        assert funded.cross_wallet("USDT") == D(10000) + D(1000) - D("7.6")
        assert funded.ledger.balance(CLEARING, "USDT") == D(-1000)
        assert funded.position(BTC) is None

    def test_hedge_legs_are_separate(self, funded: Account) -> None:
        funded.set_position_mode(PositionMode.HEDGE)
        funded.apply_fill(BTC, Side.BUY, D("0.1"), D(50000), MARKS, position_side=PositionSide.LONG)
        funded.apply_fill(
            BTC, Side.SELL, D("0.2"), D(50000), MARKS, position_side=PositionSide.SHORT
        )
        assert funded.position(BTC, PositionSide.LONG).qty == D("0.1")  # type: ignore[union-attr]
        assert funded.position(BTC, PositionSide.SHORT).qty == D("-0.2")  # type: ignore[union-attr]
        refused(
            funded,
            ErrorCode.POSITION_SIDE_MISMATCH,
            funded.apply_fill,
            BTC,
            Side.SELL,
            D("0.2"),
            D(50000),
            MARKS,
            position_side=PositionSide.LONG,
        )
        figures = funded.figures(MARKS)
        long_lp = figures.position(BTC, PositionSide.LONG).liquidation_price
        assert long_lp == figures.position(BTC, PositionSide.SHORT).liquidation_price

"""Exchange scenarios that read as the seeds do: choose a mode, set leverage, trade, watch."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from isocross.engine import Exchange, Outcome
from isocross.engine import commands as c
from isocross.engine.events import DepthChanged, FillSettled, FundingPaid, OrderUpdated, Trade
from isocross.engine.market_maker import MarketMaker
from isocross.engine.orders import OrderStatus, OrderType, TimeInForce, WorkingType
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode

pytestmark = pytest.mark.acceptance
BTC = "BTCUSDT"


def ok(outcome: Outcome) -> Outcome:
    assert outcome.accepted, outcome.error
    return outcome


def refused(ex: Exchange, command: c.Command, code: ErrorCode) -> str:
    before, seq = ex.state_hash(), ex.seq
    outcome = ex.handle(command)
    assert outcome.error is not None and outcome.error.error is code, outcome.error
    assert outcome.events == ()
    assert (ex.state_hash(), ex.seq) == (before, seq), "a refused command changed state"
    return outcome.error.message


@pytest.fixture
def ex() -> Exchange:
    exchange = Exchange()
    for account, tier in (("alice", "VIP0"), ("bob", "VIP0"), ("maker", "MM")):
        ok(exchange.handle(c.OpenAccount(account, tier)))
        ok(exchange.handle(c.Deposit(account, "USDT", D(100_000))))
        ok(exchange.handle(c.Transfer(account, "USDT", D(100_000))))
    ok(exchange.handle(c.SetMarkPrice(BTC, D(50_000))))
    for cmd in MarketMaker("maker", BTC, D(1), levels=5).quotes(exchange, D(50_000)):
        ok(exchange.handle(cmd))
    return exchange


def buy(ex: Exchange, account: str, qty: str, **kw: object) -> Outcome:
    return ex.handle(c.PlaceOrder(account, BTC, Side.BUY, OrderType.MARKET, D(qty), **kw))  # type: ignore[arg-type]


def sell(ex: Exchange, account: str, qty: str, **kw: object) -> Outcome:
    return ex.handle(c.PlaceOrder(account, BTC, Side.SELL, OrderType.MARKET, D(qty), **kw))  # type: ignore[arg-type]


def fills(outcome: Outcome, account: str) -> list[FillSettled]:
    return [e for e in outcome.events if isinstance(e, FillSettled) and e.account_id == account]


class TestOpenInBothModes:
    def test_same_balance_cross_and_isolated(self, ex: Exchange) -> None:
        # Alice opens cross, Bob isolated: same 100,000 USDT, same 10x, same 1 BTC.
        ok(ex.handle(c.SetMarginMode("bob", BTC, MarginMode.ISOLATED)))
        for who in ("alice", "bob"):
            ok(ex.handle(c.SetLeverage(who, BTC, 10)))
        a, b = ok(buy(ex, "alice", "1")), ok(buy(ex, "bob", "1"))
        price = fills(a, "alice")[0].price
        assert price == D("50010.00")  # best ask: 50,000 × (1 + 0.0002), rounded up to tick
        assert fills(b, "bob")[0].price == D("50020.00")  # Alice took the first level
        alice, bob = ex.accounts["alice"], ex.accounts["bob"]
        # Cross: margin stays in the pool; isolated: N/leverage moved into the position.
        assert alice.isolated_wallet(BTC) == 0
        assert bob.isolated_wallet(BTC) == D("5002.0")
        fee_a = fills(a, "alice")[0].fee
        assert alice.cross_wallet("USDT") == D(100_000) - fee_a
        assert bob.cross_wallet("USDT") == D(100_000) - D("5002.0") - fills(b, "bob")[0].fee
        assert ex.ledger.imbalance() == {}

    def test_isolated_leverage_per_position(self, ex: Exchange) -> None:
        ok(ex.handle(c.SetMarginModes("alice", MarginMode.ISOLATED, (BTC, "ETHUSDT"))))
        ok(ex.handle(c.SetLeverage("alice", BTC, 5)))
        ok(ex.handle(c.SetLeverage("alice", "ETHUSDT", 20)))
        ok(buy(ex, "alice", "0.5"))
        assert ex.accounts["alice"].isolated_wallet(BTC) == D("5001.0")  # 0.5 × 50,010 / 5
        figures = ex.accounts["alice"].figures(ex.marks).position(BTC)
        assert figures.leverage == 5
        assert figures.liquidation_price is not None
        assert figures.liquidation_price < D(41_000)


class TestHedge:
    def test_long_and_short_legs(self, ex: Exchange) -> None:
        ok(ex.handle(c.SetPositionMode("alice", PositionMode.HEDGE)))
        ok(buy(ex, "alice", "0.4", position_side=PositionSide.LONG))
        ok(sell(ex, "alice", "0.3", position_side=PositionSide.SHORT))
        alice = ex.accounts["alice"]
        assert alice.position(BTC, PositionSide.LONG).qty == D("0.4")  # type: ignore[union-attr]
        assert alice.position(BTC, PositionSide.SHORT).qty == D("-0.3")  # type: ignore[union-attr]
        # Closing the long leg is a SELL on LONG; more than the leg is refused.
        refused(
            ex,
            c.PlaceOrder(
                "alice", BTC, Side.SELL, OrderType.MARKET, D("0.5"), position_side=PositionSide.LONG
            ),
            ErrorCode.REDUCE_ONLY_REJECTED,
        )
        refused(
            ex,
            c.PlaceOrder("alice", BTC, Side.SELL, OrderType.MARKET, D("0.1")),
            ErrorCode.POSITION_SIDE_MISMATCH,
        )
        ok(sell(ex, "alice", "0.4", position_side=PositionSide.LONG))
        assert alice.position(BTC, PositionSide.LONG) is None


class TestStops:
    def test_stop_loss_closes_the_position(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.SELL,
                    OrderType.STOP_MARKET,
                    stop_price=D(48_000),
                    close_position=True,
                )
            )
        )
        ok(ex.handle(c.SetMarkPrice(BTC, D(48_500))))
        assert ex.accounts["alice"].position(BTC) is not None
        for cmd in MarketMaker("maker", BTC, D(1)).quotes(ex, D(47_990)):
            ex.handle(cmd)
        out = ok(ex.handle(c.SetMarkPrice(BTC, D(47_990))))
        statuses = [e.status for e in out.events if isinstance(e, OrderUpdated)]
        assert OrderStatus.FILLED in statuses
        assert ex.accounts["alice"].position(BTC) is None
        assert ex.ledger.imbalance() == {}

    def test_immediately_triggering_stop_is_refused(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        refused(
            ex,
            c.PlaceOrder(
                "alice",
                BTC,
                Side.SELL,
                OrderType.STOP_MARKET,
                stop_price=D(51_000),
                close_position=True,
            ),
            ErrorCode.WOULD_IMMEDIATELY_TRIGGER,
        )

    def test_trailing_stop_follows_the_price_up_then_closes(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.SELL,
                    OrderType.TRAILING_STOP_MARKET,
                    D(1),
                    reduce_only=True,
                    callback_rate=D("0.02"),
                )
            )
        )
        for price in (50_500, 52_000, 53_000):  # highest 53,000: fires at 51,940
            ok(ex.handle(c.SetMarkPrice(BTC, D(price))))
            for cmd in MarketMaker("maker", BTC, D(1)).quotes(ex, D(price)):
                ex.handle(cmd)
        ok(ex.handle(c.SetMarkPrice(BTC, D(52_000))))
        assert ex.accounts["alice"].position(BTC) is not None  # 52,000 > 51,940
        for cmd in MarketMaker("maker", BTC, D(1)).quotes(ex, D(51_900)):
            ex.handle(cmd)
        out = ok(ex.handle(c.SetMarkPrice(BTC, D(51_900))))
        assert any(isinstance(e, Trade) for e in out.events)
        assert ex.accounts["alice"].position(BTC) is None

    def test_take_profit_on_last_price(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.SELL,
                    OrderType.TAKE_PROFIT_MARKET,
                    stop_price=D("50040.00"),
                    close_position=True,
                    working_type=WorkingType.CONTRACT_PRICE,
                )
            )
        )
        # Bob lifts the asks up to 50,050: the last price crosses the take-profit at 50,040.
        ok(
            ex.handle(
                c.PlaceOrder(
                    "bob",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D(5),
                    D("50100.00"),
                    time_in_force=TimeInForce.IOC,
                )
            )
        )
        assert ex.accounts["alice"].position(BTC) is None


class TestReduceOnlyAndModes:
    def test_reduce_only_never_increases(self, ex: Exchange) -> None:
        refused(
            ex,
            c.PlaceOrder("alice", BTC, Side.SELL, OrderType.MARKET, D("0.1"), reduce_only=True),
            ErrorCode.REDUCE_ONLY_REJECTED,
        )
        ok(buy(ex, "alice", "0.2"))
        refused(
            ex,
            c.PlaceOrder("alice", BTC, Side.BUY, OrderType.MARKET, D("0.1"), reduce_only=True),
            ErrorCode.REDUCE_ONLY_REJECTED,
        )
        out = ok(sell(ex, "alice", "0.5", reduce_only=True))  # clipped to the 0.2 held
        assert sum(f.qty for f in fills(out, "alice")) == D("0.2")
        assert ex.accounts["alice"].position(BTC) is None

    def test_resting_reduce_only_is_cancelled_when_the_position_closes(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "0.2"))
        placed = ok(
            ex.handle(
                c.PlaceOrder(
                    "alice", BTC, Side.SELL, OrderType.LIMIT, D("0.2"), D(52_000), reduce_only=True
                )
            )
        )
        order_id = next(e.order_id for e in placed.events if isinstance(e, OrderUpdated))
        ok(sell(ex, "alice", "0.2"))
        assert ex.orders[order_id].status is OrderStatus.EXPIRED

    def test_margin_mode_switch_refused_while_an_order_rests(self, ex: Exchange) -> None:
        placed = ok(
            ex.handle(c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.1"), D(49_000)))
        )
        order_id = next(e.order_id for e in placed.events if isinstance(e, OrderUpdated))
        refused(
            ex,
            c.SetMarginMode("alice", BTC, MarginMode.ISOLATED),
            ErrorCode.MARGIN_MODE_OPEN_ORDERS,
        )
        ok(ex.handle(c.CancelOrder("alice", order_id)))
        ok(ex.handle(c.SetMarginMode("alice", BTC, MarginMode.ISOLATED)))

    def test_conditional_orders_block_mode_switch_too(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "0.1"))
        ok(sell(ex, "alice", "0.1"))
        ok(
            ex.handle(
                c.PlaceOrder(
                    "alice", BTC, Side.BUY, OrderType.STOP_MARKET, D("0.1"), stop_price=D(55_000)
                )
            )
        )
        refused(
            ex,
            c.SetMarginMode("alice", BTC, MarginMode.ISOLATED),
            ErrorCode.MARGIN_MODE_OPEN_ORDERS,
        )


class TestRefusals:
    @pytest.mark.parametrize(
        ("command", "code"),
        [
            (
                c.PlaceOrder("alice", "DOGEUSDT", Side.BUY, OrderType.MARKET, D(1)),
                ErrorCode.UNKNOWN_SYMBOL,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.1"), D("49000.05")),
                ErrorCode.PRICE_NOT_ON_TICK,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.0015"), D(49000)),
                ErrorCode.QTY_NOT_ON_STEP,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.001"), D(49000)),
                ErrorCode.NOTIONAL_BELOW_MINIMUM,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.1"), D(60000)),
                ErrorCode.PRICE_ABOVE_BAND,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.SELL, OrderType.LIMIT, D("0.1"), D(40000)),
                ErrorCode.PRICE_BELOW_BAND,
            ),
            (
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D("0.1"),
                    D("50010.00"),
                    time_in_force=TimeInForce.GTX,
                ),
                ErrorCode.POST_ONLY_REJECTED,
            ),
            (
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D(6),
                    D("50020.00"),
                    time_in_force=TimeInForce.FOK,
                ),
                ErrorCode.FOK_REJECTED,
            ),
            (
                c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D("0.1")),
                ErrorCode.MISSING_PARAMETER,
            ),
            (
                c.PlaceOrder("nobody", BTC, Side.BUY, OrderType.MARKET, D(1)),
                ErrorCode.UNKNOWN_ACCOUNT,
            ),
            (c.CancelOrder("alice", "999"), ErrorCode.UNKNOWN_ORDER),
            (c.CancelOrder("alice", "1"), ErrorCode.UNKNOWN_ORDER),  # the maker's order
            (c.SetLeverage("alice", BTC, 200), ErrorCode.INVALID_LEVERAGE),
        ],
    )
    def test_refused_and_nothing_changes(
        self, ex: Exchange, command: c.Command, code: ErrorCode
    ) -> None:
        refused(ex, command, code)

    def test_insufficient_margin_names_required_and_available(self, ex: Exchange) -> None:
        ok(ex.handle(c.SetLeverage("alice", BTC, 2)))
        message = refused(
            ex,
            c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D(5), D(50_000)),
            ErrorCode.INSUFFICIENT_MARGIN,
        )
        assert "needs 125000" in message and "100000" in message


class TestMarginFigures:
    def test_order_cost_adds_the_open_loss(self, ex: Exchange) -> None:
        # Buy 1 BTC at 50,500 with mark 50,000 at 20x: 50,500/20 + (50,500 − 50,000) = 3,025.
        assert ex.order_cost("alice", BTC, Side.BUY, D(1), D(50_500)) == D(3025)
        # Priced better than mark: no open loss.
        assert ex.order_cost("alice", BTC, Side.BUY, D(1), D(49_500)) == D(2475)
        ok(buy(ex, "alice", "1"))
        # Selling what is held opens nothing.
        assert ex.order_cost("alice", BTC, Side.SELL, D(1), D(50_000)) == 0

    def test_max_order_qty_fits_its_cost(self, ex: Exchange) -> None:
        qty = ex.max_order_qty("alice", BTC, Side.BUY, D(50_000))
        assert qty == D(40)  # 100,000 × 20 / 50,000
        assert ex.order_cost("alice", BTC, Side.BUY, qty, D(50_000)) <= D(100_000)
        # At 125x the tier of the notional (≤ 50,000) binds, not the money.
        ok(ex.handle(c.SetLeverage("alice", BTC, 125)))
        assert ex.max_order_qty("alice", BTC, Side.BUY, D(50_000)) == D(1)

    def test_resting_order_reserves_its_cost(self, ex: Exchange) -> None:
        ok(ex.handle(c.PlaceOrder("alice", BTC, Side.BUY, OrderType.LIMIT, D(1), D(49_000))))
        pool = ex.accounts["alice"].figures(ex.marks).pools["USDT"]
        assert pool.open_order_initial_margin == D(2450)
        assert pool.available_balance == D(100_000) - D(2450)


class TestFeesAndFunding:
    def test_maker_rebate_and_taker_fee(self, ex: Exchange) -> None:
        out = ok(buy(ex, "alice", "1"))
        taker = fills(out, "alice")[0]
        maker = fills(out, "maker")[0]
        assert taker.fee == D("25.005")  # 50,010 × 0.05 %
        assert maker.fee == D("-2.5005")  # 50,010 × −0.005 %: a rebate
        assert ex.ledger.balance("exchange:fees", "USDT") == D("22.5045")

    def test_funding_is_zero_sum_and_moves_the_liquidation_price(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "4"))  # 200,000 notional on 100,000: a liquidation price exists
        before = ex.accounts["alice"].figures(ex.marks).position(BTC).liquidation_price
        out = ok(ex.handle(c.SettleFunding(BTC, D("0.001"))))
        paid = {e.account_id: e.amount for e in out.events if isinstance(e, FundingPaid)}
        assert paid == {"alice": D(-200), "maker": D(200)}  # 4 × 50,000 × 0.1 %
        after = ex.accounts["alice"].figures(ex.marks).position(BTC).liquidation_price
        assert after is not None and before is not None and after > before
        assert ex.ledger.imbalance() == {}


class TestBookBehaviour:
    def test_market_order_stops_at_the_price_band(self, ex: Exchange) -> None:
        out = ok(buy(ex, "alice", "20"))  # only 5 BTC rest within the band
        assert sum(f.qty for f in fills(out, "alice")) == D(5)
        assert any(
            isinstance(e, OrderUpdated) and e.status is OrderStatus.EXPIRED for e in out.events
        )

    def test_amend_smaller_keeps_priority(self, ex: Exchange) -> None:
        first = ok(
            ex.handle(c.PlaceOrder("alice", BTC, Side.SELL, OrderType.LIMIT, D(1), D(50_200)))
        )
        ok(ex.handle(c.PlaceOrder("bob", BTC, Side.SELL, OrderType.LIMIT, D(1), D(50_200))))
        alice_id = next(e.order_id for e in first.events if isinstance(e, OrderUpdated))
        ok(ex.handle(c.AmendOrder("alice", alice_id, qty=D("0.5"))))
        out = ok(
            ex.handle(
                c.PlaceOrder(
                    "maker",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D("0.5"),
                    D(50_200),
                    time_in_force=TimeInForce.IOC,
                    stp=c.SelfTradePrevention.NONE,
                )
            )
        )
        # The maker's own asks are cheaper and fill first (self-trade allowed here) …
        assert {f.account_id for f in out.events if isinstance(f, FillSettled)} == {"maker"}
        ok(
            ex.handle(
                c.PlaceOrder(
                    "bob",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D("5.5"),
                    D(50_200),
                    time_in_force=TimeInForce.IOC,
                )
            )
        )
        assert ex.orders[alice_id].status is OrderStatus.FILLED  # … then Alice, still first

    def test_self_trade_prevention_expires_the_taker(self, ex: Exchange) -> None:
        out = ok(ex.handle(c.PlaceOrder("maker", BTC, Side.BUY, OrderType.MARKET, D(1))))
        assert not any(isinstance(e, Trade) for e in out.events)
        assert any(
            isinstance(e, OrderUpdated) and e.reason == "self-trade prevention" for e in out.events
        )


class TestMoreOrderTypes:
    def test_trailing_stop_waits_for_its_activation_price(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.SELL,
                    OrderType.TRAILING_STOP_MARKET,
                    D(1),
                    reduce_only=True,
                    callback_rate=D("0.01"),
                    activation_price=D(52_000),
                )
            )
        )
        # Before activation a 1 % dip does nothing…
        ok(ex.handle(c.SetMarkPrice(BTC, D(51_000))))
        ok(ex.handle(c.SetMarkPrice(BTC, D(50_400))))
        assert ex.accounts["alice"].position(BTC) is not None
        # …after it, the highest price (53,000) sets the stop at 52,470.
        for price in (52_000, 53_000):
            ok(ex.handle(c.SetMarkPrice(BTC, D(price))))
        for cmd in MarketMaker("maker", BTC, D(1)).quotes(ex, D(52_400)):
            ex.handle(cmd)
        ok(ex.handle(c.SetMarkPrice(BTC, D(52_500))))
        assert ex.accounts["alice"].position(BTC) is not None
        ok(ex.handle(c.SetMarkPrice(BTC, D(52_400))))
        assert ex.accounts["alice"].position(BTC) is None

    def test_stop_limit_rests_after_triggering(self, ex: Exchange) -> None:
        ok(buy(ex, "alice", "1"))
        placed = ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.SELL,
                    OrderType.STOP,
                    D(1),
                    price=D(47_600),
                    stop_price=D(48_000),
                    reduce_only=True,
                )
            )
        )
        order_id = next(e.order_id for e in placed.events if isinstance(e, OrderUpdated))
        ok(ex.handle(c.CancelAll("maker", BTC)))  # nobody to sell to
        ok(ex.handle(c.SetMarkPrice(BTC, D(47_900))))
        assert ex.orders[order_id].status is OrderStatus.NEW
        assert ex.depth(BTC)[1][0] == (D("47600.00"), D("1.000"))  # now resting as a limit

    def test_ioc_remainder_expires(self, ex: Exchange) -> None:
        out = ok(
            ex.handle(
                c.PlaceOrder(
                    "alice",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D(3),
                    D("50020.00"),
                    time_in_force=TimeInForce.IOC,
                )
            )
        )
        assert sum(f.qty for f in fills(out, "alice")) == D(2)
        assert [
            e.status for e in out.events if isinstance(e, OrderUpdated) and e.account_id == "alice"
        ][-1] is OrderStatus.EXPIRED
        assert ex.depth(BTC)[0][0][0] == D("49990.00")  # nothing rested on the bid

    def test_self_trade_prevention_expire_maker(self, ex: Exchange) -> None:
        out = ok(
            ex.handle(
                c.PlaceOrder(
                    "maker",
                    BTC,
                    Side.BUY,
                    OrderType.LIMIT,
                    D(1),
                    D("50010.00"),
                    stp=c.SelfTradePrevention.EXPIRE_MAKER,
                )
            )
        )
        assert not any(isinstance(e, Trade) for e in out.events)
        # Its own ask at 50,010 expired; the buy now rests as the best bid.
        assert ex.depth(BTC)[0][0] == (D("50010.00"), D("1.000"))
        assert ex.depth(BTC)[1][0][0] == D("50020.00")


def test_bulk_margin_mode_lists_stop_orders_among_the_blockers(ex: Exchange) -> None:
    ok(buy(ex, "alice", "0.1"))
    ok(ex.handle(c.SetMarkPrice("ETHUSDT", D(2500))))
    ok(
        ex.handle(
            c.PlaceOrder(
                "alice", "ETHUSDT", Side.BUY, OrderType.STOP_MARKET, D(1), stop_price=D(3000)
            )
        )
    )
    before = ex.state_hash()
    out = ex.handle(c.SetMarginModes("alice", MarginMode.ISOLATED, (BTC, "ETHUSDT", "SOLUSDT")))
    assert out.error is not None and out.error.error is ErrorCode.MARGIN_MODE_BULK_BLOCKED
    assert [b["symbol"] for b in out.error.details["blocked"]] == [BTC, "ETHUSDT"]
    assert ex.state_hash() == before
    assert ex.accounts["alice"].settings("SOLUSDT").margin_mode is MarginMode.CROSS


def test_clipping_a_reduce_only_order_is_published_as_a_depth_change(ex: Exchange) -> None:
    ok(buy(ex, "alice", "0.2"))
    ok(
        ex.handle(
            c.PlaceOrder(
                "alice", BTC, Side.SELL, OrderType.LIMIT, D("0.2"), D(52_000), reduce_only=True
            )
        )
    )
    out = ok(sell(ex, "alice", "0.1"))  # the position is now 0.1: the resting order shrinks
    depth = [e for e in out.events if isinstance(e, DepthChanged)]
    assert len(depth) == 1
    assert (D("52000.00"), D("0.100")) in depth[0].asks
    assert ex.depth(BTC)[1][-1] == (D("52000.00"), D("0.100"))

"""The exchange engine under random command streams: conservation, atomic refusals, a sane book.

A state machine drives an :class:`~isocross.engine.Exchange` with four accounts (three traders
and a market maker), marks on BTCUSDT and ETHUSDT, and random commands: limit / market / IOC /
FOK / post-only orders (reduce-only and hedge legs too), stop, take-profit and trailing-stop
orders, cancels (also of unknown orders and of another account's), cancel-all, amends, leverage
and margin-mode changes (single and bulk), position-mode changes, isolated margin moves, deposits
and transfers, small and large mark moves, funding, and market-maker requotes.

After every command:

* no money is created or destroyed (``ledger.imbalance() == {}``);
* a refused command returns no events and changes nothing (``state_hash``, ``seq``, and a wider
  snapshot: settings, ledger entries, order records, conditional orders, queue positions);
* an accepted command's events all carry its sequence number, ``CommandAccepted`` first;
* no book is crossed; positions net to zero per symbol; every trade settles both sides;
* every order's ``filled_qty`` is at most its ``qty`` and is the sum of its ``FillSettled``
  events; a resting order's book quantity is its remaining quantity; the accounts' open orders
  (the margin view) are exactly the exchange's open non-conditional orders, which are exactly the
  book's resting orders;
* ``PositionChanged`` events replay to the accounts' positions; reduce-only fills never open or
  flip a position; FOK orders fill completely or not at all; post-only orders never take; a
  taker never trades beyond its limit (or, at market, the price band); isolated wallets hold
  money only while their isolated position is open.

At the end of every run the whole command log is replayed into a fresh exchange, which must give
identical events (``repr``-equal, so Decimal exponents too) and the same ``state_hash``. At the
bottom: a scripted determinism test and regressions for bugs the machine found.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from isocross.book import SelfTradePrevention
from isocross.catalogue import load_catalogue
from isocross.engine import Exchange, Outcome
from isocross.engine import commands as c
from isocross.engine.events import (
    CommandAccepted,
    FillSettled,
    OrderUpdated,
    PositionChanged,
    Trade,
)
from isocross.engine.market_maker import MarketMaker
from isocross.engine.orders import OrderType, TimeInForce, WorkingType
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.money import ZERO

D = Decimal
CATALOGUE = load_catalogue()
SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = {"BTCUSDT": D("60000"), "ETHUSDT": D("3000")}
TRADERS = ("alice", "bob", "carol")
MM = "mm"
ACCOUNTS = (*TRADERS, MM)
MAKERS = {
    "BTCUSDT": MarketMaker(MM, "BTCUSDT", D("0.150")),
    "ETHUSDT": MarketMaker(MM, "ETHUSDT", D("2.000")),
}


def _to_tick(value: Decimal, tick: Decimal) -> Decimal:
    ticks = (value / tick).to_integral_value(ROUND_HALF_EVEN)
    return max(ticks, D(1)) * tick


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


# ---------------------------------------------------------------------------- strategies
accounts = st.sampled_from(ACCOUNTS)
traders = st.sampled_from(TRADERS)
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from(Side)
# What an order means to do to the account's position: the position side (and reduce-only flag)
# follow from it and the account's mode. "wrong" picks a position side that does not fit.
intents = st.sampled_from(["open"] * 6 + ["close"] * 5 + ["wrong"])
stps = st.sampled_from([SelfTradePrevention.EXPIRE_TAKER] * 3 + list(SelfTradePrevention))
# Lots (step multiples): mostly small, sometimes large (margin and tier refusals).
lots = st.one_of(st.integers(1, 300), st.integers(1, 300), st.integers(300, 60_000))
bad_qty = st.sampled_from([D(0), D("-0.001"), D("0.0005"), D("0.0015")])
# (anchor, ticks away, scale): 2000 ticks reach beyond the ±5 % price band.
price_specs = st.tuples(
    st.sampled_from(["bid", "ask", "mark", "mark"]),
    st.integers(-12, 12),
    st.sampled_from([1, 1, 1, 5, 50, 500, 2000]),
)
amounts = st.one_of(
    st.integers(1, 20_000).map(D),
    st.integers(1, 10**6).map(lambda n: D(n).scaleb(-4)),
    st.sampled_from([D(0), D(-5), D("0.000000001")]),
)
order_kinds = st.sampled_from(
    [
        OrderType.STOP,
        OrderType.STOP_MARKET,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_MARKET,
        OrderType.TRAILING_STOP_MARKET,
    ]
)

# Two rules each, so that orders are a good share of the steps.
limit_rule = rule(
    account=accounts,
    symbol=symbols,
    side=sides,
    n=lots,
    spec=price_specs,
    tif=st.sampled_from([TimeInForce.GTC, TimeInForce.GTC, *TimeInForce]),
    intent=intents,
    reduce_only=st.booleans(),
    stp=stps,
)

take_rule = rule(
    account=traders,
    symbol=symbols,
    side=sides,
    n=lots,
    through=st.integers(0, 30) | st.integers(0, 300),
    tif=st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]),
    intent=intents,
    reduce_only=st.booleans(),
    stp=stps,
)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.exchange = self._fresh()
        self.log: list[c.Command] = []
        self.results: list[str] = []
        self.filled: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        self.positions: dict[tuple[str, str, str], Decimal] = {}
        self.order_ids: list[str] = []
        self.clean = True

    @staticmethod
    def _fresh() -> Exchange:
        clock = itertools.count(1_700_000_000_000, 250)
        return Exchange(CATALOGUE, clock=lambda: next(clock))

    # ------------------------------------------------------------------ driving
    def apply(self, cmd: c.Command) -> Outcome:
        """Send one command and check what must hold of its outcome."""
        self.clean = False
        ex = self.exchange
        seq, digest, wide = ex.seq, ex.state_hash(), self.snapshot()
        out = ex.handle(cmd)
        self.log.append(cmd)
        self.results.append(repr(out.events) + repr(out.error and out.error.code))
        event(f"{type(cmd).__name__}: {out.error.code if out.error else 'accepted'}")
        if out.error is not None:
            assert out.seq is None
            assert out.events == ()
            assert ex.seq == seq
            assert ex.state_hash() == digest, f"refused {cmd} changed the state: {out.error}"
            assert self.snapshot() == wide, f"refused {cmd} changed the state: {out.error}"
        else:
            assert out.seq == seq + 1 == ex.seq
            assert out.events and isinstance(out.events[0], CommandAccepted)
            assert out.events[0].command == type(cmd).__name__
            assert all(e.seq == out.seq for e in out.events)
            self.observe(cmd, out)
        self.clean = True
        return out

    def observe(self, cmd: c.Command, out: Outcome) -> None:
        ex = self.exchange
        trades: dict[int, Trade] = {}
        settled: defaultdict[int, list[FillSettled]] = defaultdict(list)
        new_id = None
        for e in out.events:
            if isinstance(e, OrderUpdated) and e.reason == "accepted":
                self.order_ids.append(e.order_id)
                new_id = e.order_id
            elif isinstance(e, Trade):
                trades[e.trade_id] = e
            elif isinstance(e, FillSettled):
                self.filled[e.order_id] += e.qty
                settled[e.trade_id].append(e)
                order = ex.orders[e.order_id]
                if order.reduce_only:
                    key = (e.account_id, e.symbol, order.position_side.value)
                    held = self.positions.get(key, ZERO)
                    signed = e.qty * order.side.sign
                    assert held != 0 and _sign(held) == -_sign(signed) and abs(held) >= e.qty, (
                        f"reduce-only fill {e} against position {held}"
                    )
            elif isinstance(e, PositionChanged):
                self.positions[(e.account_id, e.symbol, e.position_side)] = e.qty
        assert trades.keys() == settled.keys()
        for trade_id, trade in trades.items():
            fills = settled[trade_id]
            assert len(fills) == 2
            assert {(f.order_id, f.is_maker) for f in fills} == {
                (trade.maker_order_id, True),
                (trade.taker_order_id, False),
            }
            assert all(f.qty == trade.qty and f.price == trade.price for f in fills)
        if isinstance(cmd, c.PlaceOrder) and not cmd.type.is_conditional:
            assert new_id is not None
            order = ex.orders[new_id]
            taken = any(t.taker_order_id == new_id for t in trades.values())
            if cmd.time_in_force is TimeInForce.GTX and cmd.type is OrderType.LIMIT:
                assert not taken, "a post-only order took liquidity"
            mark, band = ex.marks[cmd.symbol], ex.price_band
            limit = cmd.price if cmd.type is OrderType.LIMIT else None
            for t in trades.values():
                if t.taker_order_id != new_id:
                    continue
                if cmd.side is Side.BUY:
                    assert t.price <= (limit or mark * (1 + band)), (t, cmd)
                else:
                    assert t.price >= (limit or mark * (1 - band)), (t, cmd)
            if cmd.time_in_force is TimeInForce.FOK and cmd.type is OrderType.LIMIT:
                assert order.filled_qty in (ZERO, order.qty), (
                    f"FOK order filled {order.filled_qty} of {order.qty}"
                )

    def snapshot(self) -> Any:
        """Everything a refused command must leave alone (wider than ``state_hash``)."""
        ex = self.exchange
        accts = {
            aid: (
                acct.position_mode,
                acct.default_margin_mode,
                tuple(acct.settings(s) for s in CATALOGUE.instruments),
                sorted(acct.open_orders(), key=lambda o: o.order_id),
                sorted(acct.positions(), key=lambda p: (p.symbol, p.side)),
            )
            for aid, acct in ex.accounts.items()
        }
        orders = {
            oid: (o.type, o.status, o.qty, o.filled_qty, o.price, o.trailing_extreme)
            for oid, o in ex.orders.items()
        }
        books = {
            s: [dataclasses.astuple(o) for aid in ACCOUNTS for o in book.orders_of(aid)]
            for s, book in ex.books.items()
        }
        conditionals = {s: sorted(orders_) for s, orders_ in ex.conditionals.items()}
        return (
            len(ex.ledger.entries),
            ex.ledger.balances(),
            accts,
            orders,
            books,
            conditionals,
            dict(ex.marks),
            dict(ex.index),
        )

    # ------------------------------------------------------------------ helpers
    def mark(self, symbol: str) -> Decimal:
        return self.exchange.marks[symbol]

    def price(self, symbol: str, spec: tuple[str, int, int]) -> Decimal:
        anchor, n, scale = spec
        inst = CATALOGUE.instrument(symbol)
        book = self.exchange.books[symbol]
        ticks = {"bid": book.best_bid(), "ask": book.best_ask()}.get(anchor)
        base = ticks * inst.tick_size if ticks is not None else self.mark(symbol)
        return _to_tick(base + n * scale * inst.tick_size, inst.tick_size)

    def order(
        self,
        account: str,
        symbol: str,
        side: Side,
        kind: OrderType,
        intent: str,
        reduce_only: bool,
        qty: int | Decimal | None,
        **fields: Any,
    ) -> Outcome:
        """Place an order whose position side and reduce-only flag follow from ``intent``."""
        acct = self.exchange.accounts[account]
        hedge = acct.position_mode is PositionMode.HEDGE
        if intent == "wrong":
            pside = PositionSide.BOTH if hedge else PositionSide.LONG
        elif not hedge:
            pside = PositionSide.BOTH
        else:
            opens_long = side is Side.BUY
            long_leg = opens_long if intent == "open" else not opens_long
            pside = PositionSide.LONG if long_leg else PositionSide.SHORT
        cmd = c.PlaceOrder(
            account,
            symbol,
            side,
            kind,
            qty * CATALOGUE.instrument(symbol).step_size if isinstance(qty, int) else qty,
            position_side=pside,
            reduce_only=reduce_only and ((intent == "close" and not hedge) or intent == "wrong"),
            **fields,
        )
        return self.apply(cmd)

    def pick_order(self, pick: int) -> str:
        return self.order_ids[pick % len(self.order_ids)] if self.order_ids else "1"

    def move_mark(self, symbol: str, bps: int) -> None:
        inst = CATALOGUE.instrument(symbol)
        price = _to_tick(self.mark(symbol) * (1 + D(bps) / 10_000), inst.tick_size)
        price = min(max(price, START[symbol] / 3), START[symbol] * 3)
        self.apply(c.SetMarkPrice(symbol, price))

    def requote_around(self, symbol: str, bps: int) -> None:
        """``MarketMaker.requote`` through the sequencer: every outcome checked, all logged."""
        ex = self.exchange
        maker = MAKERS[symbol]
        index = self.mark(symbol) * (1 + D(bps) / 10_000)
        commands = maker.quotes(ex, index)
        self.clean = False
        seq = ex.seq
        outcomes = maker.requote(ex, index)
        assert len(outcomes) == len(commands)
        for cmd, out in zip(commands, outcomes, strict=True):
            self.log.append(cmd)
            self.results.append(repr(out.events) + repr(out.error and out.error.code))
            if out.error is None:
                seq += 1
                assert out.seq == seq and all(e.seq == seq for e in out.events)
                self.observe(cmd, out)
            else:
                assert out.seq is None and out.events == ()
        assert ex.seq == seq
        self.clean = True

    # ------------------------------------------------------------------ set-up
    @initialize(
        deposits=st.lists(st.integers(1, 300), min_size=3, max_size=3),
        tiers=st.lists(st.sampled_from(["VIP0", "VIP1", "VIP9"]), min_size=3, max_size=3),
        hedge=st.lists(st.booleans(), min_size=3, max_size=3),
        isolated=st.lists(st.booleans(), min_size=6, max_size=6),
        drift=st.tuples(st.integers(-300, 300), st.integers(-300, 300)),
    )
    def set_up(
        self,
        deposits: list[int],
        tiers: list[str],
        hedge: list[bool],
        isolated: list[bool],
        drift: tuple[int, int],
    ) -> None:
        for symbol, bps in zip(SYMBOLS, drift, strict=True):
            inst = CATALOGUE.instrument(symbol)
            price = _to_tick(START[symbol] * (1 + D(bps) / 10_000), inst.tick_size)
            assert self.apply(c.SetMarkPrice(symbol, price)).accepted
        self.apply(c.OpenAccount(MM, "MM"))
        self.apply(c.Deposit(MM, "USDT", D(5_000_000)))
        self.apply(c.Transfer(MM, "USDT", D(5_000_000)))
        for k, aid in enumerate(TRADERS):
            assert self.apply(c.OpenAccount(aid, tiers[k])).accepted
            amount = D(deposits[k]) * 1000
            assert self.apply(c.Deposit(aid, "USDT", amount)).accepted
            assert self.apply(c.Transfer(aid, "USDT", amount - 500)).accepted
            if hedge[k]:
                assert self.apply(c.SetPositionMode(aid, PositionMode.HEDGE)).accepted
            for j, symbol in enumerate(SYMBOLS):
                if isolated[2 * k + j]:
                    assert self.apply(c.SetMarginMode(aid, symbol, MarginMode.ISOLATED)).accepted
        for symbol in SYMBOLS:
            self.requote_around(symbol, 0)

    # ------------------------------------------------------------------ orders

    def _limit(
        self,
        account: str,
        symbol: str,
        side: Side,
        n: int,
        spec: tuple[str, int, int],
        tif: TimeInForce,
        intent: str,
        reduce_only: bool,
        stp: SelfTradePrevention,
    ) -> None:
        self.order(
            account,
            symbol,
            side,
            OrderType.LIMIT,
            intent,
            reduce_only,
            n,
            price=self.price(symbol, spec),
            time_in_force=tif,
            stp=stp,
        )

    @limit_rule
    def place_limit(self, **args: Any) -> None:
        self._limit(**args)

    @limit_rule
    def place_another_limit(self, **args: Any) -> None:
        self._limit(**args)

    def _take(
        self,
        account: str,
        symbol: str,
        side: Side,
        n: int,
        through: int,
        tif: TimeInForce,
        intent: str,
        reduce_only: bool,
        stp: SelfTradePrevention,
    ) -> None:
        spec = ("ask", through, 1) if side is Side.BUY else ("bid", -through, 1)
        self.order(
            account,
            symbol,
            side,
            OrderType.LIMIT,
            intent,
            reduce_only,
            n,
            price=self.price(symbol, spec),
            time_in_force=tif,
            stp=stp,
        )

    @take_rule
    def take(self, **args: Any) -> None:
        """An aggressive limit priced through the opposite touch."""
        self._take(**args)

    @take_rule
    def take_again(self, **args: Any) -> None:
        self._take(**args)

    @rule(
        account=accounts,
        symbol=symbols,
        side=sides,
        qty=lots | bad_qty,
        intent=intents,
        reduce_only=st.booleans(),
        stp=stps,
        tif=st.sampled_from([TimeInForce.GTC] * 7 + [TimeInForce.FOK]),
    )
    def market(
        self,
        account: str,
        symbol: str,
        side: Side,
        qty: int | Decimal,
        intent: str,
        reduce_only: bool,
        stp: SelfTradePrevention,
        tif: TimeInForce,
    ) -> None:
        self.order(
            account,
            symbol,
            side,
            OrderType.MARKET,
            intent,
            reduce_only,
            qty,
            time_in_force=tif,
            stp=stp,
        )

    @rule(
        account=traders,
        symbol=symbols,
        side=sides,
        kind=order_kinds,
        n=lots,
        stop_bps=st.integers(-60, 60) | st.integers(-300, 300),
        spec=price_specs,
        working=st.sampled_from(WorkingType),
        close=st.booleans(),
        intent=intents,
        reduce_only=st.booleans(),
        callback=st.integers(0, 120),
        activation_bps=st.none() | st.integers(-200, 200),
        tif=st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.GTX]),
    )
    def conditional(
        self,
        account: str,
        symbol: str,
        side: Side,
        kind: OrderType,
        n: int,
        stop_bps: int,
        spec: tuple[str, int, int],
        working: WorkingType,
        close: bool,
        intent: str,
        reduce_only: bool,
        callback: int,
        activation_bps: int | None,
        tif: TimeInForce,
    ) -> None:
        """Stop / take-profit (limit or market, maybe close-position) and trailing stops."""
        tick = CATALOGUE.instrument(symbol).tick_size
        mark = self.mark(symbol)
        close = close and kind in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        trailing = kind is OrderType.TRAILING_STOP_MARKET
        stop = None if trailing else _to_tick(mark * (1 + D(stop_bps) / 10_000), tick)
        activation = None
        if trailing and activation_bps is not None:
            activation = _to_tick(mark * (1 + D(activation_bps) / 10_000), tick)
        self.order(
            account,
            symbol,
            side,
            kind,
            intent,
            reduce_only,
            None if close else n,
            price=self.price(symbol, spec) if kind.has_limit_price else None,
            stop_price=stop,
            time_in_force=tif if kind.has_limit_price else TimeInForce.GTC,
            close_position=close,
            working_type=working,
            callback_rate=D(callback) / 1000 if trailing else None,
            activation_price=activation,
        )

    @rule(account=accounts, pick=st.integers(0, 10**6), whose=st.sampled_from(["own", "any", "?"]))
    def cancel(self, account: str, pick: int, whose: str) -> None:
        """Cancel an order of the account, of any account (usually refused) or an unknown one."""
        order_id = self.pick_order(pick)
        if whose == "own" and order_id in self.exchange.orders:
            account = self.exchange.orders[order_id].account_id
        elif whose == "?":
            order_id = f"{10**9 + pick}"
        self.apply(c.CancelOrder(account, order_id))

    @rule(account=accounts, symbol=st.sampled_from([*SYMBOLS, "SOLUSDT", "NOPE"]))
    def cancel_all(self, account: str, symbol: str) -> None:
        self.apply(c.CancelAll(account, symbol))

    @rule(
        pick=st.integers(0, 10**6),
        other=st.none() | st.none() | accounts,
        qty=st.none() | lots | bad_qty,
        spec=st.none() | price_specs,
    )
    def amend(
        self,
        pick: int,
        other: str | None,
        qty: int | Decimal | None,
        spec: tuple[str, int, int] | None,
    ) -> None:
        """Amend price and/or quantity; also of another account's or a closed order."""
        order = self.exchange.orders.get(self.pick_order(pick))
        if order is None:
            self.apply(c.AmendOrder(other or TRADERS[0], self.pick_order(pick), D(1)))
            return
        step = CATALOGUE.instrument(order.symbol).step_size
        new_qty = qty * step if isinstance(qty, int) else qty
        price = None if spec is None else self.price(order.symbol, spec)
        self.apply(c.AmendOrder(other or order.account_id, order.order_id, new_qty, price))

    # ------------------------------------------------------------------ settings and money
    @rule(
        account=accounts,
        what=st.sampled_from(["leverage", "leverage", "margin", "margins", "position"]),
        symbol=st.sampled_from([*SYMBOLS, *SYMBOLS, "SOLUSDT", "NOPE"]),
        leverage=st.integers(0, 130) | st.sampled_from([5, 20]),
        margin=st.sampled_from(MarginMode),
        position=st.sampled_from(PositionMode),
        chosen=st.lists(st.sampled_from([*SYMBOLS, "SOLUSDT", "NOPE"]), max_size=3),
        as_default=st.booleans(),
    )
    def change_settings(
        self,
        account: str,
        what: str,
        symbol: str,
        leverage: int,
        margin: MarginMode,
        position: PositionMode,
        chosen: list[str],
        as_default: bool,
    ) -> None:
        cmd: c.Command
        if what == "leverage":
            cmd = c.SetLeverage(account, symbol, leverage)
        elif what == "margin":
            cmd = c.SetMarginMode(account, symbol, margin)
        elif what == "margins":
            cmd = c.SetMarginModes(account, margin, tuple(chosen), as_default)
        else:
            cmd = c.SetPositionMode(account, position)
        self.apply(cmd)

    @rule(account=traders, symbol=symbols, amount=amounts, add=st.booleans(), intent=intents)
    def isolated_margin(
        self, account: str, symbol: str, amount: Decimal, add: bool, intent: str
    ) -> None:
        acct = self.exchange.accounts[account]
        if acct.position_mode is PositionMode.ONE_WAY:
            pside = PositionSide.LONG if intent == "wrong" else PositionSide.BOTH
        elif intent == "wrong":
            pside = PositionSide.BOTH
        else:
            short = acct.position(symbol, PositionSide.SHORT) is not None
            pside = PositionSide.SHORT if short == (intent == "open") else PositionSide.LONG
        self.apply(c.AdjustIsolatedMargin(account, symbol, amount, add, pside))

    @rule(
        account=st.sampled_from([*ACCOUNTS, "", "dave"]),
        asset=st.sampled_from(["USDT", "USDT", "BTC", "DOGE"]),
        amount=amounts,
        kind=st.sampled_from(["deposit", "withdraw", "to_futures", "to_spot", "to_spot", "open"]),
    )
    def wallet(self, account: str, asset: str, amount: Decimal, kind: str) -> None:
        cmd: c.Command
        if kind == "deposit":
            cmd = c.Deposit(account, asset, amount)
        elif kind == "withdraw":
            cmd = c.Withdraw(account, asset, amount)
        elif kind == "open":
            cmd = c.OpenAccount(account)
        else:
            cmd = c.Transfer(account, asset, amount, to_futures=kind == "to_futures")
        self.apply(cmd)

    # ------------------------------------------------------------------ prices and funding
    @rule(
        symbol=symbols,
        what=st.sampled_from(["nudge"] * 6 + ["jump", "jump", "index", "bad"]),
        bps=st.integers(-25, 25),
        jump=st.integers(-1500, 1500),
        bad=st.sampled_from([(SYMBOLS[0], D(0)), (SYMBOLS[1], D(-1)), ("NOPE", D(1))]),
    )
    def prices(self, symbol: str, what: str, bps: int, jump: int, bad: tuple[str, Decimal]) -> None:
        """Mark moves (small and large: they fire stops and trailing stops), index, nonsense."""
        if what == "nudge":
            self.move_mark(symbol, bps)
        elif what == "jump":
            self.move_mark(symbol, jump)
        elif what == "index":
            self.apply(c.SetIndexPrice(symbol, self.mark(symbol) * (1 + D(bps) / 10_000)))
        else:
            self.apply(c.SetMarkPrice(*bad))

    @rule(symbol=symbols, bps=st.integers(-25, 25))
    def nudge_mark(self, symbol: str, bps: int) -> None:
        self.move_mark(symbol, bps)

    @rule(
        symbol=st.sampled_from([*SYMBOLS, *SYMBOLS, "SOLUSDT"]),
        rate=st.integers(-100, 100).map(lambda n: D(n) / 100_000) | st.sampled_from([D(1), D(-2)]),
    )
    def funding(self, symbol: str, rate: Decimal) -> None:
        self.apply(c.SettleFunding(symbol, rate))

    @rule(symbol=symbols, bps=st.integers(-15, 15))
    def requote(self, symbol: str, bps: int) -> None:
        self.requote_around(symbol, bps)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def money_is_conserved(self) -> None:
        assert self.exchange.ledger.imbalance() == {}

    @invariant()
    def books_are_never_crossed(self) -> None:
        for book in self.exchange.books.values():
            bid, ask = book.best_bid(), book.best_ask()
            if bid is not None and ask is not None:
                assert bid < ask, book

    @invariant()
    def positions_net_to_zero(self) -> None:
        net: defaultdict[str, Decimal] = defaultdict(lambda: ZERO)
        for acct in self.exchange.accounts.values():
            for pos in acct.positions():
                net[pos.symbol] += pos.qty
                if pos.side is PositionSide.LONG:
                    assert pos.qty > 0
                elif pos.side is PositionSide.SHORT:
                    assert pos.qty < 0
        assert all(v == 0 for v in net.values()), dict(net)

    @invariant()
    def isolated_wallets_belong_to_isolated_positions(self) -> None:
        for acct in self.exchange.accounts.values():
            for symbol in SYMBOLS:
                for side in PositionSide:
                    wallet = acct.isolated_wallet(symbol, side)
                    pos = acct.position(symbol, side)
                    if pos is None or pos.margin_mode is MarginMode.CROSS:
                        assert wallet == 0, (acct.account_id, symbol, side, wallet)

    @invariant()
    def position_events_replay_to_positions(self) -> None:
        actual = {
            (aid, p.symbol, p.side.value): p.qty
            for aid, acct in self.exchange.accounts.items()
            for p in acct.positions()
        }
        replayed = {k: v for k, v in self.positions.items() if v != 0}
        assert replayed == actual

    @invariant()
    def orders_add_up(self) -> None:
        ex = self.exchange
        in_book = {
            oid
            for book in ex.books.values()
            for aid in ACCOUNTS
            for oid in (o.order_id for o in book.orders_of(aid))
        }
        for oid, order in ex.orders.items():
            assert ZERO <= order.filled_qty <= order.qty, order
            assert self.filled[oid] == order.filled_qty, (oid, self.filled[oid], order)
            waiting = oid in ex.conditionals[order.symbol]
            resting = ex.books[order.symbol].get(oid)
            if not order.is_open:
                assert not waiting and resting is None, order
                continue
            assert waiting != (resting is not None), order
            if resting is not None:
                inst = CATALOGUE.instrument(order.symbol)
                assert resting.qty * inst.step_size == order.remaining, (resting, order)
                assert resting.price * inst.tick_size == order.price, (resting, order)
                assert resting.is_buy == (order.side is Side.BUY)
                assert resting.account_id == order.account_id
        assert in_book <= ex.orders.keys()

    @invariant()
    def margin_view_matches_the_book(self) -> None:
        ex = self.exchange
        for aid, acct in ex.accounts.items():
            margin_view = {o.order_id: o for o in acct.open_orders()}
            exchange_view = {
                o.order_id: o
                for o in ex.open_orders(aid)
                if o.order_id not in ex.conditionals[o.symbol]
            }
            book_view = {o.order_id for book in ex.books.values() for o in book.orders_of(aid)}
            assert margin_view.keys() == exchange_view.keys() == book_view, aid
            for oid, view in margin_view.items():
                order = exchange_view[oid]
                assert (view.symbol, view.side, view.position_side) == (
                    order.symbol,
                    order.side,
                    order.position_side,
                )
                assert view.qty == order.remaining and view.price == order.price, (view, order)

    def teardown(self) -> None:
        if not self.clean or not self.log:
            return
        replay = self._fresh()
        results = []
        for cmd in self.log:
            out = replay.handle(cmd)
            results.append(repr(out.events) + repr(out.error and out.error.code))
        for k, (first, again) in enumerate(zip(self.results, results, strict=True)):
            assert first == again, f"command {k} ({self.log[k]}) replayed differently"
        assert replay.state_hash() == self.exchange.state_hash()
        assert replay.seq == self.exchange.seq


# Long runs (positions, resting reduce-only orders and stops take a while to build up); about
# 15-25 s on one core.
EngineMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEngine = EngineMachine.TestCase


# ---------------------------------------------------------------------------- determinism
def _scripted(exchange: Exchange) -> Iterable[c.Command]:
    """A fixed session touching every command type (the stream depends only on the script)."""
    yield c.SetMarkPrice("BTCUSDT", D("60000"))
    yield c.SetMarkPrice("ETHUSDT", D("3000"))
    for aid in ("a", "b", "h"):
        yield c.OpenAccount(aid)
        yield c.Deposit(aid, "USDT", D(200_000))
        yield c.Transfer(aid, "USDT", D(150_000))
    yield c.SetPositionMode("h", PositionMode.HEDGE)
    yield c.SetMarginMode("b", "ETHUSDT", MarginMode.ISOLATED)
    yield c.SetLeverage("a", "BTCUSDT", 10)
    yield c.SetMarginModes("h", MarginMode.ISOLATED, ("BTCUSDT",))
    buy, sell = Side.BUY, Side.SELL
    lim, mkt = OrderType.LIMIT, OrderType.MARKET
    for k in range(5):
        yield c.PlaceOrder("a", "BTCUSDT", sell, lim, D("0.05"), D(60010 + 10 * k))
        yield c.PlaceOrder("b", "BTCUSDT", buy, lim, D("0.05"), D(59990 - 10 * k))
        yield c.PlaceOrder("a", "ETHUSDT", sell, lim, D("0.5"), D("3000.5") + k)
        yield c.PlaceOrder("b", "ETHUSDT", buy, lim, D("0.5"), D("2999.5") - k)
    yield c.PlaceOrder("h", "BTCUSDT", buy, mkt, D("0.12"), position_side=PositionSide.LONG)
    yield c.PlaceOrder("h", "ETHUSDT", sell, mkt, D("1.2"), position_side=PositionSide.SHORT)
    yield c.PlaceOrder(
        "b", "ETHUSDT", sell, lim, D("0.4"), D("2998"), time_in_force=TimeInForce.IOC
    )
    yield c.PlaceOrder(
        "h",
        "BTCUSDT",
        sell,
        OrderType.STOP_MARKET,
        D("0.05"),
        stop_price=D("59500"),
        position_side=PositionSide.LONG,
    )
    yield c.PlaceOrder(
        "a", "BTCUSDT", buy, OrderType.TRAILING_STOP_MARKET, D("0.02"), callback_rate=D("0.01")
    )
    yield c.PlaceOrder(
        "b",
        "BTCUSDT",
        buy,
        OrderType.TAKE_PROFIT,
        D("0.03"),
        D("59000"),
        stop_price=D("59200"),
        working_type=WorkingType.CONTRACT_PRICE,
    )
    yield c.AmendOrder("a", "1", price=D("60005"))
    yield c.AmendOrder("b", "2", qty=D("0.03"))
    yield c.CancelOrder("a", "3")
    yield c.CancelOrder("a", "2")  # not a's: refused
    for price in ("59700", "59400", "59100", "60200", "60900"):
        yield c.SetMarkPrice("BTCUSDT", D(price))
    yield from MAKERS["BTCUSDT"].quotes(exchange, D("60000"))
    yield c.SettleFunding("BTCUSDT", D("0.0001"))
    yield c.SettleFunding("ETHUSDT", D("-0.0003"))
    yield c.AdjustIsolatedMargin("b", "ETHUSDT", D(100))
    yield c.AdjustIsolatedMargin("h", "BTCUSDT", D(50), add=False, position_side=PositionSide.LONG)
    yield c.CancelAll("b", "BTCUSDT")
    yield c.Transfer("a", "USDT", D(1000), to_futures=False)


def test_replaying_a_command_log_gives_the_same_events_and_state() -> None:
    def run(make: Callable[[], Exchange]) -> tuple[Exchange, list[Outcome]]:
        ex = make()
        ex.handle(c.OpenAccount(MM, "MM"))
        ex.handle(c.Deposit(MM, "USDT", D(10**6)))
        ex.handle(c.Transfer(MM, "USDT", D(10**6)))
        return ex, [ex.handle(cmd) for cmd in _scripted(ex)]

    first, outcomes = run(EngineMachine._fresh)
    again, replayed = run(EngineMachine._fresh)
    assert sum(o.accepted for o in outcomes) > 40
    assert any(isinstance(e, Trade) for o in outcomes for e in o.events)
    assert [repr(o) for o in outcomes] == [repr(o) for o in replayed]
    assert first.state_hash() == again.state_hash()
    assert first.ledger.imbalance() == {}


# ---------------------------------------------------------------------------- regressions
def _funded(*accounts: str) -> tuple[Exchange, Callable[[c.Command], Outcome]]:
    ex = Exchange(CATALOGUE)
    handle = ex.handle
    handle(c.SetMarkPrice("BTCUSDT", D("60000")))
    for aid in accounts:
        handle(c.OpenAccount(aid))
        handle(c.Deposit(aid, "USDT", D(100_000)))
        handle(c.Transfer(aid, "USDT", D(100_000)))
    return ex, handle


@pytest.mark.parametrize(
    ("first", "taker_qty"),
    [
        # a 2nd reduce-only sell, fully swept after the 1st closed the position (StopIteration
        # in _settle, once)
        ("reduce-only", "2"),
        # an ordinary sell first, then the reduce-only one fully swept (KeyError in
        # OrderBook.reduce, once) or partly swept (ValueError in OrderBook.reduce, once)
        ("plain", "1.5"),
        ("plain", "1.2"),
    ],
)
def test_a_sweep_through_a_reduce_only_order_past_the_position(first: str, taker_qty: str) -> None:
    """m is long 1 BTC and offers a sell (reduce-only or not) at 60010 and a reduce-only sell of
    1 at 60020; t buys through both. Whatever fills, m never goes short, and money adds up."""
    ex, handle = _funded("m", "t")
    assert handle(c.PlaceOrder("t", "BTCUSDT", Side.SELL, OrderType.LIMIT, D(1), D(60000))).accepted
    assert handle(c.PlaceOrder("m", "BTCUSDT", Side.BUY, OrderType.MARKET, D(1))).accepted
    sells = [(D(1) if first == "reduce-only" else D("0.5"), "60010", first == "reduce-only")]
    sells.append((D(1), "60020", True))
    for qty, price, reduce_only in sells:
        cmd = c.PlaceOrder(
            "m", "BTCUSDT", Side.SELL, OrderType.LIMIT, qty, D(price), reduce_only=reduce_only
        )
        assert handle(cmd).accepted
    out = handle(c.PlaceOrder("t", "BTCUSDT", Side.BUY, OrderType.LIMIT, D(taker_qty), D(60020)))
    assert out.accepted
    pos = ex.accounts["m"].position("BTCUSDT")
    assert pos is None or pos.qty > 0
    assert ex.ledger.imbalance() == {}


def test_fill_or_kill_with_self_trade_prevention_is_all_or_nothing() -> None:
    """A FOK buy that would meet its own ask (EXPIRE_TAKER) after another's is refused whole
    (it used to fill partly: fillable was asked without the stp mode)."""
    _, handle = _funded("a", "b")
    handle(c.PlaceOrder("b", "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.1"), D("60000")))
    handle(c.PlaceOrder("a", "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.1"), D("60010")))
    handle(c.PlaceOrder("b", "BTCUSDT", Side.SELL, OrderType.LIMIT, D("0.1"), D("60020")))
    out = handle(
        c.PlaceOrder(
            "a",
            "BTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            D("0.2"),
            D("60020"),
            time_in_force=TimeInForce.FOK,
        )
    )
    fills = [e for e in out.events if isinstance(e, FillSettled) and e.account_id == "a"]
    assert out.error is not None or not fills or sum(f.qty for f in fills) == D("0.2")

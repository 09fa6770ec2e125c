"""The exchange: one sequencer, many accounts, an order book per symbol, margin on every order.

``Exchange.handle(command)`` is the only way in. It validates the whole command first; a
refusal returns the error and changes nothing (no events, no sequence number). An accepted
command gets the next sequence number and returns its events, every one stamped with that
number and the injected clock. Replaying the same commands yields the same events and state.

Pre-trade margin follows Binance's order cost: the opening part of an order (what does not
reduce the current position) costs ``N(price)/leverage`` plus its *open loss* — how much worse
than mark it is priced, ``max(0, −PnL(opening qty entered at price, valued at mark))`` — and
must fit the pool's available balance, where resting orders already hold their cost. Leverage
must be allowed by the tier of the position-plus-orders notional. Reduce-only orders (and, in
hedge mode, orders that reduce their leg) never add exposure: they are clipped to the position
and cancelled when it is gone.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from typing import Any

from isocross.book import Fill, OrderBook, SelfTradePrevention
from isocross.catalogue import Catalogue, load_catalogue
from isocross.engine import commands as c
from isocross.engine.events import (
    CommandAccepted,
    DepthChanged,
    Event,
    FillSettled,
    FundingPaid,
    LedgerPosted,
    OrderUpdated,
    PositionChanged,
    PriceUpdated,
    SettingsChanged,
    Trade,
)
from isocross.engine.fees import FeeSchedule
from isocross.engine.orders import Order, OrderStatus, OrderType, TimeInForce, WorkingType
from isocross.margin.account import Account, Blocker, OpenOrder
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.ledger import Ledger
from isocross.model.money import CONTEXT, ONE, ZERO, exponent, round_down, round_up

FUNDING = "exchange:funding"
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEPTH_LEVELS = 50


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``handle`` returns: the events of an accepted command, or the refusal."""

    seq: int | None
    events: tuple[Event, ...]
    error: IsocrossError | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None


def zero_clock() -> int:
    """The default clock (a module-level function, so an exchange pickles for snapshots)."""
    return 0


Hook = Callable[[c.Command], None]


def _bad(error: ErrorCode, message: str, field: str | None = None) -> IsocrossError:
    return IsocrossError(error, message, field=field)


class Exchange:
    """The deterministic exchange state machine (see the module docstring)."""

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        clock: Callable[[], int] = zero_clock,
        fees: FeeSchedule | None = None,
        price_band: Decimal = Decimal("0.05"),
    ) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.clock = clock
        self.fees = fees or FeeSchedule()
        self.price_band = price_band
        self.ledger = Ledger()
        self.accounts: dict[str, Account] = {}
        self.fee_tiers: dict[str, str] = {}
        self.books = {s: OrderBook(s) for s in self.catalogue.instruments}
        self.orders: dict[str, Order] = {}
        self.conditionals: dict[str, dict[str, Order]] = {s: {} for s in self.catalogue.instruments}
        self._reducing: dict[str, set[str]] = {s: set() for s in self.catalogue.instruments}
        self.marks: dict[str, Decimal] = {}
        self.index: dict[str, Decimal] = {}
        self.seq = 0
        self._next_order = 1
        self._next_trade = 1
        self._events: list[Event] = []
        self._dirty: dict[str, set[tuple[bool, int]]] = {}
        self._now = 0
        self._hooks: list[Hook] = []
        self._state_parts: list[Callable[[], list[str]]] = []
        self.extensions: dict[str, Any] = {}
        """Layers attached above the exchange, by name (the risk engine is ``"risk"``)."""
        self._handlers: dict[type, Callable[[Any], None]] = {
            c.OpenAccount: self._open_account,
            c.Deposit: self._deposit,
            c.Withdraw: self._withdraw,
            c.Transfer: self._transfer,
            c.SetPositionMode: self._set_position_mode,
            c.SetMarginMode: self._set_margin_mode,
            c.SetMarginModes: self._set_margin_modes,
            c.SetLeverage: self._set_leverage,
            c.AdjustIsolatedMargin: self._adjust_isolated_margin,
            c.PlaceOrder: self._place,
            c.CancelOrder: self._cancel_order,
            c.CancelAll: self._cancel_all,
            c.AmendOrder: self._amend,
            c.SetMarkPrice: self._set_mark,
            c.SetIndexPrice: self._set_index,
            c.SettleFunding: self._settle_funding,
        }

    # ================================================================= extension points
    def register(self, command_type: type, handler: Callable[[Any], None]) -> None:
        """Let a layer above (the risk engine) add a command type of its own."""
        self._handlers[command_type] = handler

    def add_hook(self, hook: Hook) -> None:
        """Run ``hook(command)`` after every accepted command's handler: its events join the
        command's. A hook acts on what happened; it cannot refuse the command."""
        self._hooks.append(hook)

    # ========================================================== primitives for the risk layer
    def emit(self, event_type: type[Any], /, **fields: Any) -> None:
        """Add an event to the command being handled (for hooks and extension commands)."""
        self._emit(event_type, **fields)

    @property
    def pending_events(self) -> list[Event]:
        """The events of the command being handled so far (read-only by convention)."""
        return self._events

    def add_state_part(self, part: Callable[[], list[str]]) -> None:
        """Include a layer's own state (lines of text) in ``state_hash``."""
        self._state_parts.append(part)

    @property
    def now(self) -> int:
        """The timestamp of the command being handled (milliseconds)."""
        return self._now

    def add_internal_account(self, account: Account) -> None:
        """Register an exchange-owned account (the insurance fund) that can hold positions."""
        self.accounts[account.account_id] = account
        self.fee_tiers[account.account_id] = "VIP0"

    def cancel_account_orders(self, account_id: str, symbols: set[str], reason: str) -> int:
        """Cancel every open and conditional order of an account on ``symbols``."""
        orders = [o for o in self.open_orders(account_id) if o.symbol in symbols]
        for order in orders:
            self._close_order(order, OrderStatus.CANCELED, reason)
        return len(orders)

    def liquidation_order(
        self,
        account_id: str,
        symbol: str,
        position_side: PositionSide,
        side: Side,
        qty: Decimal,
        limit_price: Decimal | None,
        reason: str,
    ) -> Order:
        """Send a fee-exempt reduce-only IOC order for the risk engine (no margin checks):
        a limit at ``limit_price`` (the bankruptcy price), or a market order within the band
        when ``None``. Returns the order; its ``filled_qty`` says what the book took."""
        inst = self.catalogue.instrument(symbol)
        acct = self.accounts[account_id]
        order = Order(
            order_id=str(self._next_order),
            account_id=account_id,
            symbol=symbol,
            side=side,
            type=OrderType.LIMIT if limit_price is not None else OrderType.MARKET,
            qty=qty,
            price=limit_price,
            time_in_force=TimeInForce.IOC,
            position_side=position_side,
            reduce_only=True,
            client_order_id=reason,
            created_seq=self.seq + 1,
            liquidation=True,
        )
        self._next_order += 1
        self.orders[order.order_id] = order
        self._order_event(order, reason)
        self._execute(order, acct, inst)
        return order

    def transfer_position(
        self,
        from_account: str,
        to_account: str,
        symbol: str,
        qty: Decimal,
        price: Decimal,
        *,
        from_side: Side,
        from_position_side: PositionSide = PositionSide.BOTH,
        to_position_side: PositionSide = PositionSide.BOTH,
        reason: str,
    ) -> int:
        """A fee-free trade off the book at ``price`` (insurance takeover, auto-deleveraging):
        ``from_account`` trades ``from_side`` and ``to_account`` the opposite. Returns the
        trade id."""
        inst = self.catalogue.instrument(symbol)
        trade_id = self._next_trade
        self._next_trade += 1
        buyer_is_from = from_side is Side.BUY
        self._emit(
            Trade,
            trade_id=trade_id,
            symbol=symbol,
            price=price,
            qty=qty,
            taker_order_id=reason,
            maker_order_id=reason,
            taker_account_id=from_account,
            maker_account_id=to_account,
            taker_is_buyer=buyer_is_from,
        )
        legs = (
            (from_account, from_side, from_position_side, False),
            (to_account, from_side.opposite, to_position_side, True),
        )
        for account_id, side, position_side, is_maker in legs:
            acct = self.accounts[account_id]
            realized = acct.apply_fill(
                symbol, side, qty, price, self.marks, position_side=position_side, enforce=False
            )
            self._emit(
                FillSettled,
                trade_id=trade_id,
                order_id=reason,
                account_id=account_id,
                symbol=symbol,
                qty=qty,
                price=price,
                is_maker=is_maker,
                fee=ZERO,
                realized_pnl=realized,
            )
            self._position_event(acct, symbol, position_side)
            self._clip_reducing_orders(acct, inst, skip="")
        return trade_id

    # ================================================================= the sequencer
    def handle(self, command: c.Command, *, ts: int | None = None) -> Outcome:
        """Apply one command: all of it with its events, or nothing with the refusal.

        ``ts`` (milliseconds) stamps the command instead of the clock: the journal replays
        each command at the time it was first handled."""
        handler = self._handlers.get(type(command))
        if handler is None:
            error = _bad(ErrorCode.INVALID_INPUT, f"unknown command {type(command).__name__}")
            return Outcome(None, (), error)
        self._events = []
        self._dirty = {}
        self._now = self.clock() if ts is None else ts
        mark = self.ledger.checkpoint()
        self._emit(CommandAccepted, command=type(command).__name__)
        try:
            with localcontext(CONTEXT):
                handler(command)
        except IsocrossError as exc:
            # Handlers validate before they change anything; this only undoes ledger entries a
            # half-run account method may have posted (the account already restored itself).
            self.ledger.rollback(mark)
            return Outcome(None, (), exc)
        with localcontext(CONTEXT):
            # Hooks act on an accepted command and must not refuse it: an error here is a bug,
            # raised as such (never reported as a refusal that would have changed nothing).
            for hook in self._hooks:
                hook(command)
        for entry in self.ledger.entries[mark:]:
            self._emit(
                LedgerPosted,
                debit=entry.debit,
                credit=entry.credit,
                asset=entry.asset,
                amount=entry.amount,
                reason=entry.reason,
            )
        self._emit_depth()
        self.seq += 1
        return Outcome(self.seq, tuple(self._events))

    def _emit(self, event_type: type[Any], /, **fields: Any) -> None:
        self._events.append(event_type(seq=self.seq + 1, ts=self._now, **fields))

    # ================================================================= lookups
    def account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise _bad(
                ErrorCode.UNKNOWN_ACCOUNT, f"no account {account_id!r}", "account_id"
            ) from None

    def mark(self, symbol: str) -> Decimal:
        self.catalogue.instrument(symbol)
        if symbol not in self.marks:
            raise _bad(
                ErrorCode.NO_MARK_PRICE,
                f"{symbol} has no mark price yet; trading opens with the first one",
                "symbol",
            )
        return self.marks[symbol]

    def last_price(self, symbol: str) -> Decimal | None:
        ticks = self.books[symbol].last_price
        return None if ticks is None else ticks * self.catalogue.instrument(symbol).tick_size

    def depth(
        self, symbol: str, levels: int = 20
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Depth snapshot: (bids best first, asks best first) as (price, quantity)."""
        inst = self.catalogue.instrument(symbol)
        bids, asks = self.books[symbol].depth(levels)
        return (
            [(p * inst.tick_size, q * inst.step_size) for p, q in bids],
            [(p * inst.tick_size, q * inst.step_size) for p, q in asks],
        )

    def open_orders(self, account_id: str, symbol: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.account_id == account_id and o.is_open and (symbol is None or o.symbol == symbol)
        ]

    # ================================================================= wallets and settings
    def _open_account(self, cmd: c.OpenAccount) -> None:
        if not isinstance(cmd.account_id, str) or not ACCOUNT_ID.fullmatch(cmd.account_id):
            raise _bad(
                ErrorCode.INVALID_INPUT,
                f"account id {cmd.account_id!r} is not allowed: use 1 to 64 letters, digits, "
                "'_', '-' or '.'",
                "account_id",
            )
        if cmd.account_id in self.accounts:
            raise _bad(ErrorCode.ACCOUNT_EXISTS, f"account {cmd.account_id!r} already exists")
        self.fees.rates(cmd.fee_tier)
        self.accounts[cmd.account_id] = Account(self.catalogue, cmd.account_id, ledger=self.ledger)
        self.fee_tiers[cmd.account_id] = cmd.fee_tier

    def _deposit(self, cmd: c.Deposit) -> None:
        self.catalogue.asset(cmd.asset)
        self.account(cmd.account_id).deposit(cmd.asset, cmd.amount)

    def _withdraw(self, cmd: c.Withdraw) -> None:
        self.catalogue.asset(cmd.asset)
        self.account(cmd.account_id).withdraw(cmd.asset, cmd.amount)

    def _transfer(self, cmd: c.Transfer) -> None:
        self.catalogue.asset(cmd.asset)
        acct = self.account(cmd.account_id)
        if cmd.to_futures:
            acct.transfer_to_futures(cmd.asset, cmd.amount)
        else:
            acct.transfer_to_spot(cmd.asset, cmd.amount, self.marks)

    def _set_position_mode(self, cmd: c.SetPositionMode) -> None:
        acct = self.account(cmd.account_id)
        self._reject_if_conditionals(acct, None, position_mode=True)
        acct.set_position_mode(cmd.mode)
        self._emit(
            SettingsChanged, account_id=acct.account_id, what="position_mode", value=cmd.mode.value
        )

    def _set_margin_mode(self, cmd: c.SetMarginMode) -> None:
        acct = self.account(cmd.account_id)
        self._reject_if_conditionals(acct, cmd.symbol)
        acct.set_margin_mode(cmd.symbol, cmd.mode)
        self._emit(
            SettingsChanged,
            account_id=acct.account_id,
            what=f"margin_mode:{cmd.symbol}",
            value=cmd.mode.value,
        )

    def _set_margin_modes(self, cmd: c.SetMarginModes) -> None:
        acct = self.account(cmd.account_id)
        symbols = list(cmd.symbols) or None
        waiting: dict[str, Blocker] = {}
        for orders in self.conditionals.values():
            for o in orders.values():
                if o.account_id == acct.account_id:
                    waiting[o.symbol] = Blocker(
                        o.symbol,
                        ErrorCode.MARGIN_MODE_OPEN_ORDERS.code,
                        f"{o.symbol} has conditional (stop/take-profit) orders; cancel them first",
                    )
        changed = acct.set_margin_modes(
            cmd.mode, symbols, as_default=cmd.as_default, also_blocked=waiting
        )
        for symbol in changed:
            self._emit(
                SettingsChanged,
                account_id=acct.account_id,
                what=f"margin_mode:{symbol}",
                value=cmd.mode.value,
            )
        if cmd.as_default:
            self._emit(
                SettingsChanged,
                account_id=acct.account_id,
                what="default_margin_mode",
                value=cmd.mode.value,
            )

    def _reject_if_conditionals(
        self, acct: Account, symbol: str | None, *, position_mode: bool = False
    ) -> None:
        """Resting stop/take-profit orders block mode changes just as limit orders do."""
        waiting = [
            o
            for orders in self.conditionals.values()
            for o in orders.values()
            if o.account_id == acct.account_id and (symbol is None or o.symbol == symbol)
        ]
        if waiting:
            error = (
                ErrorCode.POSITION_MODE_OPEN_ORDERS
                if position_mode
                else (ErrorCode.MARGIN_MODE_OPEN_ORDERS)
            )
            raise _bad(
                error,
                f"cannot change the mode while {len(waiting)} conditional order(s) wait "
                f"({', '.join(sorted({o.symbol for o in waiting}))}); cancel them first",
            )

    def _set_leverage(self, cmd: c.SetLeverage) -> None:
        acct = self.account(cmd.account_id)
        acct.set_leverage(cmd.symbol, cmd.leverage, self.marks)
        self._emit(
            SettingsChanged,
            account_id=acct.account_id,
            what=f"leverage:{cmd.symbol}",
            value=str(cmd.leverage),
        )

    def _adjust_isolated_margin(self, cmd: c.AdjustIsolatedMargin) -> None:
        acct = self.account(cmd.account_id)
        self.mark(cmd.symbol)
        if cmd.add:
            acct.add_isolated_margin(cmd.symbol, cmd.amount, self.marks, cmd.position_side)
        else:
            acct.remove_isolated_margin(cmd.symbol, cmd.amount, self.marks, cmd.position_side)

    # ================================================================= prices and funding
    def _set_mark(self, cmd: c.SetMarkPrice) -> None:
        self._check_price(cmd.symbol, cmd.price)
        self.apply_mark(cmd.symbol, cmd.price)

    def apply_mark(self, symbol: str, price: Decimal) -> None:
        """Set a (validated) mark price, announce it and fire the orders it triggers."""
        self.marks[symbol] = price
        self._emit(PriceUpdated, symbol=symbol, kind="mark", price=price)
        self._run_triggers(symbol)

    def _set_index(self, cmd: c.SetIndexPrice) -> None:
        self._check_price(cmd.symbol, cmd.price)
        self.index[cmd.symbol] = cmd.price
        self._emit(PriceUpdated, symbol=cmd.symbol, kind="index", price=cmd.price)

    def _check_price(self, symbol: str, price: Decimal) -> None:
        self.catalogue.instrument(symbol)
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise _bad(ErrorCode.INVALID_INPUT, f"price must be positive, got {price}", "price")

    def _settle_funding(self, cmd: c.SettleFunding) -> None:
        """Longs pay shorts ``N(mark)·rate`` (the reverse when negative). Payments round up,
        receipts down; the dust stays in the funding account, so the sum is exactly zero."""
        self.catalogue.instrument(cmd.symbol)
        self.mark(cmd.symbol)
        if not isinstance(cmd.rate, Decimal) or not cmd.rate.is_finite() or abs(cmd.rate) >= 1:
            raise _bad(
                ErrorCode.INVALID_INPUT, f"funding rate must be in (−1, 1), got {cmd.rate}", "rate"
            )
        self.pay_funding(cmd.symbol, cmd.rate)

    def pay_funding(self, symbol: str, rate: Decimal) -> None:
        """Settle one funding payment of ``symbol`` at ``rate`` (validated) and the mark."""
        inst = self.catalogue.instrument(symbol)
        mark = self.marks[symbol]
        asset = inst.margin_asset.name
        quantum = exponent(inst.margin_asset.precision)
        payers: list[tuple[Account, Position, str, Decimal]] = []
        receivers: list[tuple[Account, Position, str, Decimal]] = []
        for acct in self.accounts.values():
            for pos in acct.positions():
                if pos.symbol != symbol:
                    continue
                amount = inst.notional(pos.qty, mark) * abs(rate)
                wallet = (
                    acct.isolated_account(pos.symbol, pos.side)
                    if pos.margin_mode is MarginMode.ISOLATED
                    else acct.futures_account()
                )
                pays = (pos.qty > 0) == (rate > 0)
                (payers if pays else receivers).append((acct, pos, wallet, amount))
        # Payers first (rounded up into the funding account), then receivers (rounded down).
        for group, sign in ((payers, -1), (receivers, 1)):
            for acct, pos, wallet, amount in group:
                moved = round_up(amount, quantum) if sign < 0 else round_down(amount, quantum)
                source, target = (wallet, FUNDING) if sign < 0 else (FUNDING, wallet)
                self.ledger.post(source, target, asset, moved, f"funding {symbol}")
                self._emit(
                    FundingPaid,
                    account_id=acct.account_id,
                    symbol=symbol,
                    position_side=pos.side.value,
                    rate=rate,
                    amount=sign * moved,
                )

    # ================================================================= orders: validation
    def _place(self, cmd: c.PlaceOrder) -> None:
        acct = self.account(cmd.account_id)
        inst = self.catalogue.instrument(cmd.symbol)
        order = self._new_order(cmd, acct, inst)
        if not order.type.is_conditional:
            self._check_executable(order, acct, inst)
        self._next_order += 1
        self.orders[order.order_id] = order
        self._order_event(order, "accepted")
        if order.type.is_conditional:
            self.conditionals[order.symbol][order.order_id] = order
            return
        self._execute(order, acct, inst)
        self._run_triggers(order.symbol)

    def _new_order(self, cmd: c.PlaceOrder, acct: Account, inst: Instrument) -> Order:
        """Check the order's own fields and filters; returns it with a fresh id."""
        mark = self.mark(inst.symbol)
        acct.check_position_side(cmd.position_side)
        kind = cmd.type
        if cmd.close_position:
            if kind not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
                raise _bad(
                    ErrorCode.INVALID_INPUT,
                    "close_position works with STOP_MARKET and TAKE_PROFIT_MARKET only",
                    "close_position",
                )
            if cmd.qty is not None:
                raise _bad(
                    ErrorCode.INVALID_INPUT,
                    "close_position closes the whole position: leave qty empty",
                    "qty",
                )
        elif cmd.qty is None:
            raise _bad(ErrorCode.MISSING_PARAMETER, "qty is required", "qty")
        else:
            self._check_qty(inst, cmd.qty)
        if cmd.reduce_only and acct.position_mode is PositionMode.HEDGE:
            raise _bad(
                ErrorCode.INVALID_INPUT,
                "reduce_only is implied in hedge mode: a SELL on LONG (or BUY on SHORT) "
                "reduces that leg",
                "reduce_only",
            )
        if kind.has_limit_price:
            if cmd.price is None:
                raise _bad(ErrorCode.MISSING_PARAMETER, f"price is required for {kind}", "price")
            self._check_tick(inst, cmd.price, "price")
            self._check_band(inst, cmd.side, cmd.price, mark)
        elif cmd.time_in_force in (TimeInForce.GTX, TimeInForce.FOK) and kind is OrderType.MARKET:
            raise _bad(
                ErrorCode.INVALID_INPUT,
                f"time in force {cmd.time_in_force} needs a limit price",
                "time_in_force",
            )
        if kind in (
            OrderType.STOP,
            OrderType.STOP_MARKET,
            OrderType.TAKE_PROFIT,
            OrderType.TAKE_PROFIT_MARKET,
        ):
            if cmd.stop_price is None:
                raise _bad(
                    ErrorCode.MISSING_PARAMETER, f"stop_price is required for {kind}", "stop_price"
                )
            self._check_tick(inst, cmd.stop_price, "stop_price")
        if kind is OrderType.TRAILING_STOP_MARKET:
            rate = cmd.callback_rate
            if rate is None or not Decimal("0.001") <= rate <= Decimal("0.1"):
                raise _bad(
                    ErrorCode.INVALID_INPUT,
                    f"callback_rate must be from 0.001 (0.1 %) to 0.1 (10 %), got {rate}",
                    "callback_rate",
                )
            if cmd.activation_price is not None:
                self._check_tick(inst, cmd.activation_price, "activation_price")
        order = Order(
            order_id=str(self._next_order),
            account_id=acct.account_id,
            symbol=inst.symbol,
            side=cmd.side,
            type=kind,
            qty=cmd.qty if cmd.qty is not None else ZERO,
            price=cmd.price if kind.has_limit_price else None,
            stop_price=cmd.stop_price,
            time_in_force=cmd.time_in_force if kind.has_limit_price else TimeInForce.IOC,
            position_side=cmd.position_side,
            reduce_only=cmd.reduce_only or cmd.close_position,
            close_position=cmd.close_position,
            working_type=cmd.working_type,
            callback_rate=cmd.callback_rate,
            activation_price=cmd.activation_price,
            stp=cmd.stp,
            client_order_id=cmd.client_order_id,
            created_seq=self.seq + 1,
        )
        if kind.is_conditional and kind is not OrderType.TRAILING_STOP_MARKET:
            watched = self._watched_price(order)
            if watched is not None and order.fires_at(watched):
                raise _bad(
                    ErrorCode.WOULD_IMMEDIATELY_TRIGGER,
                    f"the {order.working_type.value.lower()} {watched} already meets "
                    f"stop_price {order.stop_price}: the order would trigger immediately",
                    "stop_price",
                )
        if not order.reduce_only and not self._reduces_leg(acct, order) and cmd.qty is not None:
            price = cmd.price if kind.has_limit_price and cmd.price is not None else mark
            notional = inst.notional(cmd.qty, price)
            if inst.contract_type.value == "linear" and notional < inst.min_notional:
                raise _bad(
                    ErrorCode.NOTIONAL_BELOW_MINIMUM,
                    f"order notional {notional} is below the minimum {inst.min_notional} "
                    f"{inst.quote_asset}",
                    "qty",
                )
        return order

    def _check_qty(self, inst: Instrument, qty: Decimal) -> None:
        if not isinstance(qty, Decimal) or not qty.is_finite() or qty <= 0:
            raise _bad(ErrorCode.QTY_BELOW_MINIMUM, f"quantity must be positive, got {qty}", "qty")
        if qty % inst.step_size:
            raise _bad(
                ErrorCode.QTY_NOT_ON_STEP,
                f"quantity {qty} is not a multiple of the step size {inst.step_size}",
                "qty",
            )
        if qty < inst.min_qty:
            raise _bad(
                ErrorCode.QTY_BELOW_MINIMUM,
                f"quantity {qty} is below the minimum {inst.min_qty}",
                "qty",
            )

    def _check_tick(self, inst: Instrument, price: Decimal, field: str) -> None:
        if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
            raise _bad(ErrorCode.INVALID_INPUT, f"{field} must be positive, got {price}", field)
        if price % inst.tick_size:
            raise _bad(
                ErrorCode.PRICE_NOT_ON_TICK,
                f"{field} {price} is not a multiple of the tick size {inst.tick_size}",
                field,
            )

    def _check_band(self, inst: Instrument, side: Side, price: Decimal, mark: Decimal) -> None:
        """Limit prices stay within ±band of mark (Binance's PERCENT_PRICE filter)."""
        if side is Side.BUY and price > mark * (ONE + self.price_band):
            raise _bad(
                ErrorCode.PRICE_ABOVE_BAND,
                f"a buy limit must be at most {mark * (ONE + self.price_band):f} "
                f"({self.price_band:%} above mark {mark}), got {price}",
                "price",
            )
        if side is Side.SELL and price < mark * (ONE - self.price_band):
            raise _bad(
                ErrorCode.PRICE_BELOW_BAND,
                f"a sell limit must be at least {mark * (ONE - self.price_band):f} "
                f"({self.price_band:%} below mark {mark}), got {price}",
                "price",
            )

    def _watched_price(self, order: Order) -> Decimal | None:
        if order.working_type is WorkingType.MARK_PRICE:
            return self.marks.get(order.symbol)
        return self.last_price(order.symbol)

    # ================================================================= orders: margin
    def _reduces_leg(self, acct: Account, order: Order) -> bool:
        """In hedge mode, a SELL on LONG or a BUY on SHORT reduces that leg."""
        if acct.position_mode is PositionMode.ONE_WAY:
            return False
        return (order.position_side is PositionSide.LONG) == (order.side is Side.SELL)

    def reducible_qty(
        self, acct: Account, symbol: str, side: Side, position_side: PositionSide
    ) -> Decimal:
        """How much of a ``side`` order would reduce the current position (or leg)."""
        pos = acct.position(symbol, position_side)
        if pos is None:
            return ZERO
        if (pos.qty > 0) == (side is Side.BUY):
            return ZERO
        return abs(pos.qty)

    def order_cost(
        self,
        account_id: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None = None,
        position_side: PositionSide = PositionSide.BOTH,
        leverage: int | None = None,
    ) -> Decimal:
        """Margin an order needs: ``N(price)/leverage + open loss`` on its opening part.

        ``price`` None estimates a market order at the price band's edge (the worst it can
        fill at). Binance USDⓈ-M "order cost"; rounded up to the margin asset's precision.
        """
        acct = self.account(account_id)
        inst = self.catalogue.instrument(symbol)
        with localcontext(CONTEXT):
            mark = self.mark(symbol)
            if price is None:
                qty, price = self._market_fill_estimate(inst, side, qty)
            opening = max(ZERO, qty - self.reducible_qty(acct, symbol, side, position_side))
            lev = leverage or acct.settings(symbol).leverage
            initial = inst.notional(opening, price) / lev
            open_loss = max(ZERO, -inst.unrealized_pnl(opening * side.sign, price, mark))
            return round_up(initial + open_loss, exponent(inst.margin_asset.precision))

    def max_order_qty(
        self,
        account_id: str,
        symbol: str,
        side: Side,
        price: Decimal | None = None,
        position_side: PositionSide = PositionSide.BOTH,
        leverage: int | None = None,
    ) -> Decimal:
        """The largest quantity (a step multiple) whose cost fits the available balance and
        whose resulting notional the tier allows at the leverage; closing quantity is free."""
        acct = self.account(account_id)
        inst = self.catalogue.instrument(symbol)
        with localcontext(CONTEXT):
            mark = self.mark(symbol)
            price = price if price is not None else self._market_estimate(side, mark)
            lev = leverage or acct.settings(symbol).leverage
            pool = acct.figures(self.marks, prices=False).pools.get(inst.margin_asset.name)
            available = max(ZERO, pool.available_balance) if pool else ZERO
            unit = inst.notional(ONE, price) / lev + max(
                ZERO, -inst.unrealized_pnl(Decimal(side.sign), price, mark)
            )
            by_margin = available / unit
            caps = [t.cap for t in inst.tiers.tiers if t.max_leverage >= lev]
            cap = caps[-1] if caps else ZERO
            by_tier = by_margin if cap is None else cap / inst.notional(ONE, price)
            reducible = self.reducible_qty(acct, symbol, side, position_side)
            held = (
                sum((abs(p.qty) for p in acct.positions() if p.symbol == symbol), ZERO) - reducible
            )
            opening = min(by_margin, max(ZERO, by_tier - held))
            return round_down(opening + reducible, inst.step_size)

    def _market_fill_estimate(
        self, inst: Instrument, side: Side, qty: Decimal
    ) -> tuple[Decimal, Decimal]:
        """What a market order can fill now within the band, and the worst price it reaches
        (the band's edge when the book is empty): the rest would expire, so it costs nothing."""
        limit = self._band_limit(inst, side)
        bids, asks = self.books[inst.symbol].depth(DEPTH_LEVELS)
        wanted, got, worst = self._lots(inst, qty), 0, limit
        for level_price, level_qty in asks if side is Side.BUY else bids:
            if (level_price > limit) if side is Side.BUY else (level_price < limit):
                break
            got += min(level_qty, wanted - got)
            worst = level_price
            if got >= wanted:
                break
        return got * inst.step_size, worst * inst.tick_size

    def _market_estimate(self, side: Side, mark: Decimal) -> Decimal:
        return (
            mark * (ONE + self.price_band) if side is Side.BUY else mark * (ONE - self.price_band)
        )

    def _check_executable(self, order: Order, acct: Account, inst: Instrument) -> None:
        """Everything that depends on the book, the position and margin; raises if not."""
        book = self.books[inst.symbol]
        buy = order.side is Side.BUY
        reducing = order.reduce_only or self._reduces_leg(acct, order)
        if reducing:
            room = self.reducible_qty(acct, inst.symbol, order.side, order.position_side)
            if order.close_position:
                order.qty = room
            if room == 0 or (order.remaining > room and not order.reduce_only):
                raise _bad(
                    ErrorCode.REDUCE_ONLY_REJECTED,
                    f"a reduce-only {order.side.value} of {order.remaining} cannot reduce "
                    f"the position ({room} reducible)",
                    "qty",
                )
            order.qty = min(order.qty, order.filled_qty + room)
        if order.type is OrderType.LIMIT or order.type.triggered_type is OrderType.LIMIT:
            assert order.price is not None
            limit = self._ticks(inst, order.price)
            if order.time_in_force is TimeInForce.GTX and book.would_cross(buy, limit):
                raise _bad(
                    ErrorCode.POST_ONLY_REJECTED,
                    f"post-only order at {order.price} would trade immediately "
                    f"(best {'ask' if buy else 'bid'} crosses it)",
                    "price",
                )
        else:
            limit = self._band_limit(inst, order.side)
        if order.time_in_force is TimeInForce.FOK:
            exclude = acct.account_id if order.stp is not SelfTradePrevention.NONE else None
            can = book.fillable(buy, self._lots(inst, order.remaining), limit, exclude, order.stp)
            if can < self._lots(inst, order.remaining):
                raise _bad(
                    ErrorCode.FOK_REJECTED,
                    f"fill-or-kill for {order.remaining} cannot fill completely now "
                    f"({can * inst.step_size} available within the price)",
                    "qty",
                )
        if reducing:
            return
        settings = acct.settings(inst.symbol)
        price = (
            order.price
            if order.price is not None
            else self._market_estimate(order.side, self.marks[inst.symbol])
        )
        exposure = self._exposure_after(acct, inst, order, price)
        allowed = inst.tiers.max_leverage_for(exposure)
        if settings.leverage > allowed:
            raise _bad(
                ErrorCode.LEVERAGE_EXCEEDS_TIER,
                f"{inst.symbol} position and orders would be worth {exposure:.2f} "
                f"{inst.margin_asset.name}; that tier allows at most {allowed}x and "
                f"leverage is {settings.leverage}x",
                "qty",
            )
        cost = self.order_cost(
            acct.account_id,
            inst.symbol,
            order.side,
            order.remaining,
            order.price,
            order.position_side,
        )
        pool = acct.figures(self.marks, prices=False).pools.get(inst.margin_asset.name)
        available = pool.available_balance if pool else ZERO
        if settings.margin_mode is MarginMode.ISOLATED and isinstance(cost, Decimal):
            cost, available = self._isolated_cost(order, acct, inst, price, cost, available)
        if isinstance(cost, Decimal) and cost > available:
            raise _bad(
                ErrorCode.INSUFFICIENT_MARGIN,
                f"margin is insufficient: this order needs {cost} "
                f"{inst.margin_asset.name}, {max(available, ZERO)} is available",
                "qty",
            )

    def _isolated_cost(
        self,
        order: Order,
        acct: Account,
        inst: Instrument,
        price: Decimal,
        cost: Decimal,
        available: Decimal,
    ) -> tuple[Decimal, Decimal]:
        """An isolated opening moves ``N(fill price)/leverage`` out of the cross *wallet* and
        pays its fee from it, so check against the wallet rule ``Account`` applies
        (``W − MM − order IM``: unrealized cross profit cannot fund it), at the worst fill price
        (a sell can fill above its limit, at the best bid), with the taker fee."""
        pool = acct.figures(self.marks, prices=False).pools.get(inst.margin_asset.name)
        if pool is not None:
            wallet_room = (
                pool.wallet_balance - pool.maintenance_margin - pool.open_order_initial_margin
            )
            available = min(available, wallet_room)
        worst = price
        best_bid = self.books[inst.symbol].best_bid()
        if order.side is Side.SELL and best_bid is not None:
            worst = max(worst, best_bid * inst.tick_size)
        quantum = exponent(inst.margin_asset.precision)
        notional = inst.notional(order.remaining, worst)
        rates = self.fees.rates(self.fee_tiers[acct.account_id])
        margin = round_up(notional / acct.settings(inst.symbol).leverage, quantum)
        fee = round_up(notional * max(rates.taker, rates.maker, ZERO), quantum)
        return max(cost, margin) + fee, available

    def _exposure_after(
        self, acct: Account, inst: Instrument, order: Order, price: Decimal
    ) -> Decimal:
        pos = acct.position(inst.symbol, order.position_side)
        held = pos.qty if pos else ZERO
        after = abs(held + order.side.sign * order.remaining)
        resting = sum((o.qty for o in acct.open_orders(inst.symbol) if not o.reduce_only), ZERO)
        return inst.notional(after + resting, price)

    # ================================================================= orders: execution
    def _ticks(self, inst: Instrument, price: Decimal) -> int:
        return int(price / inst.tick_size)

    def _lots(self, inst: Instrument, qty: Decimal) -> int:
        return int(qty / inst.step_size)

    def _band_limit(self, inst: Instrument, side: Side) -> int:
        """Market orders fill only within ±band of mark (the protective price band)."""
        mark = self.marks[inst.symbol]
        if side is Side.BUY:
            edge = mark * (ONE + self.price_band) / inst.tick_size
            return int(edge.to_integral_value(rounding=ROUND_FLOOR))
        edge = mark * (ONE - self.price_band) / inst.tick_size
        return int(edge.to_integral_value(rounding=ROUND_CEILING))

    def _execute(self, order: Order, acct: Account, inst: Instrument) -> None:
        book = self.books[inst.symbol]
        buy = order.side is Side.BUY
        is_limit = order.price is not None
        limit = (
            self._ticks(inst, order.price)
            if order.price is not None
            else (self._band_limit(inst, order.side))
        )
        lots = self._lots(inst, order.remaining)
        if self._reducing[inst.symbol]:
            self._cap_reducing_makers(inst, buy, lots, limit)
        result = book.match(order.order_id, acct.account_id, buy, lots, limit, order.stp)
        dirty = self._dirty.setdefault(inst.symbol, set())
        dirty.update((not buy, fill.price) for fill in result.fills)
        dirty.update((maker.is_buy, maker.price) for maker in result.expired_makers)
        for fill in result.fills:
            self._settle(order, fill, inst)
        # Clip reduce-only orders once the whole match is settled: a maker swept later in the
        # same match must still find its order as it was when the book filled it.
        involved = [acct.account_id, *(f.maker_account_id for f in result.fills)]
        for account_id in dict.fromkeys(involved):
            self._clip_reducing_orders(self.accounts[account_id], inst, skip=order.order_id)
        for maker in result.expired_makers:
            self._close_order(
                self.orders[maker.order_id],
                OrderStatus.EXPIRED,
                "self-trade prevention",
                in_book=False,
            )
        if order.remaining == 0:
            return
        if result.taker_expired_by_stp:
            self._close_order(order, OrderStatus.EXPIRED, "self-trade prevention", in_book=False)
        elif not is_limit or order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            reason = (
                "no more liquidity within the price band"
                if not is_limit
                else ("immediate-or-cancel remainder")
            )
            self._close_order(order, OrderStatus.EXPIRED, reason, in_book=False)
        else:
            book.rest(
                order.order_id, acct.account_id, buy, limit, self._lots(inst, order.remaining)
            )
            self._mark_dirty(inst.symbol, buy, limit)
            reducing = order.reduce_only or self._reduces_leg(acct, order)
            if reducing:
                self._reducing[inst.symbol].add(order.order_id)
            cost = (
                ZERO
                if reducing
                else self.order_cost(
                    acct.account_id,
                    inst.symbol,
                    order.side,
                    order.remaining,
                    order.price,
                    order.position_side,
                )
            )
            acct.add_open_order(
                OpenOrder(
                    order.order_id,
                    inst.symbol,
                    order.position_side,
                    order.side,
                    order.remaining,
                    order.price if order.price is not None else ZERO,
                    reducing,
                    cost,
                )
            )

    def _settle(self, taker: Order, fill: Fill, inst: Instrument) -> None:
        """Book one trade for both sides: positions, realized PnL, fees, margin moves."""
        qty = fill.qty * inst.step_size
        price = fill.price * inst.tick_size
        maker = self.orders[fill.maker_order_id]
        trade_id = self._next_trade
        self._next_trade += 1
        self._emit(
            Trade,
            trade_id=trade_id,
            symbol=inst.symbol,
            price=price,
            qty=qty,
            taker_order_id=taker.order_id,
            maker_order_id=maker.order_id,
            taker_account_id=taker.account_id,
            maker_account_id=maker.account_id,
            taker_is_buyer=taker.side is Side.BUY,
        )
        notional = inst.notional(qty, price)
        for order, is_maker in ((maker, True), (taker, False)):
            acct = self.accounts[order.account_id]
            if order.liquidation:
                fee = ZERO
            else:
                rates = self.fees.rates(self.fee_tiers[order.account_id])
                fee = notional * (rates.maker if is_maker else rates.taker)
            if is_maker:
                if fill.maker_remaining == 0:
                    acct.remove_open_order(order.order_id)
                    self._reducing[inst.symbol].discard(order.order_id)
                else:
                    self._shrink_reservation(acct, order, fill.maker_remaining * inst.step_size)
            realized = acct.apply_fill(
                inst.symbol,
                order.side,
                qty,
                price,
                self.marks,
                position_side=order.position_side,
                fee=fee,
                enforce=False,
            )
            order.filled_qty += qty
            order.filled_notional += qty * price
            order.status = (
                OrderStatus.FILLED if order.remaining == 0 else OrderStatus.PARTIALLY_FILLED
            )
            self._emit(
                FillSettled,
                trade_id=trade_id,
                order_id=order.order_id,
                account_id=order.account_id,
                symbol=inst.symbol,
                qty=qty,
                price=price,
                is_maker=is_maker,
                fee=round_up(fee, exponent(inst.margin_asset.precision)),
                realized_pnl=realized,
            )
            self._order_event(order, "filled")
            self._position_event(acct, inst.symbol, order.position_side)

    def _position_event(self, acct: Account, symbol: str, side: PositionSide) -> None:
        pos = acct.position(symbol, side)
        settings = acct.settings(symbol)
        self._emit(
            PositionChanged,
            account_id=acct.account_id,
            symbol=symbol,
            position_side=side.value,
            qty=pos.qty if pos else ZERO,
            entry_price=pos.entry_price if pos else ZERO,
            margin_mode=settings.margin_mode.value,
            leverage=settings.leverage,
        )

    def _cap_reducing_makers(self, inst: Instrument, buy: bool, lots: int, limit: int) -> None:
        """Before a sweep, shrink (or expire) each resting reduce-only order it would meet to what
        its account can still reduce after the earlier makers of that account in the same sweep,
        so a match never takes a reduce-only order past the position."""
        used: dict[tuple[str, PositionSide], int] = {}
        shrink: list[tuple[Order, int]] = []
        left = lots
        for maker in self.books[inst.symbol].makers(buy, lots, limit):
            order = self.orders[maker.order_id]
            key = (maker.account_id, order.position_side)
            take = min(maker.qty, left)
            if maker.order_id in self._reducing[inst.symbol]:
                acct = self.accounts[maker.account_id]
                room = self._lots(
                    inst, self.reducible_qty(acct, inst.symbol, order.side, order.position_side)
                ) - used.get(key, 0)
                if room < maker.qty:
                    shrink.append((order, max(room, 0)))
                take = min(take, max(room, 0))
            used[key] = used.get(key, 0) + take
            left -= take
            if left <= 0:
                break
        for order, room in shrink:
            if room == 0:
                self._close_order(order, OrderStatus.EXPIRED, "reduce-only: nothing to reduce")
            else:
                self._shrink_resting(order, room * inst.step_size, "reduce-only clipped")

    def _shrink_resting(self, order: Order, remaining: Decimal, reason: str) -> None:
        """Lower a resting order's remaining quantity in place (it keeps its queue priority)."""
        inst = self.catalogue.instrument(order.symbol)
        self._book_reduce(order, self._lots(inst, remaining))
        self._shrink_reservation(self.accounts[order.account_id], order, remaining)
        order.qty = order.filled_qty + remaining
        self._order_event(order, reason)

    def _shrink_reservation(self, acct: Account, order: Order, remaining: Decimal) -> None:
        """The account's view of a resting order after it shrank: margin held pro rata."""
        resting = acct.open_order(order.order_id)
        if resting is None:
            return
        quantum = exponent(self.catalogue.instrument(order.symbol).margin_asset.precision)
        held = resting.reserved_margin
        if held is not None:
            held = round_up(held * remaining / resting.qty, quantum)
        acct.replace_open_order(replace(resting, qty=remaining, reserved_margin=held))

    def _clip_reducing_orders(self, acct: Account, inst: Instrument, skip: str) -> None:
        """Resting reduce-only orders never exceed what they can reduce (Binance adjusts them)."""
        for resting in acct.open_orders(inst.symbol):
            if not resting.reduce_only or resting.order_id == skip:
                continue
            order = self.orders[resting.order_id]
            room = self.reducible_qty(acct, inst.symbol, order.side, order.position_side)
            if room == 0:
                self._close_order(order, OrderStatus.EXPIRED, "reduce-only: nothing to reduce")
            elif order.remaining > room:
                self._shrink_resting(order, room, "reduce-only clipped to the position")

    def _close_order(
        self, order: Order, status: OrderStatus, reason: str, *, in_book: bool = True
    ) -> None:
        """Cancel or expire an open order wherever it waits."""
        if order.order_id in self.conditionals[order.symbol]:
            del self.conditionals[order.symbol][order.order_id]
        elif in_book and order.order_id in self.books[order.symbol]:
            self._book_cancel(order)
        acct = self.accounts[order.account_id]
        if any(o.order_id == order.order_id for o in acct.open_orders(order.symbol)):
            acct.remove_open_order(order.order_id)
        self._reducing[order.symbol].discard(order.order_id)
        order.status = status
        self._order_event(order, reason)

    def _order_event(self, order: Order, reason: str) -> None:
        self._emit(
            OrderUpdated,
            order_id=order.order_id,
            account_id=order.account_id,
            symbol=order.symbol,
            status=order.status,
            filled_qty=order.filled_qty,
            remaining_qty=order.remaining,
            reason=reason,
        )

    def _owned(self, account_id: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id or not order.is_open:
            raise _bad(
                ErrorCode.UNKNOWN_ORDER, f"no open order {order_id!r} in this account", "order_id"
            )
        return order

    def _cancel_order(self, cmd: c.CancelOrder) -> None:
        self.account(cmd.account_id)
        self._close_order(
            self._owned(cmd.account_id, cmd.order_id), OrderStatus.CANCELED, "canceled by user"
        )

    def _cancel_all(self, cmd: c.CancelAll) -> None:
        self.account(cmd.account_id)
        self.catalogue.instrument(cmd.symbol)
        for order in self.open_orders(cmd.account_id, cmd.symbol):
            self._close_order(order, OrderStatus.CANCELED, "canceled by user (all)")

    def _amend(self, cmd: c.AmendOrder) -> None:
        acct = self.account(cmd.account_id)
        order = self._owned(cmd.account_id, cmd.order_id)
        inst = self.catalogue.instrument(order.symbol)
        if order.type is not OrderType.LIMIT or order.order_id not in self.books[order.symbol]:
            raise _bad(
                ErrorCode.NOT_AMENDABLE, "only resting limit orders can be amended", "order_id"
            )
        price = cmd.price if cmd.price is not None else order.price
        new_remaining = (cmd.qty - order.filled_qty) if cmd.qty is not None else order.remaining
        assert price is not None
        self._check_tick(inst, price, "price")
        if cmd.qty is not None:
            self._check_qty(inst, cmd.qty)
            if new_remaining <= 0:
                raise _bad(
                    ErrorCode.INVALID_INPUT,
                    f"new quantity {cmd.qty} must exceed the {order.filled_qty} filled",
                    "qty",
                )
        self._check_band(inst, order.side, price, self.mark(order.symbol))
        if price == order.price and new_remaining < order.remaining:
            # A smaller order at the same price keeps its place in the queue.
            self._shrink_resting(order, new_remaining, "amended")
            return
        # Otherwise: check the replacement as a new order with the old one out of the way.
        resting = acct.remove_open_order(order.order_id)
        candidate = replace(order, price=price, qty=order.filled_qty + new_remaining)
        try:
            self._check_executable(candidate, acct, inst)
        except IsocrossError:
            acct.add_open_order(resting)
            raise
        self._book_cancel(order)
        order.price, order.qty = candidate.price, candidate.qty
        self._order_event(order, "amended (re-queued)")
        self._execute(order, acct, inst)
        self._run_triggers(order.symbol)

    # ================================================================= triggers
    def _run_triggers(self, symbol: str) -> None:
        """Fire every conditional order whose watched price meets its trigger; repeat while
        firing moved the last price."""
        inst = self.catalogue.instrument(symbol)
        for _ in range(1000):
            last_before = self.books[symbol].last_price
            fired = False
            for order in list(self.conditionals[symbol].values()):
                watched = self._watched_price(order)
                if watched is None or not order.fires_at(watched):
                    continue
                fired = True
                del self.conditionals[symbol][order.order_id]
                self._order_event(order, f"triggered at {watched}")
                acct = self.accounts[order.account_id]
                try:
                    # Executes as a limit (STOP, TAKE_PROFIT) or market order; keeps its type.
                    self._check_executable(order, acct, inst)
                except IsocrossError as exc:
                    order.status = OrderStatus.EXPIRED
                    self._order_event(order, f"expired on trigger: {exc.message}")
                    continue
                self._execute(order, acct, inst)
            if not fired or self.books[symbol].last_price == last_before:
                return

    # ================================================================= depth events
    def _mark_dirty(self, symbol: str, is_bid: bool, price: int) -> None:
        self._dirty.setdefault(symbol, set()).add((is_bid, price))

    def _book_cancel(self, order: Order) -> None:
        resting = self.books[order.symbol].cancel(order.order_id)
        self._mark_dirty(order.symbol, resting.is_buy, resting.price)

    def _book_reduce(self, order: Order, lots: int) -> None:
        resting = self.books[order.symbol].reduce(order.order_id, lots)
        self._mark_dirty(order.symbol, resting.is_buy, resting.price)

    def _emit_depth(self) -> None:
        """One incremental depth event per symbol: the new total at every level touched."""
        for symbol, levels in self._dirty.items():
            book = self.books[symbol]
            inst = self.catalogue.instrument(symbol)
            sides: dict[bool, list[tuple[Decimal, Decimal]]] = {True: [], False: []}
            for is_bid, price in sorted(levels, key=lambda lv: (lv[0], lv[1])):
                sides[is_bid].append(
                    (price * inst.tick_size, book.level_qty(is_bid, price) * inst.step_size)
                )
            self._emit(
                DepthChanged, symbol=symbol, bids=tuple(sides[True]), asks=tuple(sides[False])
            )

    # ================================================================= state
    def state_hash(self) -> str:
        """SHA-256 over balances, positions, settings, open orders, books and prices."""
        parts: list[str] = [f"seq={self.seq}"]
        parts += [f"bal {k}={v}" for k, v in sorted(self.ledger.balances().items())]
        for aid in sorted(self.accounts):
            acct = self.accounts[aid]
            parts.append(f"acct {aid} {acct.position_mode} {acct.default_margin_mode}")
            parts += [
                f"pos {aid} {p.symbol} {p.side} {p.qty} {p.entry_price} {p.margin_mode} "
                f"{p.leverage}"
                for p in sorted(acct.positions(), key=lambda p: (p.symbol, p.side))
            ]
        parts += [
            f"ord {o.order_id} {o.status} {o.qty} {o.filled_qty} {o.price}"
            for o in self.orders.values()
            if o.is_open
        ]
        for symbol, book in sorted(self.books.items()):
            parts.append(f"book {symbol} {book.depth(10**9)} {book.last_price}")
        parts += [f"mark {s}={p}" for s, p in sorted(self.marks.items())]
        parts += [f"index {s}={p}" for s, p in sorted(self.index.items())]
        parts += [f"next order={self._next_order} trade={self._next_trade}"]
        for part in self._state_parts:
            parts += part()
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

"""The risk engine: after every command, re-check the accounts it touched (and, on a mark price
update, every holder of that symbol); protect them (auto-replenish, auto-add margin), liquidate
what has reached its maintenance requirement, and raise margin calls.

It runs inside the exchange's sequencer as a hook, so its actions are events of the command that
caused them and replay deterministically.

Liquidation procedure (Binance USDⓈ-M "Liquidation Protocols", faq 360033525271; the preset in
``catalogue/risk_presets.json`` picks the partial rule):

1. A cross pool (per margin asset) or an isolated position is liquidated when its margin balance
   is at or below its maintenance margin (margin ratio ≥ 100 %, exact Decimal check).
2. The account's open orders on that pool are canceled; if that restores it, stop.
3. Partial: one fee-exempt IOC order at the bankruptcy price closes what the preset's rule says
   (just enough / one tier down); the clearance fee on what filled goes to the insurance fund;
   if the pool is compliant, stop.
4. Full: every position of the pool is sent as an IOC at its bankruptcy price; what the book
   cannot take the insurance fund takes over at that price, as far as its equity covers the loss
   at mark; the rest is auto-deleveraged against the highest-ranked opposite positions at the
   same price. What the pool has left (the clearance fee and any surplus from fills better than
   bankruptcy) goes to the insurance fund; a deficit is paid by it, and a deficit it cannot pay
   is an explicit ``UncoveredLoss``.

Isolated liquidation only ever touches its own wallet; cross liquidation takes the whole pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from isocross.catalogue import Catalogue
from isocross.engine import commands as c
from isocross.engine.events import (
    FillSettled,
    FundingPaid,
    LedgerPosted,
    PositionChanged,
    PriceUpdated,
)
from isocross.engine.exchange import Exchange, zero_clock
from isocross.engine.fees import FeeSchedule
from isocross.margin.account import Account
from isocross.margin.figures import AccountFigures, is_liquidatable
from isocross.margin.portfolio import PortfolioLeg, portfolio_params, requirement
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionSide, Side
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.money import ZERO, exponent, round_down, round_up
from isocross.risk import commands as rc
from isocross.risk.adl import Ranked, adl_score, rank
from isocross.risk.alerts import LEVEL, RATIO, AlertBook
from isocross.risk.config import RiskConfig, risk_preset
from isocross.risk.events import (
    AutoDeleveraged,
    AutoMarginAdded,
    AutoReplenished,
    InsuranceFundChanged,
    LiquidationEnded,
    LiquidationFilled,
    LiquidationStarted,
    MarginCall,
    UncoveredLoss,
)
from isocross.risk.funding import FundingState
from isocross.risk.insurance import CAPITAL, INSURANCE_ACCOUNT_ID, InsuranceFund
from isocross.risk.mark import MarkPriceState
from isocross.risk.plan import PoolLeg, bankruptcy_prices, ladder_size, order_price, restore_size

UNCOVERED = "exchange:uncovered"
"""Where a loss nothing could absorb is booked (explicitly, with an ``UncoveredLoss`` event)."""


def _bad(message: str, field: str | None = None) -> IsocrossError:
    return IsocrossError(ErrorCode.INVALID_INPUT, message, field=field)


class RiskEngine:
    """Attach to an exchange with ``RiskEngine(exchange)``; see the module docstring."""

    def __init__(self, exchange: Exchange, config: RiskConfig | None = None) -> None:
        self.exchange = exchange
        self.config = config or risk_preset(exchange.catalogue.venue)
        self.fund = InsuranceFund(exchange.catalogue, exchange.ledger)
        exchange.add_internal_account(self.fund)
        self.alerts = AlertBook()
        self.thresholds: dict[str, tuple[tuple[Decimal, ...], tuple[Decimal, ...]]] = {}
        self.replenish: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        self.holders: dict[str, set[str]] = {}
        self.liquidations = 0
        self.mark_states: dict[str, MarkPriceState] = {}
        self.funding_states: dict[str, FundingState] = {}
        self.next_funding: dict[str, int] = {}
        self._fund_posted: dict[str, Decimal] = {}
        exchange.register(rc.Tick, self._tick)
        exchange.register(rc.SetMarginCallThresholds, self._set_thresholds)
        exchange.register(rc.SetAutoAddMargin, self._set_auto_add)
        exchange.register(rc.SetAutoReplenish, self._set_replenish)
        exchange.register(rc.FundInsurance, self._fund_insurance)
        exchange.add_hook(self._after)
        exchange.extensions["risk"] = self
        exchange.add_state_part(self._state_parts)

    # ================================================================= commands
    def _tick(self, cmd: rc.Tick) -> None:
        """Time passes; the hook re-checks every account."""

    def _set_thresholds(self, cmd: rc.SetMarginCallThresholds) -> None:
        self.exchange.account(cmd.account_id)
        ratios = tuple(sorted(set(cmd.margin_ratio)))
        levels = tuple(sorted(set(cmd.margin_level), reverse=True))
        if any(not isinstance(t, Decimal) or not t.is_finite() or not 0 < t <= 1 for t in ratios):
            raise _bad("margin-ratio thresholds must be fractions in (0, 1]", "margin_ratio")
        if any(not isinstance(t, Decimal) or not t.is_finite() or t <= 100 for t in levels):
            raise _bad("margin-level thresholds must be percentages above 100", "margin_level")
        self.thresholds[cmd.account_id] = (ratios, levels)

    def _set_auto_add(self, cmd: rc.SetAutoAddMargin) -> None:
        acct = self.exchange.account(cmd.account_id)
        acct.set_auto_add_margin(cmd.symbol, cmd.enabled)

    def _set_replenish(self, cmd: rc.SetAutoReplenish) -> None:
        self.exchange.account(cmd.account_id)
        self.exchange.catalogue.asset(cmd.asset)
        if not cmd.enabled:
            self.replenish.pop((cmd.account_id, cmd.asset), None)
            return
        if not (Decimal(100) < cmd.below < cmd.restore_to):
            raise _bad(
                f"auto-replenish needs 100 < below < restore_to (percent), got below "
                f"{cmd.below} and restore_to {cmd.restore_to}",
                "below",
            )
        self.replenish[(cmd.account_id, cmd.asset)] = (cmd.below, cmd.restore_to)

    def _fund_insurance(self, cmd: rc.FundInsurance) -> None:
        asset = self.exchange.catalogue.asset(cmd.asset)
        if not isinstance(cmd.amount, Decimal) or not cmd.amount.is_finite() or cmd.amount <= 0:
            raise _bad(f"amount must be positive, got {cmd.amount}", "amount")
        if cmd.amount != round_down(cmd.amount, exponent(asset.precision)):
            raise _bad(f"{cmd.asset} amounts have at most {asset.precision} decimals", "amount")
        self._post(CAPITAL, self.fund.futures_account(), cmd.asset, cmd.amount, "insurance seed")

    # ================================================================= the hook
    def _after(self, command: object) -> None:
        ex = self.exchange
        fund_before = {a: self.fund.balance(a) for a in ex.catalogue.assets}
        self._fund_posted = dict.fromkeys(fund_before, ZERO)
        self._settle_due_funding()
        if isinstance(command, c.SetIndexPrice):
            self._index_update(command.symbol)
        events = list(ex.pending_events)
        self._absorb(events)
        touched: set[str] = set()
        for e in events:
            if isinstance(e, (PositionChanged, FillSettled, FundingPaid)):
                touched.add(e.account_id)
            elif isinstance(e, LedgerPosted):
                for name in (e.debit, e.credit):
                    owner = name.split(":", 1)[0]
                    if owner in ex.accounts:
                        touched.add(owner)
            elif isinstance(e, PriceUpdated) and e.kind == "mark":
                touched |= self.holders.get(e.symbol, set())
        if isinstance(command, rc.Tick):
            touched |= set(ex.accounts)
        touched.discard(INSURANCE_ACCOUNT_ID)
        for account_id in sorted(touched):
            self.check(ex.accounts[account_id])
        self._absorb(ex.pending_events[len(events) :])
        self._unwind_fund()
        self._reconcile_fund(fund_before)

    def _reconcile_fund(self, before: dict[str, Decimal]) -> None:
        """Announce every change of the fund this command made outside :meth:`_post` (its own
        trading PnL, isolated shortfalls charged to it), and never let it stay negative
        silently: a negative balance is an explicit uncovered loss, booked from
        ``exchange:uncovered``."""
        for asset, start in sorted(before.items()):
            now = self.fund.balance(asset)
            untracked = now - start - self._fund_posted.get(asset, ZERO)
            if untracked != 0:
                self.exchange.emit(
                    InsuranceFundChanged,
                    asset=asset,
                    balance=now,
                    change=untracked,
                    reason="insurance positions and isolated shortfalls",
                )
            if now < 0:
                self._post(UNCOVERED, self.fund.futures_account(), asset, -now, "uncovered loss")
                self.exchange.emit(
                    UncoveredLoss, account_id=self.fund.account_id, asset=asset, amount=-now
                )

    # ================================================================= prices and funding
    def _index_update(self, symbol: str) -> None:
        """Sample the basis and the premium from the book, then recompute the mark."""
        ex = self.exchange
        if self.config.mark is None and self.config.funding is None:
            return
        inst = ex.catalogue.instrument(symbol)
        now, index = ex.now, ex.index[symbol]
        bids, asks = ex.depth(symbol, 200)
        funding = None
        if self.config.funding is not None:
            funding = self.funding_states.setdefault(
                symbol, FundingState(inst, self.config.funding)
            )
            funding.sample_book(now, index, bids, asks)
            self.next_funding.setdefault(symbol, funding.next_settlement(now))
        if self.config.mark is None:
            return
        state = self.mark_states.setdefault(symbol, MarkPriceState(inst, self.config.mark))
        state.sample_basis(now, index, bids[0][0] if bids else None, asks[0][0] if asks else None)
        mark = state.mark(
            now,
            index,
            ex.last_price(symbol),
            funding.last_rate if funding is not None else None,
            self.next_funding.get(symbol, now),
            funding_interval_hours=funding.interval_hours if funding is not None else None,
        )
        if ex.marks.get(symbol) != mark:
            ex.apply_mark(symbol, mark)

    def _settle_due_funding(self) -> None:
        """Settle every symbol whose funding time has come (once, however late)."""
        ex = self.exchange
        for symbol in sorted(self.next_funding):
            if ex.now < self.next_funding[symbol]:
                continue
            state = self.funding_states[symbol]
            rate = state.settle()
            if symbol in ex.marks and rate != 0:
                ex.pay_funding(symbol, rate)
            self.next_funding[symbol] = state.next_settlement(ex.now)

    def funding_info(self, symbol: str) -> tuple[Decimal | None, Decimal | None, int | None]:
        """(last settled rate, estimated next rate, next funding time) of ``symbol``."""
        state = self.funding_states.get(symbol)
        if state is None:
            return None, None, None
        return state.last_rate, state.estimated_rate(), self.next_funding.get(symbol)

    def _absorb(self, events: Iterable[object]) -> None:
        """Keep ``holders`` (symbol → accounts with a position in it) in step with the events."""
        for e in events:
            if isinstance(e, PositionChanged):
                acct = self.exchange.accounts[e.account_id]
                held = any(p.symbol == e.symbol for p in acct.positions())
                if held:
                    self.holders.setdefault(e.symbol, set()).add(e.account_id)
                else:
                    self.holders.get(e.symbol, set()).discard(e.account_id)

    # ================================================================= one account
    def check(self, acct: Account) -> None:
        """Protect, liquidate and alert one account at the current marks."""
        ex = self.exchange
        if not acct.positions() and not any(k[0] == acct.account_id for k in self.alerts.fired):
            return
        figs = acct.figures(ex.marks, prices=False)
        if self._replenish(acct, figs) | self._auto_add(acct, figs):
            figs = acct.figures(ex.marks, prices=False)
        for asset in sorted(figs.pools):
            if figs.pools[asset].liquidatable:
                self._liquidate(acct, asset, None)
        for pf in figs.positions:
            if pf.margin_mode is MarginMode.ISOLATED and pf.liquidatable:
                self._liquidate(acct, pf.margin_asset, (pf.symbol, pf.side))
        self._margin_calls(acct, acct.figures(ex.marks, prices=False))

    def _replenish(self, acct: Account, figs: AccountFigures) -> bool:
        moved = False
        for asset, pool in figs.pools.items():
            rule = self.replenish.get((acct.account_id, asset))
            if rule is None or pool.margin_level is None or pool.margin_level >= rule[0]:
                continue
            used = pool.position_initial_margin + pool.open_order_initial_margin
            quantum = exponent(self.exchange.catalogue.asset(asset).precision)
            need = round_up(used * rule[1] / 100 - pool.margin_balance, quantum)
            amount = min(need, acct.spot_balance(asset))
            if amount <= 0:
                continue
            acct.transfer_to_futures(asset, amount)
            self.exchange.emit(
                AutoReplenished,
                account_id=acct.account_id,
                asset=asset,
                amount=amount,
                margin_level=pool.margin_level,
            )
            moved = True
        return moved

    def _auto_add(self, acct: Account, figs: AccountFigures) -> bool:
        """Bybit's auto-margin replenishment: add the position's current initial margin (or all
        the pool can spare, never below what the pool itself needs)."""
        moved = False
        for pf in figs.positions:
            if pf.margin_mode is not MarginMode.ISOLATED:
                continue
            if not acct.settings(pf.symbol).auto_add_margin:
                continue
            ratio = pf.margin_ratio
            if ratio is not None and ratio < self.config.auto_add_margin_ratio:
                continue
            pool = acct.figures(self.exchange.marks, prices=False).pools.get(pf.margin_asset)
            spare = pool.max_addable_to_isolated if pool else ZERO
            amount = min(pf.initial_margin, spare)
            if amount <= 0:
                continue
            acct.add_isolated_margin(pf.symbol, amount, self.exchange.marks, pf.side)
            self.exchange.emit(
                AutoMarginAdded,
                account_id=acct.account_id,
                symbol=pf.symbol,
                position_side=pf.side.value,
                amount=amount,
                margin_ratio=ratio,
            )
            moved = True
        return moved

    def _margin_calls(self, acct: Account, figs: AccountFigures) -> None:
        ratios, levels = self.thresholds.get(
            acct.account_id, (self.config.margin_ratio_alerts, self.config.margin_level_alerts)
        )
        seen: set[str] = set()
        for asset, pool in figs.pools.items():
            has_cross = any(
                p.margin_asset == asset and p.margin_mode.pooled for p in figs.positions
            )
            if not has_cross:
                continue
            seen.add(asset)
            self._alert(acct, asset, RATIO, pool.margin_ratio, ratios, self.config.ratio_hysteresis)
            self._alert(acct, asset, LEVEL, pool.margin_level, levels, self.config.level_hysteresis)
        for pf in figs.positions:
            if pf.margin_mode is MarginMode.ISOLATED:
                name = f"{pf.symbol}:{pf.side.value}"
                seen.add(name)
                self._alert(
                    acct, name, RATIO, pf.margin_ratio, ratios, self.config.ratio_hysteresis
                )
        for pool_name in {k[1] for k in self.alerts.fired if k[0] == acct.account_id} - seen:
            self.alerts.forget(acct.account_id, pool_name)

    def _alert(
        self,
        acct: Account,
        pool: str,
        metric: str,
        value: Decimal | None,
        thresholds: tuple[Decimal, ...],
        hysteresis: Decimal,
    ) -> None:
        for threshold in self.alerts.update(
            acct.account_id, pool, metric, value, thresholds, hysteresis
        ):
            self.exchange.emit(
                MarginCall,
                account_id=acct.account_id,
                pool=pool,
                metric=metric,
                threshold=threshold,
                value=value,
            )

    # ================================================================= liquidation
    def _pool(
        self, acct: Account, asset: str, isolated: tuple[str, PositionSide] | None
    ) -> list[Position]:
        if isolated is not None:
            pos = acct.position(*isolated)
            return [pos] if pos is not None else []
        return sorted(
            (
                p
                for p in acct.positions()
                if p.margin_mode.pooled
                and self.exchange.catalogue.instrument(p.symbol).margin_asset.name == asset
            ),
            key=lambda p: (p.symbol, p.side.value),
        )

    def _wallet_name(self, acct: Account, isolated: tuple[str, PositionSide] | None) -> str:
        return acct.futures_account() if isolated is None else acct.isolated_account(*isolated)

    def _state(
        self, acct: Account, asset: str, isolated: tuple[str, PositionSide] | None
    ) -> tuple[list[PoolLeg], Decimal, Decimal, Decimal]:
        """The pool's legs, wallet, exact margin balance and exact maintenance margin."""
        marks = self.exchange.marks
        legs = []
        for pos in self._pool(acct, asset, isolated):
            inst = self.exchange.catalogue.instrument(pos.symbol)
            mark = marks[pos.symbol]
            legs.append(
                PoolLeg(
                    inst,
                    pos.qty,
                    mark,
                    inst.maintenance_margin(pos.qty, mark),
                    inst.unrealized_pnl(pos.qty, pos.entry_price, mark),
                )
            )
        wallet = self.exchange.ledger.balance(self._wallet_name(acct, isolated), asset)
        balance = wallet + sum((leg.pnl for leg in legs), ZERO)
        positions = self._pool(acct, asset, isolated)
        maintenance = self._requirement(acct, positions, legs, None, ZERO)
        return legs, wallet, balance, maintenance

    def _requirement(
        self,
        acct: Account,
        positions: list[Position],
        legs: list[PoolLeg],
        changed: int | None,
        rest: Decimal,
    ) -> Decimal:
        """The pool's exact maintenance requirement, with leg ``changed`` resized to ``rest``:
        tier maintenance for cross (and isolated) legs, the portfolio-margin scenario loss over
        the portfolio legs together."""
        total = ZERO
        portfolio: list[PortfolioLeg] = []
        for i, (pos, leg) in enumerate(zip(positions, legs, strict=True)):
            qty = rest if i == changed else pos.qty
            if pos.margin_mode is MarginMode.PORTFOLIO:
                portfolio.append(PortfolioLeg(leg.instrument, qty, pos.entry_price, leg.mark))
            elif qty != 0:
                total += leg.instrument.maintenance_margin(qty, leg.mark)
        if portfolio:
            total += requirement(portfolio, acct.portfolio or portfolio_params()).maintenance
        return total

    def _liquidate(
        self, acct: Account, asset: str, isolated: tuple[str, PositionSide] | None
    ) -> None:
        ex = self.exchange
        pool_name = asset if isolated is None else f"{isolated[0]}:{isolated[1].value}"
        legs, _, balance, maintenance = self._state(acct, asset, isolated)
        if not legs or not is_liquidatable(maintenance, balance):
            return
        self.liquidations += 1
        if isolated is None:
            symbols = {
                s
                for s, inst in ex.catalogue.instruments.items()
                if inst.margin_asset.name == asset and acct.settings(s).margin_mode.pooled
            }
        else:
            symbols = {isolated[0]}
        canceled = ex.cancel_account_orders(acct.account_id, symbols, "canceled by liquidation")
        ex.emit(
            LiquidationStarted,
            account_id=acct.account_id,
            pool=pool_name,
            margin_balance=balance,
            maintenance_margin=maintenance,
            orders_canceled=canceled,
        )
        legs, _, balance, maintenance = self._state(acct, asset, isolated)
        if not is_liquidatable(maintenance, balance):
            self._ended(acct, pool_name, "orders_canceled", ZERO, ZERO, ZERO)
            return
        if self._partial(acct, asset, isolated, pool_name, legs, balance, maintenance):
            return
        self._full(acct, asset, isolated, pool_name)

    def _partial(
        self,
        acct: Account,
        asset: str,
        isolated: tuple[str, PositionSide] | None,
        pool_name: str,
        legs: list[PoolLeg],
        balance: Decimal,
        maintenance: Decimal,
    ) -> bool:
        """Try the preset's partial liquidation; True when it restored the pool."""
        if self.config.partial == "none":
            return False
        positions = self._pool(acct, asset, isolated)
        # The position whose removal cuts the requirement most (for a cross pool: the largest
        # maintenance margin; for portfolio margin, the biggest unhedged risk).
        cuts = [
            maintenance - self._requirement(acct, positions, legs, i, ZERO)
            for i in range(len(legs))
        ]
        index = max(range(len(legs)), key=lambda i: (cuts[i], -i))
        leg = legs[index]
        rate = self.config.clearance_fee_rate(leg.instrument.symbol)

        def after(rest: Decimal) -> Decimal:
            return self._requirement(acct, positions, legs, index, rest)

        size = (
            restore_size(leg, balance, maintenance, rate, requirement_after=after)
            if self.config.partial == "restore"
            else ladder_size(leg, balance, maintenance, rate, requirement_after=after)
        )
        if size is None or size == 0 or (size >= abs(leg.qty) and len(legs) == 1):
            return False
        pos = positions[index]
        wallet = self.exchange.ledger.balance(self._wallet_name(acct, isolated), asset)
        bust = bankruptcy_prices(legs, wallet)[index]
        inst = leg.instrument
        limit = order_price(inst, pos.qty, bust)
        side = Side.SELL if pos.qty > 0 else Side.BUY
        cross_before = acct.cross_wallet(asset)
        order = self.exchange.liquidation_order(
            acct.account_id, pos.symbol, pos.side, side, size, limit, "liquidation (partial)"
        )
        if isolated is not None:
            # A partial close would release the closed share of the wallet to the cross wallet;
            # in a liquidation the margin stays with the position it is rescuing.
            released = acct.cross_wallet(asset) - cross_before
            if released > 0:
                self.exchange.ledger.post(
                    acct.futures_account(),
                    acct.isolated_account(*isolated),
                    asset,
                    released,
                    "liquidation keeps margin in the position",
                )
        fee = ZERO
        if order.filled_qty > 0:
            avg = order.filled_notional / order.filled_qty
            self.exchange.emit(
                LiquidationFilled,
                account_id=acct.account_id,
                pool=pool_name,
                symbol=pos.symbol,
                position_side=pos.side.value,
                qty=order.filled_qty,
                price=avg,
                bankruptcy_price=limit,
                how="book",
                partial=True,
            )
            quantum = exponent(inst.margin_asset.precision)
            source = self._wallet_name(acct, isolated)
            fee = round_up(rate * inst.notional(order.filled_qty, avg), quantum)
            fee = min(fee, max(ZERO, self.exchange.ledger.balance(source, asset)))
            self._to_fund(source, asset, fee, "liquidation clearance fee")
        legs, _, balance, maintenance = self._state(acct, asset, isolated)
        if legs and not is_liquidatable(maintenance, balance):
            self._ended(acct, pool_name, "partial", fee, ZERO, ZERO)
            return True
        return False

    def _full(
        self, acct: Account, asset: str, isolated: tuple[str, PositionSide] | None, pool_name: str
    ) -> None:
        ex = self.exchange
        quantum = exponent(ex.catalogue.asset(asset).precision)
        cross_before = acct.cross_wallet(asset)
        legs, wallet, _, _ = self._state(acct, asset, isolated)
        busts = bankruptcy_prices(legs, wallet)
        fee_due = ZERO
        for pos, leg, bust in zip(self._pool(acct, asset, isolated), legs, busts, strict=True):
            inst = leg.instrument
            limit = order_price(inst, pos.qty, bust)
            rate = self.config.clearance_fee_rate(inst.symbol)
            fee_due += round_up(rate * inst.notional(pos.qty, limit), quantum)
            self._close(acct, pos, limit, pool_name)
        # What is left of the pool goes to the fund; a deficit is the fund's to pay. A closed
        # isolated position has released its wallet into the cross wallet (a shortfall beyond
        # it was charged to the fund), so its remainder is what the cross wallet gained.
        source = acct.futures_account()
        left = ex.ledger.balance(source, asset)
        if isolated is not None:
            left -= cross_before
        fee = min(max(ZERO, left), fee_due)
        covered = ZERO
        if left > 0:
            self._to_fund(source, asset, fee, "liquidation clearance fee")
            self._to_fund(source, asset, left - fee, "liquidation surplus")
        elif left < 0:
            covered = self._cover(acct, source, asset, -left)
        self._ended(acct, pool_name, "full", fee, max(ZERO, left - fee), covered)

    def _close(self, acct: Account, pos: Position, price: Decimal, pool_name: str) -> None:
        """Close one position at (or better than) ``price``: book, then fund, then ADL."""
        ex = self.exchange
        inst = ex.catalogue.instrument(pos.symbol)
        side = Side.SELL if pos.qty > 0 else Side.BUY
        qty = abs(pos.qty)
        order = ex.liquidation_order(
            acct.account_id, pos.symbol, pos.side, side, qty, price, "liquidation"
        )
        filled = order.filled_qty
        if filled > 0:
            self._filled(
                acct, pos, pool_name, filled, order.filled_notional / filled, price, "book"
            )
        rest = qty - filled
        if rest <= 0:
            return
        take = self._fund_capacity(inst, side, rest, price)
        if take > 0:
            ex.transfer_position(
                acct.account_id,
                self.fund.account_id,
                pos.symbol,
                take,
                price,
                from_side=side,
                from_position_side=pos.side,
                reason="insurance takeover",
            )
            self._filled(acct, pos, pool_name, take, price, price, "insurance")
            rest -= take
        if rest > 0:
            rest = self._deleverage(acct, pos, side, rest, price, pool_name)
        if rest > 0:  # nobody left to take it: the fund must, whatever it costs
            ex.transfer_position(
                acct.account_id,
                self.fund.account_id,
                pos.symbol,
                rest,
                price,
                from_side=side,
                from_position_side=pos.side,
                reason="insurance takeover",
            )
            self._filled(acct, pos, pool_name, rest, price, price, "insurance")

    def _filled(
        self,
        acct: Account,
        pos: Position,
        pool_name: str,
        qty: Decimal,
        price: Decimal,
        bust: Decimal,
        how: str,
    ) -> None:
        self.exchange.emit(
            LiquidationFilled,
            account_id=acct.account_id,
            pool=pool_name,
            symbol=pos.symbol,
            position_side=pos.side.value,
            qty=qty,
            price=price,
            bankruptcy_price=bust,
            how=how,
            partial=False,
        )

    def _fund_capacity(self, inst: Instrument, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """How much of a liquidated position the fund can take over at ``price``: all of it if
        that costs nothing at mark, else as much as its equity covers the loss at mark."""
        asset = inst.margin_asset.name
        mark = self.exchange.marks[inst.symbol]
        taken = qty if side is Side.SELL else -qty  # the fund buys what a long sells
        loss_per_unit = -inst.unrealized_pnl(taken, price, mark) / qty
        if loss_per_unit <= 0:
            return qty
        equity = self.fund.equity(asset, self.exchange.marks)
        if equity <= 0:
            return ZERO
        lots = (equity / loss_per_unit / inst.step_size).to_integral_value(rounding=ROUND_FLOOR)
        return min(qty, lots * inst.step_size)

    def _deleverage(
        self, acct: Account, pos: Position, side: Side, qty: Decimal, price: Decimal, pool_name: str
    ) -> Decimal:
        """Close ``qty`` against the top of the opposite ADL queue at the bankruptcy price;
        returns what no counterparty could take. Only positions in profit are in line
        (score > 0). A counterparty gives up profit, never more: when the bankruptcy price lies
        beyond its entry (the pool gapped through bankruptcy), it closes at its entry price and
        the rest of the deficit stays with the liquidated pool (the fund covers it, or it is an
        explicit uncovered loss)."""
        ex = self.exchange
        inst = ex.catalogue.instrument(pos.symbol)
        for entry in self.adl_queue(pos.symbol, long=pos.qty < 0):
            if qty <= 0:
                break
            if entry.account_id == acct.account_id or entry.score <= 0:
                continue
            held = ex.accounts[entry.account_id].position(
                pos.symbol, PositionSide(entry.position_side)
            )
            assert held is not None
            ticks = held.entry_price / inst.tick_size
            if side is Side.SELL:  # the counterparty (short) buys back: at most its entry
                cap = ticks.to_integral_value(rounding=ROUND_FLOOR) * inst.tick_size
                fill = min(price, cap)
            else:  # the counterparty (long) sells: at least its entry
                cap = ticks.to_integral_value(rounding=ROUND_CEILING) * inst.tick_size
                fill = max(price, cap)
            other = ex.accounts[entry.account_id]
            take = min(qty, abs(entry.qty))
            ex.cancel_account_orders(
                other.account_id, {pos.symbol}, "canceled by auto-deleveraging"
            )
            ex.transfer_position(
                acct.account_id,
                other.account_id,
                pos.symbol,
                take,
                fill,
                from_side=side,
                from_position_side=pos.side,
                to_position_side=PositionSide(entry.position_side),
                reason="auto-deleveraging",
            )
            ex.emit(
                AutoDeleveraged,
                account_id=other.account_id,
                symbol=pos.symbol,
                position_side=entry.position_side,
                qty=take,
                price=fill,
                counterparty_id=acct.account_id,
                score=entry.score,
            )
            self._filled(acct, pos, pool_name, take, fill, price, "adl")
            qty -= take
        return qty

    def adl_queue(self, symbol: str, *, long: bool) -> list[Ranked]:
        """The ADL queue of one side of ``symbol``: first to be deleveraged first."""
        ex = self.exchange
        inst = ex.catalogue.instrument(symbol)
        asset = inst.margin_asset.name
        mark = ex.marks[symbol]
        entries = []
        for account_id in sorted(self.holders.get(symbol, set()) - {INSURANCE_ACCOUNT_ID}):
            acct = ex.accounts[account_id]
            for pos in acct.positions():
                if pos.symbol != symbol or (pos.qty > 0) != long:
                    continue
                pnl = inst.unrealized_pnl(pos.qty, pos.entry_price, mark)
                if pos.margin_mode is MarginMode.ISOLATED:
                    wallet = acct.isolated_wallet(symbol, pos.side)
                    mm = inst.maintenance_margin(pos.qty, mark)
                else:
                    _, wallet, _, mm = self._state(acct, asset, None)
                score = adl_score(pnl, wallet, mm)
                entries.append((account_id, pos.side.value, pos.qty, score))
        return rank(entries)

    def adl_quantile(
        self, account_id: str, symbol: str, side: PositionSide = PositionSide.BOTH
    ) -> int:
        """The position's ADL indicator, 0 (not in line) to 5 (first in line)."""
        pos = self.exchange.accounts[account_id].position(symbol, side)
        if pos is None:
            return 0
        for entry in self.adl_queue(symbol, long=pos.qty > 0):
            if entry.account_id == account_id and entry.position_side == side.value:
                return entry.quantile
        return 0

    # ================================================================= the fund
    def _post(self, source: str, target: str, asset: str, amount: Decimal, reason: str) -> None:
        if amount == 0:
            return
        self.exchange.ledger.post(source, target, asset, amount, reason)
        if self.fund.futures_account() in (source, target):
            change = amount if target == self.fund.futures_account() else -amount
            self._fund_posted[asset] = self._fund_posted.get(asset, ZERO) + change
            self.exchange.emit(
                InsuranceFundChanged,
                asset=asset,
                balance=self.fund.balance(asset),
                change=change,
                reason=reason,
            )

    def _to_fund(self, wallet: str, asset: str, amount: Decimal, reason: str) -> None:
        if amount > 0:
            self._post(wallet, self.fund.futures_account(), asset, amount, reason)

    def _cover(self, acct: Account, wallet: str, asset: str, deficit: Decimal) -> Decimal:
        """Reset a negative wallet to zero from the fund, as far as it can; the rest is an
        explicit uncovered loss. Returns what the fund paid."""
        paid = min(deficit, max(ZERO, self.fund.balance(asset)))
        self._post(self.fund.futures_account(), wallet, asset, paid, "insurance covers deficit")
        if deficit > paid:
            self._post(UNCOVERED, wallet, asset, deficit - paid, "uncovered loss")
            self.exchange.emit(
                UncoveredLoss, account_id=acct.account_id, asset=asset, amount=deficit - paid
            )
        return paid

    def _unwind_fund(self) -> None:
        """The fund sells what it took over back into the book (market IOC within the band)."""
        for pos in sorted(self.fund.positions(), key=lambda p: p.symbol):
            side = Side.SELL if pos.qty > 0 else Side.BUY
            book = self.exchange.books[pos.symbol]
            if (book.best_bid() if side is Side.SELL else book.best_ask()) is None:
                continue
            self.exchange.liquidation_order(
                self.fund.account_id,
                pos.symbol,
                pos.side,
                side,
                abs(pos.qty),
                None,
                "insurance unwind",
            )

    def _ended(
        self,
        acct: Account,
        pool_name: str,
        outcome: str,
        fee: Decimal,
        surplus: Decimal,
        covered: Decimal,
    ) -> None:
        self.exchange.emit(
            LiquidationEnded,
            account_id=acct.account_id,
            pool=pool_name,
            outcome=outcome,
            fee=fee,
            surplus_to_insurance=surplus,
            loss_covered_by_insurance=covered,
        )

    # ================================================================= state
    def _state_parts(self) -> list[str]:
        parts = [f"alert {k}" for k in sorted(self.alerts.fired, key=str)]
        parts += [f"thresholds {k}={v}" for k, v in sorted(self.thresholds.items())]
        parts += [f"replenish {k}={v}" for k, v in sorted(self.replenish.items())]
        for symbol, f in sorted(self.funding_states.items()):
            parts.append(
                f"funding {symbol} {f.samples} {f.last_rate} {self.next_funding.get(symbol)}"
            )
        parts += [f"basis {s} {m.samples}" for s, m in sorted(self.mark_states.items())]
        return parts


def attach(exchange: Exchange, config: RiskConfig | None = None) -> RiskEngine:
    """Attach a risk engine to ``exchange`` (the usual way to build a venue)."""
    return RiskEngine(exchange, config)


def risk_of(exchange: Exchange) -> RiskEngine:
    """The risk engine attached to ``exchange`` (also after a snapshot was loaded)."""
    engine = exchange.extensions.get("risk")
    if not isinstance(engine, RiskEngine):
        raise LookupError("no risk engine is attached to this exchange")
    return engine


def new_exchange(
    catalogue: Catalogue | None = None,
    *,
    config: RiskConfig | None = None,
    fees: FeeSchedule | None = None,
    clock: Callable[[], int] = zero_clock,
) -> Exchange:
    """A complete venue: the exchange with its risk engine attached (a store ``Factory``)."""
    exchange = Exchange(catalogue, clock=clock, fees=fees)
    attach(exchange, config)
    return exchange

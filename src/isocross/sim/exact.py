"""The exact path: one portfolio in one margin mode, bar by bar, in Decimal.

:class:`ExactBook` holds the trader's side of an exchange account — cross wallet, isolated
wallets, positions — and applies the venue's rules with the exchange's own roundings
(:class:`isocross.margin.account.Account`, :class:`isocross.engine.exchange.Exchange`,
:class:`isocross.risk.engine.RiskEngine`); ``tests/sim`` replays the same bars through a real
``Exchange`` with the risk engine attached and checks that both agree to the unit.

**One bar** (open ``O``, high ``H``, low ``L``, close ``C``; the mark series' ``m_O…m_C``, the
trade candles where no mark series is given). Every step is followed by the risk engine's
check of every pool at the current marks (liquidation at ``margin balance ≤ requirement``):

1. marks ``m_O``, the book quotes ``O``; funding settles for each symbol with a settlement stamp
   in the bar, ``N(m_O)·|rate|`` (payers round up, receivers down; positive rate: longs pay);
2. entries due at this bar fill at ``O`` (a limit entry: at the limit, or at ``O`` when the bar
   opens through it, if the bar trades at or through it), paying the taker fee;
3. exits: a long's stop-loss or trailing stop when ``L`` reaches it (the higher level first,
   as a falling price meets it first), else its take-profit when ``H`` reaches it; the fill is
   the level, or ``O`` when the bar opened through it (a short mirrors). A stop is assumed to
   fire before the liquidation it guards against (the price passes it first);
4. **the adverse extreme**: every position's mark at its own worst price of the bar (``m_L`` for
   a long, ``m_H`` for a short), the book at ``L``/``H``. For a cross pool this is conservative:
   all its positions are taken at their extremes at once, though they need not have been;
5. marks ``m_C``: equity and margin level are recorded (the margin level of the bar's worst
   case at step 4, too); a trailing stop's best price takes in ``H`` (``L``) after the bar.

**Liquidation** (``RiskEngine._liquidate``, the preset's partial rule): the position whose
removal cuts the requirement most is partly closed — the quantity
:func:`~isocross.risk.plan.restore_size` (or ``ladder_size``) computes at mark — with an IOC at its
bankruptcy price (:func:`~isocross.risk.plan.bankruptcy_prices`, tick-rounded by
:func:`~isocross.risk.plan.order_price`) that fills at the book's quote if the quote is at or
better than that limit, paying the clearance fee; if the pool is still liquidatable, every
position of the pool is closed (at the quote if it is at or better than its bankruptcy limit,
else at the limit: insurance fund or auto-deleveraging) and the pool's wallet goes to the
insurance fund: the cross wallet, or only the position's isolated wallet.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import numpy as np

from isocross.margin.figures import compute_figures
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionSide
from isocross.model.money import CONTEXT, ONE, ZERO, exponent, round_down, round_up
from isocross.risk.plan import PoolLeg, bankruptcy_prices, ladder_size, order_price, restore_size
from isocross.sim.errors import SimInputError
from isocross.sim.files import CLOSE, HIGH, LOW, OPEN, iso
from isocross.sim.market import Market, rate_decimal, to_decimal
from isocross.sim.records import (
    Holding,
    Liquidation,
    LiquidationFill,
    Metrics,
    ModeRun,
    Snapshot,
    TradeRecord,
)
from isocross.sim.rules import MarginRule, RuleLeg
from isocross.sim.spec import Portfolio, PositionSpec

HUNDRED = Decimal(100)


class _When:
    """A bar's time, formatted only if a message needs it."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __format__(self, spec: str) -> str:
        return iso(self.ms)


def _num(value: Decimal) -> str:
    """A decimal without trailing zeros, for messages."""
    return f"{value.normalize():f}"


def _fillable(qty: Decimal, quote: Decimal, limit: Decimal) -> bool:
    """A long is sold to a bid at or above the limit; a short bought at or below it."""
    return quote >= limit if qty > 0 else quote <= limit


class ExactBook:
    """The exact state of one portfolio in one margin mode (see the module docstring)."""

    def __init__(
        self,
        portfolio: Portfolio,
        market: Market,
        rule: MarginRule,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.p = portfolio
        self.m = market
        self.rule = rule
        self.asset = portfolio.asset
        self.quantum = exponent(portfolio.catalogue.asset(portfolio.asset).precision)
        self.cross = portfolio.balance
        self.holdings: dict[int, Holding] = {}
        self.pending = list(portfolio.positions)
        self.fees = ZERO
        self.funding_paid = ZERO
        self.clearance = ZERO
        self.liquidations: list[Liquidation] = []
        self.trades: list[TradeRecord] = []
        self.snapshots: list[Snapshot] = []
        self.synced = 0
        self.exact_bars = 0
        self.metrics = metrics or Metrics.empty(market.n)
        self.marks: list[Decimal] = [ONE] * len(market.symbols)
        self.quotes: list[Decimal] = [ONE] * len(market.symbols)
        self.insts = [portfolio.instrument(s) for s in market.symbols]
        self.entry_bars = {
            s.index: (
                0
                if s.entry_time is None
                else int(np.searchsorted(market.time, s.entry_time, side="left"))
            )
            for s in portfolio.positions
        }
        self.checkpoints = {
            int(np.searchsorted(market.time, c.time, side="right")) - 1: c.label
            for c in portfolio.checkpoints
            if market.time[0] <= c.time < market.time[-1] + market.step
        }
        self._t = 0
        self._step = "open"

    # ----------------------------------------------------------------- one bar
    def process_bar(self, t: int) -> None:
        """Apply bar ``t`` exactly (steps 1–5 of the module docstring)."""
        assert t == self.synced, (t, self.synced)
        with localcontext(CONTEXT):
            self._t = t
            self.exact_bars += 1
            m = self.m
            self._step = "open"
            self._set(t, OPEN, OPEN)
            self._check()
            if self.p.funding:
                for s in range(len(m.symbols)):
                    if m.funding[s, t] != 0:
                        self._settle_funding(s, t)
                        self._check()
            self._step = "entry"
            for spec in list(self.pending):
                if self.entry_bars[spec.index] <= t:
                    price = self._entry_price(spec, t)
                    if price is not None:
                        self._open(spec, price, t)
                        self._check()
            self._step = "exit"
            for h in list(self.holdings.values()):
                if h.spec.index in self.holdings:
                    self._exit_rules(h, t)
            self._step = "extreme"
            self._set_extremes(t)
            worst = self._figures()
            self._check()
            self._step = "close"
            self._set(t, CLOSE, CLOSE)
            self._check()
            close = self._figures()
            for h in self.holdings.values():
                if h.opened < t:
                    col = HIGH if h.qty > 0 else LOW
                    price = m.price(h.sym, t, col)
                    h.peak = max(h.peak, price) if h.qty > 0 else min(h.peak, price)
            met = self.metrics
            met.equity[t], met.level[t] = close
            met.equity_worst[t], met.level_worst[t] = worst
            if t in self.checkpoints:
                self.snapshots.append(self._snapshot(t))
            self.synced = t + 1

    def _set(self, t: int, mark_col: int, quote_col: int) -> None:
        m = self.m
        for s in range(len(m.symbols)):
            self.marks[s] = m.price(s, t, mark_col, mark=True)
            self.quotes[s] = m.price(s, t, quote_col)

    def _set_extremes(self, t: int) -> None:
        m = self.m
        longs = {h.sym for h in self.holdings.values() if h.qty > 0}
        for s in range(len(m.symbols)):
            col = LOW if s in longs else HIGH
            self.marks[s] = m.price(s, t, col, mark=True)
            self.quotes[s] = m.price(s, t, col)

    # ----------------------------------------------------------------- funding
    def _settle_funding(self, s: int, t: int) -> None:
        """``N(mark)·|rate|``: payers round up, receivers round down (``Exchange.pay_funding``)."""
        rate = self.m.rate(s, t)
        for h in self.holdings.values():
            if h.sym == s:
                self._fund(h, self.marks[s], rate)

    def _fund(self, h: Holding, mark: Decimal, rate: Decimal) -> None:
        amount = h.inst.notional(h.qty, mark) * abs(rate)
        pays = (h.qty > 0) == (rate > 0)
        moved = round_up(amount, self.quantum) if pays else round_down(amount, self.quantum)
        delta = -moved if pays else moved
        if self.rule.pooled:
            self.cross += delta
        else:
            h.wallet += delta
        self.funding_paid -= delta

    def sync_to(self, t: int) -> None:
        """Settle, exactly, the funding of bars ``synced … t−1`` that the fast path skipped
        (no position changed there and no check could liquidate), and take in their prices
        for the trailing stops. Each payment is rounded on its own, so the order in which
        they are added up does not change the sum."""
        if t <= self.synced:
            return
        with localcontext(CONTEXT):
            m = self.m
            a = self.synced
            if self.p.funding:
                for h in self.holdings.values():
                    bars = a + np.flatnonzero(m.funding[h.sym, a:t])
                    if not len(bars):
                        continue
                    places = m.mark_places[h.sym]
                    marks = m.mark[h.sym, bars, OPEN].tolist()
                    for mark, rate in zip(marks, m.funding[h.sym, bars].tolist(), strict=True):
                        self._fund(h, to_decimal(mark, places), rate_decimal(rate))
            for h in self.holdings.values():
                if h.spec.trailing_stop is None:
                    continue
                a = max(self.synced, h.opened + 1)
                if a >= t:
                    continue
                if h.qty > 0:
                    k = a + int(np.argmax(m.trade[h.sym, a:t, HIGH]))
                    h.peak = max(h.peak, m.price(h.sym, k, HIGH))
                else:
                    k = a + int(np.argmin(m.trade[h.sym, a:t, LOW]))
                    h.peak = min(h.peak, m.price(h.sym, k, LOW))
        self.synced = t

    # ----------------------------------------------------------------- entries and exits
    def _entry_price(self, spec: PositionSpec, t: int) -> Decimal | None:
        m, s = self.m, self.m.index(spec.symbol)
        o = m.price(s, t, OPEN)
        if spec.limit is None:
            return o
        if spec.side > 0:
            return min(o, spec.limit) if m.price(s, t, LOW) <= spec.limit else None
        return max(o, spec.limit) if m.price(s, t, HIGH) >= spec.limit else None

    def _open(self, spec: PositionSpec, price: Decimal, t: int) -> None:
        """An IOC that opens ``spec`` at ``price``, checked as ``Exchange._check_executable``."""
        s = self.m.index(spec.symbol)
        inst = self.insts[s]
        where = f"{spec.where} ({spec.label}, {self.rule.name})"
        when = _When(int(self.m.time[t]))
        if spec.qty is not None:
            qty = spec.qty
        else:
            target = (
                spec.margin * spec.leverage / price
                if spec.margin is not None
                else (spec.notional or ZERO) / price
            )
            qty = (target / inst.step_size).to_integral_value(rounding=ROUND_FLOOR) * inst.step_size
        notional = inst.notional(qty, price)
        if qty < inst.min_qty or qty <= 0:
            raise SimInputError(
                where,
                f"cannot open at {when}: quantity {qty} is below {spec.symbol}'s minimum "
                f"{inst.min_qty}",
            )
        if notional < inst.min_notional:
            raise SimInputError(
                where,
                f"cannot open at {when}: notional {_num(notional)} is below "
                f"{spec.symbol}'s minimum {inst.min_notional}",
            )
        allowed = inst.tiers.max_leverage_for(notional)
        if spec.leverage > allowed:
            raise SimInputError(
                where,
                f"cannot open at {when}: a position worth {notional:.2f} allows at most "
                f"{allowed}x, leverage is {spec.leverage}x",
            )
        mark = self.marks[s]
        signed = qty * spec.side
        cost = round_up(
            notional / spec.leverage + max(ZERO, -inst.unrealized_pnl(signed, price, mark)),
            self.quantum,
        )
        available = self._available()
        if cost > available:
            raise SimInputError(
                where,
                f"cannot open at {when}: insufficient margin, the order needs {_num(cost)} "
                f"{self.asset} and {_num(max(available, ZERO))} is available",
            )
        fee = round_up(notional * self.p.taker_fee, self.quantum)
        wallet = ZERO
        if not self.rule.pooled:
            wallet = round_up(notional / spec.leverage, self.quantum)
            self.cross -= wallet
        self.cross -= fee
        self.fees += fee
        tick = inst.tick_size
        stop = spec.stop_loss.price(price, spec.side > 0, tick) if spec.stop_loss else None
        take = spec.take_profit.price(price, spec.side < 0, tick) if spec.take_profit else None
        self.holdings[spec.index] = Holding(
            spec, s, inst, signed, price, wallet, t, stop, take, price
        )
        self.pending.remove(spec)
        self.trades.append(
            TradeRecord(
                spec.index, spec.symbol, t, int(self.m.time[t]), "open", signed, price, fee, ZERO
            )
        )

    def _available(self) -> Decimal:
        mode = MarginMode.CROSS if self.rule.pooled else MarginMode.ISOLATED
        positions = [
            Position(h.spec.symbol, PositionSide.BOTH, h.qty, h.entry, mode, h.spec.leverage)
            for h in self.holdings.values()
        ]
        marks = {self.m.symbols[h.sym]: self.marks[h.sym] for h in self.holdings.values()}
        isolated = (
            {}
            if self.rule.pooled
            else {(h.spec.symbol, PositionSide.BOTH): h.wallet for h in self.holdings.values()}
        )
        wallets = {self.asset: self.cross} if self.cross != 0 else {}
        figs = compute_figures(
            positions, self.p.catalogue.instrument, wallets, isolated, {}, marks, prices=False
        )
        pool = figs.pools.get(self.asset)
        return pool.available_balance if pool is not None else ZERO

    def trailing_level(self, h: Holding) -> Decimal | None:
        """The trailing stop: the best price since entry moved back by the callback rate,
        rounded to the tick away from the position's favour (down for a long)."""
        rate = h.spec.trailing_stop
        if rate is None:
            return None
        tick = h.inst.tick_size
        if h.qty > 0:
            raw = h.peak * (ONE - rate) / tick
            return raw.to_integral_value(rounding=ROUND_FLOOR) * tick
        raw = h.peak * (ONE + rate) / tick
        return raw.to_integral_value(rounding=ROUND_CEILING) * tick

    def _exit_rules(self, h: Holding, t: int) -> None:
        m = self.m
        o, hi, lo = (m.price(h.sym, t, c) for c in (OPEN, HIGH, LOW))
        fresh = h.opened == t
        trail = self.trailing_level(h)
        long = h.qty > 0
        adverse = [
            (lv, name)
            for lv, name in ((h.stop, "stop_loss"), (trail, "trailing_stop"))
            if lv is not None
        ]
        if long:
            hits = [(lv, name) for lv, name in adverse if lo <= lv]
            if hits:
                level, name = max(hits)
                self._close(h, level if fresh else min(o, level), name, t)
            elif h.take is not None and hi >= h.take:
                self._close(h, h.take if fresh else max(o, h.take), "take_profit", t)
        else:
            hits = [(lv, name) for lv, name in adverse if hi >= lv]
            if hits:
                level, name = min(hits)
                self._close(h, level if fresh else max(o, level), name, t)
            elif h.take is not None and lo <= h.take:
                self._close(h, h.take if fresh else min(o, h.take), "take_profit", t)

    def _close(self, h: Holding, price: Decimal, reason: str, t: int) -> None:
        qty = h.qty
        fee = round_up(h.inst.notional(qty, price) * self.p.taker_fee, self.quantum)
        realized = self._reduce(h, abs(qty), price)
        self.cross -= fee
        self.fees += fee
        self.trades.append(
            TradeRecord(
                h.spec.index,
                h.spec.symbol,
                t,
                int(self.m.time[t]),
                reason,
                -qty,
                price,
                fee,
                realized,
            )
        )
        self._check()

    def _reduce(
        self, h: Holding, closed: Decimal, price: Decimal, *, keep_margin: bool = False
    ) -> Decimal:
        """Close ``closed`` of ``h`` at ``price``: realized PnL rounded down; an isolated wallet
        keeps ``round_up(W·(|q| − closed)/|q|)`` and releases the rest to the cross wallet (all of
        it on a full close; a shortfall is the insurance fund's), ``Account._settle_isolated``.
        ``keep_margin``: a partial liquidation keeps the released margin in the position."""
        sign = 1 if h.qty > 0 else -1
        realized = round_down(h.inst.unrealized_pnl(sign * closed, h.entry, price), self.quantum)
        if self.rule.pooled:
            self.cross += realized
        else:
            wallet = h.wallet
            keep = round_up(wallet * (abs(h.qty) - closed) / abs(h.qty), self.quantum)
            after = max(ZERO, wallet + realized)
            release = max(ZERO, after - keep) if closed < abs(h.qty) else after
            if keep_margin:
                release = ZERO
            h.wallet = after - release
            self.cross += release
        h.qty -= sign * closed
        if h.qty == 0:
            del self.holdings[h.spec.index]
        return realized

    # ----------------------------------------------------------------- liquidation
    def _legs(self, pool: list[Holding]) -> list[PoolLeg]:
        return [
            PoolLeg(
                h.inst,
                h.qty,
                self.marks[h.sym],
                h.inst.maintenance_margin(h.qty, self.marks[h.sym]),
                h.inst.unrealized_pnl(h.qty, h.entry, self.marks[h.sym]),
            )
            for h in pool
        ]

    def _requirement(
        self, pool: list[Holding], resized: tuple[int, Decimal] | None = None
    ) -> Decimal:
        legs = [
            RuleLeg(
                h.inst,
                resized[1] if resized is not None and i == resized[0] else h.qty,
                h.entry,
                self.marks[h.sym],
            )
            for i, h in enumerate(pool)
        ]
        return self.rule.requirement(legs)

    def _pool_wallet(self, iso_holding: Holding | None) -> Decimal:
        return self.cross if iso_holding is None else iso_holding.wallet

    def _pools(self) -> list[tuple[list[Holding], Holding | None]]:
        if not self.holdings:
            return []
        if self.rule.pooled:
            return [(list(self.holdings.values()), None)]
        return [([h], h) for h in self.holdings.values()]

    def _check(self) -> None:
        for pool, isolated in self._pools():
            self._liquidate(pool, isolated)

    def _liquidate(self, pool: list[Holding], isolated: Holding | None) -> None:
        legs = self._legs(pool)
        wallet = self._pool_wallet(isolated)
        balance = wallet + sum((leg.pnl for leg in legs), ZERO)
        maintenance = self._requirement(pool)
        if not (maintenance > 0 and balance <= maintenance):
            return
        name = self.asset if isolated is None else isolated.spec.symbol
        marks = tuple((h.spec.symbol, self.marks[h.sym]) for h in pool)
        start_wallet = wallet
        fills: list[LiquidationFill] = []
        fee_paid = ZERO
        if self.p.preset.partial != "none":
            done, fee_paid = self._partial(pool, isolated, legs, balance, maintenance, fills)
            if done:
                self._record(
                    name,
                    "partial",
                    pool,
                    fills,
                    start_wallet,
                    isolated,
                    balance,
                    maintenance,
                    marks,
                )
                self.clearance += fee_paid
                return
        self.clearance += fee_paid
        rest = [h for h in pool if h.spec.index in self.holdings]
        legs = self._legs(rest)
        wallet = self._pool_wallet(isolated)
        busts = bankruptcy_prices(legs, wallet)
        for h, bust in zip(rest, busts, strict=True):
            limit = order_price(h.inst, h.qty, bust)
            quote = self.quotes[h.sym]
            ok = _fillable(h.qty, quote, limit)
            price = quote if ok else limit
            fills.append(
                LiquidationFill(h.spec.symbol, h.qty, price, "book" if ok else "bankruptcy")
            )
            self.trades.append(
                TradeRecord(
                    h.spec.index,
                    h.spec.symbol,
                    self._t,
                    int(self.m.time[self._t]),
                    "liquidated",
                    -h.qty,
                    price,
                    ZERO,
                    ZERO,
                )
            )
            del self.holdings[h.spec.index]
        if isolated is None:
            self.cross = ZERO
        else:
            isolated.wallet = ZERO
        self._record(name, "full", pool, fills, start_wallet, isolated, balance, maintenance, marks)

    def _partial(
        self,
        pool: list[Holding],
        isolated: Holding | None,
        legs: list[PoolLeg],
        balance: Decimal,
        maintenance: Decimal,
        fills: list[LiquidationFill],
    ) -> tuple[bool, Decimal]:
        """``RiskEngine._partial``: True when one partial close restored the pool."""
        cuts = [maintenance - self._requirement(pool, (i, ZERO)) for i in range(len(pool))]
        index = max(range(len(pool)), key=lambda i: (cuts[i], -i))
        h, leg = pool[index], legs[index]
        rate = self.p.preset.clearance_fee_rate(h.inst.symbol)
        size = self._partial_size(pool, index, leg, balance, maintenance, rate)
        if size is None or size == 0 or (size >= abs(h.qty) and len(pool) == 1):
            return False, ZERO
        wallet = self._pool_wallet(isolated)
        bust = bankruptcy_prices(legs, wallet)[index]
        limit = order_price(h.inst, h.qty, bust)
        quote = self.quotes[h.sym]
        fee = ZERO
        if _fillable(h.qty, quote, limit):
            sign = 1 if h.qty > 0 else -1
            self._reduce(h, size, quote, keep_margin=True)
            fills.append(LiquidationFill(h.spec.symbol, sign * size, quote, "book"))
            fee = round_up(rate * h.inst.notional(size, quote), self.quantum)
            fee = min(fee, max(ZERO, self._pool_wallet(isolated)))
            if isolated is None:
                self.cross -= fee
            else:
                isolated.wallet -= fee
        rest = [x for x in pool if x.spec.index in self.holdings]
        legs = self._legs(rest)
        balance = self._pool_wallet(isolated) + sum((lg.pnl for lg in legs), ZERO)
        maintenance = self._requirement(rest)
        restored = bool(rest) and not (maintenance > 0 and balance <= maintenance)
        return restored, fee

    def _partial_size(
        self,
        pool: list[Holding],
        index: int,
        leg: PoolLeg,
        balance: Decimal,
        maintenance: Decimal,
        rate: Decimal,
    ) -> Decimal | None:
        if self.rule.tiered:
            if self.p.preset.partial == "restore":
                return restore_size(leg, balance, maintenance, rate)
            return ladder_size(leg, balance, maintenance, rate)

        def after(rest: Decimal) -> Decimal:
            return self._requirement(pool, (index, rest))

        sizer: Callable[..., Decimal | None] = (
            restore_size if self.p.preset.partial == "restore" else ladder_size
        )
        return sizer(leg, balance, maintenance, rate, requirement_after=after)

    def _record(
        self,
        name: str,
        kind: str,
        pool: list[Holding],
        fills: list[LiquidationFill],
        start_wallet: Decimal,
        isolated: Holding | None,
        balance: Decimal,
        maintenance: Decimal,
        marks: tuple[tuple[str, Decimal], ...],
    ) -> None:
        after = self.cross if isolated is None else isolated.wallet
        scope = "cascade" if isolated is None and kind == "full" else "contained"
        self.liquidations.append(
            Liquidation(
                self._t,
                int(self.m.time[self._t]),
                self._step,
                name,
                kind,
                scope,
                tuple(fills),
                start_wallet - after,
                balance,
                maintenance,
                marks,
            )
        )
        del pool

    # ----------------------------------------------------------------- figures
    def _figures(self) -> tuple[float, float]:
        """(equity, margin level %) at the current marks; the level of an isolated book is its
        lowest position's ``(W + PnL)/IM``; ``nan`` without positions."""
        equity = self.cross + sum((h.wallet for h in self.holdings.values()), ZERO)
        levels: list[Decimal] = []
        pool_balance = self.cross
        pool_im = ZERO
        for h in self.holdings.values():
            mark = self.marks[h.sym]
            pnl = h.inst.unrealized_pnl(h.qty, h.entry, mark)
            im = h.inst.notional(h.qty, mark) / h.spec.leverage
            equity += pnl
            if self.rule.pooled:
                pool_balance += pnl
                pool_im += im
            else:
                levels.append((h.wallet + pnl) / im * HUNDRED)
        if self.rule.pooled and self.holdings:
            levels.append(pool_balance / pool_im * HUNDRED)
        return float(equity), float(min(levels)) if levels else float("nan")

    def _snapshot(self, t: int) -> Snapshot:
        equity = self.cross
        pools: list[tuple[str, Decimal]] = []
        pool_balance = self.cross
        for h in self.holdings.values():
            pnl = h.inst.unrealized_pnl(h.qty, h.entry, self.marks[h.sym])
            equity += h.wallet + pnl
            if self.rule.pooled:
                pool_balance += pnl
            else:
                pools.append((h.spec.symbol, h.wallet + pnl))
        if self.rule.pooled:
            pools.insert(0, (self.asset, pool_balance))
        else:
            pools.insert(0, (f"{self.asset} (cross wallet)", self.cross))
        return Snapshot(self.checkpoints[t], t, int(self.m.time[t]), equity, tuple(pools))

    # ----------------------------------------------------------------- the end
    def finish(self) -> ModeRun:
        """Settle what is left (the fast path's skipped bars) and value at the last close."""
        n = self.m.n
        self.sync_to(n)
        with localcontext(CONTEXT):
            for s in range(len(self.m.symbols)):
                self.marks[s] = self.m.price(s, n - 1, CLOSE, mark=True)
            equity = self.cross
            open_positions: dict[str, tuple[Decimal, Decimal]] = {}
            wallets: dict[str, Decimal] = {}
            for h in self.holdings.values():
                equity += h.wallet + h.inst.unrealized_pnl(h.qty, h.entry, self.marks[h.sym])
                open_positions[h.spec.symbol] = (h.qty, h.entry)
                if not self.rule.pooled:
                    wallets[h.spec.symbol] = h.wallet
        return ModeRun(
            mode=self.rule.name,
            cross_wallet=self.cross,
            isolated_wallets=wallets,
            final_equity=equity,
            fees=self.fees,
            funding_paid=self.funding_paid,
            clearance_fees=self.clearance,
            liquidations=self.liquidations,
            trades=self.trades,
            snapshots=self.snapshots,
            open_positions=open_positions,
            never_entered=[s.label for s in self.pending],
            metrics=self.metrics,
            exact_bars=self.exact_bars,
        )


def run_exact(
    portfolio: Portfolio,
    market: Market,
    rule: MarginRule,
    *,
    progress: Callable[[int], None] | None = None,
) -> ModeRun:
    """The reference: every bar on the exact path."""
    book = ExactBook(portfolio, market, rule)
    for t in range(market.n):
        book.process_bar(t)
        if progress is not None and (t + 1) % 4096 == 0:
            progress(4096)
    return book.finish()

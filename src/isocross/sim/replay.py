"""The exact engine path: replay a simulation's bars through a real exchange and risk engine.

A :class:`~isocross.engine.exchange.Exchange` with the :class:`~isocross.risk.engine.RiskEngine`
attached (the venue's liquidation preset), a trader account and a liquidity account (``lp``)
that quotes, for each step of a bar, at the price the simulator says the market traded at:

1. ``lp`` quotes at the open; one ``SetMarks`` command moves every mark to the bar's open; each
   symbol's funding is settled with ``SettleFunding`` at the bar's rate;
2. the trader's entries and exits are limit IOC orders at their fill prices against ``lp``;
3. ``lp`` quotes at the adverse extremes (a bid at the low under a long, an ask at the high over
   a short) and ``SetMarks`` moves every mark to its extreme: the risk engine liquidates there;
4. the same at the close.

The orders are those the exact path's own rules made (its entries and stop / take-profit
exits), so this checks the money and the liquidations, not the strategy: the risk engine
decides every liquidation, partial or full, fills it on the book or through the insurance fund
and auto-deleveraging, and settles funding and fees, with the exchange's own roundings.
It is the slowest path; ``tests/sim`` compares it with :mod:`isocross.sim.exact` and the
benchmark times a slice of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from isocross.engine import commands as c
from isocross.engine.events import FillSettled, FundingPaid, OrderUpdated
from isocross.engine.exchange import Exchange, Outcome
from isocross.engine.fees import FeeRates, FeeSchedule
from isocross.engine.orders import OrderType, TimeInForce
from isocross.model.enums import MarginMode, Side
from isocross.model.money import ZERO
from isocross.risk.engine import attach
from isocross.risk.events import LiquidationEnded, LiquidationFilled, LiquidationStarted
from isocross.sim.files import CLOSE, HIGH, LOW, OPEN
from isocross.sim.market import Market
from isocross.sim.records import TradeRecord
from isocross.sim.rules import MarginRule
from isocross.sim.spec import Portfolio

TRADER, LP = "trader", "lp"
LP_CAPITAL = Decimal(10) ** 13


@dataclass(frozen=True, slots=True)
class SetMarks:
    """Move several marks at once (the risk engine checks once, after all of them)."""

    marks: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class ReplayedLiquidation:
    bar: int
    step: str
    pool: str
    kind: str
    fills: tuple[tuple[str, Decimal, Decimal, str], ...]
    """(symbol, signed quantity closed, price, ``book`` or ``bankruptcy``)."""
    margin_balance: Decimal
    maintenance: Decimal


@dataclass
class Replay:
    """What the exchange did to the trader."""

    cross_wallet: Decimal = ZERO
    isolated_wallets: dict[str, Decimal] = field(default_factory=dict)
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    fees: Decimal = ZERO
    funding_paid: Decimal = ZERO
    liquidations: list[ReplayedLiquidation] = field(default_factory=list)
    commands: int = 0


class _Venue:
    def __init__(self, portfolio: Portfolio, rule: MarginRule) -> None:
        fees = FeeSchedule({"SIM": FeeRates(ZERO, portfolio.taker_fee), "LP": FeeRates(ZERO, ZERO)})
        self.ex = Exchange(portfolio.catalogue, fees=fees, price_band=Decimal("0.99"))
        attach(self.ex, portfolio.preset)
        self.ex.register(SetMarks, self._set_marks)
        self.p = portfolio
        self.asset = portfolio.asset
        self.result = Replay()
        self.bar = 0
        self.step = "setup"
        self.quoted: list[str] = []
        self.sides: dict[str, int] = {}
        for account, tier, amount in ((TRADER, "SIM", portfolio.balance), (LP, "LP", LP_CAPITAL)):
            self.do(c.OpenAccount(account, tier))
            self.do(c.Deposit(account, self.asset, amount))
            self.do(c.Transfer(account, self.asset, amount))
        for spec in portfolio.positions:
            if not rule.pooled:
                self.do(c.SetMarginMode(TRADER, spec.symbol, MarginMode.ISOLATED))
            self.do(c.SetLeverage(TRADER, spec.symbol, spec.leverage))
            self.do(c.SetLeverage(LP, spec.symbol, 1))

    def _set_marks(self, cmd: SetMarks) -> None:
        for symbol, price in cmd.marks:
            self.ex.apply_mark(symbol, price)

    def do(self, command: object) -> Outcome:
        outcome = self.ex.handle(command)  # type: ignore[arg-type]
        if not outcome.accepted:
            raise RuntimeError(f"bar {self.bar} {self.step}: {command} refused: {outcome.error}")
        self.result.commands += 1
        self._absorb(outcome)
        return outcome

    def _absorb(self, outcome: Outcome) -> None:
        started: LiquidationStarted | None = None
        fills: list[tuple[str, Decimal, Decimal, str]] = []
        for e in outcome.events:
            if isinstance(e, FillSettled) and e.account_id == TRADER:
                self.result.fees += e.fee
            elif isinstance(e, FundingPaid) and e.account_id == TRADER:
                self.result.funding_paid -= e.amount
            elif isinstance(e, LiquidationStarted) and e.account_id == TRADER:
                started, fills = e, []
            elif isinstance(e, LiquidationFilled) and e.account_id == TRADER:
                how = "book" if e.how == "book" else "bankruptcy"
                sign = Decimal(-1) if self._was_short(e.symbol, e.qty) else Decimal(1)
                last = fills[-1] if fills else None
                if last is not None and (last[0], last[2], last[3]) == (e.symbol, e.price, how):
                    # one close split between the insurance fund and ADL counterparties
                    fills[-1] = (e.symbol, last[1] + sign * e.qty, e.price, how)
                else:
                    fills.append((e.symbol, sign * e.qty, e.price, how))
            elif isinstance(e, LiquidationEnded) and e.account_id == TRADER and started:
                pool = e.pool if e.pool == self.asset else e.pool.split(":")[0]
                self.result.liquidations.append(
                    ReplayedLiquidation(
                        self.bar,
                        self.step,
                        pool,
                        e.outcome,
                        tuple(fills),
                        started.margin_balance,
                        started.maintenance_margin,
                    )
                )
                started = None

    def _was_short(self, symbol: str, qty: Decimal) -> bool:
        return self.sides.get(symbol, 1) < 0

    # ------------------------------------------------------------------ quoting
    def quote(self, symbol: str, lp_side: Side, price: Decimal, qty: Decimal) -> None:
        if qty <= 0:
            return
        outcome = self.do(c.PlaceOrder(LP, symbol, lp_side, OrderType.LIMIT, qty, price))
        ids = [e.order_id for e in outcome.events if isinstance(e, OrderUpdated)]
        self.quoted.append(ids[0])

    def unquote(self) -> None:
        """Cancel what is left of the quotes (by id: ``Exchange.open_orders`` scans every order
        ever placed, which grows with the replay)."""
        for order_id in self.quoted:
            order = self.ex.orders.get(order_id)
            if order is not None and order.is_open:
                self.do(c.CancelOrder(LP, order_id))
        self.quoted.clear()

    def held(self) -> dict[str, Decimal]:
        return {p.symbol: p.qty for p in self.ex.accounts[TRADER].positions()}

    def quote_under_positions(self, market: Market, t: int, column: Callable[[int], int]) -> None:
        """``lp`` bids under each long and offers over each short at ``column(direction)``."""
        for symbol, qty in self.held().items():
            side = Side.BUY if qty > 0 else Side.SELL
            price = market.price(market.index(symbol), t, column(1 if qty > 0 else -1))
            self.quote(symbol, side, price, abs(qty))

    def trade(self, rec: TradeRecord) -> None:
        """The trader takes ``rec.qty`` at ``rec.price`` from a quote placed for it."""
        side = Side.BUY if rec.qty > 0 else Side.SELL
        self.quote(rec.symbol, side.opposite, rec.price, abs(rec.qty))
        reduce = rec.action != "open"
        if not reduce:
            self.sides[rec.symbol] = 1 if rec.qty > 0 else -1
        self.do(
            c.PlaceOrder(
                TRADER,
                rec.symbol,
                side,
                OrderType.LIMIT,
                abs(rec.qty),
                rec.price,
                time_in_force=TimeInForce.IOC,
                reduce_only=reduce,
            )
        )
        self.unquote()


def _marks(market: Market, t: int, col: int, longs: set[str] | None = None) -> SetMarks:
    """Every mark at column ``col``; with ``longs``, each symbol at its adverse extreme."""
    return SetMarks(
        tuple(
            (
                s,
                market.price(
                    i, t, col if longs is None else (LOW if s in longs else HIGH), mark=True
                ),
            )
            for i, s in enumerate(market.symbols)
        )
    )


def _at(col: int) -> Callable[[int], int]:
    return lambda direction: col


def _adverse(direction: int) -> int:
    return LOW if direction > 0 else HIGH


def replay(
    portfolio: Portfolio,
    market: Market,
    rule: MarginRule,
    trades: Sequence[TradeRecord],
    *,
    bars: int | None = None,
) -> Replay:
    """Replay the first ``bars`` bars (all by default) with the exact path's ``trades``."""
    v = _Venue(portfolio, rule)
    n = market.n if bars is None else min(bars, market.n)
    symbols = market.symbols
    by_bar: dict[int, list[TradeRecord]] = {}
    for rec in trades:
        if rec.action != "liquidated":
            by_bar.setdefault(rec.bar, []).append(rec)
    for t in range(n):
        v.bar = t
        v.step = "open"
        v.quote_under_positions(market, t, _at(OPEN))
        v.do(_marks(market, t, OPEN))
        if portfolio.funding:
            for i, s in enumerate(symbols):
                if market.funding[i, t] != 0:
                    v.do(c.SettleFunding(s, market.rate(i, t)))
        v.unquote()
        for rec in by_bar.get(t, []):
            v.step = "entry" if rec.action == "open" else "exit"
            v.trade(rec)
        v.step = "extreme"
        longs = {s for s, q in v.held().items() if q > 0}
        v.quote_under_positions(market, t, _adverse)
        v.do(_marks(market, t, LOW, longs))
        v.unquote()
        v.step = "close"
        v.quote_under_positions(market, t, _at(CLOSE))
        v.do(_marks(market, t, CLOSE))
        v.unquote()
    acct = v.ex.accounts[TRADER]
    v.result.cross_wallet = acct.cross_wallet(portfolio.asset)
    for spec in portfolio.positions:
        wallet = acct.isolated_wallet(spec.symbol)
        if not rule.pooled and acct.position(spec.symbol) is not None:
            v.result.isolated_wallets[spec.symbol] = wallet
    v.result.positions = {p.symbol: (p.qty, p.entry_price) for p in acct.positions()}
    return v.result

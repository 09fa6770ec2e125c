"""Liquidation and bankruptcy prices: what they mean, checked exactly at the price returned.

Over linear and inverse contracts, long and short legs, isolated wallets and cross pools (the
pool's other positions held at fixed PnL and maintenance), single legs and hedged pairs, real
catalogue tables of every venue and random tables built with the cum recurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from prop_support import (
    BINANCE,
    D,
    equity_and_mm,
    exact,
    instruments,
    is_inverse,
    money,
    prices,
    quantities,
    ratio_of,
    sign,
    slack,
)

from isocross.margin.account import Account
from isocross.margin.liquidation import Leg, bankruptcy_price, liquidation_price
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionMode, PositionSide
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent, round_down, round_nearest

RATIO_TOLERANCE = D("1e-20")


@dataclass(frozen=True)
class Case:
    """Legs of one symbol and what backs them."""

    inst: Instrument
    legs: tuple[Leg, ...]
    wallet: Decimal
    mark: Decimal
    other_pnl: Decimal = ZERO
    other_mm: Decimal = ZERO

    def lp(self, wallet: Decimal | None = None) -> Decimal | None:
        return liquidation_price(
            self.inst,
            self.legs,
            self.wallet if wallet is None else wallet,
            mark=self.mark,
            other_pnl=self.other_pnl,
            other_maintenance=self.other_mm,
        )

    def bp(self) -> Decimal | None:
        return bankruptcy_price(self.inst, self.legs, self.wallet, other_pnl=self.other_pnl)

    def slack(self, price: Decimal, wallet: Decimal | None = None) -> Decimal:
        return slack(
            self.inst,
            self.legs,
            self.wallet if wallet is None else wallet,
            price,
            other_pnl=self.other_pnl,
            other_mm=self.other_mm,
        )

    def equity(self, price: Decimal) -> Decimal:
        return equity_and_mm(self.inst, self.legs, self.wallet, price, other_pnl=self.other_pnl)[0]

    def grid(self) -> list[Decimal]:
        """Prices from 10^-20 to 10^20 times the first entry price (geometric)."""
        ep = self.legs[0].entry_price
        with localcontext(CONTEXT):
            return [
                ep * D(10) ** -20,
                *(ep * D(10) ** (D(k) / 4) for k in range(-40, 41)),
                ep * D(10) ** 20,
            ]


def _size(draw: st.DrawFn, inst: Instrument, at: tuple[Decimal, Decimal]) -> Decimal:
    """A position size; for a capped table, one the table admits at both prices ``at``.

    Only the entry and the mark are held inside the table: prices the position has not
    reached yet (its liquidation price among them) may take it past the last cap.
    """
    cap = inst.tiers.max_notional
    if cap is None:
        return draw(quantities(inst))
    notional = ratio_of(cap, draw(st.integers(1, 1000)))
    with localcontext(CONTEXT):
        if is_inverse(inst):
            raw = notional * min(at) / inst.contract_size
        else:
            raw = notional / (inst.contract_size * max(at))
    return max(inst.step_size, round_down(raw, inst.step_size))


@st.composite
def cases(draw: st.DrawFn, *, cross: bool | None = None, hedge: bool | None = None) -> Case:
    """Legs that the venue admits (inside the tier table at entry and at mark) and their backing."""
    inst = draw(instruments())
    if hedge is None:
        hedge = draw(st.booleans())
    if cross is None:
        cross = draw(st.booleans())
    entry = draw(prices())
    mark = ratio_of(entry, draw(st.integers(1, 3000)))
    qty = _size(draw, inst, (entry, mark))
    legs = [Leg(qty if draw(st.booleans()) else -qty, entry)]
    if hedge:
        other_entry = ratio_of(entry, draw(st.integers(500, 2000)))
        legs = [Leg(qty, entry), Leg(-_size(draw, inst, (other_entry, mark)), other_entry)]
    cap = inst.tiers.max_notional
    # One contract can outweigh a tiny synthetic table: such a position cannot exist.
    assume(
        cap is None
        or all(inst.notional(leg.qty, p) <= cap for leg in legs for p in (leg.entry_price, mark))
    )
    scale = sum((inst.notional(leg.qty, leg.entry_price) for leg in legs), ZERO)
    wallet = money(inst, ratio_of(scale, draw(st.integers(0, 3000))))
    if not cross:
        return Case(inst, tuple(legs), wallet, mark)
    other_pnl = ratio_of(scale, draw(st.integers(-1000, 1000)))
    other_mm = ratio_of(scale, draw(st.integers(0, 200)))
    return Case(inst, tuple(legs), wallet, mark, other_pnl, other_mm)


def assert_ratio_one(case: Case, price: Decimal) -> None:
    equity, mm = equity_and_mm(
        case.inst, case.legs, case.wallet, price, other_pnl=case.other_pnl, other_mm=case.other_mm
    )
    assert mm > 0
    assert equity > 0
    with localcontext(CONTEXT):
        assert abs(mm / equity - 1) <= RATIO_TOLERANCE, (price, mm, equity)


def assert_no_root(case: Case) -> None:
    """With no liquidation price, balance − maintenance keeps one sign at every price."""
    signs = {sign(case.slack(p)) for p in case.grid()}
    assert len(signs) == 1, signs


def assert_nearest_root(case: Case, lp: Decimal) -> None:
    """No price closer to the mark than ``lp`` (on either side) crosses the boundary."""
    at_mark = sign(case.slack(case.mark))
    if at_mark == 0:
        return
    with localcontext(CONTEXT):
        distance = lp - case.mark
        for t in range(1, 20):
            step = distance * t / 20
            for p in (case.mark + step, case.mark - step):
                if p > 0:
                    assert sign(case.slack(p)) == at_mark, (p, lp, case.mark)


@settings(max_examples=300, deadline=None)
@given(case=cases())
@exact
def test_margin_ratio_is_one_at_the_liquidation_price(case: Case) -> None:
    lp = case.lp()
    if lp is None:
        assert_no_root(case)
        return
    assert lp > 0
    assert_ratio_one(case, lp)
    assert_nearest_root(case, lp)


@settings(max_examples=100, deadline=None)
@given(case=cases(cross=False, hedge=False))
@exact
def test_isolated_single_leg_ratio_is_one(case: Case) -> None:
    lp = case.lp()
    if lp is None:
        assert_no_root(case)
    else:
        assert_ratio_one(case, lp)


@settings(max_examples=100, deadline=None)
@given(case=cases(hedge=True))
@exact
def test_hedged_pair_ratio_is_one(case: Case) -> None:
    lp = case.lp()
    if lp is None:
        assert_no_root(case)
    else:
        assert_ratio_one(case, lp)
        assert_nearest_root(case, lp)


def _extended_lp(case: Case, wallet: Decimal) -> Decimal | str:
    """The liquidation price, or ``"safe"``/``"dead"`` when none exists."""
    lp = case.lp(wallet)
    if lp is not None:
        return lp
    # No root: balance − maintenance has one sign everywhere (checked in the test above).
    return "safe" if case.slack(case.legs[0].entry_price, wallet) > 0 else "dead"


@settings(max_examples=300, deadline=None)
@given(case=cases(hedge=False), extra=st.integers(1, 10**12))
@exact
def test_more_margin_moves_liquidation_price_away(case: Case, extra: int) -> None:
    """More wallet: a long's LP strictly lower (or none), a short's strictly higher (or none)."""
    more = case.wallet + D(extra).scaleb(-case.inst.margin_asset.precision)
    before, after = _extended_lp(case, case.wallet), _extended_lp(case, more)
    long = case.legs[0].qty > 0
    if before == "safe":
        assert after == "safe"
        return
    if after == "dead":
        assert before == "dead"
        return
    if isinstance(before, Decimal) and isinstance(after, Decimal):
        assert (after < before) if long else (after > before), (before, after)
    # Remaining transitions are dead → price, dead → safe or price → safe: all away from danger.


@settings(max_examples=300, deadline=None)
@given(case=cases())
@exact
def test_equity_is_zero_at_the_bankruptcy_price(case: Case) -> None:
    bp = case.bp()
    if bp is None:
        signs = {sign(case.equity(p)) for p in case.grid()}
        assert len(signs) == 1, signs
        return
    assert bp > 0
    size = case.inst.contract_size
    with localcontext(CONTEXT):
        if is_inverse(case.inst):
            terms = sum(abs(leg.qty) * size * (1 / leg.entry_price + 1 / bp) for leg in case.legs)
        else:
            terms = sum(abs(leg.qty) * size * (leg.entry_price + bp) for leg in case.legs)
        scale = abs(case.wallet) + abs(case.other_pnl) + terms
        assert abs(case.equity(bp)) <= scale * D("1e-40"), (bp, case.equity(bp))


@settings(max_examples=200, deadline=None)
@given(case=cases(hedge=False))
@exact
def test_bankruptcy_lies_beyond_liquidation(case: Case) -> None:
    """A single leg goes bankrupt only after it is liquidated (maintenance is positive)."""
    lp, bp = case.lp(), case.bp()
    if lp is None or bp is None:
        return
    if case.legs[0].qty > 0:
        assert bp < lp
    else:
        assert bp > lp


# --------------------------------------------------------------------- through the account

USDT_SYMBOLS = {"BTCUSDT": D(60000), "ETHUSDT": D(3000), "SOLUSDT": D(150), "XRPUSDT": D("0.6")}


@st.composite
def cross_accounts(draw: st.DrawFn) -> tuple[Account, dict[str, Decimal], str]:
    hedge = draw(st.booleans())
    account = Account(BINANCE, position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY)
    symbols = draw(st.lists(st.sampled_from(sorted(USDT_SYMBOLS)), min_size=1, unique=True))
    marks: dict[str, Decimal] = {}
    for symbol in symbols:
        inst = BINANCE.instrument(symbol)
        base = USDT_SYMBOLS[symbol]
        marks[symbol] = ratio_of(base, draw(st.integers(500, 1500)))
        sides = [PositionSide.BOTH]
        if hedge:
            sides = draw(
                st.sampled_from(
                    [[PositionSide.LONG], [PositionSide.SHORT]] * 2
                    + [[PositionSide.LONG, PositionSide.SHORT]]
                )
            )
        leverage = draw(st.integers(1, 20))
        for side in sides:
            qty = inst.step_size * draw(st.integers(1, 100_000))
            if side is PositionSide.SHORT or (side is PositionSide.BOTH and draw(st.booleans())):
                qty = -qty
            entry = ratio_of(base, draw(st.integers(500, 1500)))
            account.restore_position(Position(symbol, side, qty, entry, MarginMode.CROSS, leverage))
    account.restore_cross_wallet("USDT", D(draw(st.integers(1, 10**8))) / 100)
    # An isolated BTC-margined position must not touch the USDT pool.
    if draw(st.booleans()):
        side = PositionSide.LONG if hedge else PositionSide.BOTH
        account.restore_position(
            Position(
                "BTCUSD_PERP",
                side,
                D(draw(st.integers(1, 10_000))),
                D(60000),
                MarginMode.ISOLATED,
                10,
            ),
            isolated_margin=D(draw(st.integers(1, 10**8))) / 10**8,
        )
        marks["BTCUSD_PERP"] = ratio_of(D(60000), draw(st.integers(200, 3000)))
    return account, marks, draw(st.sampled_from(symbols))


@settings(max_examples=100, deadline=None)
@given(state=cross_accounts())
@exact
def test_account_liquidation_price_makes_the_cross_pool_ratio_one(
    state: tuple[Account, dict[str, Decimal], str],
) -> None:
    """The figure shown is the exact LP rounded; at that exact mark the pool's ratio is 1."""
    account, marks, target = state
    inst = BINANCE.instrument(target)
    wallet = account.cross_wallet("USDT")
    with localcontext(CONTEXT):
        others = [
            p
            for p in account.positions()
            if p.symbol != target and p.margin_mode is MarginMode.CROSS
        ]
        other_pnl = sum(
            (
                BINANCE.instrument(p.symbol).unrealized_pnl(p.qty, p.entry_price, marks[p.symbol])
                for p in others
            ),
            ZERO,
        )
        other_mm = sum(
            (
                BINANCE.instrument(p.symbol).maintenance_margin(p.qty, marks[p.symbol])
                for p in others
            ),
            ZERO,
        )
    legs = [Leg(p.qty, p.entry_price) for p in account.positions() if p.symbol == target]
    lp = liquidation_price(
        inst, legs, wallet, mark=marks[target], other_pnl=other_pnl, other_maintenance=other_mm
    )
    figures = account.figures(marks)
    for row in figures.positions:
        if row.symbol == target:
            expected = None if lp is None else round_nearest(lp, exponent(inst.price_precision))
            assert row.liquidation_price == expected
        if row.symbol == "BTCUSD_PERP":
            iso = account.position("BTCUSD_PERP", row.side)
            assert iso is not None
            iso_lp = liquidation_price(
                BINANCE.instrument("BTCUSD_PERP"),
                [Leg(iso.qty, iso.entry_price)],
                account.isolated_wallet("BTCUSD_PERP", row.side),
                mark=marks["BTCUSD_PERP"],
            )
            assert row.liquidation_price == (
                None
                if iso_lp is None
                else round_nearest(
                    iso_lp, exponent(BINANCE.instrument("BTCUSD_PERP").price_precision)
                )
            )
    if lp is None:
        return
    moved = {**marks, target: lp}
    with localcontext(CONTEXT):
        cross = [p for p in account.positions() if p.margin_mode is MarginMode.CROSS]
        pnl = sum(
            (
                BINANCE.instrument(p.symbol).unrealized_pnl(p.qty, p.entry_price, moved[p.symbol])
                for p in cross
            ),
            ZERO,
        )
        mm = sum(
            (
                BINANCE.instrument(p.symbol).maintenance_margin(p.qty, moved[p.symbol])
                for p in cross
            ),
            ZERO,
        )
        assert abs(mm / (wallet + pnl) - 1) <= RATIO_TOLERANCE
    pool = account.figures(moved).pools["USDT"]
    # Rounded figures: MM up, PnL down, ratio up — so the displayed ratio is at least 100 %.
    assert pool.margin_ratio is None or pool.margin_ratio >= 1

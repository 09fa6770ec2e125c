"""Entry averaging: a position built from same-direction fills is worth the sum of the fills.

Linear contracts average entry by size, inverse ones harmonically (by notional); either way the
merged position's unrealized PnL at any price equals the sum of each fill's own PnL, up to the
rounding of the stored entry price (``price_precision + 8`` places, half-even).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from prop_support import D, catalogue_with, exact, instruments, is_inverse, prices, quantities

from isocross.margin.account import Account
from isocross.margin.position import ENTRY_EXTRA_PLACES, apply_fill
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent


def _tolerance(inst: Instrument, qty: Decimal, entry: Decimal) -> Decimal:
    """How much PnL a half-quantum error in the stored entry price can move."""
    half = exponent(inst.price_precision + ENTRY_EXTRA_PLACES) / 2
    with localcontext(CONTEXT):
        if is_inverse(inst):
            # |1/a − 1/b| = |a − b| / (a·b) with |a − b| ≤ half and both ≥ entry − half.
            return abs(qty) * inst.contract_size * half / ((entry - half) * entry)
        return abs(qty) * inst.contract_size * half


@settings(max_examples=300, deadline=None)
@given(data=st.data())
@exact
def test_merged_position_pnl_is_the_sum_of_its_fills(data: st.DataObject) -> None:
    inst: Instrument = data.draw(instruments())
    sign = data.draw(st.sampled_from([1, -1]))
    q1, q2 = sign * data.draw(quantities(inst)), sign * data.draw(quantities(inst))
    p1, p2, mark = data.draw(prices()), data.draw(prices()), data.draw(prices())

    first = apply_fill(inst, ZERO, ZERO, q1, p1)
    assert (first.qty, first.entry_price, first.realized_pnl) == (q1, p1, 0)
    merged = apply_fill(inst, first.qty, first.entry_price, q2, p2)
    assert merged.qty == q1 + q2
    assert merged.closed_qty == 0
    assert merged.opened_qty == abs(q2)
    assert merged.realized_pnl == 0
    # An average lies between its parts.
    assert min(p1, p2) <= merged.entry_price <= max(p1, p2)
    with localcontext(CONTEXT):
        whole = inst.unrealized_pnl(merged.qty, merged.entry_price, mark)
        parts = inst.unrealized_pnl(q1, p1, mark) + inst.unrealized_pnl(q2, p2, mark)
        assert abs(whole - parts) <= _tolerance(inst, merged.qty, merged.entry_price)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
@exact
def test_account_fills_average_the_same_way(data: st.DataObject) -> None:
    """Through ``Account.apply_fill`` (cross, one-way or hedge): the figures agree too."""
    inst: Instrument = data.draw(instruments())
    long = data.draw(st.booleans())
    hedge = data.draw(st.booleans())
    side = Side.BUY if long else Side.SELL
    position_side = PositionSide.BOTH
    if hedge:
        position_side = PositionSide.LONG if long else PositionSide.SHORT
    account = Account(
        catalogue_with(inst), position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY
    )
    account.restore_cross_wallet(inst.margin_asset.name, D(10) ** 30)
    account.set_leverage(inst.symbol, 1, {})
    reference = {"linear": D(100), "inverse": D(60000)}[inst.contract_type.value]
    fills = [
        (
            inst.step_size * data.draw(st.integers(1, 1000)),
            reference * data.draw(st.integers(500, 1500)) / 1000,
        )
        for _ in range(2)
    ]
    total = sum((q for q, _ in fills), ZERO)
    # Stay within the table (a synthetic table may stop at a small notional).
    assume(all(inst.tiers.max_leverage_for(inst.notional(total, p)) >= 1 for _, p in fills))
    for qty, price in fills:
        account.apply_fill(
            inst.symbol, side, qty, price, {inst.symbol: price}, position_side=position_side
        )
    position = account.position(inst.symbol, position_side)
    assert position is not None
    assert position.margin_mode is MarginMode.CROSS
    mark = reference * data.draw(st.integers(1, 3000)) / 1000
    sgn = 1 if long else -1
    with localcontext(CONTEXT):
        whole = inst.unrealized_pnl(position.qty, position.entry_price, mark)
        parts = sum((inst.unrealized_pnl(sgn * q, p, mark) for q, p in fills), ZERO)
        assert position.qty == sgn * sum((q for q, _ in fills), ZERO)
        assert abs(whole - parts) <= _tolerance(inst, position.qty, position.entry_price)
    row = account.figures({inst.symbol: mark}).position(inst.symbol, position_side)
    quantum = exponent(inst.margin_asset.precision)
    # The displayed PnL is the merged PnL rounded down to the asset's precision.
    assert (
        parts - quantum - _tolerance(inst, position.qty, position.entry_price) < row.unrealized_pnl
    )
    assert row.unrealized_pnl <= parts + _tolerance(inst, position.qty, position.entry_price)

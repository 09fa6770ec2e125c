"""Money through the account: isolated losses are capped, the cross pool adds up, nothing leaks.

Isolated positions are opened and closed with ``apply_fill`` at arbitrary (even catastrophic)
prices; cross pools are built with ``restore_position`` and read back through ``figures``.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from prop_support import BINANCE, D, catalogue_with, exact, instruments, ratio_of

from isocross.margin.account import CLEARING, FEES, INSURANCE, Account
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent, round_down, round_up

REFERENCE_PRICE = {
    "BTCUSDT": D(60000),
    "ETHUSDT": D(3000),
    "SOLUSDT": D(150),
    "XRPUSDT": D("0.6"),
    "BTCUSDC": D(60000),
    "BTCUSD_PERP": D(60000),
}


def _flows(account: Account, start: int, debit: str, credit: str) -> list[Decimal]:
    """Amounts of the entries after ``start`` moving money from ``debit`` to ``credit``."""
    return [
        e.amount for e in account.ledger.entries[start:] if e.debit == debit and e.credit == credit
    ]


def _fees(draw: st.DrawFn) -> Decimal:
    return D(draw(st.integers(0, 10**6))).scaleb(-draw(st.integers(4, 10)))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
@exact
def test_isolated_loss_never_exceeds_the_isolated_wallet(data: st.DataObject) -> None:
    draw = data.draw
    inst: Instrument = draw(instruments())
    symbol, asset = inst.symbol, inst.margin_asset.name
    quantum = exponent(inst.margin_asset.precision)
    hedge = draw(st.booleans())
    long = draw(st.booleans())
    side = PositionSide.BOTH
    if hedge:
        side = PositionSide.LONG if long else PositionSide.SHORT
    account = Account(
        catalogue_with(inst), position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY
    )
    account.set_margin_mode(symbol, MarginMode.ISOLATED)

    price = ratio_of(REFERENCE_PRICE[symbol], draw(st.integers(100, 3000)))
    price = round_down(price, inst.tick_size) or inst.tick_size
    qty = inst.step_size * draw(st.integers(1, 200_000))
    with localcontext(CONTEXT):
        notional = inst.notional(qty, price)
    allowed = inst.tiers.max_leverage_for(notional)
    assume(allowed >= 1)
    leverage = draw(st.integers(1, allowed))
    account.set_leverage(symbol, leverage, {})
    with localcontext(CONTEXT):
        margin = round_up(notional / leverage, quantum)
    open_fee, close_fee = _fees(draw), _fees(draw)
    funding = margin * draw(st.integers(1, 5)) + round_up(open_fee, quantum) + quantum
    account.deposit(asset, funding)
    account.transfer_to_futures(asset, funding)
    cross_before = account.cross_wallet(asset)
    start = account.ledger.checkpoint()
    iso = account.isolated_account(symbol, side)
    open_side, close_side = (Side.BUY, Side.SELL) if long else (Side.SELL, Side.BUY)

    account.apply_fill(
        symbol, open_side, qty, price, {symbol: price}, position_side=side, fee=open_fee
    )
    assert account.isolated_wallet(symbol, side) == margin
    assert account.ledger.imbalance() == {}

    if draw(st.booleans()):
        limit = account.figures({symbol: price}).pools[asset].max_addable_to_isolated
        add = round_down(ratio_of(limit, draw(st.integers(1, 1000))), quantum)
        if add > 0:
            account.add_isolated_margin(symbol, add, {symbol: price}, side=side)
            assert account.ledger.imbalance() == {}

    remaining = qty
    if qty > inst.step_size and draw(st.booleans()):
        part = inst.step_size * draw(st.integers(1, int(qty / inst.step_size) - 1))
        p1 = ratio_of(price, draw(st.integers(1, 10**6)), per=10**4)
        wallet = account.isolated_wallet(symbol, side)
        realized = account.apply_fill(
            symbol, close_side, part, p1, {symbol: p1}, position_side=side
        )
        remaining = qty - part
        event("partial close")
        keep = round_up(wallet * remaining / qty, quantum)
        # The rest keeps its pro-rata share unless the closed part's loss ate into it.
        assert account.isolated_wallet(symbol, side) == max(ZERO, min(keep, wallet + realized))
        assert account.isolated_wallet(symbol, side) >= 0
        assert account.ledger.imbalance() == {}

    # Final close at an arbitrary, possibly catastrophic price: 1/10,000 … 100 × the open price.
    p2 = ratio_of(price, draw(st.integers(1, 10**6)), per=10**4)
    wallet = account.isolated_wallet(symbol, side)
    insurance_before = account.ledger.balance(INSURANCE, asset)
    checkpoint = account.ledger.checkpoint()
    realized = account.apply_fill(
        symbol, close_side, remaining, p2, {symbol: p2}, position_side=side, fee=close_fee
    )
    with localcontext(CONTEXT):
        assert realized == round_down(
            inst.unrealized_pnl(remaining if long else -remaining, price, p2),
            quantum,
        )
    shortfall = max(ZERO, -(wallet + realized))
    event("bankrupt close" if shortfall else "solvent close")
    event(f"{inst.contract_type.value} {'long' if long else 'short'}")
    released = sum(_flows(account, checkpoint, iso, account.futures_account()), ZERO)
    assert released == max(ZERO, wallet + realized)
    assert account.ledger.balance(INSURANCE, asset) == insurance_before - shortfall
    assert account.position(symbol, side) is None
    assert account.isolated_wallet(symbol, side) == 0
    assert account.ledger.imbalance() == {}

    moved_in = sum(_flows(account, start, account.futures_account(), iso), ZERO)
    moved_out = _flows(account, start, iso, account.futures_account())
    fees = sum(_flows(account, start, account.futures_account(), FEES), ZERO)
    assert all(amount > 0 for amount in moved_out)
    assert fees == round_up(open_fee, quantum) + round_up(close_fee, quantum)
    # Realized PnL of an isolated position never settles against the cross wallet directly.
    assert not _flows(account, start, CLEARING, account.futures_account())
    assert not _flows(account, start, account.futures_account(), CLEARING)
    cross_after = account.cross_wallet(asset)
    assert cross_after == cross_before - moved_in - fees + sum(moved_out, ZERO)
    assert cross_after >= cross_before - moved_in - fees


# --------------------------------------------------------------------------- cross pools


@st.composite
def mixed_accounts(draw: st.DrawFn) -> tuple[Account, dict[str, Decimal]]:
    """Cross and isolated positions on several symbols and margin assets, at random marks."""
    hedge = draw(st.booleans())
    account = Account(BINANCE, position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY)
    marks: dict[str, Decimal] = {}
    symbols = draw(st.lists(st.sampled_from(sorted(REFERENCE_PRICE)), min_size=2, unique=True))
    for symbol in symbols:
        inst = BINANCE.instrument(symbol)
        base = REFERENCE_PRICE[symbol]
        marks[symbol] = ratio_of(base, draw(st.integers(1, 3000)))
        mode = draw(st.sampled_from([MarginMode.CROSS, MarginMode.ISOLATED]))
        leverage = draw(st.integers(1, 20))
        sides = [PositionSide.BOTH]
        if hedge:
            sides = draw(
                st.sampled_from(
                    [
                        [PositionSide.LONG],
                        [PositionSide.SHORT],
                        [PositionSide.LONG, PositionSide.SHORT],
                    ]
                )
            )
        for side in sides:
            qty = inst.step_size * draw(st.integers(1, 100_000))
            if side is PositionSide.SHORT or (side is PositionSide.BOTH and draw(st.booleans())):
                qty = -qty
            entry = ratio_of(base, draw(st.integers(500, 1500)))
            iso_margin = ZERO
            if mode is MarginMode.ISOLATED:
                iso_margin = D(draw(st.integers(0, 10**10))).scaleb(-inst.margin_asset.precision)
            account.restore_position(
                Position(symbol, side, qty, entry, mode, leverage), isolated_margin=iso_margin
            )
    for asset in ("USDT", "USDC", "BTC"):
        if draw(st.booleans()):
            account.restore_cross_wallet(asset, D(draw(st.integers(-(10**12), 10**12))).scaleb(-8))
    return account, marks


@settings(max_examples=150, deadline=None)
@given(state=mixed_accounts(), shock=st.integers(1, 10_000))
@exact
def test_cross_margin_balance_is_wallet_plus_cross_pnl(
    state: tuple[Account, dict[str, Decimal]], shock: int
) -> None:
    account, marks = state
    figures = account.figures(marks)
    for asset, pool in figures.pools.items():
        quantum = exponent(BINANCE.asset(asset).precision)
        cross = [
            p
            for p in account.positions()
            if p.margin_mode is MarginMode.CROSS
            and BINANCE.instrument(p.symbol).margin_asset.name == asset
        ]
        rows = [
            r
            for r in figures.positions
            if r.margin_asset == asset and r.margin_mode is MarginMode.CROSS
        ]
        assert len(rows) == len(cross)
        with localcontext(CONTEXT):
            exact_pnl = [
                BINANCE.instrument(p.symbol).unrealized_pnl(p.qty, p.entry_price, marks[p.symbol])
                for p in cross
            ]
            exact_mm = [
                BINANCE.instrument(p.symbol).maintenance_margin(p.qty, marks[p.symbol])
                for p in cross
            ]
            total = sum(exact_pnl, ZERO)
            mm = sum(exact_mm, ZERO)
            exact_balance = pool.wallet_balance + total
        assert pool.wallet_balance == account.cross_wallet(asset)
        assert pool.unrealized_pnl == sum((r.unrealized_pnl for r in rows), ZERO)
        assert pool.margin_balance == pool.wallet_balance + pool.unrealized_pnl
        # Each PnL is rounded down once: the pool's figure is within n quanta below the exact sum.
        assert 0 <= total - pool.unrealized_pnl < max(1, len(rows)) * quantum
        assert pool.unrealized_pnl == sum((round_down(x, quantum) for x in exact_pnl), ZERO)
        assert pool.maintenance_margin == sum((round_up(x, quantum) for x in exact_mm), ZERO)
        assert pool.liquidatable == (mm > 0 and exact_balance <= mm)
        isolated = [
            p
            for p in account.positions()
            if p.margin_mode is MarginMode.ISOLATED
            and BINANCE.instrument(p.symbol).margin_asset.name == asset
        ]
        assert pool.isolated_wallet_balance == sum(
            (account.isolated_wallet(p.symbol, p.side) for p in isolated), ZERO
        )
    # Isolated positions cannot move a cross pool: shock their marks, the pools stay put.
    isolated_symbols = {
        p.symbol for p in account.positions() if p.margin_mode is MarginMode.ISOLATED
    }
    cross_symbols = {p.symbol for p in account.positions() if p.margin_mode is MarginMode.CROSS}
    shocked = {
        s: (ratio_of(m, shock) if s in isolated_symbols - cross_symbols else m)
        for s, m in marks.items()
    }
    again = account.figures(shocked)
    for asset, pool in figures.pools.items():
        other = again.pools[asset]
        assert (other.margin_balance, other.maintenance_margin, other.unrealized_pnl) == (
            pool.margin_balance,
            pool.maintenance_margin,
            pool.unrealized_pnl,
        )

"""Positions and what a fill does to them: open, increase, reduce, close, flip.

Entry price after an increase is the size-weighted average for linear contracts and the
notional-weighted (harmonic) average for inverse ones, so that unrealized PnL of the merged
position equals the sum of the parts:

    linear:  EP' = (|q|·EP + |f|·P) / (|q| + |f|)
    inverse: EP' = (|q| + |f|) / (|q|/EP + |f|/P)

Entry prices are kept to ``price_precision + 8`` decimal places (half-even); realized PnL on
the closed quantity is ``pnl(closed, EP, P)`` of the contract.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from isocross.model.enums import ContractType, MarginMode, PositionSide
from isocross.model.instrument import Instrument
from isocross.model.money import CONTEXT, ZERO, exponent, round_nearest

ENTRY_EXTRA_PLACES = 8


@dataclass(frozen=True, slots=True)
class Position:
    """A position leg. ``qty`` is signed (long > 0). Its isolated wallet lives in the ledger."""

    symbol: str
    side: PositionSide
    qty: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: int

    @property
    def is_open(self) -> bool:
        return self.qty != 0


@dataclass(frozen=True, slots=True)
class FillOutcome:
    """The position after a fill and what the fill closed and opened."""

    qty: Decimal
    entry_price: Decimal
    closed_qty: Decimal
    opened_qty: Decimal
    realized_pnl: Decimal


def apply_fill(
    instrument: Instrument, qty: Decimal, entry_price: Decimal, fill_qty: Decimal, price: Decimal
) -> FillOutcome:
    """Apply a signed ``fill_qty`` at ``price`` to a position of signed ``qty`` at ``entry_price``.

    ``realized_pnl`` is unrounded; the caller settles it to the asset's precision.
    """
    with localcontext(CONTEXT):
        quantum = exponent(instrument.price_precision + ENTRY_EXTRA_PLACES)
        if qty == 0 or (qty > 0) == (fill_qty > 0):
            total = abs(qty) + abs(fill_qty)
            if qty == 0:
                entry = price
            elif instrument.contract_type is ContractType.INVERSE:
                entry = total / (abs(qty) / entry_price + abs(fill_qty) / price)
            else:
                entry = (abs(qty) * entry_price + abs(fill_qty) * price) / total
            return FillOutcome(
                qty + fill_qty, round_nearest(entry, quantum), ZERO, abs(fill_qty), ZERO
            )
        closed = min(abs(qty), abs(fill_qty))
        sign = 1 if qty > 0 else -1
        realized = instrument.unrealized_pnl(sign * closed, entry_price, price)
        new_qty = qty + fill_qty
        opened = abs(fill_qty) - closed
        if new_qty == 0:
            new_entry = ZERO
        elif opened > 0:
            new_entry = price
        else:
            new_entry = entry_price
        return FillOutcome(new_qty, new_entry, closed, opened, realized)


def with_fill(position: Position, outcome: FillOutcome) -> Position:
    """The position carrying a fill's outcome (isolated wallet is the caller's business)."""
    return replace(position, qty=outcome.qty, entry_price=outcome.entry_price)

"""Exact decimal arithmetic and the rounding rules for money.

All money is ``decimal.Decimal``. Intermediate results are computed at :data:`PRECISION`
significant digits; figures are then quantized to the asset's precision by an explicit rule:

* requirements (initial and maintenance margin, fees owed) round **up** (against the trader);
* credits to the trader (unrealized PnL, withdrawable and available amounts) round **down**
  (toward −∞, so a loss is never understated);
* ratios that gate liquidation (margin ratio) round **up**, margin level rounds **down**.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

PRECISION = 50
"""Significant digits for intermediate results: far beyond any venue's displayed precision."""

CONTEXT = decimal.Context(
    prec=PRECISION,
    rounding=ROUND_HALF_EVEN,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
    ],
)

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
RATIO_PLACES = Decimal("1e-8")
"""Ratios (margin ratio, margin level as a fraction) are reported to 8 decimal places."""


def exponent(places: int) -> Decimal:
    """The quantum for ``places`` decimal places: 2 -> Decimal('0.01')."""
    return Decimal(1).scaleb(-places)


def round_up(value: Decimal, quantum: Decimal) -> Decimal:
    """Round toward +∞ to a multiple of ``quantum`` (a requirement: against the trader)."""
    return (value / quantum).to_integral_value(rounding=ROUND_CEILING) * quantum


def round_down(value: Decimal, quantum: Decimal) -> Decimal:
    """Round toward −∞ to a multiple of ``quantum`` (a credit: against the trader)."""
    return (value / quantum).to_integral_value(rounding=ROUND_FLOOR) * quantum


def round_nearest(value: Decimal, quantum: Decimal) -> Decimal:
    """Round half-even to a multiple of ``quantum`` (display of estimates such as prices)."""
    return (value / quantum).to_integral_value(rounding=ROUND_HALF_EVEN) * quantum


def parse_decimal(text: object, what: str) -> Decimal:
    """Parse a finite decimal from a string or int; refuse floats, NaN and infinities.

    Raises ``ValueError`` with a message naming ``what``.
    """
    if isinstance(text, (bool, float)):
        raise ValueError(f'{what} must be a decimal string such as "12.5", got {text!r}')
    if isinstance(text, int):
        return Decimal(text)
    if isinstance(text, Decimal):
        value = text
    elif isinstance(text, str):
        try:
            value = Decimal(text.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{what} must be a decimal number, got {text!r}") from None
    else:
        raise ValueError(f"{what} must be a decimal string, got {type(text).__name__}")
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite number, got {text!r}")
    return value

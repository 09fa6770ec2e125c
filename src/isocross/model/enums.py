"""Sides and modes, named as traders name them."""

from __future__ import annotations

from enum import StrEnum


class MarginMode(StrEnum):
    """How a position is collateralized: the shared pool of its margin asset, or its own wallet."""

    CROSS = "cross"
    ISOLATED = "isolated"
    PORTFOLIO = "portfolio"
    """Pooled like cross, but the pool's requirement is the portfolio-margin scenario loss."""

    @property
    def pooled(self) -> bool:
        """Cross and portfolio positions share their margin asset's pool (the futures wallet)."""
        return self is not MarginMode.ISOLATED


class PositionMode(StrEnum):
    """Account-wide: one net position per symbol, or a long and a short leg per symbol."""

    ONE_WAY = "one-way"
    HEDGE = "hedge"


class PositionSide(StrEnum):
    """Which position a fill belongs to: BOTH in one-way mode, LONG or SHORT in hedge mode."""

    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class Side(StrEnum):
    """Direction of a trade (or of the exposure it would add)."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class ContractType(StrEnum):
    """Linear: quoted and margined in the quote asset. Inverse: USD contracts margined in coin."""

    LINEAR = "linear"
    INVERSE = "inverse"

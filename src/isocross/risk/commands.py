"""Commands the risk engine adds to the exchange's (registered through ``Exchange.register``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Tick:
    """Let time pass: settles funding that has come due and re-checks every account."""


@dataclass(frozen=True, slots=True)
class SetMarginCallThresholds:
    """Margin-call alert thresholds of one account: margin ratios (fractions, alert when the
    ratio rises to one) and margin levels (percent, alert when the level falls to one)."""

    account_id: str
    margin_ratio: Sequence[Decimal] = ()
    margin_level: Sequence[Decimal] = ()


@dataclass(frozen=True, slots=True)
class SetAutoAddMargin:
    """Opt an isolated position's symbol in or out of auto-add margin."""

    account_id: str
    symbol: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class SetAutoReplenish:
    """Opt in (or out) of moving spot funds into the futures wallet when the cross margin
    level of ``asset`` falls below ``below`` percent, bringing it back to ``restore_to``."""

    account_id: str
    asset: str
    enabled: bool
    below: Decimal = Decimal("150")
    restore_to: Decimal = Decimal("200")


@dataclass(frozen=True, slots=True)
class FundInsurance:
    """Move ``amount`` of ``asset`` into the insurance fund from the exchange's own capital."""

    asset: str
    amount: Decimal

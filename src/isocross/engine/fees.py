"""Maker/taker fees per account fee tier (Binance USDⓈ-M VIP schedule shape).

``fee = notional × rate``, charged in the margin asset into the fee account; a negative maker
rate is a rebate paid out of the fee account. Fees owed round up, rebates round down (both
against the trader).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from isocross.model.errors import ErrorCode, IsocrossError


@dataclass(frozen=True, slots=True)
class FeeRates:
    maker: Decimal
    taker: Decimal


DEFAULT_TIERS: Mapping[str, FeeRates] = {
    "VIP0": FeeRates(Decimal("0.0002"), Decimal("0.0005")),
    "VIP1": FeeRates(Decimal("0.00016"), Decimal("0.0004")),
    "VIP9": FeeRates(Decimal("0"), Decimal("0.00017")),
    "MM": FeeRates(Decimal("-0.00005"), Decimal("0.0002")),
}


@dataclass(frozen=True)
class FeeSchedule:
    tiers: Mapping[str, FeeRates] = field(default_factory=lambda: dict(DEFAULT_TIERS))

    def rates(self, tier: str) -> FeeRates:
        try:
            return self.tiers[tier]
        except KeyError:
            raise IsocrossError(
                ErrorCode.INVALID_INPUT,
                f"unknown fee tier {tier!r}; known: {', '.join(sorted(self.tiers))}",
                field="fee_tier",
            ) from None

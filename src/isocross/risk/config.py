"""Risk-engine settings: the venue's liquidation preset (data, ``catalogue/risk_presets.json``)
plus the exchange operator's choices (alert thresholds, auto-add trigger).

Partial-liquidation rules (``partial``):

* ``"restore"`` — Binance's "smart liquidation": one IOC order that closes just enough of the
  largest-requirement position that the pool is compliant again after the clearance fee;
* ``"ladder"`` — Bybit's risk-limit step-down: reduce the position to the cap of the next lower
  tier, repeat while still deficient; at the lowest tier take it all;
* ``"none"`` — always liquidate in full (dYdX closes what it must; isocross keeps it simple).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from isocross.risk.funding import FundingConfig
from isocross.risk.mark import MarkPriceConfig

PARTIAL_RULES = ("restore", "ladder", "none")


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Everything the risk engine needs to decide, as plain values."""

    venue: str = "binance"
    partial: str = "restore"
    clearance_fee_rates: tuple[tuple[str, Decimal], ...] = (("default", Decimal("0.005")),)
    auto_add_margin_ratio: Decimal = Decimal("0.8")
    margin_ratio_alerts: tuple[Decimal, ...] = (Decimal("0.5"), Decimal("0.7"), Decimal("0.8"))
    margin_level_alerts: tuple[Decimal, ...] = (Decimal("300"), Decimal("200"), Decimal("150"))
    ratio_hysteresis: Decimal = Decimal("0.05")
    level_hysteresis: Decimal = Decimal("10")
    mark: MarkPriceConfig | None = None
    """Compute the mark from the index, the book and the last trade on every index update
    (``None``: marks come from ``SetMarkPrice``, a feed)."""
    funding: FundingConfig | None = None
    """Sample the premium on every index update and settle funding on schedule (``None``:
    funding is settled by ``SettleFunding`` commands with a given rate)."""
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.partial not in PARTIAL_RULES:
            raise ValueError(f"partial must be one of {PARTIAL_RULES}, got {self.partial!r}")

    def clearance_fee_rate(self, symbol: str) -> Decimal:
        """The liquidation clearance fee rate of ``symbol`` (charged on the liquidated notional)."""
        rates = dict(self.clearance_fee_rates)
        return rates.get(symbol, rates.get("default", Decimal(0)))


def _presets() -> dict[str, Any]:
    text = resources.files("isocross.catalogue").joinpath("risk_presets.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def risk_preset(venue: str = "binance") -> RiskConfig:
    """The shipped liquidation preset of ``venue`` (cached)."""
    presets = _presets()
    if venue not in presets:
        raise KeyError(f"no risk preset for venue {venue!r}; known: {', '.join(sorted(presets))}")
    p = presets[venue]
    return RiskConfig(
        venue=venue,
        partial=p["partial"],
        clearance_fee_rates=tuple((k, Decimal(v)) for k, v in p["clearance_fee_rate"].items()),
        auto_add_margin_ratio=Decimal(p["auto_add_margin_ratio"]),
        source=p["source"],
    )

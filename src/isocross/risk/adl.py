"""Auto-deleveraging ranking (Binance USDⓈ-M, faq 360033525471; formula quoted on
dev.binance.vision thread 17801; ``../shared/reference/margin-mechanics.md`` §1.3)::

    PnL%          = max(0, UPNL) / max(1, WB)
    margin ratio  = MM / (WB + UPNL)   if WB + UPNL > 0, else 0
    LeveragePnL   = PnL% × margin ratio
    quantile      = rank(LeveragePnL) / user count   (longs and shorts ranked separately)

The most profitable, most leveraged positions are deleveraged first, at the bankruptcy price of
the liquidated order, with no trading fee. For a cross position WB and MM are the pool's and
UPNL the position's own; for an isolated position all three are its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from isocross.model.money import ONE, ZERO

QUANTILE_BUCKETS = 5
"""The five lights of the venues' ADL indicator: 1 (last in line) … 5 (first in line)."""


def adl_score(unrealized_pnl: Decimal, wallet: Decimal, maintenance: Decimal) -> Decimal:
    """``LeveragePnL = max(0, UPNL)/max(1, WB) × MM/(WB + UPNL)`` (0 when the balance is gone)."""
    pnl_pct = max(ZERO, unrealized_pnl) / max(ONE, wallet)
    balance = wallet + unrealized_pnl
    ratio = maintenance / balance if balance > 0 else ZERO
    return pnl_pct * ratio


@dataclass(frozen=True, slots=True)
class Ranked:
    """One position in the ADL queue of its side."""

    account_id: str
    position_side: str
    qty: Decimal
    score: Decimal
    quantile: int


def rank(entries: Sequence[tuple[str, str, Decimal, Decimal]]) -> list[Ranked]:
    """Order ``(account_id, position_side, qty, score)`` entries of one side, first to be
    deleveraged first (highest score; ties by larger size, then account id), each with its
    quantile bucket ``ceil(5 × (n − i) / n)`` for the i-th in line (0-based) — 0 when the score
    is 0 (a position not in profit is never first in line)."""
    ordered = sorted(entries, key=lambda e: (-e[3], -abs(e[2]), e[0], e[1]))
    n = len(ordered)
    out = []
    for i, (account_id, side, qty, score) in enumerate(ordered):
        bucket = (Decimal(QUANTILE_BUCKETS * (n - i)) / n).to_integral_value(ROUND_CEILING)
        out.append(Ranked(account_id, side, qty, score, int(bucket) if score > 0 else 0))
    return out

"""Risk-engine events. Like the exchange's, each carries the command's sequence number and time.

``pool`` names what a figure or an action is about: a margin asset (``"USDT"``, the cross pool)
or ``"SYMBOL:SIDE"`` (one isolated position, e.g. ``"ETHUSDT:BOTH"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from isocross.engine.events import Event


@dataclass(frozen=True, slots=True)
class MarginCall(Event):
    """A margin-call threshold was crossed (once per crossing; re-armed by recovery).

    ``metric`` is ``"margin_ratio"`` (alert when it rises to ``threshold``) or
    ``"margin_level"`` (alert when it falls to ``threshold``, in percent)."""

    account_id: str
    pool: str
    metric: str
    threshold: Decimal
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class AutoMarginAdded(Event):
    """Auto-add margin moved ``amount`` from the cross pool into an isolated position."""

    account_id: str
    symbol: str
    position_side: str
    amount: Decimal
    margin_ratio: Decimal | None


@dataclass(frozen=True, slots=True)
class AutoReplenished(Event):
    """Auto-replenish moved ``amount`` from the spot wallet into the futures wallet."""

    account_id: str
    asset: str
    amount: Decimal
    margin_level: Decimal | None


@dataclass(frozen=True, slots=True)
class LiquidationStarted(Event):
    """A pool reached its maintenance requirement (margin balance ≤ maintenance margin)."""

    account_id: str
    pool: str
    margin_balance: Decimal
    maintenance_margin: Decimal
    orders_canceled: int


@dataclass(frozen=True, slots=True)
class LiquidationFilled(Event):
    """Part of a position closed by liquidation. ``how``: ``"book"`` (IOC on the order book),
    ``"insurance"`` (taken over by the insurance fund) or ``"adl"`` (auto-deleveraged)."""

    account_id: str
    pool: str
    symbol: str
    position_side: str
    qty: Decimal
    price: Decimal
    bankruptcy_price: Decimal
    how: str
    partial: bool


@dataclass(frozen=True, slots=True)
class LiquidationEnded(Event):
    """How a liquidation ended: ``"orders_canceled"`` (canceling orders restored the pool),
    ``"partial"`` (a reduction restored it) or ``"full"`` (every position closed)."""

    account_id: str
    pool: str
    outcome: str
    fee: Decimal
    surplus_to_insurance: Decimal
    loss_covered_by_insurance: Decimal


@dataclass(frozen=True, slots=True)
class InsuranceFundChanged(Event):
    asset: str
    balance: Decimal
    change: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class AutoDeleveraged(Event):
    """A profitable opposite position was closed at the bankruptcy price of a liquidation."""

    account_id: str
    symbol: str
    position_side: str
    qty: Decimal
    price: Decimal
    counterparty_id: str
    score: Decimal


@dataclass(frozen=True, slots=True)
class UncoveredLoss(Event):
    """A loss that nothing could absorb (the insurance fund was empty): explicit, never silent."""

    account_id: str
    asset: str
    amount: Decimal

"""Events: what happened, in order. Every event carries the sequence number of the command
that caused it and the injected clock's time in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from isocross.engine.orders import OrderStatus


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: int


@dataclass(frozen=True, slots=True)
class CommandAccepted(Event):
    """First event of every accepted command: its name, for the journal."""

    command: str


@dataclass(frozen=True, slots=True)
class OrderUpdated(Event):
    """An order's new state (accepted, triggered, filled, canceled, expired)."""

    order_id: str
    account_id: str
    symbol: str
    status: OrderStatus
    filled_qty: Decimal
    remaining_qty: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class Trade(Event):
    trade_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    taker_order_id: str
    maker_order_id: str
    taker_account_id: str
    maker_account_id: str
    taker_is_buyer: bool


@dataclass(frozen=True, slots=True)
class FillSettled(Event):
    """One side of a trade as its account sees it."""

    trade_id: int
    order_id: str
    account_id: str
    symbol: str
    qty: Decimal
    price: Decimal
    is_maker: bool
    fee: Decimal
    realized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class LedgerPosted(Event):
    debit: str
    credit: str
    asset: str
    amount: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class PositionChanged(Event):
    account_id: str
    symbol: str
    position_side: str
    qty: Decimal
    entry_price: Decimal
    margin_mode: str = "cross"
    leverage: int = 0


@dataclass(frozen=True, slots=True)
class SettingsChanged(Event):
    account_id: str
    what: str
    value: str


@dataclass(frozen=True, slots=True)
class PriceUpdated(Event):
    symbol: str
    kind: str  # "mark" or "index"
    price: Decimal


@dataclass(frozen=True, slots=True)
class DepthChanged(Event):
    """Incremental book update: new total quantity at each changed level (0 = level gone)."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True)
class FundingPaid(Event):
    account_id: str
    symbol: str
    position_side: str
    rate: Decimal
    amount: Decimal  # positive: received, negative: paid

"""Commands: everything that can change the exchange, as immutable values.

The sequencer (:meth:`isocross.engine.Exchange.handle`) takes one at a time; an accepted command
gets the next sequence number and yields events, a refused one yields none and an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from isocross.book import SelfTradePrevention
from isocross.engine.orders import OrderType, TimeInForce, WorkingType
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side


@dataclass(frozen=True, slots=True)
class OpenAccount:
    account_id: str
    fee_tier: str = "VIP0"


@dataclass(frozen=True, slots=True)
class Deposit:
    account_id: str
    asset: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Withdraw:
    account_id: str
    asset: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Transfer:
    """Between the spot wallet and the futures (cross) wallet."""

    account_id: str
    asset: str
    amount: Decimal
    to_futures: bool = True


@dataclass(frozen=True, slots=True)
class SetPositionMode:
    account_id: str
    mode: PositionMode


@dataclass(frozen=True, slots=True)
class SetMarginMode:
    account_id: str
    symbol: str
    mode: MarginMode


@dataclass(frozen=True, slots=True)
class SetMarginModes:
    """Bulk: all-or-nothing over ``symbols`` (all when empty), optionally the default too."""

    account_id: str
    mode: MarginMode
    symbols: Sequence[str] = ()
    as_default: bool = False


@dataclass(frozen=True, slots=True)
class SetLeverage:
    account_id: str
    symbol: str
    leverage: int


@dataclass(frozen=True, slots=True)
class AdjustIsolatedMargin:
    """Add (positive ``amount``) … or remove (``add=False``) isolated margin."""

    account_id: str
    symbol: str
    amount: Decimal
    add: bool = True
    position_side: PositionSide = PositionSide.BOTH


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """A new order. ``callback_rate`` is a fraction (0.01 = 1 %)."""

    account_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    position_side: PositionSide = PositionSide.BOTH
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingType = WorkingType.MARK_PRICE
    callback_rate: Decimal | None = None
    activation_price: Decimal | None = None
    stp: SelfTradePrevention = SelfTradePrevention.EXPIRE_TAKER
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class CancelOrder:
    account_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class CancelAll:
    account_id: str
    symbol: str


@dataclass(frozen=True, slots=True)
class AmendOrder:
    """New price and/or quantity for a resting limit order (a smaller quantity at the same
    price keeps its place in the queue; anything else re-queues it)."""

    account_id: str
    order_id: str
    qty: Decimal | None = None
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class SetMarkPrice:
    symbol: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class SetIndexPrice:
    symbol: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class SettleFunding:
    """Pay ``rate`` × position notional at mark: longs pay shorts when positive."""

    symbol: str
    rate: Decimal


Command = (
    OpenAccount
    | Deposit
    | Withdraw
    | Transfer
    | SetPositionMode
    | SetMarginMode
    | SetMarginModes
    | SetLeverage
    | AdjustIsolatedMargin
    | PlaceOrder
    | CancelOrder
    | CancelAll
    | AmendOrder
    | SetMarkPrice
    | SetIndexPrice
    | SettleFunding
)

"""Orders as the exchange keeps them: types, time in force, triggers, status.

Trigger rules (Binance USDⓈ-M): a STOP buy fires when the watched price rises to the stop price,
a STOP sell when it falls to it; TAKE_PROFIT the other way round. A TRAILING_STOP_MARKET sell
tracks the highest price since activation and fires at ``highest × (1 − callback)``; a buy tracks
the lowest and fires at ``lowest × (1 + callback)``. The watched price is the mark price or the
last trade price (``working_type``), chosen per order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from isocross.book import SelfTradePrevention
from isocross.model.enums import PositionSide, Side
from isocross.model.money import ONE, ZERO


class OrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"  # stop-limit
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"  # take-profit-limit
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self not in (OrderType.LIMIT, OrderType.MARKET)

    @property
    def has_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP, OrderType.TAKE_PROFIT)

    @property
    def triggered_type(self) -> OrderType:
        """What a conditional order becomes when it fires."""
        return OrderType.LIMIT if self.has_limit_price else OrderType.MARKET


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only


class WorkingType(StrEnum):
    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"  # last trade price


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


@dataclass(slots=True)
class Order:
    """The exchange's record of one order (mutable: fills and status change it)."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
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
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO
    trailing_extreme: Decimal | None = None
    created_seq: int = 0
    liquidation: bool = False  # placed by the risk engine: fee-exempt, no margin checks

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def average_price(self) -> Decimal | None:
        return self.filled_notional / self.filled_qty if self.filled_qty else None

    @property
    def is_open(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    def fires_at(self, price: Decimal) -> bool:
        """Whether the watched ``price`` triggers this conditional order (updating a trailing
        stop's extreme first)."""
        buy = self.side is Side.BUY
        if self.type is OrderType.TRAILING_STOP_MARKET:
            return self._trail(price)
        assert self.stop_price is not None
        stop_like = self.type in (OrderType.STOP, OrderType.STOP_MARKET)
        if stop_like == buy:
            return price >= self.stop_price
        return price <= self.stop_price

    def _trail(self, price: Decimal) -> bool:
        buy = self.side is Side.BUY
        rate = self.callback_rate or ZERO
        if self.trailing_extreme is None:
            activation = self.activation_price
            if activation is not None and (price > activation if buy else price < activation):
                return False
            self.trailing_extreme = price
        elif (price < self.trailing_extreme) if buy else (price > self.trailing_extreme):
            self.trailing_extreme = price
        if buy:
            return price >= self.trailing_extreme * (ONE + rate)
        return price <= self.trailing_extreme * (ONE - rate)

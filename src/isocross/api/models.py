"""The native API's request and response bodies (pydantic: they make the OpenAPI schema).

Money, prices and quantities are decimal *strings* both ways (``"0.001"``, never a JSON float),
exact to the digit; ratios are fractions (``"0.0125"`` = 1.25 %), margin levels percentages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from isocross.catalogue import load_catalogue

SYMBOLS = sorted(load_catalogue().instruments)
ASSETS = sorted(load_catalogue().assets)

DecimalIn = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,20}(\.[0-9]{1,20})?$", examples=["0.01"], max_length=41),
]
"""A non-negative decimal as a string (no exponent, no sign)."""
Dec = Annotated[str, Field(examples=["1234.5"])]
OptDec = Annotated[str | None, Field(examples=["1234.5"])]
SymbolIn = Annotated[str, Field(json_schema_extra={"enum": SYMBOLS}, examples=["BTCUSDT"])]
AssetIn = Annotated[str, Field(json_schema_extra={"enum": ASSETS}, examples=["USDT"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------- errors
class ErrorBody(BaseModel):
    """Every refusal: Binance's numeric ``code`` and ``msg``, isocross's stable ``error``."""

    code: int = Field(examples=[-2019])
    msg: str
    error: str | None = Field(None, examples=["INSUFFICIENT_MARGIN"])
    field: str | None = None
    details: dict[str, Any] | None = None


# ---------------------------------------------------------------------------- enums
class MarginModeIn(StrEnum):
    cross = "cross"
    isolated = "isolated"


class PositionModeIn(StrEnum):
    one_way = "one-way"
    hedge = "hedge"


class SideIn(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class PositionSideIn(StrEnum):
    BOTH = "BOTH"
    LONG = "LONG"
    SHORT = "SHORT"


class OrderTypeIn(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP = "STOP"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"


class TimeInForceIn(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"


class WorkingTypeIn(StrEnum):
    MARK_PRICE = "MARK_PRICE"
    CONTRACT_PRICE = "CONTRACT_PRICE"


class StpIn(StrEnum):
    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class Direction(StrEnum):
    to_futures = "to_futures"
    to_spot = "to_spot"


class MarginAction(StrEnum):
    add = "add"
    remove = "remove"


class Interval(StrEnum):
    m1 = "1m"
    m3 = "3m"
    m5 = "5m"
    m15 = "15m"
    m30 = "30m"
    h1 = "1h"
    h2 = "2h"
    h4 = "4h"
    h6 = "6h"
    h8 = "8h"
    h12 = "12h"
    d1 = "1d"
    d3 = "3d"
    w1 = "1w"


# ---------------------------------------------------------------------------- requests
class OrderIn(Strict):
    """A new order. ``callback_rate`` is a fraction (0.01 = 1 %)."""

    symbol: SymbolIn
    side: SideIn
    type: OrderTypeIn
    qty: DecimalIn | None = None
    price: DecimalIn | None = None
    stop_price: DecimalIn | None = None
    time_in_force: TimeInForceIn = TimeInForceIn.GTC
    position_side: PositionSideIn = PositionSideIn.BOTH
    reduce_only: bool = False
    close_position: bool = False
    working_type: WorkingTypeIn = WorkingTypeIn.MARK_PRICE
    callback_rate: DecimalIn | None = None
    activation_price: DecimalIn | None = None
    self_trade_prevention: StpIn = StpIn.EXPIRE_TAKER
    client_order_id: Annotated[str, Field(pattern=r"^[.A-Za-z0-9:/_-]{1,36}$")] | None = None


class AmendIn(Strict):
    qty: DecimalIn | None = None
    price: DecimalIn | None = None


class PreviewIn(Strict):
    """A hypothetical order: what it costs, the most you could order, and the position it
    leaves — with its liquidation price — in cross and in isolated margin."""

    symbol: SymbolIn
    side: SideIn
    type: OrderTypeIn = OrderTypeIn.LIMIT
    qty: DecimalIn | None = None
    price: DecimalIn | None = None
    position_side: PositionSideIn = PositionSideIn.BOTH
    leverage: Annotated[int, Field(ge=1, le=125)] | None = None


class WhatIfIn(Strict):
    """Marks to move to (symbol → price): every figure after the move, as the account stands
    and rebuilt all-cross and all-isolated."""

    moves: Annotated[dict[SymbolIn, DecimalIn], Field(max_length=20)]


class PositionModeBody(Strict):
    mode: PositionModeIn


class MarginModeBody(Strict):
    mode: MarginModeIn


class BulkMarginModeBody(Strict):
    """All or nothing; ``symbols`` empty: every symbol. ``as_default`` also sets the default
    for symbols not configured yet."""

    mode: MarginModeIn
    symbols: Annotated[list[SymbolIn], Field(max_length=50)] = []
    as_default: bool = False


class LeverageBody(Strict):
    leverage: Annotated[int, Field(ge=1, le=125)]


class MarginBody(Strict):
    action: MarginAction
    amount: DecimalIn
    position_side: PositionSideIn = PositionSideIn.BOTH


class AutoAddBody(Strict):
    enabled: bool


class ThresholdsBody(Strict):
    """Margin-call thresholds: margin ratios (fractions in (0, 1]; alert when the ratio rises
    to one) and margin levels (percent above 100; alert when the level falls to one)."""

    margin_ratio: Annotated[list[DecimalIn], Field(max_length=10)] = []
    margin_level: Annotated[list[DecimalIn], Field(max_length=10)] = []


class ReplenishBody(Strict):
    asset: AssetIn
    enabled: bool
    below: DecimalIn = "150"
    restore_to: DecimalIn = "200"


class TransferBody(Strict):
    asset: AssetIn
    amount: DecimalIn
    direction: Direction = Direction.to_futures


class FaucetBody(Strict):
    asset: AssetIn = "USDT"
    amount: DecimalIn = "10000"
    to_futures: bool = True


class SignupBody(Strict):
    label: Annotated[str, Field(max_length=100)] = ""


# ---------------------------------------------------------------------------- responses
class TierOut(BaseModel):
    tier: int
    floor: Dec
    cap: OptDec
    max_leverage: int
    maintenance_margin_rate: Dec
    maintenance_amount: Dec


class InstrumentOut(BaseModel):
    symbol: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    contract_type: str
    contract_size: Dec
    tick_size: Dec
    step_size: Dec
    min_qty: Dec
    min_notional: Dec
    price_precision: int
    max_leverage: int
    tiers: list[TierOut]


class ServerTime(BaseModel):
    server_time: int


Level = Annotated[list[Dec], Field(min_length=2, max_length=2, description="[price, quantity]")]


class BookOut(BaseModel):
    """Price levels, best first: ``[price, quantity]``."""

    symbol: str
    seq: int
    bids: list[Level]
    asks: list[Level]


class TradeOut(BaseModel):
    trade_id: int
    price: Dec
    qty: Dec
    quote_qty: Dec
    time: int
    buyer_is_maker: bool


class CandleOut(BaseModel):
    open_time: int
    close_time: int
    open: Dec
    high: Dec
    low: Dec
    close: Dec
    volume: Dec
    quote_volume: Dec
    trades: int


class PricesOut(BaseModel):
    symbol: str
    mark_price: OptDec
    index_price: OptDec
    last_price: OptDec
    funding_rate_estimate: OptDec
    last_funding_rate: OptDec
    next_funding_time: int | None


class FundingRateOut(BaseModel):
    symbol: str
    time: int
    rate: Dec
    mark_price: OptDec


class InsuranceMoveOut(BaseModel):
    seq: int
    time: int
    asset: str
    change: Dec
    balance: Dec
    reason: str


class InsuranceOut(BaseModel):
    balances: dict[str, Dec]
    history: list[InsuranceMoveOut]


class PoolOut(BaseModel):
    """One margin asset: its cross pool, the spot wallet, auto-replenish settings."""

    asset: str
    wallet_balance: Dec
    unrealized_pnl: Dec
    margin_balance: Dec
    position_initial_margin: Dec
    open_order_initial_margin: Dec
    maintenance_margin: Dec
    margin_ratio: OptDec = Field(description="MM / margin balance (fraction); null: exhausted")
    margin_level: OptDec = Field(description="margin balance / used margin × 100; null: unused")
    available_balance: Dec
    max_withdrawable: Dec
    isolated_wallet_balance: Dec
    liquidatable: bool
    spot_balance: Dec | None = None
    auto_replenish: dict[str, Dec] | None = None


class Thresholds(BaseModel):
    margin_ratio: list[Dec]
    margin_level: list[Dec]


class AlertOut(BaseModel):
    pool: str
    metric: str
    threshold: Dec


class AccountOut(BaseModel):
    account_id: str
    fee_tier: str
    position_mode: str
    default_margin_mode: str
    assets: list[PoolOut]
    margin_call_thresholds: Thresholds
    alerts_active: list[AlertOut]
    update_time: int


class PositionOut(BaseModel):
    symbol: str
    position_side: str
    side: str
    margin_mode: str
    leverage: int
    qty: Dec
    entry_price: Dec
    mark_price: Dec
    margin_asset: str
    notional: Dec
    initial_margin: Dec
    maintenance_margin: Dec
    unrealized_pnl: Dec
    roe: Dec
    liquidation_price: OptDec
    bankruptcy_price: OptDec
    isolated_wallet: OptDec
    margin_balance: OptDec
    margin_ratio: OptDec
    max_removable: OptDec
    liquidatable: bool
    adl_quantile: int
    auto_add_margin: bool


class SymbolSettingsOut(BaseModel):
    symbol: str
    margin_mode: str
    leverage: int
    auto_add_margin: bool
    max_leverage: int


class BlockerOut(BaseModel):
    symbol: str
    code: str
    reason: str


class BlockersOut(BaseModel):
    mode: str
    blocked: list[BlockerOut]


class OrderOut(BaseModel):
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    type: str
    status: str
    qty: Dec
    filled_qty: Dec
    remaining_qty: Dec
    price: OptDec
    average_price: OptDec
    stop_price: OptDec
    time_in_force: str
    position_side: str
    reduce_only: bool
    close_position: bool
    working_type: str
    callback_rate: OptDec
    activation_price: OptDec
    waiting_for_trigger: bool
    created_time: int
    update_time: int


class Accepted(BaseModel):
    """An accepted command: its journal sequence number and the caller's own events."""

    seq: int
    events: list[dict[str, Any]]


class OrderAccepted(Accepted):
    order: OrderOut


class CanceledAll(Accepted):
    canceled: int


class ListenKeyOut(BaseModel):
    listen_key: str


class SimPosition(BaseModel):
    symbol: str
    position_side: str
    margin_mode: str
    leverage: int
    qty: Dec
    entry_price: Dec
    mark_price: Dec
    notional: Dec
    initial_margin: Dec
    maintenance_margin: Dec
    unrealized_pnl: Dec
    liquidation_price: OptDec
    bankruptcy_price: OptDec
    isolated_wallet: OptDec
    margin_ratio: OptDec
    max_removable: OptDec
    liquidatable: bool


class SimPool(BaseModel):
    asset: str
    wallet_balance: Dec
    unrealized_pnl: Dec
    margin_balance: Dec
    position_initial_margin: Dec
    open_order_initial_margin: Dec
    maintenance_margin: Dec
    margin_ratio: OptDec
    margin_level: OptDec
    available_balance: Dec
    max_withdrawable: Dec
    isolated_wallet_balance: Dec
    liquidatable: bool


class ModeOutcome(BaseModel):
    feasible: bool
    error: str | None
    message: str | None
    position: SimPosition | None
    pool: SimPool | None = None


class PreviewOut(BaseModel):
    symbol: str
    side: str
    type: str
    leverage: int
    mark_price: Dec
    max_qty: Dec
    current_margin_mode: str
    qty: OptDec
    cost: OptDec
    fill_price: OptDec
    fee: OptDec = None
    modes: dict[str, ModeOutcome]


class WhatIfMode(BaseModel):
    error: str | None
    message: str | None
    positions: list[SimPosition]
    pools: list[SimPool]


class WhatIfOut(BaseModel):
    marks: dict[str, Dec]
    as_is: WhatIfMode
    all_cross: WhatIfMode
    all_isolated: WhatIfMode


class FillOut(BaseModel):
    seq: int
    time: int
    trade_id: int
    order_id: str
    symbol: str
    side: str
    qty: Dec
    price: Dec
    is_maker: bool
    fee: Dec
    realized_pnl: Dec
    asset: str | None


class OrderHistoryOut(BaseModel):
    order_id: str
    symbol: str
    side: str | None
    type: str | None
    price: OptDec
    stop_price: OptDec
    client_order_id: str | None
    status: str
    filled_qty: Dec
    remaining_qty: Dec
    reason: str
    created_time: int
    update_time: int


class FundingPaymentOut(BaseModel):
    seq: int
    time: int
    symbol: str
    position_side: str
    rate: Dec
    amount: Dec
    asset: str | None


class LiquidationOut(BaseModel):
    seq: int
    time: int
    kind: str
    pool: str | None
    symbol: str | None
    position_side: str | None
    qty: OptDec
    price: OptDec
    details: dict[str, Any]


class MarginCallOut(BaseModel):
    seq: int
    time: int
    pool: str
    metric: str
    threshold: Dec
    value: OptDec


class SignupOut(BaseModel):
    account_id: str
    api_key: str
    secret: str
    permissions: list[str]


class HealthOut(BaseModel):
    status: str
    seq: int
    journal_backlog: int
    journal_batches: int = Field(description="Commits so far (group commit: many entries each)")
    journal_entries: int
    uptime_s: float
    demo: bool

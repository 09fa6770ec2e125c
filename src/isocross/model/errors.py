"""Every rejection isocross makes: a stable code, a person-readable message, the field at fault.

Codes are stable strings (``MARGIN_MODE_POSITION_EXISTS``); where Binance USDⓈ-M has an error for
the same situation its numeric code is carried too, so the Binance-compatible API can answer
``{"code": -4048, "msg": ...}`` exactly as the venue does.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class ErrorCode(Enum):
    """Stable rejection codes. The value is ``(name, binance_code or None)``."""

    INVALID_INPUT = ("INVALID_INPUT", -1102)
    INVALID_AMOUNT = ("INVALID_AMOUNT", -1111)
    UNKNOWN_SYMBOL = ("UNKNOWN_SYMBOL", -1121)
    UNKNOWN_ASSET = ("UNKNOWN_ASSET", None)
    UNKNOWN_VENUE = ("UNKNOWN_VENUE", None)
    INVALID_TIER_TABLE = ("INVALID_TIER_TABLE", None)
    INSUFFICIENT_BALANCE = ("INSUFFICIENT_BALANCE", -2018)
    INSUFFICIENT_MARGIN = ("INSUFFICIENT_MARGIN", -2019)
    LEVERAGE_EXCEEDS_TIER = ("LEVERAGE_EXCEEDS_TIER", -2027)
    INVALID_LEVERAGE = ("INVALID_LEVERAGE", -4028)
    MARGIN_MODE_UNCHANGED = ("MARGIN_MODE_UNCHANGED", -4046)
    MARGIN_MODE_OPEN_ORDERS = ("MARGIN_MODE_OPEN_ORDERS", -4047)
    MARGIN_MODE_POSITION_EXISTS = ("MARGIN_MODE_POSITION_EXISTS", -4048)
    MARGIN_MODE_BULK_BLOCKED = ("MARGIN_MODE_BULK_BLOCKED", None)
    ISOLATED_ONLY = ("ISOLATED_ONLY", -4049)
    CROSS_BALANCE_INSUFFICIENT = ("CROSS_BALANCE_INSUFFICIENT", -4050)
    ISOLATED_BALANCE_INSUFFICIENT = ("ISOLATED_BALANCE_INSUFFICIENT", -4051)
    NO_POSITION = ("NO_POSITION", -4054)
    AMOUNT_NOT_POSITIVE = ("AMOUNT_NOT_POSITIVE", -4055)
    POSITION_MODE_UNCHANGED = ("POSITION_MODE_UNCHANGED", -4059)
    POSITION_SIDE_MISMATCH = ("POSITION_SIDE_MISMATCH", -4061)
    POSITION_MODE_OPEN_ORDERS = ("POSITION_MODE_OPEN_ORDERS", -4067)
    POSITION_MODE_POSITION_EXISTS = ("POSITION_MODE_POSITION_EXISTS", -4068)
    ISOLATED_LEVERAGE_REDUCTION = ("ISOLATED_LEVERAGE_REDUCTION", -4161)
    UNKNOWN_ACCOUNT = ("UNKNOWN_ACCOUNT", -2015)
    ACCOUNT_EXISTS = ("ACCOUNT_EXISTS", None)
    UNKNOWN_ORDER = ("UNKNOWN_ORDER", -2013)
    MISSING_PARAMETER = ("MISSING_PARAMETER", -1102)
    PRICE_NOT_ON_TICK = ("PRICE_NOT_ON_TICK", -4014)
    QTY_NOT_ON_STEP = ("QTY_NOT_ON_STEP", -4023)
    QTY_BELOW_MINIMUM = ("QTY_BELOW_MINIMUM", -4003)
    NOTIONAL_BELOW_MINIMUM = ("NOTIONAL_BELOW_MINIMUM", -4164)
    PRICE_ABOVE_BAND = ("PRICE_ABOVE_BAND", -4016)
    PRICE_BELOW_BAND = ("PRICE_BELOW_BAND", -4024)
    REDUCE_ONLY_REJECTED = ("REDUCE_ONLY_REJECTED", -2022)
    POST_ONLY_REJECTED = ("POST_ONLY_REJECTED", -5022)
    FOK_REJECTED = ("FOK_REJECTED", -5021)
    WOULD_IMMEDIATELY_TRIGGER = ("WOULD_IMMEDIATELY_TRIGGER", -2021)
    NO_MARK_PRICE = ("NO_MARK_PRICE", None)
    NOT_AMENDABLE = ("NOT_AMENDABLE", -4140)

    @property
    def code(self) -> str:
        name: str = self.value[0]
        return name

    @property
    def binance_code(self) -> int | None:
        number: int | None = self.value[1]
        return number


class IsocrossError(Exception):
    """A refused command or malformed input. Raising it never leaves state half-changed.

    ``field`` names the offending input (``positions[2].qty``); ``details`` carries structured
    context such as the list of blocking symbols of a bulk margin-mode change.
    """

    def __init__(
        self,
        error: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.field = field
        self.details: dict[str, Any] = details or {}

    @property
    def code(self) -> str:
        return self.error.code

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message} [{self.code}]"

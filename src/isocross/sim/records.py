"""What a simulation records: positions, liquidations, trades, checkpoints and per-bar series."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from isocross.model.instrument import Instrument
from isocross.sim.files import F64
from isocross.sim.spec import PositionSpec


@dataclass
class Holding:
    """An open position and (isolated) its wallet."""

    spec: PositionSpec
    sym: int
    inst: Instrument
    qty: Decimal
    entry: Decimal
    wallet: Decimal
    opened: int
    stop: Decimal | None
    take: Decimal | None
    peak: Decimal


@dataclass(frozen=True)
class LiquidationFill:
    symbol: str
    qty: Decimal
    """Quantity closed (signed like the position it closed)."""
    price: Decimal
    how: str
    """``book`` (filled at the quote) or ``bankruptcy`` (insurance fund / ADL at the limit)."""


@dataclass(frozen=True)
class Liquidation:
    """One liquidation of one pool (see the module docstring)."""

    bar: int
    time: int
    step: str
    pool: str
    kind: str
    """``partial`` or ``full``."""
    scope: str
    """``contained`` (an isolated wallet) or ``cascade`` (a cross pool: every position)."""
    fills: tuple[LiquidationFill, ...]
    loss: Decimal
    """What the pool's wallet lost (realized PnL, clearance fee, the remainder on a full one)."""
    margin_balance: Decimal
    maintenance: Decimal
    marks: tuple[tuple[str, Decimal], ...]


@dataclass(frozen=True)
class TradeRecord:
    """An entry or exit the portfolio's own rules made."""

    index: int
    symbol: str
    bar: int
    time: int
    action: str
    """``open``, ``stop_loss``, ``take_profit``, ``trailing_stop`` or ``liquidated``."""
    qty: Decimal
    price: Decimal
    fee: Decimal
    realized: Decimal


@dataclass(frozen=True)
class Snapshot:
    """Exact figures at a checkpoint bar's close."""

    label: str
    bar: int
    time: int
    equity: Decimal
    pools: tuple[tuple[str, Decimal], ...]
    """Margin balance per pool: the cross pool (asset name) or each isolated position."""


@dataclass
class Metrics:
    """Per-bar floats for reports and plots (``nan``: no position)."""

    equity: F64
    equity_worst: F64
    level: F64
    level_worst: F64

    @classmethod
    def empty(cls, n: int) -> Metrics:
        return cls(np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))


@dataclass
class ModeRun:
    """The result of one mode's run (exact money, float series)."""

    mode: str
    cross_wallet: Decimal
    isolated_wallets: dict[str, Decimal]
    final_equity: Decimal
    fees: Decimal
    funding_paid: Decimal
    clearance_fees: Decimal
    liquidations: list[Liquidation]
    trades: list[TradeRecord]
    snapshots: list[Snapshot]
    open_positions: dict[str, tuple[Decimal, Decimal]]
    never_entered: list[str]
    metrics: Metrics
    exact_bars: int = 0

"""Instruments and their maintenance-margin tier tables.

A tier table is a list of notional brackets ``floor < N ≤ cap`` (the first bracket also holds
``N = 0``), each with a max leverage, a maintenance margin rate ``mmr`` and a maintenance amount
``cum``. Maintenance margin is ``MM(N) = N·mmr_k − cum_k`` for the bracket ``k`` holding ``N``.

``cum`` follows the recurrence ``cum_0 = 0``, ``cum_k = cum_{k−1} + floor_k·(mmr_k − mmr_{k−1})``
(Binance FAQ "Leverage and Margin of USDⓈ-M Futures"; Hyperliquid "Margin tiers"), which makes
``MM`` continuous in ``N``. A table whose given ``cum`` disagrees is refused.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Protocol

from isocross.model.enums import ContractType
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.money import CONTEXT, ZERO


@dataclass(frozen=True, slots=True)
class Tier:
    """One notional bracket. ``cap`` is ``None`` for an unbounded last bracket."""

    floor: Decimal
    cap: Decimal | None
    max_leverage: int
    mmr: Decimal
    cum: Decimal

    def maintenance_margin(self, notional: Decimal) -> Decimal:
        """``N·mmr − cum`` (unrounded)."""
        return notional * self.mmr - self.cum


def derive_cum(floors: Sequence[Decimal], rates: Sequence[Decimal]) -> list[Decimal]:
    """Maintenance amounts by ``cum_k = cum_{k−1} + floor_k·(mmr_k − mmr_{k−1})``."""
    cums = [ZERO]
    with localcontext(CONTEXT):
        for k in range(1, len(rates)):
            cums.append(cums[-1] + floors[k] * (rates[k] - rates[k - 1]))
    return cums


@dataclass(frozen=True, slots=True)
class TierTable:
    """An ordered, validated tier table. Build it with :meth:`TierTable.of`."""

    tiers: tuple[Tier, ...]
    caps: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        caps = tuple(t.cap for t in self.tiers[:-1] if t.cap is not None)
        object.__setattr__(self, "caps", caps)

    @classmethod
    def of(
        cls, tiers: Iterable[Tier], *, where: str = "tiers", check_cum: bool = True
    ) -> TierTable:
        """Validate and build; refuses gaps, overlaps, rising leverage, falling rates, bad cum."""
        rows = tuple(tiers)

        def bad(message: str, index: int | None = None) -> IsocrossError:
            field = where if index is None else f"{where}[{index}]"
            return IsocrossError(ErrorCode.INVALID_TIER_TABLE, message, field=field)

        if not rows:
            raise bad("a tier table needs at least one tier")
        if rows[0].floor != 0:
            raise bad(f"the first tier must start at notional 0, not {rows[0].floor}", 0)
        expected = derive_cum([t.floor for t in rows], [t.mmr for t in rows])
        for i, tier in enumerate(rows):
            if tier.cap is not None and tier.cap <= tier.floor:
                raise bad(f"cap {tier.cap} must be above floor {tier.floor}", i)
            if tier.cap is None and i != len(rows) - 1:
                raise bad("only the last tier may be unbounded (cap null)", i)
            if not 0 < tier.mmr < 1:
                raise bad(f"maintenance margin rate must be between 0 and 1, got {tier.mmr}", i)
            if tier.max_leverage < 1:
                raise bad(f"max leverage must be at least 1, got {tier.max_leverage}", i)
            if i > 0:
                prev = rows[i - 1]
                if tier.floor != prev.cap:
                    raise bad(
                        f"floor {tier.floor} must equal the previous tier's cap {prev.cap}", i
                    )
                if tier.mmr < prev.mmr:
                    raise bad("maintenance margin rates must not fall as notional rises", i)
                if tier.max_leverage > prev.max_leverage:
                    raise bad("max leverage must not rise as notional rises", i)
            if check_cum and tier.cum != expected[i]:
                raise bad(
                    f"maintenance amount (cum) {tier.cum} disagrees with the recurrence "
                    f"cum_k = cum_(k-1) + floor_k*(mmr_k - mmr_(k-1)), which gives "
                    f"{expected[i].normalize():f}",
                    i,
                )
        return cls(rows)

    @property
    def max_leverage(self) -> int:
        """The highest leverage the instrument allows (first tier)."""
        return self.tiers[0].max_leverage

    @property
    def max_notional(self) -> Decimal | None:
        """The largest position notional the table admits (``None``: unbounded)."""
        return self.tiers[-1].cap

    def index_for(self, notional: Decimal) -> int:
        """Index of the bracket ``floor < N ≤ cap`` holding ``notional`` (``N = 0`` is tier 0).

        Beyond the last cap the last tier is returned (its rate keeps ``MM`` continuous);
        callers that must refuse such a position check :attr:`max_notional`.
        """
        return bisect_left(self.caps, abs(notional))

    def tier_for(self, notional: Decimal) -> Tier:
        """The bracket holding ``notional``."""
        return self.tiers[self.index_for(notional)]

    def maintenance_margin(self, notional: Decimal) -> Decimal:
        """``MM(N) = N·mmr_k − cum_k`` (unrounded; continuous in ``N``)."""
        return self.tier_for(notional).maintenance_margin(abs(notional))

    def max_leverage_for(self, notional: Decimal) -> int:
        """Max leverage allowed for a position of ``notional``; 0 beyond the table."""
        cap = self.max_notional
        if cap is not None and abs(notional) > cap:
            return 0
        return self.tier_for(notional).max_leverage


class Contract(Protocol):
    """How a contract turns size and price into notional and PnL (in its margin asset)."""

    def notional(self, qty: Decimal, price: Decimal) -> Decimal: ...

    def pnl(self, qty: Decimal, entry_price: Decimal, price: Decimal) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class LinearContract:
    """Quote-margined: ``N = |q|·S·P``, ``PnL = q·S·(P − EP)`` (``S``: contract size, often 1)."""

    size: Decimal

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return abs(qty) * self.size * price

    def pnl(self, qty: Decimal, entry_price: Decimal, price: Decimal) -> Decimal:
        return qty * self.size * (price - entry_price)


@dataclass(frozen=True, slots=True)
class InverseContract:
    """Coin-margined USD contracts: ``N = |q|·CS/P`` coin, ``PnL = q·CS·(1/EP − 1/P)`` coin.

    Binance FAQ "COIN-M Futures Contract Specifications"; ``CS`` is the contract size in USD.
    """

    size: Decimal

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return abs(qty) * self.size / price

    def pnl(self, qty: Decimal, entry_price: Decimal, price: Decimal) -> Decimal:
        return qty * self.size * (1 / entry_price - 1 / price)


@dataclass(frozen=True, slots=True)
class Asset:
    """A margin asset and the number of decimal places its balances are kept to."""

    name: str
    precision: int


@dataclass(frozen=True, slots=True)
class Instrument:
    """A perpetual contract on one venue: trading filters plus that venue's tier table."""

    symbol: str
    base_asset: str
    quote_asset: str
    margin_asset: Asset
    contract_type: ContractType
    contract_size: Decimal
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal
    price_precision: int
    tiers: TierTable
    contract: Contract = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = InverseContract if self.contract_type is ContractType.INVERSE else LinearContract
        object.__setattr__(self, "contract", kind(self.contract_size))

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        """Position value in the margin asset at ``price`` (unrounded)."""
        return self.contract.notional(qty, price)

    def unrealized_pnl(self, qty: Decimal, entry_price: Decimal, price: Decimal) -> Decimal:
        """PnL of signed ``qty`` opened at ``entry_price`` valued at ``price`` (unrounded)."""
        return self.contract.pnl(qty, entry_price, price)

    def maintenance_margin(self, qty: Decimal, price: Decimal) -> Decimal:
        """Tiered maintenance margin ``N·mmr − cum`` at ``price`` (unrounded)."""
        return self.tiers.maintenance_margin(self.notional(qty, price))

    def with_tiers(self, tiers: TierTable) -> Instrument:
        """The same instrument with another tier table (scenario overrides)."""
        return replace(self, tiers=tiers)

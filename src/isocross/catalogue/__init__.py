"""The instrument catalogue shipped with isocross, and venue presets as data.

``instruments.json`` holds each perpetual's trading filters; ``venues.json`` holds, per venue, its
tier tables in the venue's own shape plus the name of the rule that turns them into a
:class:`~isocross.model.instrument.TierTable`:

* ``bracket`` (Binance, Bybit): rows ``floor, cap, max_leverage, mmr, cum``; the given ``cum`` is
  checked against the recurrence and the table refused if it disagrees.
* ``half_initial_at_max_leverage`` (Hyperliquid): ``mmr_k = 1 / (2·max_leverage_k)``, deduction by
  the same recurrence (Hyperliquid docs, "Margin tiers").
* ``imf_fraction`` (dYdX v4): one unbounded tier, ``max_leverage = 1/IMF``,
  ``mmr = IMF × maintenance_fraction`` (``x/perpetuals`` liquidity tiers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from isocross.model.enums import ContractType
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Asset, Instrument, Tier, TierTable, derive_cum
from isocross.model.money import CONTEXT, ONE, ZERO, parse_decimal

DEFAULT_VENUE = "binance"

TierRule = Callable[[Any, str], TierTable]


def _dec(value: object, where: str) -> Decimal:
    try:
        return parse_decimal(value, where)
    except ValueError as exc:
        raise IsocrossError(ErrorCode.INVALID_TIER_TABLE, str(exc), field=where) from None


def _cap(value: object, where: str) -> Decimal | None:
    return None if value is None else _dec(value, where)


def bracket_rule(rows: Sequence[Sequence[Any]], where: str) -> TierTable:
    """Binance/Bybit brackets ``[floor, cap, max_leverage, mmr, cum]``, cum checked."""
    tiers = [
        Tier(
            floor=_dec(r[0], f"{where}[{i}].floor"),
            cap=_cap(r[1], f"{where}[{i}].cap"),
            max_leverage=int(r[2]),
            mmr=_dec(r[3], f"{where}[{i}].mmr"),
            cum=_dec(r[4], f"{where}[{i}].cum"),
        )
        for i, r in enumerate(rows)
    ]
    return TierTable.of(tiers, where=where)


def half_initial_rule(rows: Sequence[Sequence[Any]], where: str) -> TierTable:
    """Hyperliquid: ``[floor, cap, max_leverage]``; ``mmr = 1/(2·max_leverage)``, cum derived."""
    floors = [_dec(r[0], f"{where}[{i}].floor") for i, r in enumerate(rows)]
    rates = [CONTEXT.divide(ONE, 2 * int(r[2])) for r in rows]
    cums = derive_cum(floors, rates)
    tiers = [
        Tier(floors[i], _cap(r[1], f"{where}[{i}].cap"), int(r[2]), rates[i], cums[i])
        for i, r in enumerate(rows)
    ]
    return TierTable.of(tiers, where=where)


def imf_fraction_rule(row: Sequence[Any], where: str) -> TierTable:
    """dYdX v4: ``[initial_margin_fraction, maintenance_fraction]``; one unbounded tier."""
    imf = _dec(row[0], f"{where}.initial_margin_fraction")
    fraction = _dec(row[1], f"{where}.maintenance_fraction")
    max_leverage = int(ONE / imf)
    return TierTable.of([Tier(ZERO, None, max_leverage, imf * fraction, ZERO)], where=where)


TIER_RULES: Mapping[str, TierRule] = {
    "bracket": bracket_rule,
    "half_initial_at_max_leverage": half_initial_rule,
    "imf_fraction": imf_fraction_rule,
}


@dataclass(frozen=True)
class Catalogue:
    """The instruments one venue preset lists, with that venue's tier tables."""

    venue: str
    assets: Mapping[str, Asset]
    instruments: Mapping[str, Instrument]
    source: str

    def instrument(self, symbol: str, *, field: str = "symbol") -> Instrument:
        """The instrument named ``symbol``; refuses unknown symbols naming the ones it knows."""
        try:
            return self.instruments[symbol]
        except KeyError:
            known = ", ".join(sorted(self.instruments))
            raise IsocrossError(
                ErrorCode.UNKNOWN_SYMBOL,
                f"unknown symbol {symbol!r} on venue {self.venue}; known symbols: {known}",
                field=field,
            ) from None

    def asset(self, name: str, *, field: str = "asset") -> Asset:
        try:
            return self.assets[name]
        except KeyError:
            known = ", ".join(sorted(self.assets))
            raise IsocrossError(
                ErrorCode.UNKNOWN_ASSET,
                f"unknown margin asset {name!r}; known assets: {known}",
                field=field,
            ) from None


def _read(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def venues() -> list[str]:
    """Names of the venue presets shipped."""
    return sorted(_read("venues.json"))


def tier_table(venue: str, raw: Any, where: str) -> TierTable:
    """Build a tier table from ``raw`` data in ``venue``'s own shape, by the venue's rule."""
    return TIER_RULES[_venue_spec(venue)["rule"]](raw, where)


def _venue_spec(venue: str) -> dict[str, Any]:
    spec: dict[str, dict[str, Any]] = _read("venues.json")
    if venue not in spec:
        raise IsocrossError(
            ErrorCode.UNKNOWN_VENUE,
            f"unknown venue {venue!r}; known venues: {', '.join(sorted(spec))}",
            field="venue",
        )
    return spec[venue]


@cache
def load_catalogue(venue: str = DEFAULT_VENUE) -> Catalogue:
    """Load the shipped catalogue under ``venue``'s preset (cached; the result is immutable)."""
    spec = _venue_spec(venue)
    rule = TIER_RULES[spec["rule"]]
    data = _read("instruments.json")
    assets = {name: Asset(name, int(a["precision"])) for name, a in data["assets"].items()}
    instruments: dict[str, Instrument] = {}
    for symbol, raw_tiers in spec["tables"].items():
        i = data["instruments"][symbol]
        instruments[symbol] = Instrument(
            symbol=symbol,
            base_asset=i["base"],
            quote_asset=i["quote"],
            margin_asset=assets[i["margin_asset"]],
            contract_type=ContractType(i["contract_type"]),
            contract_size=Decimal(i["contract_size"]),
            tick_size=Decimal(i["tick_size"]),
            step_size=Decimal(i["step_size"]),
            min_qty=Decimal(i["min_qty"]),
            min_notional=Decimal(i["min_notional"]),
            price_precision=int(i["price_precision"]),
            tiers=rule(raw_tiers, f"{venue}.{symbol}"),
        )
    return Catalogue(venue, assets, instruments, spec["source"])

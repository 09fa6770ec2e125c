"""The portfolio spec (TOML): account, positions with entry and exit rules, fees, market data.

Documented in ``docs/simulator.md``. Amounts and prices are decimal strings (TOML floats are
refused, as in the calculator: ``0.1`` has no exact binary value); every error names the field
(``positions[1].leverage``) and unknown keys are refused, so a typo never passes silently.

A position opens once — at the first bar (``entry = "start"``), at the first bar opening at or
after a time, or when a bar trades at or through a ``limit`` price after that — with its size
given as ``qty``, ``margin`` (``qty = margin × leverage / price``) or ``notional``
(``qty = notional / price``), rounded down to the symbol's step. It closes at its stop-loss,
take-profit or trailing stop, at liquidation, or stays open to the end. Percent levels are
distances from the entry price (``stop_loss = "10%"`` is 10 % below a long's entry); levels are
rounded half-even to the tick.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from isocross.catalogue import Catalogue, load_catalogue
from isocross.model.enums import ContractType
from isocross.model.errors import IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.money import ONE, parse_decimal
from isocross.risk.config import RiskConfig, risk_preset
from isocross.sim import rules
from isocross.sim.errors import SimInputError
from isocross.sim.files import parse_duration, parse_time
from isocross.sim.market import Market, Segment, SymbolSource, load_market, scripted_market

DEFAULT_TAKER = Decimal("0.0005")
"""Binance USDⓈ-M VIP0 taker fee (every simulated fill takes liquidity)."""


@dataclass(frozen=True, slots=True)
class Level:
    """A price level: absolute, or a fraction of the entry price (``relative``)."""

    value: Decimal
    relative: bool

    def price(self, entry: Decimal, adverse_below: bool, tick: Decimal) -> Decimal:
        """The level for a position entered at ``entry``: a relative level lies below the entry
        when ``adverse_below`` (a long's stop, a short's take-profit), above otherwise."""
        if not self.relative:
            return self.value
        factor = ONE - self.value if adverse_below else ONE + self.value
        return (entry * factor).quantize(tick, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class PositionSpec:
    index: int
    symbol: str
    side: int
    """+1 long, −1 short."""
    leverage: int
    qty: Decimal | None = None
    margin: Decimal | None = None
    notional: Decimal | None = None
    entry_time: int | None = None
    """``None``: the first bar."""
    limit: Decimal | None = None
    stop_loss: Level | None = None
    take_profit: Level | None = None
    trailing_stop: Decimal | None = None
    """Callback rate: exit when the price falls this fraction from the best since entry."""

    @property
    def where(self) -> str:
        return f"positions[{self.index}]"

    @property
    def label(self) -> str:
        return f"{self.symbol} {'long' if self.side > 0 else 'short'}"


@dataclass(frozen=True)
class Checkpoint:
    time: int
    label: str


@dataclass(frozen=True)
class RealMarketSpec:
    sources: tuple[SymbolSource, ...]
    start: int | None
    end: int | None
    timeframe: int | None


@dataclass(frozen=True)
class ScriptedMarketSpec:
    start: int
    step: int
    prices: dict[str, Decimal]
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Portfolio:
    """A validated portfolio spec and where its market data come from."""

    name: str
    description: str
    venue: str
    catalogue: Catalogue
    preset: RiskConfig
    asset: str
    balance: Decimal
    taker_fee: Decimal
    funding: bool
    modes: tuple[str, ...]
    positions: tuple[PositionSpec, ...]
    market_spec: RealMarketSpec | ScriptedMarketSpec
    checkpoints: tuple[Checkpoint, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def instrument(self, symbol: str) -> Instrument:
        return self.catalogue.instrument(symbol)

    @property
    def symbols(self) -> tuple[str, ...]:
        """The market's symbols (every position's symbol, in spec order, once)."""
        return tuple(dict.fromkeys(p.symbol for p in self.positions))

    def load_market(self) -> Market:
        """Read the market data (validated, aligned; see :mod:`isocross.sim.market`)."""
        spec = self.market_spec
        if isinstance(spec, ScriptedMarketSpec):
            ticks = {s: self.instrument(s).tick_size for s in spec.prices}
            return scripted_market(spec.start, spec.step, spec.prices, spec.segments, ticks)
        wanted = set(self.symbols)
        sources = tuple(s for s in spec.sources if s.symbol in wanted)
        return load_market(
            sources,
            start=spec.start,
            end=spec.end,
            timeframe=spec.timeframe,
            funding=self.funding,
        )


# ------------------------------------------------------------------------------ parsing
def _keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SimInputError(
            f"{where}.{unknown[0]}" if where else unknown[0],
            f"unknown key (known: {', '.join(sorted(allowed))})",
        )


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SimInputError(where, f"must be a table, got {type(value).__name__}")
    return value


def _dec(value: Any, where: str, *, positive: bool = True) -> Decimal:
    try:
        number = parse_decimal(value, "value")
    except ValueError as exc:
        raise SimInputError(where, str(exc).replace("value ", "", 1)) from None
    if positive and number <= 0:
        raise SimInputError(where, f"must be greater than zero, got {number}")
    return number


def _fraction(value: Any, where: str, *, upper: Decimal = ONE) -> Decimal:
    """``"10%"`` or ``"0.1"`` → 0.1, in (0, upper)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _dec(value.strip()[:-1], where) / 100
    else:
        number = _dec(value, where)
    if not 0 < number < upper:
        raise SimInputError(where, f"must be a fraction between 0 and {upper}, got {value!r}")
    return number


def _level(value: Any, where: str) -> Level:
    if isinstance(value, str) and value.strip().endswith("%"):
        return Level(_fraction(value, where), relative=True)
    return Level(_dec(value, where), relative=False)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SimInputError(where, f"must be a non-empty string, got {value!r}")
    return value.strip()


def parse_portfolio(
    data: Mapping[str, Any], *, base_dir: Path, name: str = "portfolio"
) -> Portfolio:
    """Validate a parsed TOML document; relative data paths resolve against ``base_dir``."""
    _keys(
        data,
        "",
        {
            "description",
            "venue",
            "asset",
            "balance",
            "funding",
            "modes",
            "fees",
            "market",
            "positions",
            "checkpoints",
            "notes",
        },
    )
    venue = _text(data.get("venue", "binance"), "venue")
    try:
        catalogue = load_catalogue(venue)
        preset = risk_preset(venue)
    except IsocrossError as exc:
        raise SimInputError("venue", exc.message) from None
    except KeyError as exc:
        raise SimInputError("venue", str(exc.args[0])) from None
    asset = _text(data.get("asset", "USDT"), "asset")
    if asset not in catalogue.assets:
        raise SimInputError("asset", f"unknown margin asset {asset!r}")
    if "balance" not in data:
        raise SimInputError("balance", 'is required (the starting cross wallet, e.g. "1000")')
    balance = _dec(data["balance"], "balance")
    fees = _table(data.get("fees", {}), "fees")
    _keys(fees, "fees", {"taker"})
    taker = _dec(fees["taker"], "fees.taker", positive=False) if "taker" in fees else DEFAULT_TAKER
    if not 0 <= taker < Decimal("0.1"):
        raise SimInputError("fees.taker", f"must be a fee rate in [0, 0.1), got {taker}")
    funding = data.get("funding", True)
    if not isinstance(funding, bool):
        raise SimInputError("funding", f"must be true or false, got {funding!r}")
    modes = _modes(data.get("modes"))
    raw_positions = data.get("positions")
    if not isinstance(raw_positions, list) or not raw_positions:
        raise SimInputError("positions", "needs at least one [[positions]] entry")
    positions = tuple(
        _position(_table(p, f"positions[{i}]"), i, catalogue, asset)
        for i, p in enumerate(raw_positions)
    )
    seen: dict[str, int] = {}
    for p in positions:
        if p.symbol in seen:
            raise SimInputError(
                f"{p.where}.symbol",
                f"{p.symbol} already has a position (positions[{seen[p.symbol]}]); one position "
                "per symbol",
            )
        seen[p.symbol] = p.index
    market_spec = _market(_table(data.get("market"), "market"), base_dir, positions, catalogue)
    checkpoints = tuple(
        _checkpoint(_table(c, f"checkpoints[{i}]"), i)
        for i, c in enumerate(data.get("checkpoints", []))
    )
    notes = data.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise SimInputError("notes", "must be a list of strings")
    return Portfolio(
        name=name,
        description=str(data.get("description", "")),
        venue=venue,
        catalogue=catalogue,
        preset=preset,
        asset=asset,
        balance=balance,
        taker_fee=taker,
        funding=funding,
        modes=modes,
        positions=positions,
        market_spec=market_spec,
        checkpoints=checkpoints,
        notes=tuple(notes),
    )


def _modes(value: Any) -> tuple[str, ...]:
    if value is None:
        return rules.modes()
    if not isinstance(value, list) or not value:
        raise SimInputError("modes", f'must be a list such as ["cross", "isolated"], got {value!r}')
    for i, m in enumerate(value):
        if not isinstance(m, str) or m not in rules.modes():
            raise SimInputError(
                f"modes[{i}]", f"unknown margin mode {m!r}; known: {', '.join(rules.modes())}"
            )
    return tuple(dict.fromkeys(value))


POSITION_KEYS = {
    "symbol",
    "side",
    "leverage",
    "qty",
    "margin",
    "notional",
    "entry",
    "limit",
    "stop_loss",
    "take_profit",
    "trailing_stop",
}


def _position(raw: Mapping[str, Any], i: int, catalogue: Catalogue, asset: str) -> PositionSpec:
    where = f"positions[{i}]"
    _keys(raw, where, POSITION_KEYS)
    symbol = _text(raw.get("symbol"), f"{where}.symbol")
    try:
        inst = catalogue.instrument(symbol)
    except IsocrossError as exc:
        raise SimInputError(f"{where}.symbol", exc.message) from None
    if inst.contract_type is not ContractType.LINEAR:
        raise SimInputError(
            f"{where}.symbol", f"{symbol} is an inverse contract; the simulator runs linear ones"
        )
    if inst.margin_asset.name != asset:
        raise SimInputError(
            f"{where}.symbol",
            f"{symbol} is margined in {inst.margin_asset.name}, the portfolio in {asset}",
        )
    side = raw.get("side")
    if side not in ("long", "short"):
        raise SimInputError(f"{where}.side", f'must be "long" or "short", got {side!r}')
    leverage = raw.get("leverage")
    if isinstance(leverage, bool) or not isinstance(leverage, int):
        raise SimInputError(f"{where}.leverage", f"must be an integer, got {leverage!r}")
    if not 1 <= leverage <= inst.tiers.max_leverage:
        raise SimInputError(
            f"{where}.leverage",
            f"must be 1 to {inst.tiers.max_leverage} for {symbol}, got {leverage}",
        )
    sizes = [k for k in ("qty", "margin", "notional") if k in raw]
    if len(sizes) != 1:
        raise SimInputError(where, "give exactly one of qty, margin or notional")
    amounts = {k: _dec(raw[k], f"{where}.{k}") for k in sizes}
    if "qty" in amounts and amounts["qty"] % inst.step_size:
        raise SimInputError(
            f"{where}.qty",
            f"{amounts['qty']} is not a multiple of {symbol}'s step {inst.step_size}",
        )
    entry = raw.get("entry", "start")
    entry_time = None if entry == "start" else parse_time(entry, f"{where}.entry")
    limit = _dec(raw["limit"], f"{where}.limit") if "limit" in raw else None
    if limit is not None and limit % inst.tick_size:
        raise SimInputError(f"{where}.limit", f"{limit} is not on {symbol}'s tick {inst.tick_size}")
    levels = {k: _level(raw[k], f"{where}.{k}") for k in ("stop_loss", "take_profit") if k in raw}
    for k, lv in levels.items():
        if not lv.relative and lv.value % inst.tick_size:
            raise SimInputError(
                f"{where}.{k}", f"{lv.value} is not on {symbol}'s tick {inst.tick_size}"
            )
    trailing = (
        _fraction(raw["trailing_stop"], f"{where}.trailing_stop")
        if "trailing_stop" in raw
        else None
    )
    return PositionSpec(
        index=i,
        symbol=symbol,
        side=1 if side == "long" else -1,
        leverage=leverage,
        qty=amounts.get("qty"),
        margin=amounts.get("margin"),
        notional=amounts.get("notional"),
        entry_time=entry_time,
        limit=limit,
        stop_loss=levels.get("stop_loss"),
        take_profit=levels.get("take_profit"),
        trailing_stop=trailing,
    )


def _checkpoint(raw: Mapping[str, Any], i: int) -> Checkpoint:
    where = f"checkpoints[{i}]"
    _keys(raw, where, {"at", "label"})
    return Checkpoint(parse_time(raw.get("at"), f"{where}.at"), str(raw.get("label", "")))


def _market(
    raw: Mapping[str, Any],
    base_dir: Path,
    positions: tuple[PositionSpec, ...],
    catalogue: Catalogue,
) -> RealMarketSpec | ScriptedMarketSpec:
    kind = raw.get("kind", "data")
    if kind == "scripted":
        return _scripted(raw, positions, catalogue)
    if kind != "data":
        raise SimInputError("market.kind", f'must be "data" or "scripted", got {kind!r}')
    _keys(raw, "market", {"kind", "root", "start", "end", "timeframe", "symbols"})
    root = base_dir / str(raw["root"]) if "root" in raw else base_dir
    symbols = _table(raw.get("symbols", {}), "market.symbols")
    sources = []
    for p in positions:
        if p.symbol not in symbols:
            raise SimInputError(
                f"{p.where}.symbol",
                f"{p.symbol} has no market data: add [market.symbols.{p.symbol}] with its candles",
            )
    for symbol, value in symbols.items():
        where = f"market.symbols.{symbol}"
        entry = _table(value, where)
        _keys(entry, where, {"candles", "mark", "funding", "shift_to", "rescale_to"})
        try:
            tick = catalogue.instrument(symbol).tick_size
        except IsocrossError as exc:
            raise SimInputError(where, exc.message) from None
        sources.append(
            SymbolSource(
                symbol=symbol,
                candles=_path(root, entry.get("candles"), f"{where}.candles"),
                mark=_path(root, entry["mark"], f"{where}.mark") if "mark" in entry else None,
                funding=(
                    _path(root, entry["funding"], f"{where}.funding")
                    if "funding" in entry
                    else None
                ),
                shift_to=(
                    parse_time(entry["shift_to"], f"{where}.shift_to")
                    if "shift_to" in entry
                    else None
                ),
                rescale_to=(
                    _dec(entry["rescale_to"], f"{where}.rescale_to")
                    if "rescale_to" in entry
                    else None
                ),
                tick=tick,
                where=where,
            )
        )
    return RealMarketSpec(
        tuple(sources),
        parse_time(raw["start"], "market.start") if "start" in raw else None,
        parse_time(raw["end"], "market.end") if "end" in raw else None,
        parse_duration(raw["timeframe"], "market.timeframe") if "timeframe" in raw else None,
    )


def _path(root: Path, value: Any, where: str) -> Path:
    path = root / _text(value, where)
    if not path.is_file():
        raise SimInputError(where, f"no such file: {path}")
    return path


def _scripted(
    raw: Mapping[str, Any], positions: tuple[PositionSpec, ...], catalogue: Catalogue
) -> ScriptedMarketSpec:
    _keys(raw, "market", {"kind", "start", "timeframe", "prices", "path"})
    start = parse_time(raw.get("start", "2025-01-01T00:00:00Z"), "market.start")
    step = parse_duration(raw.get("timeframe", "1h"), "market.timeframe")
    prices_raw = _table(raw.get("prices"), "market.prices")
    prices: dict[str, Decimal] = {}
    for symbol, value in prices_raw.items():
        where = f"market.prices.{symbol}"
        try:
            tick = catalogue.instrument(symbol).tick_size
        except IsocrossError as exc:
            raise SimInputError(where, exc.message) from None
        price = _dec(value, where)
        if price % tick:
            raise SimInputError(where, f"{price} is not on {symbol}'s tick {tick}")
        prices[symbol] = price
    for p in positions:
        if p.symbol not in prices:
            raise SimInputError(
                f"{p.where}.symbol", f"{p.symbol} has no starting price in market.prices"
            )
    segments = []
    for i, seg in enumerate(raw.get("path", [])):
        where = f"market.path[{i}]"
        seg = _table(seg, where)
        _keys(seg, where, {"bars", "to"})
        bars = seg.get("bars")
        if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
            raise SimInputError(f"{where}.bars", f"must be a positive integer, got {bars!r}")
        targets = {}
        for symbol, value in _table(seg.get("to", {}), f"{where}.to").items():
            if symbol not in prices:
                raise SimInputError(
                    f"{where}.to.{symbol}", "has no starting price in market.prices"
                )
            if isinstance(value, str) and value.strip().endswith("%"):
                move = _dec(value.strip()[:-1], f"{where}.to.{symbol}", positive=False) / 100
                if move <= -1:
                    raise SimInputError(
                        f"{where}.to.{symbol}", f"a move must stay above −100 %, got {value}"
                    )
                targets[symbol] = prices[symbol] * (ONE + move)
            else:
                targets[symbol] = _dec(value, f"{where}.to.{symbol}")
        segments.append(Segment(bars, targets))
    return ScriptedMarketSpec(start, step, prices, tuple(segments))


def read_portfolio(path: Path) -> Portfolio:
    """Read and validate a portfolio TOML file (data paths relative to its folder)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimInputError(str(path), f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SimInputError(path.name, f"is not valid TOML: {exc}") from None
    return parse_portfolio(data, base_dir=path.parent, name=path.stem)

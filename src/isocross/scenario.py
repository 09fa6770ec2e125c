"""The what-if calculator: an account scenario in, every margin figure out.

Input format (documented in ``docs/calculator.md``; amounts are strings)::

    {"venue": "binance", "position_mode": "one-way",
     "wallets": {"USDT": "1000"},                       # cross wallets (isolated margin apart)
     "marks": {"BTCUSDT": "100000"},
     "tiers": {"BTCUSDT": [{"floor": "0", "cap": "50000", "max_leverage": 125,
                            "mmr": "0.004", "cum": "0"}]},   # optional override
     "positions": [{"symbol": "BTCUSDT", "side": "long", "qty": "0.01",
                    "entry_price": "100000", "margin_mode": "isolated", "leverage": 5,
                    "isolated_margin": "200"}]}

:func:`evaluate` returns ``{"positions": [...], "margin_assets": {...}}`` with numbers as strings
and ``null`` where a price does not exist. :func:`with_moves` re-marks prices; :func:`as_mode`
rebuilds the same positions all-cross or all-isolated for a side-by-side comparison.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from importlib import resources
from typing import Any

from isocross.catalogue import Catalogue, bracket_rule, load_catalogue
from isocross.margin.account import Account
from isocross.margin.figures import AccountFigures, PoolFigures, PositionFigures
from isocross.margin.portfolio import PortfolioRequirement
from isocross.margin.position import Position
from isocross.model.enums import MarginMode, PositionMode, PositionSide
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.money import CONTEXT, HUNDRED, ONE, ZERO, exponent, parse_decimal, round_up

EXAMPLES = ("seed-1000", "binance-cross", "coin-m", "hedged-pair")


def _bad(field: str, message: str) -> IsocrossError:
    return IsocrossError(ErrorCode.INVALID_INPUT, message, field=field)


@dataclass(frozen=True)
class ScenarioPosition:
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal
    margin_mode: MarginMode
    leverage: int
    isolated_margin: Decimal | None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: catalogue (with overrides), wallets, marks and positions."""

    catalogue: Catalogue
    position_mode: PositionMode
    wallets: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]
    positions: tuple[ScenarioPosition, ...]
    description: str = ""

    def account(self) -> Account:
        """Load the scenario into an :class:`Account` (validating leverage against tiers)."""
        account = Account(self.catalogue, position_mode=self.position_mode)
        for asset, amount in self.wallets.items():
            if amount:
                account.restore_cross_wallet(asset, amount)
        for i, p in enumerate(self.positions):
            inst = self.catalogue.instrument(p.symbol)
            exposure = inst.notional(p.qty, self.marks[p.symbol])
            allowed = inst.tiers.max_leverage_for(exposure)
            if p.leverage > allowed:
                raise _bad(
                    f"positions[{i}].leverage",
                    f"{p.leverage}x is above the {allowed}x allowed for a {p.symbol} position "
                    f"worth {exposure:.2f} {inst.margin_asset.name}",
                )
            sign = 1 if p.side == "long" else -1
            side = PositionSide.BOTH
            if self.position_mode is PositionMode.HEDGE:
                side = PositionSide.LONG if sign > 0 else PositionSide.SHORT
            account.restore_position(
                Position(p.symbol, side, p.qty * sign, p.entry_price, p.margin_mode, p.leverage),
                p.isolated_margin or ZERO,
            )
        return account

    def figures(self) -> AccountFigures:
        return self.account().figures(self.marks)


# --------------------------------------------------------------------------- parsing
def _decimal(raw: Any, field: str, *, positive: bool = True, allow_zero: bool = False) -> Decimal:
    try:
        value = parse_decimal(raw, field)
    except ValueError as exc:
        raise _bad(field, str(exc).removeprefix(f"{field} ")) from None
    if positive and (value < 0 or (value == 0 and not allow_zero)):
        need = "zero or more" if allow_zero else "greater than zero"
        raise _bad(field, f"must be {need}, got {raw!r}")
    return value


def _object(raw: Any, field: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(field, f"must be a JSON object, got {type(raw).__name__}")
    return raw


def parse(data: Any) -> Scenario:
    """Validate a scenario document. Every refusal names its field."""
    doc = _object(data, "scenario")
    known = {"description", "venue", "position_mode", "wallets", "marks", "tiers", "positions"}
    for key in doc:
        if key not in known:
            raise _bad(key, f"unknown field; allowed: {', '.join(sorted(known))}")
    catalogue = load_catalogue(str(doc.get("venue", "binance")))
    mode_raw = doc.get("position_mode", "one-way")
    try:
        position_mode = PositionMode(mode_raw)
    except ValueError:
        raise _bad("position_mode", f"must be 'one-way' or 'hedge', got {mode_raw!r}") from None

    tiers = _object(doc.get("tiers", {}), "tiers")
    instruments = dict(catalogue.instruments)
    for symbol, rows in tiers.items():
        inst = catalogue.instrument(symbol, field=f"tiers.{symbol}")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _bad(f"tiers.{symbol}", "must be a list of tier objects")
        table = [[r.get(k) for k in ("floor", "cap", "max_leverage", "mmr", "cum")] for r in rows]
        for i, r in enumerate(table):
            if not isinstance(r[2], int) or isinstance(r[2], bool):
                raise _bad(f"tiers.{symbol}[{i}].max_leverage", "must be a whole number")
        instruments[symbol] = inst.with_tiers(bracket_rule(table, f"tiers.{symbol}"))
    catalogue = replace(catalogue, instruments=instruments)

    wallets = {
        catalogue.asset(a, field=f"wallets.{a}").name: _decimal(v, f"wallets.{a}", allow_zero=True)
        for a, v in _object(doc.get("wallets", {}), "wallets").items()
    }
    marks = {
        catalogue.instrument(s, field=f"marks.{s}").symbol: _decimal(v, f"marks.{s}")
        for s, v in _object(doc.get("marks", {}), "marks").items()
    }
    raw_positions = doc.get("positions", [])
    if not isinstance(raw_positions, list):
        raise _bad("positions", "must be a list")
    positions = tuple(
        _position(raw, f"positions[{i}]", catalogue, marks) for i, raw in enumerate(raw_positions)
    )
    seen: dict[tuple[str, str], ScenarioPosition] = {}
    for i, p in enumerate(positions):
        leg = (p.symbol, p.side if position_mode is PositionMode.HEDGE else "net")
        if leg in seen:
            what = f"{p.side} leg" if position_mode is PositionMode.HEDGE else "position"
            raise _bad(
                f"positions[{i}]",
                f"a second {p.symbol} {what}; one per symbol"
                + (
                    " and side in hedge mode"
                    if position_mode is PositionMode.HEDGE
                    else " in one-way mode"
                ),
            )
        twin = next((q for q in seen.values() if q.symbol == p.symbol), None)
        if twin and (twin.margin_mode, twin.leverage) != (p.margin_mode, p.leverage):
            raise _bad(
                f"positions[{i}]", f"both {p.symbol} legs must share margin mode and leverage"
            )
        seen[leg] = p
    return Scenario(
        catalogue, position_mode, wallets, marks, positions, str(doc.get("description", ""))
    )


def _position(
    raw: Any, field: str, catalogue: Catalogue, marks: Mapping[str, Decimal]
) -> ScenarioPosition:
    doc = _object(raw, field)
    allowed = {"symbol", "side", "qty", "entry_price", "margin_mode", "leverage", "isolated_margin"}
    for key in doc:
        if key not in allowed:
            raise _bad(f"{field}.{key}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
    symbol = doc.get("symbol")
    if not isinstance(symbol, str):
        raise _bad(f"{field}.symbol", 'is required (a symbol such as "BTCUSDT")')
    inst = catalogue.instrument(symbol, field=f"{field}.symbol")
    if symbol not in marks:
        raise _bad(f"marks.{symbol}", f"a mark price is needed for {symbol}")
    side = doc.get("side")
    if side not in ("long", "short"):
        raise _bad(f"{field}.side", f"must be 'long' or 'short', got {side!r}")
    qty = _decimal(doc.get("qty"), f"{field}.qty")
    if qty % inst.step_size:
        raise _bad(f"{field}.qty", f"{qty} is not a multiple of the step size {inst.step_size}")
    entry = _decimal(doc.get("entry_price"), f"{field}.entry_price")
    mode_raw = doc.get("margin_mode", "cross")
    try:
        mode = MarginMode(mode_raw)
    except ValueError:
        raise _bad(
            f"{field}.margin_mode",
            f"must be 'cross', 'isolated' or 'portfolio', got {mode_raw!r}",
        ) from None
    leverage = doc.get("leverage")
    top = inst.tiers.max_leverage
    if not isinstance(leverage, int) or isinstance(leverage, bool) or not 1 <= leverage <= top:
        raise _bad(f"{field}.leverage", f"must be a whole number from 1 to {top}, got {leverage!r}")
    margin_raw = doc.get("isolated_margin")
    margin: Decimal | None = None
    if mode is MarginMode.ISOLATED:
        if margin_raw is None:
            raise _bad(f"{field}.isolated_margin", "is required for an isolated position")
        margin = _decimal(margin_raw, f"{field}.isolated_margin")
    elif margin_raw is not None:
        raise _bad(f"{field}.isolated_margin", "applies to isolated positions only; use null")
    return ScenarioPosition(symbol, side, qty, entry, mode, leverage, margin)


def load_example(name: str) -> Any:
    """The JSON document of a built-in example."""
    if name not in EXAMPLES:
        raise _bad("example", f"unknown example {name!r}; built-in: {', '.join(EXAMPLES)}")
    text = resources.files("isocross.examples").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


# --------------------------------------------------------------------------- what-ifs
_MOVE = re.compile(r"^(?P<symbol>[A-Z0-9_]+)=(?P<value>[+-]?\d+(\.\d+)?)(?P<pct>%?)$")


def parse_move(text: str) -> tuple[str, Decimal, bool]:
    """``SYMBOL=-15%`` (relative) or ``SYMBOL=2125`` (absolute)."""
    m = _MOVE.match(text.strip())
    if not m:
        raise _bad("--move", f"expected SYMBOL=-15% or SYMBOL=PRICE, got {text!r}")
    return m["symbol"], Decimal(m["value"]), bool(m["pct"])


def with_moves(scenario: Scenario, moves: list[str]) -> Scenario:
    """The scenario with marks moved: relative (``-15%``) or to an absolute price."""
    marks = dict(scenario.marks)
    for text in moves:
        symbol, value, relative = parse_move(text)
        inst = scenario.catalogue.instrument(symbol, field="--move")
        if symbol not in marks:
            raise _bad("--move", f"{symbol} has no mark price in the scenario")
        with localcontext(CONTEXT):
            price = marks[symbol] * (ONE + value / HUNDRED) if relative else value
        if price <= 0:
            raise _bad("--move", f"{text} would take {symbol} to {price}; prices stay above 0")
        marks[symbol] = price.quantize(exponent(inst.price_precision + 4)).normalize()
    return replace(scenario, marks=marks)


def as_mode(scenario: Scenario, mode: MarginMode) -> Scenario:
    """The same positions and total collateral, all in ``mode``.

    All-cross folds isolated margins back into their cross wallets; all-isolated gives each
    cross position its initial margin at entry (``N(EP)/leverage``, rounded up) from the wallet.
    """
    wallets = dict(scenario.wallets)
    positions = []
    for i, p in enumerate(scenario.positions):
        inst = scenario.catalogue.instrument(p.symbol)
        asset = inst.margin_asset.name
        if p.margin_mode is mode:
            positions.append(p)
        elif mode.pooled:
            wallets[asset] = wallets.get(asset, ZERO) + (p.isolated_margin or ZERO)
            positions.append(replace(p, margin_mode=mode, isolated_margin=None))
        else:
            with localcontext(CONTEXT):
                need = inst.notional(p.qty, p.entry_price) / p.leverage
            need = round_up(need, exponent(inst.margin_asset.precision))
            have = wallets.get(asset, ZERO)
            if need > have:
                raise _bad(
                    f"positions[{i}]",
                    f"cannot isolate {p.symbol}: it needs {need} {asset} of margin at "
                    f"{p.leverage}x and only {have} is left in the wallet",
                )
            wallets[asset] = have - need
            positions.append(replace(p, margin_mode=mode, isolated_margin=need))
    return replace(scenario, wallets=wallets, positions=tuple(positions))


# --------------------------------------------------------------------------- output
def text(value: Decimal | None) -> str | None:
    """A decimal as a plain string with no exponent and no trailing zeros."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _position_json(p: PositionFigures) -> dict[str, Any]:
    row: dict[str, Any] = {
        "symbol": p.symbol,
        "side": "long" if p.qty > 0 else "short",
        "position_side": p.side.value,
        "margin_mode": p.margin_mode.value,
        "leverage": p.leverage,
        "qty": text(abs(p.qty)),
        "entry_price": text(p.entry_price),
        "mark_price": text(p.mark_price),
        "margin_asset": p.margin_asset,
        "notional": text(p.notional),
        "initial_margin": text(p.initial_margin),
        "maintenance_margin": text(p.maintenance_margin),
        "unrealized_pnl": text(p.unrealized_pnl),
        "roe": text(p.roe),
        "liquidation_price": text(p.liquidation_price),
        "bankruptcy_price": text(p.bankruptcy_price),
        "liquidatable": p.liquidatable,
    }
    if p.margin_mode is MarginMode.ISOLATED:
        row |= {
            "isolated_margin": text(p.isolated_wallet),
            "margin_balance": text(p.margin_balance),
            "margin_ratio": text(p.margin_ratio),
            "max_removable": text(p.max_removable),
            "max_loss": text(p.isolated_wallet),
        }
    return row


def _pool_json(pool: PoolFigures) -> dict[str, Any]:
    return {
        "wallet_balance": text(pool.wallet_balance),
        "unrealized_pnl": text(pool.unrealized_pnl),
        "margin_balance": text(pool.margin_balance),
        "initial_margin": text(pool.position_initial_margin + pool.open_order_initial_margin),
        "maintenance_margin": text(pool.maintenance_margin),
        "margin_ratio": text(pool.margin_ratio),
        "margin_level": text(pool.margin_level),
        "available_balance": text(pool.available_balance),
        "max_withdrawable": text(pool.max_withdrawable),
        "isolated_wallet_balance": text(pool.isolated_wallet_balance),
        "liquidatable": pool.liquidatable,
    }


def _portfolio_json(
    req: PortfolioRequirement, rows: list[PositionFigures], catalogue: Catalogue
) -> dict[str, Any]:
    """Why the portfolio requirement is what it is: the worst scenario, what drives it, and
    what each underlying's hedges saved against cross (its positions' tier maintenance minus
    its loss in the worst scenario). The savings add up: Σ saved_by_hedging −
    charged_above_scenario_loss (minimum charge and concentration) = saved_versus_cross."""
    worst = req.worst
    quantum = exponent(catalogue.instrument(rows[0].symbol).margin_asset.precision)
    required = round_up(req.maintenance, quantum)
    units = dict(req.unit_losses)
    cross: dict[str, Decimal] = {}
    for r in rows:
        unit = catalogue.instrument(r.symbol).base_asset
        cross[unit] = cross.get(unit, ZERO) + r.maintenance_margin
    cross_total = sum(cross.values(), ZERO)
    return {
        "requirement": text(required),
        "initial_requirement": text(round_up(req.initial, quantum)),
        "scenario_loss": text(round_up(req.scenario_loss, quantum)),
        "minimum_charge": text(round_up(req.minimum, quantum)),
        "concentration_add_on": text(round_up(req.concentration, quantum)),
        "cross_maintenance": text(cross_total),
        "saved_versus_cross": text(cross_total - required),
        "charged_above_scenario_loss": text(required - round_up(req.scenario_loss, quantum)),
        "worst_scenario": None
        if worst is None
        else {
            "kind": worst.kind,
            "level": text(worst.level),
            "market": "down" if worst.factor < 0 else "up",
            "moves": {u: text(m) for u, m in sorted(worst.moves.items())},
        },
        "position_losses": {label: text(round_up(loss, quantum)) for label, loss in req.leg_losses},
        "underlyings": {
            u: {
                "cross_maintenance": text(cross.get(u, ZERO)),
                "scenario_loss": text(round_up(units.get(u, ZERO), quantum)),
                "saved_by_hedging": text(
                    cross.get(u, ZERO) - round_up(units.get(u, ZERO), quantum)
                ),
            }
            for u in sorted(set(cross) | set(units))
        },
    }


def evaluate(scenario: Scenario) -> dict[str, Any]:
    """Every figure of the scenario as a JSON-ready document."""
    figures = scenario.figures()
    doc: dict[str, Any] = {
        "positions": [_position_json(p) for p in figures.positions],
        "margin_assets": {a: _pool_json(pool) for a, pool in figures.pools.items()},
    }
    if figures.portfolio:
        doc["portfolio"] = {
            asset: _portfolio_json(
                req,
                [
                    r
                    for r in figures.positions
                    if r.margin_asset == asset and r.margin_mode is MarginMode.PORTFOLIO
                ],
                scenario.catalogue,
            )
            for asset, req in figures.portfolio.items()
        }
    return doc

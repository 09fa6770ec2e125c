"""The account aggregate: wallets, modes, leverage, positions and the rules that guard them.

Every command validates completely before it changes anything, so a refused command leaves the
account exactly as it was; every movement of money is a balanced ledger entry
(:class:`~isocross.model.ledger.Ledger`). Rules follow Binance USDⓈ-M (error codes in
:mod:`isocross.model.errors`):

* margin mode cannot change while the symbol has an open order (-4047) or a position (-4048);
* position mode cannot change while any open order (-4067) or position (-4068) exists;
* a bulk margin-mode change is all-or-nothing and its refusal lists every blocking symbol;
* leverage is 1 … the max of the tier holding the symbol's position-plus-orders notional;
  raising a cross requirement needs available margin; lowering an isolated position's leverage
  needs its margin balance to cover the new initial margin (-4161);
* isolated fills move initial margin from the cross wallet into the position's own wallet;
  closing releases margin pro rata (the liquidation price of the rest is unchanged) and an
  isolated position never loses more than its wallet: a shortfall is charged to the insurance
  fund, not to the cross pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from isocross.catalogue import Catalogue
from isocross.margin.figures import AccountFigures, compute_figures
from isocross.margin.portfolio import PortfolioParams
from isocross.margin.position import Position, apply_fill
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import ErrorCode, IsocrossError
from isocross.model.instrument import Instrument
from isocross.model.ledger import Ledger
from isocross.model.money import CONTEXT, ZERO, exponent, round_down, round_up

DEPOSITS = "external:deposits"
WITHDRAWALS = "external:withdrawals"
CLEARING = "exchange:clearing"
FEES = "exchange:fees"
INSURANCE = "exchange:insurance"
DEFAULT_LEVERAGE = 20


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    """Per-symbol choices: margin mode, leverage and (isolated) auto-add margin."""

    margin_mode: MarginMode
    leverage: int
    auto_add_margin: bool = False


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A resting order as far as margin is concerned: it reserves ``initial_margin``."""

    order_id: str
    symbol: str
    position_side: PositionSide
    side: Side
    qty: Decimal
    price: Decimal
    reduce_only: bool = False
    reserved_margin: Decimal | None = None
    """Margin the order holds (IM plus open loss, set by the exchange); ``None``: N/leverage."""


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why one symbol blocks a bulk margin-mode change."""

    symbol: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Snapshot:
    settings: dict[str, SymbolSettings]
    positions: dict[tuple[str, PositionSide], Position]
    ledger: int


class Account:
    """One trader's futures account on one venue catalogue."""

    def __init__(
        self,
        catalogue: Catalogue,
        account_id: str = "trader",
        *,
        position_mode: PositionMode = PositionMode.ONE_WAY,
        default_margin_mode: MarginMode = MarginMode.CROSS,
        ledger: Ledger | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.account_id = account_id
        self.position_mode = position_mode
        self.default_margin_mode = default_margin_mode
        self.ledger = ledger if ledger is not None else Ledger()
        self._settings: dict[str, SymbolSettings] = {}
        self._positions: dict[tuple[str, PositionSide], Position] = {}
        self._orders: dict[str, OpenOrder] = {}
        self.portfolio: PortfolioParams | None = None
        """Portfolio-margin parameters for symbols in ``MarginMode.PORTFOLIO`` (None: default)."""

    # ----------------------------------------------------------------- ledger accounts
    def spot_account(self) -> str:
        return f"{self.account_id}:spot"

    def futures_account(self) -> str:
        """The cross wallet (one per margin asset: the ledger keys balances by asset)."""
        return f"{self.account_id}:futures"

    def isolated_account(self, symbol: str, side: PositionSide) -> str:
        return f"{self.account_id}:isolated:{symbol}:{side.value}"

    # ----------------------------------------------------------------- reads
    def spot_balance(self, asset: str) -> Decimal:
        return self.ledger.balance(self.spot_account(), asset)

    def cross_wallet(self, asset: str) -> Decimal:
        return self.ledger.balance(self.futures_account(), asset)

    def isolated_wallet(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Decimal:
        asset = self.catalogue.instrument(symbol).margin_asset.name
        return self.ledger.balance(self.isolated_account(symbol, side), asset)

    def settings(self, symbol: str) -> SymbolSettings:
        """Explicit settings, else the default mode and ``min(20, max leverage)``."""
        if symbol in self._settings:
            return self._settings[symbol]
        inst = self.catalogue.instrument(symbol)
        return SymbolSettings(
            self.default_margin_mode, min(DEFAULT_LEVERAGE, inst.tiers.max_leverage)
        )

    def position(self, symbol: str, side: PositionSide = PositionSide.BOTH) -> Position | None:
        pos = self._positions.get((symbol, side))
        return pos if pos is not None and pos.is_open else None

    def positions(self) -> list[Position]:
        return [p for p in self._positions.values() if p.is_open]

    def open_orders(self, symbol: str | None = None) -> list[OpenOrder]:
        return [o for o in self._orders.values() if symbol is None or o.symbol == symbol]

    def order_initial_margin(self, order: OpenOrder) -> Decimal:
        """Margin an open order reserves: ``N(price) / leverage``, rounded up."""
        inst = self.catalogue.instrument(order.symbol)
        if order.reduce_only:
            return ZERO
        if order.reserved_margin is not None:
            return order.reserved_margin
        with localcontext(CONTEXT):
            value = inst.notional(order.qty, order.price) / self.settings(order.symbol).leverage
        return round_up(value, exponent(inst.margin_asset.precision))

    def figures(self, marks: Mapping[str, Decimal], *, prices: bool = True) -> AccountFigures:
        """Every position and pool figure at ``marks`` (one price per symbol held);
        ``prices=False`` leaves out liquidation and bankruptcy prices (for margin checks)."""
        self._require_marks(marks, {p.symbol for p in self.positions()})
        order_margin: dict[str, Decimal] = {}
        for order in self._orders.values():
            asset = self.catalogue.instrument(order.symbol).margin_asset.name
            order_margin[asset] = order_margin.get(asset, ZERO) + self.order_initial_margin(order)
        assets = {a for a in self.catalogue.assets if self.cross_wallet(a) != 0}
        isolated = {
            (p.symbol, p.side): self.isolated_wallet(p.symbol, p.side)
            for p in self.positions()
            if p.margin_mode is MarginMode.ISOLATED
        }
        return compute_figures(
            self.positions(),
            self.catalogue.instrument,
            {a: self.cross_wallet(a) for a in assets},
            isolated,
            order_margin,
            marks,
            prices=prices,
            portfolio=self.portfolio,
        )

    # ----------------------------------------------------------------- money in and out
    def deposit(self, asset: str, amount: Decimal) -> None:
        """Credit the spot wallet from outside."""
        amount = self._amount(asset, amount)
        self.ledger.post(DEPOSITS, self.spot_account(), asset, amount, "deposit")

    def transfer_to_futures(self, asset: str, amount: Decimal) -> None:
        """Spot wallet → futures (cross) wallet."""
        amount = self._amount(asset, amount)
        if amount > self.spot_balance(asset):
            raise IsocrossError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"spot wallet holds {self.spot_balance(asset)} {asset}, cannot transfer {amount}",
                field="amount",
            )
        self.ledger.post(self.spot_account(), self.futures_account(), asset, amount, "transfer")

    def transfer_to_spot(self, asset: str, amount: Decimal, marks: Mapping[str, Decimal]) -> None:
        """Futures (cross) wallet → spot wallet, up to the pool's max withdrawable."""
        amount = self._amount(asset, amount)
        pool = self.figures(marks, prices=False).pools.get(asset)
        limit = pool.max_withdrawable if pool else ZERO
        if amount > limit:
            raise IsocrossError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"at most {limit} {asset} can leave the futures wallet now "
                f"(positions and open orders need the rest), asked for {amount}",
                field="amount",
            )
        self.ledger.post(self.futures_account(), self.spot_account(), asset, amount, "transfer")

    # ----------------------------------------------------------------- modes
    def set_position_mode(self, mode: PositionMode) -> None:
        """Switch one-way ↔ hedge; only with no open order and no position anywhere."""
        if mode is self.position_mode:
            raise IsocrossError(
                ErrorCode.POSITION_MODE_UNCHANGED, f"position mode is already {mode.value}"
            )
        if self._orders:
            symbols = sorted({o.symbol for o in self._orders.values()})
            raise IsocrossError(
                ErrorCode.POSITION_MODE_OPEN_ORDERS,
                f"position mode cannot change while open orders exist ({', '.join(symbols)})",
                details={"symbols": symbols},
            )
        if self.positions():
            symbols = sorted({p.symbol for p in self.positions()})
            raise IsocrossError(
                ErrorCode.POSITION_MODE_POSITION_EXISTS,
                f"position mode cannot change while positions exist ({', '.join(symbols)})",
                details={"symbols": symbols},
            )
        self.position_mode = mode

    def _margin_mode_blocker(self, symbol: str) -> Blocker | None:
        if self.open_orders(symbol):
            return Blocker(
                symbol,
                ErrorCode.MARGIN_MODE_OPEN_ORDERS.code,
                f"{symbol} has {len(self.open_orders(symbol))} open order(s); cancel them first",
            )
        if any(p.symbol == symbol for p in self.positions()):
            return Blocker(
                symbol,
                ErrorCode.MARGIN_MODE_POSITION_EXISTS.code,
                f"{symbol} has an open position; close it first",
            )
        return None

    def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """Cross ↔ isolated for one symbol; refused with an open order or a position on it."""
        self.catalogue.instrument(symbol)
        current = self.settings(symbol)
        if current.margin_mode is mode:
            raise IsocrossError(
                ErrorCode.MARGIN_MODE_UNCHANGED, f"{symbol} is already in {mode.value} margin mode"
            )
        blocker = self._margin_mode_blocker(symbol)
        if blocker is not None:
            error = ErrorCode.MARGIN_MODE_OPEN_ORDERS
            if blocker.code == ErrorCode.MARGIN_MODE_POSITION_EXISTS.code:
                error = ErrorCode.MARGIN_MODE_POSITION_EXISTS
            raise IsocrossError(error, f"cannot change margin mode: {blocker.reason}")
        self._settings[symbol] = replace(current, margin_mode=mode)

    def set_margin_modes(
        self,
        mode: MarginMode,
        symbols: Sequence[str] | None = None,
        *,
        as_default: bool = False,
        also_blocked: Mapping[str, Blocker] | None = None,
    ) -> list[str]:
        """Set ``mode`` on many symbols at once (all of the catalogue when ``symbols`` is None).

        All-or-nothing: if any symbol is blocked, nothing changes and the error lists every
        blocking symbol and why. Symbols already in ``mode`` are left as they are. With
        ``as_default`` the mode also becomes the default for symbols not yet configured.
        ``also_blocked`` adds blockers the account cannot see (the exchange's stop orders).
        Returns the symbols whose mode changed.
        """
        names = list(self.catalogue.instruments) if symbols is None else list(symbols)
        for i, name in enumerate(names):
            self.catalogue.instrument(name, field=f"symbols[{i}]")
        to_change = [s for s in dict.fromkeys(names) if self.settings(s).margin_mode is not mode]
        extra = also_blocked or {}
        blockers = [
            b for s in to_change if (b := self._margin_mode_blocker(s) or extra.get(s)) is not None
        ]
        if blockers:
            listing = "; ".join(f"{b.symbol}: {b.reason}" for b in blockers)
            raise IsocrossError(
                ErrorCode.MARGIN_MODE_BULK_BLOCKED,
                f"no margin mode was changed; {len(blockers)} symbol(s) are blocked: {listing}",
                field="symbols",
                details={
                    "blocked": [
                        {"symbol": b.symbol, "code": b.code, "reason": b.reason} for b in blockers
                    ]
                },
            )
        if as_default:
            # Symbols that ever held a position or order have pinned settings; the rest follow.
            self.default_margin_mode = mode
        for s in to_change:
            self._settings[s] = replace(self.settings(s), margin_mode=mode)
        return to_change

    def set_auto_add_margin(self, symbol: str, enabled: bool) -> None:
        """Opt an isolated symbol in or out of auto-add margin (executed by the risk engine)."""
        current = self.settings(symbol)
        if current.margin_mode is not MarginMode.ISOLATED:
            raise IsocrossError(
                ErrorCode.ISOLATED_ONLY,
                f"auto-add margin applies to isolated symbols; {symbol} is cross",
            )
        self._settings[symbol] = replace(current, auto_add_margin=enabled)

    # ----------------------------------------------------------------- leverage
    def set_leverage(self, symbol: str, leverage: int, marks: Mapping[str, Decimal]) -> None:
        """Change a symbol's leverage, re-checking the tier and the margin it implies."""
        inst = self.catalogue.instrument(symbol)
        current = self.settings(symbol)
        top = inst.tiers.max_leverage
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= top:
            raise IsocrossError(
                ErrorCode.INVALID_LEVERAGE,
                f"leverage must be a whole number from 1 to {top} for {symbol}, got {leverage!r}",
                field="leverage",
            )
        legs = [p for p in self.positions() if p.symbol == symbol]
        self._require_marks(marks, {symbol} if legs else set())
        exposure = sum((inst.notional(p.qty, marks[symbol]) for p in legs), ZERO)
        exposure += sum(
            (inst.notional(o.qty, o.price) for o in self.open_orders(symbol) if not o.reduce_only),
            ZERO,
        )
        allowed = inst.tiers.max_leverage_for(exposure)
        if leverage > allowed:
            raise IsocrossError(
                ErrorCode.LEVERAGE_EXCEEDS_TIER,
                f"{symbol} position and orders are worth {exposure:.2f} {inst.margin_asset.name}; "
                f"that tier allows at most {allowed}x, asked for {leverage}x",
                field="leverage",
            )
        quantum = exponent(inst.margin_asset.precision)
        for p in legs:
            if current.margin_mode is MarginMode.ISOLATED and leverage < p.leverage:
                wallet = self.isolated_wallet(symbol, p.side)
                with localcontext(CONTEXT):
                    balance = wallet + inst.unrealized_pnl(p.qty, p.entry_price, marks[symbol])
                    need = round_up(inst.notional(p.qty, marks[symbol]) / leverage, quantum)
                if balance < need:
                    raise IsocrossError(
                        ErrorCode.ISOLATED_LEVERAGE_REDUCTION,
                        f"lowering {symbol} to {leverage}x needs {need} {inst.margin_asset.name} "
                        f"of isolated margin balance, the position has {balance:.8f}; "
                        f"add margin first",
                        field="leverage",
                    )
        before = self._snapshot()
        self._settings[symbol] = replace(current, leverage=leverage)
        for p in legs:
            self._positions[(p.symbol, p.side)] = replace(p, leverage=leverage)
        tighter = current.margin_mode.pooled and leverage < current.leverage
        pool = (
            self.figures(marks, prices=False).pools.get(inst.margin_asset.name) if tighter else None
        )
        if pool is not None and pool.available_balance < 0:
            self._restore(before)
            raise IsocrossError(
                ErrorCode.INSUFFICIENT_MARGIN,
                f"at {leverage}x the {inst.margin_asset.name} pool would need "
                f"{-pool.available_balance} more margin than it has",
                field="leverage",
            )

    # ----------------------------------------------------------------- isolated margin
    def add_isolated_margin(
        self,
        symbol: str,
        amount: Decimal,
        marks: Mapping[str, Decimal],
        side: PositionSide = PositionSide.BOTH,
    ) -> None:
        """Move ``amount`` from the cross wallet into an isolated position's wallet."""
        inst, pos = self._isolated_position(symbol, side)
        amount = self._amount(inst.margin_asset.name, amount)
        limit = (
            self.figures(marks, prices=False).pools[inst.margin_asset.name].max_addable_to_isolated
        )
        if amount > limit:
            raise IsocrossError(
                ErrorCode.CROSS_BALANCE_INSUFFICIENT,
                f"the cross wallet can spare at most {limit} {inst.margin_asset.name}, "
                f"asked to add {amount}",
                field="amount",
            )
        self.ledger.post(
            self.futures_account(),
            self.isolated_account(symbol, pos.side),
            inst.margin_asset.name,
            amount,
            "add isolated margin",
        )

    def remove_isolated_margin(
        self,
        symbol: str,
        amount: Decimal,
        marks: Mapping[str, Decimal],
        side: PositionSide = PositionSide.BOTH,
    ) -> None:
        """Move ``amount`` back to the cross wallet, up to the position's max removable."""
        inst, pos = self._isolated_position(symbol, side)
        amount = self._amount(inst.margin_asset.name, amount)
        limit = self.figures(marks).position(symbol, pos.side).max_removable or ZERO
        if amount > limit:
            raise IsocrossError(
                ErrorCode.ISOLATED_BALANCE_INSUFFICIENT,
                f"at most {limit} {inst.margin_asset.name} can be removed from {symbol} "
                f"without putting it below its margin requirement, asked for {amount}",
                field="amount",
            )
        self.ledger.post(
            self.isolated_account(symbol, pos.side),
            self.futures_account(),
            inst.margin_asset.name,
            amount,
            "remove isolated margin",
        )

    # ----------------------------------------------------------------- orders (margin view)
    def add_open_order(self, order: OpenOrder) -> None:
        """Record a resting order so it reserves margin and blocks mode changes."""
        self.catalogue.instrument(order.symbol)
        self.check_position_side(order.position_side)
        self._settings[order.symbol] = self.settings(order.symbol)  # pinned while trading
        self._orders[order.order_id] = order

    def remove_open_order(self, order_id: str) -> OpenOrder:
        return self._orders.pop(order_id)

    def open_order(self, order_id: str) -> OpenOrder | None:
        return self._orders.get(order_id)

    def replace_open_order(self, order: OpenOrder) -> None:
        """Update a resting order after a partial fill or an amendment."""
        self._orders[order.order_id] = order

    def withdraw(self, asset: str, amount: Decimal) -> None:
        """Spot wallet → outside."""
        amount = self._amount(asset, amount)
        if amount > self.spot_balance(asset):
            raise IsocrossError(
                ErrorCode.INSUFFICIENT_BALANCE,
                f"spot wallet holds {self.spot_balance(asset)} {asset}, cannot withdraw {amount}",
                field="amount",
            )
        self.ledger.post(self.spot_account(), WITHDRAWALS, asset, amount, "withdrawal")

    # ----------------------------------------------------------------- fills
    def apply_fill(
        self,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal,
        marks: Mapping[str, Decimal],
        *,
        position_side: PositionSide = PositionSide.BOTH,
        fee: Decimal = ZERO,
        enforce: bool = True,
    ) -> Decimal:
        """Apply a trade to the position; returns the realized PnL (settled, rounded down).

        Refused, with nothing changed, when it would exceed the tier's leverage, when an
        isolated opening cannot be funded from the cross wallet, or when a hedge leg would be
        reduced past zero. With ``enforce=False`` (the fill of an order the exchange already
        accepted and reserved margin for) the margin and tier checks are skipped.
        """
        inst = self.catalogue.instrument(symbol)
        self.check_position_side(position_side)
        if qty <= 0 or price <= 0:
            raise IsocrossError(
                ErrorCode.INVALID_INPUT,
                f"fill quantity and price must be positive, got {qty} @ {price}",
                field="qty" if qty <= 0 else "price",
            )
        asset = inst.margin_asset.name
        quantum = exponent(inst.margin_asset.precision)
        settings = self.settings(symbol)
        key = (symbol, position_side)
        pos = self._positions.get(key) or Position(
            symbol, position_side, ZERO, ZERO, settings.margin_mode, settings.leverage
        )
        signed = qty * side.sign
        if position_side is not PositionSide.BOTH:
            leg_sign = 1 if position_side is PositionSide.LONG else -1
            if (pos.qty + signed) * leg_sign < 0:
                raise IsocrossError(
                    ErrorCode.POSITION_SIDE_MISMATCH,
                    f"a {side.value} of {qty} would take the {position_side.value} leg of "
                    f"{symbol} past zero (it holds {abs(pos.qty)})",
                    field="qty",
                )
        with localcontext(CONTEXT):
            outcome = apply_fill(inst, pos.qty, pos.entry_price, signed, price)
            exposure = inst.notional(outcome.qty, marks.get(symbol, price))
        if (
            enforce
            and outcome.opened_qty > 0
            and settings.leverage > inst.tiers.max_leverage_for(exposure)
        ):
            raise IsocrossError(
                ErrorCode.LEVERAGE_EXCEEDS_TIER,
                f"a {symbol} position worth {exposure:.2f} {asset} allows at most "
                f"{inst.tiers.max_leverage_for(exposure)}x; leverage is {settings.leverage}x",
                field="qty",
            )
        realized = round_down(outcome.realized_pnl, quantum)
        iso = self.isolated_account(symbol, position_side)
        before = self._snapshot()
        new_pos = replace(
            pos,
            qty=outcome.qty,
            entry_price=outcome.entry_price,
            margin_mode=settings.margin_mode,
            leverage=settings.leverage,
        )
        self._positions[key] = new_pos
        self._settings[symbol] = settings  # a traded symbol keeps its settings pinned
        try:
            if settings.margin_mode is MarginMode.ISOLATED:
                self._settle_isolated(inst, pos, outcome.closed_qty, realized, iso)
                if outcome.opened_qty > 0:
                    with localcontext(CONTEXT):
                        margin = inst.notional(outcome.opened_qty, price) / settings.leverage
                    margin = round_up(margin, quantum)
                    if enforce:
                        self._require_available(
                            asset, margin, {**marks, symbol: price}, iso_open=True
                        )
                    self.ledger.post(self.futures_account(), iso, asset, margin, "isolated margin")
            else:
                self.ledger.post(CLEARING, self.futures_account(), asset, realized, "realized pnl")
                if enforce and outcome.opened_qty > 0:
                    self._require_available(asset, ZERO, {**marks, symbol: price}, iso_open=False)
            if fee:
                self.ledger.post(self.futures_account(), FEES, asset, round_up(fee, quantum), "fee")
        except IsocrossError:
            self._restore(before)
            raise
        return realized

    def _settle_isolated(
        self, inst: Instrument, pos: Position, closed: Decimal, realized: Decimal, iso: str
    ) -> None:
        """Release the closed share of the isolated wallet plus realized PnL to the cross wallet.

        The remaining wallet keeps ``W·(1 − closed/|q|)`` (pro rata, as Bybit documents; the
        rest's liquidation price is unchanged when its tier's ``cum`` is 0); a loss beyond the
        whole isolated wallet is charged to the insurance fund.
        """
        if closed == 0:
            return
        asset = inst.margin_asset.name
        wallet = self.ledger.balance(iso, asset)
        quantum = exponent(inst.margin_asset.precision)
        with localcontext(CONTEXT):
            keep = round_up(wallet * (abs(pos.qty) - closed) / abs(pos.qty), quantum)
        self.ledger.post(CLEARING, iso, asset, realized, "realized pnl")
        after = wallet + realized
        if after < 0:
            self.ledger.post(INSURANCE, iso, asset, -after, "isolated bankruptcy shortfall")
            after = ZERO
        release = max(ZERO, after - keep) if closed < abs(pos.qty) else after
        self.ledger.post(iso, self.futures_account(), asset, release, "release isolated margin")

    # ----------------------------------------------------------------- helpers
    def _require_available(
        self, asset: str, extra: Decimal, marks: Mapping[str, Decimal], *, iso_open: bool
    ) -> None:
        pool = self.figures(marks, prices=False).pools[asset]
        available = pool.available_balance
        if iso_open:
            available = min(
                available,
                pool.wallet_balance - pool.maintenance_margin - pool.open_order_initial_margin,
            )
        if available < extra:
            raise IsocrossError(
                ErrorCode.INSUFFICIENT_MARGIN,
                f"margin is insufficient: the {asset} cross pool would have {available} "
                f"available and this needs {extra}",
                field="qty",
            )

    def _isolated_position(self, symbol: str, side: PositionSide) -> tuple[Instrument, Position]:
        inst = self.catalogue.instrument(symbol)
        self.check_position_side(side)
        if self.settings(symbol).margin_mode is not MarginMode.ISOLATED:
            raise IsocrossError(
                ErrorCode.ISOLATED_ONLY,
                f"margin can only be added to or removed from isolated positions; "
                f"{symbol} is cross",
                field="symbol",
            )
        pos = self.position(symbol, side)
        if pos is None:
            raise IsocrossError(
                ErrorCode.NO_POSITION, f"there is no {symbol} {side.value} position", field="symbol"
            )
        return inst, pos

    def check_position_side(self, side: PositionSide) -> None:
        """Refuse a position side that does not fit the account's position mode (-4061)."""
        hedge = self.position_mode is PositionMode.HEDGE
        if hedge == (side is PositionSide.BOTH):
            allowed = "LONG or SHORT" if hedge else "BOTH"
            raise IsocrossError(
                ErrorCode.POSITION_SIDE_MISMATCH,
                f"position side {side.value} does not match {self.position_mode.value} mode "
                f"(use {allowed})",
                field="position_side",
            )

    def _amount(self, asset: str, amount: Decimal) -> Decimal:
        precision = self.catalogue.asset(asset).precision
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise IsocrossError(
                ErrorCode.AMOUNT_NOT_POSITIVE,
                f"amount must be a positive number, got {amount}",
                field="amount",
            )
        if amount != round_down(amount, exponent(precision)):
            raise IsocrossError(
                ErrorCode.INVALID_AMOUNT,
                f"{asset} amounts have at most {precision} decimal places, got {amount}",
                field="amount",
            )
        return amount

    @staticmethod
    def _require_marks(marks: Mapping[str, Decimal], symbols: Iterable[str]) -> None:
        missing = sorted(set(symbols) - set(marks))
        if missing:
            raise IsocrossError(
                ErrorCode.INVALID_INPUT,
                f"a mark price is needed for {', '.join(missing)}",
                field="marks",
            )

    def _snapshot(self) -> _Snapshot:
        return _Snapshot(dict(self._settings), dict(self._positions), self.ledger.checkpoint())

    def _restore(self, snap: _Snapshot) -> None:
        self._settings = snap.settings
        self._positions = snap.positions
        self.ledger.rollback(snap.ledger)

    # ----------------------------------------------------------------- scenario restore
    def restore_position(self, position: Position, isolated_margin: Decimal = ZERO) -> None:
        """Place a position as it stands (a scenario or snapshot), funding its isolated wallet
        from outside. Trading goes through :meth:`apply_fill`; this is for loading state."""
        self.check_position_side(position.side)
        inst = self.catalogue.instrument(position.symbol)
        self._settings[position.symbol] = replace(
            self.settings(position.symbol),
            margin_mode=position.margin_mode,
            leverage=position.leverage,
        )
        self._positions[(position.symbol, position.side)] = position
        if isolated_margin:
            self.ledger.post(
                DEPOSITS,
                self.isolated_account(position.symbol, position.side),
                inst.margin_asset.name,
                isolated_margin,
                "restore isolated margin",
            )

    def restore_cross_wallet(self, asset: str, amount: Decimal) -> None:
        """Fund the cross wallet from outside (a scenario or snapshot)."""
        self.catalogue.asset(asset)
        self.ledger.post(DEPOSITS, self.futures_account(), asset, amount, "restore wallet")

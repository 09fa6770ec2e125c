"""Refused commands change nothing, and money is conserved whatever the command sequence.

A state machine drives one account through random deposits, transfers both ways, position- and
margin-mode changes (single and bulk), leverage changes, fills (opening, adding, reducing,
flipping, on the wrong position side, too big for the tier or the wallet) and isolated margin
moves, with marks that drift. Every :class:`IsocrossError` refusal must leave balances, ledger
entries, positions, settings and modes exactly as they were.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from prop_support import BINANCE, D, ratio_of

from isocross.margin.account import Account
from isocross.model.enums import MarginMode, PositionMode, PositionSide, Side
from isocross.model.errors import IsocrossError
from isocross.model.money import ZERO

SYMBOLS = sorted(BINANCE.instruments)
ASSETS = sorted(BINANCE.assets)
START = {
    "BTCUSDT": D(60000),
    "ETHUSDT": D(3000),
    "SOLUSDT": D(150),
    "XRPUSDT": D("0.6"),
    "BTCUSDC": D(60000),
    "BTCUSD_PERP": D(60000),
}
SIDES = list(PositionSide)

# Mostly valid amounts, sometimes zero, negative or with too many decimals.
amounts = st.one_of(
    st.builds(lambda m, e: D(m).scaleb(e), st.integers(1, 10**6), st.integers(-8, 2)),
    st.builds(lambda m, e: D(m).scaleb(e), st.integers(-(10**4), 10**4), st.integers(-10, 0)),
)


class AccountMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.account = Account(BINANCE)
        self.marks: dict[str, Decimal] = dict(START)

    @initialize(hedge=st.booleans(), mode=st.sampled_from(MarginMode))
    def start(self, hedge: bool, mode: MarginMode) -> None:
        self.account = Account(
            BINANCE,
            position_mode=PositionMode.HEDGE if hedge else PositionMode.ONE_WAY,
            default_margin_mode=mode,
        )

    # ------------------------------------------------------------------ the check
    def state(self) -> tuple[Any, ...]:
        acct = self.account
        return (
            acct.ledger.balances(),
            tuple(acct.ledger.entries),
            tuple(sorted((p.symbol, p.side, p) for p in acct.positions())),
            tuple(acct.position(s, side) for s in SYMBOLS for side in SIDES),
            tuple(acct.settings(s) for s in SYMBOLS),
            acct.position_mode,
            acct.default_margin_mode,
            tuple(acct.open_orders()),
        )

    def attempt(self, name: str, command: Any) -> None:
        before = self.state()
        refusal: IsocrossError | None = None
        try:
            command()
        except IsocrossError as error:
            refusal = error
        if refusal is None:
            event(f"{name} accepted")
            return
        event(f"{name} refused: {refusal.code}")
        assert self.state() == before, f"{name} was refused ({refusal}) but changed state"

    def side_for(self, pick: int, any_side: PositionSide, long: bool) -> PositionSide:
        """Mostly the side the position mode expects; sometimes a wrong one."""
        if pick == 0:
            return any_side
        if self.account.position_mode is PositionMode.ONE_WAY:
            return PositionSide.BOTH
        return PositionSide.LONG if long else PositionSide.SHORT

    def target(
        self, pick: int, index: int, symbol: str, side: PositionSide
    ) -> tuple[str, PositionSide]:
        """Mostly an open position (isolated first); sometimes the symbol and side given."""
        open_legs = sorted(
            self.account.positions(), key=lambda p: (p.margin_mode is MarginMode.CROSS, p.symbol)
        )
        if pick == 0 or not open_legs:
            return symbol, side
        pos = open_legs[index % len(open_legs) if index % 2 else 0]
        return pos.symbol, pos.side

    # ------------------------------------------------------------------ commands
    @rule(
        asset=st.sampled_from(ASSETS),
        mantissa=st.integers(1, 10**6),
        places=st.integers(0, 3) | st.integers(0, 8),
    )
    def fund(self, asset: str, mantissa: int, places: int) -> None:
        """A valid deposit moved straight into the futures wallet."""
        amount = D(mantissa).scaleb(-places) * (D(1) if asset != "BTC" else D("0.0001"))
        self.attempt("deposit", lambda: self.account.deposit(asset, amount))
        self.attempt("transfer_to_futures", lambda: self.account.transfer_to_futures(asset, amount))

    @rule(asset=st.sampled_from(ASSETS), amount=amounts)
    def deposit(self, asset: str, amount: Decimal) -> None:
        self.attempt("deposit", lambda: self.account.deposit(asset, amount))

    @rule(asset=st.sampled_from(ASSETS), amount=amounts)
    def to_futures(self, asset: str, amount: Decimal) -> None:
        self.attempt("transfer_to_futures", lambda: self.account.transfer_to_futures(asset, amount))

    @rule(asset=st.sampled_from(ASSETS), amount=amounts)
    def to_spot(self, asset: str, amount: Decimal) -> None:
        self.attempt(
            "transfer_to_spot", lambda: self.account.transfer_to_spot(asset, amount, self.marks)
        )

    @rule(mode=st.sampled_from(PositionMode))
    def position_mode(self, mode: PositionMode) -> None:
        self.attempt("set_position_mode", lambda: self.account.set_position_mode(mode))

    @rule(symbol=st.sampled_from(SYMBOLS), mode=st.sampled_from(MarginMode))
    def margin_mode(self, symbol: str, mode: MarginMode) -> None:
        self.attempt("set_margin_mode", lambda: self.account.set_margin_mode(symbol, mode))

    @rule(
        mode=st.sampled_from(MarginMode),
        symbols=st.none() | st.lists(st.sampled_from([*SYMBOLS, "NOPEUSDT"]), max_size=4),
        as_default=st.booleans(),
    )
    def margin_modes(self, mode: MarginMode, symbols: list[str] | None, as_default: bool) -> None:
        self.attempt(
            "set_margin_modes",
            lambda: self.account.set_margin_modes(mode, symbols, as_default=as_default),
        )

    @rule(symbol=st.sampled_from(SYMBOLS), leverage=st.integers(0, 130))
    def leverage(self, symbol: str, leverage: int) -> None:
        self.attempt(
            "set_leverage", lambda: self.account.set_leverage(symbol, leverage, self.marks)
        )

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        pick=st.integers(0, 9),
        any_side=st.sampled_from(SIDES),
        leg_long=st.integers(0, 4).map(bool),
        steps=st.integers(1, 300) | st.integers(1, 10**6),
        slip=st.integers(900, 1100),
        fee=st.sampled_from([ZERO, D("0.01"), D("0.000000001")]),
    )
    def fill(
        self,
        symbol: str,
        side: Side,
        pick: int,
        any_side: PositionSide,
        leg_long: bool,
        steps: int,
        slip: int,
        fee: Decimal,
    ) -> None:
        inst = BINANCE.instrument(symbol)
        qty = inst.step_size * steps
        price = ratio_of(self.marks[symbol], slip)
        # Mostly open or add on the leg of the fill's direction; sometimes reduce the other leg.
        position_side = self.side_for(pick, any_side, (side is Side.BUY) == leg_long)
        self.attempt(
            "apply_fill",
            lambda: self.account.apply_fill(
                symbol, side, qty, price, self.marks, position_side=position_side, fee=fee
            ),
        )

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        slip=st.integers(1, 3000),
        pick=st.integers(0, 9),
        any_side=st.sampled_from(SIDES),
        leg_long=st.booleans(),
        part=st.integers(1, 4),
    )
    def close(
        self,
        symbol: str,
        slip: int,
        pick: int,
        any_side: PositionSide,
        leg_long: bool,
        part: int,
    ) -> None:
        """Reduce or close an open leg (by a quarter … all of it) at any price."""
        symbol, position_side = self.target(
            pick, part + slip, symbol, self.side_for(pick, any_side, leg_long)
        )
        pos = self.account.position(symbol, position_side)
        if pos is None:
            return
        inst = BINANCE.instrument(symbol)
        steps = int(abs(pos.qty) / inst.step_size)
        qty = inst.step_size * max(1, steps * part // 4)
        side = Side.SELL if pos.qty > 0 else Side.BUY
        price = ratio_of(self.marks[symbol], slip)
        self.attempt(
            "close",
            lambda: self.account.apply_fill(
                symbol, side, qty, price, self.marks, position_side=position_side
            ),
        )

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        pick=st.integers(0, 9),
        any_side=st.sampled_from(SIDES),
        leg_long=st.booleans(),
        index=st.integers(0, 20),
        amount=amounts,
    )
    def add_margin(
        self,
        symbol: str,
        pick: int,
        any_side: PositionSide,
        leg_long: bool,
        index: int,
        amount: Decimal,
    ) -> None:
        symbol, position_side = self.target(
            pick, index, symbol, self.side_for(pick, any_side, leg_long)
        )
        self.attempt(
            "add_isolated_margin",
            lambda: self.account.add_isolated_margin(symbol, amount, self.marks, position_side),
        )

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        pick=st.integers(0, 9),
        any_side=st.sampled_from(SIDES),
        leg_long=st.booleans(),
        index=st.integers(0, 20),
        amount=amounts,
    )
    def remove_margin(
        self,
        symbol: str,
        pick: int,
        any_side: PositionSide,
        leg_long: bool,
        index: int,
        amount: Decimal,
    ) -> None:
        symbol, position_side = self.target(
            pick, index, symbol, self.side_for(pick, any_side, leg_long)
        )
        self.attempt(
            "remove_isolated_margin",
            lambda: self.account.remove_isolated_margin(symbol, amount, self.marks, position_side),
        )

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(500, 1500))
    def move_mark(self, symbol: str, move: int) -> None:
        self.marks[symbol] = ratio_of(self.marks[symbol], move)

    # ------------------------------------------------------------------ invariants
    @invariant()
    def money_is_conserved(self) -> None:
        assert self.account.ledger.imbalance() == {}

    @invariant()
    def balances_are_the_entries(self) -> None:
        replay: defaultdict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
        for e in self.account.ledger.entries:
            assert e.amount != 0
            replay[(e.debit, e.asset)] -= e.amount
            replay[(e.credit, e.asset)] += e.amount
        assert {k: v for k, v in replay.items() if v != 0} == self.account.ledger.balances()

    @invariant()
    def isolated_wallets_belong_to_open_isolated_positions(self) -> None:
        acct = self.account
        for symbol in SYMBOLS:
            for side in SIDES:
                wallet = acct.isolated_wallet(symbol, side)
                assert wallet >= 0
                pos = acct.position(symbol, side)
                if pos is None or pos.margin_mode is MarginMode.CROSS:
                    assert wallet == 0, (symbol, side, wallet)

    @invariant()
    def positions_follow_their_symbol_settings(self) -> None:
        acct = self.account
        for pos in acct.positions():
            assert (pos.margin_mode, pos.leverage) == (
                acct.settings(pos.symbol).margin_mode,
                acct.settings(pos.symbol).leverage,
            )
            expected = {PositionMode.ONE_WAY: {PositionSide.BOTH}}.get(
                acct.position_mode, {PositionSide.LONG, PositionSide.SHORT}
            )
            assert pos.side in expected
            if pos.side is PositionSide.LONG:
                assert pos.qty > 0
            if pos.side is PositionSide.SHORT:
                assert pos.qty < 0

    @invariant()
    def spot_wallets_never_go_negative(self) -> None:
        for asset in ASSETS:
            assert self.account.spot_balance(asset) >= 0


AccountMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestAccountCommands = AccountMachine.TestCase

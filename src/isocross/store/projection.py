"""Read models: tables derived from the journal's events, written in the journal's transaction.

:class:`Projector` turns entries into rows. Each event type has one small function (registered
with :func:`projects`); event types without one are journaled but change no read model. Within
one batch rows are gathered in memory (an order updated five times is written once) and
:meth:`Projector.flush` writes them with the batch. Rows made from an event are keyed by the
entry's ``seq`` and the event's index in it, so rebuilding from the journal
(:func:`rebuild`) gives exactly the rows kept incrementally.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, delete, select

from isocross.catalogue import Catalogue, load_catalogue
from isocross.engine import commands as c
from isocross.margin.account import INSURANCE, Account
from isocross.model.money import ZERO
from isocross.store import schema as t
from isocross.store.codec import EVENTS, dumps
from isocross.store.journal import Entry
from isocross.store.sql import BulkWriter

Handler = Callable[["Projector", Entry, int, Any], None]
HANDLERS: dict[str, Handler] = {}

_ACCOUNT_DEFAULTS = inspect.signature(Account.__init__).parameters
DEFAULT_POSITION_MODE = str(_ACCOUNT_DEFAULTS["position_mode"].default.value)
DEFAULT_MARGIN_MODE = str(_ACCOUNT_DEFAULTS["default_margin_mode"].default.value)
ORDER_UPDATES = ("status", "filled_qty", "remaining_qty", "reason", "updated_seq", "updated_ts")
NAME = "read_models"


def projects(*names: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for the event classes ``names``."""

    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler

    return register


def _value(value: Any) -> Any:
    """An enum's value, anything else as is (read models store plain strings)."""
    return getattr(value, "value", value)


class Projector:
    """Keeps the read models in step: :meth:`apply` entries, then :meth:`flush` in the same
    transaction as the journal rows. Balances and accounts are mirrored in memory (small, and
    every batch changes some)."""

    def __init__(self, catalogue: Catalogue | None = None) -> None:
        self.catalogue = catalogue or load_catalogue()
        self.balances: dict[tuple[str, str], Decimal] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.entry_id = 0
        self._reset()

    def _reset(self) -> None:
        self._inserts: dict[Table, list[dict[str, Any]]] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._positions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._settings: dict[tuple[str, str], dict[str, Any]] = {}
        self._dirty_balances: dict[tuple[str, str], int] = {}
        self._dirty_accounts: set[str] = set()
        self._trades: dict[int, bool] = {}

    # ------------------------------------------------------------------ state
    def load(self, conn: Connection) -> None:
        """Read the mirrored tables and the projection mark from the database."""
        self.balances = {
            (row.ledger_account, row.asset): row.balance for row in conn.execute(select(t.balances))
        }
        self.accounts = {
            row.account_id: dict(row._mapping) for row in conn.execute(select(t.accounts))
        }
        mark = conn.execute(
            select(t.projection.c.entry_id).where(t.projection.c.name == NAME)
        ).scalar()
        self.entry_id = int(mark or 0)
        self._reset()

    def clear(self, conn: Connection) -> None:
        """Empty every read model (before a rebuild)."""
        for table in t.READ_MODELS:
            conn.execute(delete(table))
        self.balances, self.accounts, self.entry_id = {}, {}, 0
        self._reset()

    # ------------------------------------------------------------------ applying
    def apply(self, entry: Entry) -> None:
        """Gather the rows ``entry`` changes (refused commands change none)."""
        self.entry_id = entry.entry_id
        if entry.seq is None:
            return
        self._trades.clear()
        if type(entry.command) is c.OpenAccount:
            self._open_account(entry)
        handlers = HANDLERS
        for idx, event in enumerate(entry.events):
            handler = handlers.get(type(event).__name__)
            if handler is not None:
                handler(self, entry, idx, event)

    def insert(self, table: Table, row: dict[str, Any]) -> None:
        self._inserts.setdefault(table, []).append(row)

    def _open_account(self, entry: Entry) -> None:
        cmd = entry.command
        self.accounts[cmd.account_id] = {
            "account_id": cmd.account_id,
            "fee_tier": cmd.fee_tier,
            "position_mode": DEFAULT_POSITION_MODE,
            "default_margin_mode": DEFAULT_MARGIN_MODE,
            "opened_seq": entry.seq,
            "opened_ts": entry.ts,
            "updated_seq": entry.seq,
        }
        self._dirty_accounts.add(cmd.account_id)

    def account(self, account_id: str, seq: int) -> dict[str, Any]:
        """The mirrored account row (created bare for accounts not opened by a command)."""
        row = self.accounts.get(account_id)
        if row is None:
            row = self.accounts[account_id] = {
                "account_id": account_id,
                "fee_tier": None,
                "position_mode": None,
                "default_margin_mode": None,
                "opened_seq": None,
                "opened_ts": None,
                "updated_seq": seq,
            }
        row["updated_seq"] = seq
        self._dirty_accounts.add(account_id)
        return row

    def post(self, ledger_account: str, asset: str, change: Decimal, seq: int) -> Decimal:
        """Move a mirrored balance; returns the balance after."""
        key = (ledger_account, asset)
        balance = self.balances.get(key, ZERO) + change
        self.balances[key] = balance
        self._dirty_balances[key] = seq
        return balance

    def asset_of(self, symbol: str) -> str | None:
        inst = self.catalogue.instruments.get(symbol)
        return None if inst is None else inst.margin_asset.name

    # ------------------------------------------------------------------ writing
    def flush(self, conn: Connection, bulk: BulkWriter | None = None) -> None:
        """Write what :meth:`apply` gathered (inside the caller's transaction)."""
        bulk = bulk or BulkWriter.of(conn)
        for table, rows in self._inserts.items():
            bulk.insert(conn, table, rows)
        bulk.upsert(conn, t.orders, list(self._orders.values()), ORDER_UPDATES)
        bulk.upsert(conn, t.positions, list(self._positions.values()))
        bulk.upsert(conn, t.account_settings, list(self._settings.values()))
        bulk.upsert(conn, t.accounts, [self.accounts[a] for a in sorted(self._dirty_accounts)])
        balances = [
            {
                "ledger_account": account,
                "asset": asset,
                "owner": account.split(":", 1)[0],
                "balance": self.balances[(account, asset)],
                "updated_seq": seq,
            }
            for (account, asset), seq in self._dirty_balances.items()
        ]
        bulk.upsert(conn, t.balances, balances)
        bulk.upsert(conn, t.projection, [{"name": NAME, "entry_id": self.entry_id}])
        self._reset()


# ---------------------------------------------------------------------- one function per event
@projects("OrderUpdated")
def _order_updated(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    row = p._orders.get(e.order_id)
    if row is None:
        row = p._orders[e.order_id] = {
            "order_id": e.order_id,
            "account_id": e.account_id,
            "symbol": e.symbol,
            "side": None,
            "type": None,
            "price": None,
            "stop_price": None,
            "client_order_id": None,
            "created_seq": entry.seq,
            "created_ts": entry.ts,
        }
        cmd = entry.command
        if (
            e.reason == "accepted"
            and type(cmd) is c.PlaceOrder
            and cmd.account_id == e.account_id
            and cmd.symbol == e.symbol
        ):
            row["side"] = cmd.side.value
            row["type"] = cmd.type.value
            row["price"] = cmd.price
            row["stop_price"] = cmd.stop_price
            row["client_order_id"] = cmd.client_order_id
    row["status"] = _value(e.status)
    row["filled_qty"] = e.filled_qty
    row["remaining_qty"] = e.remaining_qty
    row["reason"] = e.reason
    row["updated_seq"] = entry.seq
    row["updated_ts"] = entry.ts


@projects("Trade")
def _trade(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    p._trades[e.trade_id] = e.taker_is_buyer


@projects("FillSettled")
def _fill(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    taker_is_buyer = p._trades.get(e.trade_id, True)
    p.insert(
        t.fills,
        {
            "seq": entry.seq,
            "idx": idx,
            "ts": entry.ts,
            "account_id": e.account_id,
            "trade_id": e.trade_id,
            "order_id": e.order_id,
            "symbol": e.symbol,
            "side": "BUY" if taker_is_buyer != e.is_maker else "SELL",
            "qty": e.qty,
            "price": e.price,
            "is_maker": e.is_maker,
            "fee": e.fee,
            "realized_pnl": e.realized_pnl,
            "asset": p.asset_of(e.symbol),
        },
    )


@projects("LedgerPosted")
def _ledger(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    seq = entry.seq
    assert seq is not None
    after_debit = p.post(e.debit, e.asset, -e.amount, seq)
    after_credit = p.post(e.credit, e.asset, e.amount, seq)
    if INSURANCE in (e.debit, e.credit) and e.debit != e.credit:
        into = e.credit == INSURANCE
        p.insert(
            t.insurance_fund,
            {
                "seq": seq,
                "idx": idx,
                "ts": entry.ts,
                "asset": e.asset,
                "change": e.amount if into else -e.amount,
                "balance": after_credit if into else after_debit,
                "counterparty": e.debit if into else e.credit,
                "reason": e.reason,
            },
        )


@projects("PositionChanged")
def _position(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    p._positions[(e.account_id, e.symbol, e.position_side)] = {
        "account_id": e.account_id,
        "symbol": e.symbol,
        "position_side": e.position_side,
        "qty": e.qty,
        "entry_price": e.entry_price,
        "margin_mode": e.margin_mode,
        "leverage": e.leverage,
        "updated_seq": entry.seq,
        "updated_ts": entry.ts,
    }


@projects("SettingsChanged")
def _settings(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    assert entry.seq is not None
    account = p.account(e.account_id, entry.seq)
    if e.what in ("position_mode", "default_margin_mode"):
        account[e.what] = e.value
    p._settings[(e.account_id, e.what)] = {
        "account_id": e.account_id,
        "what": e.what,
        "value": e.value,
        "updated_seq": entry.seq,
        "updated_ts": entry.ts,
    }


@projects("FundingPaid")
def _funding(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    p.insert(
        t.funding_payments,
        {
            "seq": entry.seq,
            "idx": idx,
            "ts": entry.ts,
            "account_id": e.account_id,
            "symbol": e.symbol,
            "position_side": e.position_side,
            "rate": e.rate,
            "amount": e.amount,
            "asset": p.asset_of(e.symbol),
        },
    )


@projects("MarginCall")
def _margin_call(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    p.insert(
        t.margin_calls,
        {
            "seq": entry.seq,
            "idx": idx,
            "ts": entry.ts,
            "account_id": e.account_id,
            "pool": e.pool,
            "metric": e.metric,
            "threshold": e.threshold,
            "value": e.value,
        },
    )


@projects(
    "LiquidationStarted",
    "LiquidationFilled",
    "LiquidationEnded",
    "AutoDeleveraged",
    "UncoveredLoss",
)
def _liquidation(p: Projector, entry: Entry, idx: int, e: Any) -> None:
    """Every liquidation step in one table; fields an event lacks stay NULL, and ``details``
    keeps the whole event."""
    p.insert(
        t.liquidations,
        {
            "seq": entry.seq,
            "idx": idx,
            "ts": entry.ts,
            "account_id": e.account_id,
            "kind": type(e).__name__,
            "pool": getattr(e, "pool", None),
            "symbol": getattr(e, "symbol", None),
            "position_side": getattr(e, "position_side", None),
            "qty": getattr(e, "qty", None),
            "price": getattr(e, "price", None),
            "details": dumps(EVENTS.encode(e)),
        },
    )

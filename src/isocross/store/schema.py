"""The tables: the journal, snapshots, quarantine, and the read models derived from the journal.

The migrations (``migrations/versions``) create these; this module is what the code queries
with. A test checks that the migrated schema and these definitions agree.

Money is exact on both backends: ``NUMERIC`` on PostgreSQL, the decimal text on SQLite (whose
``NUMERIC`` would round through a float).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

VERSION_TABLE = "isocross_schema_version"
"""Alembic's revision table (named so it cannot clash with another application's)."""


class Money(TypeDecorator[Decimal]):
    """An exact Decimal: ``NUMERIC`` on PostgreSQL, its text elsewhere."""

    impl = String(80)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(80))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(value)


# SQLite makes an INTEGER PRIMARY KEY the row id (the table's own order); BIGINT elsewhere.
RowId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

journal = Table(
    "journal",
    metadata,
    Column("entry_id", RowId, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, unique=True),
    Column("ts", BigInteger, nullable=False),
    Column("command_type", String(100), nullable=False),
    Column("command", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("n_events", Integer, nullable=False),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("error_field", String(200)),
    Column("checksum", String(64), nullable=False),
)
"""Every command received, in order: accepted ones with their ``seq`` and events, refused ones
(``seq`` NULL) with the error. ``checksum`` is SHA-256 over every other column."""

quarantine = Table(
    "journal_quarantine",
    metadata,
    Column("quarantine_id", RowId, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger),
    Column("seq", BigInteger),
    Column("ts", BigInteger),
    Column("command_type", String(100)),
    Column("command", Text),
    Column("events", Text),
    Column("n_events", Integer),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("error_field", String(200)),
    Column("checksum", String(64)),
    Column("reason", Text, nullable=False),
    Column("moved_at_ms", BigInteger, nullable=False),
)
"""Journal rows at and after a corrupt entry, moved aside by recovery (kept, never replayed)."""

snapshots = Table(
    "snapshots",
    metadata,
    Column("snapshot_id", RowId, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),
    Column("format", Integer, nullable=False),
    Column("producer", String(200), nullable=False),
    Column("state_hash", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_snapshots_entry", "entry_id"),
)
"""The whole exchange after ``entry_id`` (zlib-compressed pickle, ``format`` versioned)."""

meta = Table(
    "store_meta",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", Text, nullable=False),
)
"""Facts about the store, e.g. ``factory``: the ``module:function`` that builds its exchange."""

# ---------------------------------------------------------------------------- read models
projection = Table(
    "projection",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("entry_id", BigInteger, nullable=False),
)
"""How far the read models are: the last journal entry applied (same transaction)."""

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("fee_tier", String(50)),
    Column("position_mode", String(20)),
    Column("default_margin_mode", String(20)),
    Column("opened_seq", BigInteger),
    Column("opened_ts", BigInteger),
    Column("updated_seq", BigInteger, nullable=False),
)

account_settings = Table(
    "account_settings",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("what", String(100), primary_key=True),
    Column("value", String(100), nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
)

balances = Table(
    "balances",
    metadata,
    Column("ledger_account", String(200), primary_key=True),
    Column("asset", String(20), primary_key=True),
    Column("owner", String(100), nullable=False, index=True),
    Column("balance", Money, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
)
"""Every ledger account's balance (``owner`` is the part before the first colon)."""

positions = Table(
    "positions",
    metadata,
    Column("account_id", String(100), primary_key=True),
    Column("symbol", String(40), primary_key=True),
    Column("position_side", String(10), primary_key=True),
    Column("qty", Money, nullable=False),
    Column("entry_price", Money, nullable=False),
    Column("margin_mode", String(20), nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(50), primary_key=True),
    Column("account_id", String(100), nullable=False, index=True),
    Column("symbol", String(40), nullable=False),
    Column("side", String(10)),
    Column("type", String(30)),
    Column("price", Money),
    Column("stop_price", Money),
    Column("client_order_id", String(100)),
    Column("status", String(20), nullable=False),
    Column("filled_qty", Money, nullable=False),
    Column("remaining_qty", Money, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_seq", BigInteger, nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("updated_seq", BigInteger, nullable=False),
    Column("updated_ts", BigInteger, nullable=False),
)


def _event_key() -> list[Column[Any]]:
    """Rows made from one event are keyed by the entry's seq and the event's index in it."""
    return [
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("idx", Integer, primary_key=True, autoincrement=False),
        Column("ts", BigInteger, nullable=False),
    ]


fills = Table(
    "fills",
    metadata,
    *_event_key(),
    Column("account_id", String(100), nullable=False, index=True),
    Column("trade_id", BigInteger, nullable=False),
    Column("order_id", String(50), nullable=False),
    Column("symbol", String(40), nullable=False),
    Column("side", String(10), nullable=False),
    Column("qty", Money, nullable=False),
    Column("price", Money, nullable=False),
    Column("is_maker", Boolean, nullable=False),
    Column("fee", Money, nullable=False),
    Column("realized_pnl", Money, nullable=False),
    Column("asset", String(20)),
)

funding_payments = Table(
    "funding_payments",
    metadata,
    *_event_key(),
    Column("account_id", String(100), nullable=False, index=True),
    Column("symbol", String(40), nullable=False),
    Column("position_side", String(10), nullable=False),
    Column("rate", Money, nullable=False),
    Column("amount", Money, nullable=False),
    Column("asset", String(20)),
)

liquidations = Table(
    "liquidations",
    metadata,
    *_event_key(),
    Column("account_id", String(100), nullable=False, index=True),
    Column("kind", String(50), nullable=False),
    Column("pool", String(60)),
    Column("symbol", String(40)),
    Column("position_side", String(10)),
    Column("qty", Money),
    Column("price", Money),
    Column("details", Text, nullable=False),
)
"""Liquidation steps (started, filled, ended), auto-deleveraging, uncovered losses; ``details``
is the whole event as JSON."""

margin_calls = Table(
    "margin_calls",
    metadata,
    *_event_key(),
    Column("account_id", String(100), nullable=False, index=True),
    Column("pool", String(60), nullable=False),
    Column("metric", String(30), nullable=False),
    Column("threshold", Money, nullable=False),
    Column("value", Money),
)

insurance_fund = Table(
    "insurance_fund",
    metadata,
    *_event_key(),
    Column("asset", String(20), nullable=False),
    Column("change", Money, nullable=False),
    Column("balance", Money, nullable=False),
    Column("counterparty", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)
"""Every movement of the insurance fund's ledger account, with the balance after it."""

READ_MODELS = (
    projection,
    accounts,
    account_settings,
    balances,
    positions,
    orders,
    fills,
    funding_payments,
    liquidations,
    margin_calls,
    insurance_fund,
)

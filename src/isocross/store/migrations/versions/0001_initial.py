"""The journal, snapshots, quarantine and the read models.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _money() -> Any:
    """Exact decimals: NUMERIC on PostgreSQL, the decimal text on SQLite."""
    return sa.String(80).with_variant(sa.Numeric(), "postgresql")


def _row_id() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _event_key() -> list[sa.Column[Any]]:
    return [
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "journal",
        sa.Column("entry_id", _row_id(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, unique=True),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("command_type", sa.String(100), nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("n_events", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_field", sa.String(200)),
        sa.Column("checksum", sa.String(64), nullable=False),
    )
    op.create_table(
        "journal_quarantine",
        sa.Column("quarantine_id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.BigInteger),
        sa.Column("seq", sa.BigInteger),
        sa.Column("ts", sa.BigInteger),
        sa.Column("command_type", sa.String(100)),
        sa.Column("command", sa.Text),
        sa.Column("events", sa.Text),
        sa.Column("n_events", sa.Integer),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("error_field", sa.String(200)),
        sa.Column("checksum", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("moved_at_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("snapshot_id", _row_id(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("format", sa.Integer, nullable=False),
        sa.Column("producer", sa.String(200), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_snapshots_entry", "snapshots", ["entry_id"])
    op.create_table(
        "projection",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("entry_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("fee_tier", sa.String(50)),
        sa.Column("position_mode", sa.String(20)),
        sa.Column("default_margin_mode", sa.String(20)),
        sa.Column("opened_seq", sa.BigInteger),
        sa.Column("opened_ts", sa.BigInteger),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "account_settings",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("what", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(100), nullable=False),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "balances",
        sa.Column("ledger_account", sa.String(200), primary_key=True),
        sa.Column("asset", sa.String(20), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("balance", _money(), nullable=False),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_balances_owner", "balances", ["owner"])
    op.create_table(
        "positions",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("symbol", sa.String(40), primary_key=True),
        sa.Column("position_side", sa.String(10), primary_key=True),
        sa.Column("qty", _money(), nullable=False),
        sa.Column("entry_price", _money(), nullable=False),
        sa.Column("margin_mode", sa.String(20), nullable=False),
        sa.Column("leverage", sa.Integer, nullable=False),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(50), primary_key=True),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("side", sa.String(10)),
        sa.Column("type", sa.String(30)),
        sa.Column("price", _money()),
        sa.Column("stop_price", _money()),
        sa.Column("client_order_id", sa.String(100)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filled_qty", _money(), nullable=False),
        sa.Column("remaining_qty", _money(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_seq", sa.BigInteger, nullable=False),
        sa.Column("created_ts", sa.BigInteger, nullable=False),
        sa.Column("updated_seq", sa.BigInteger, nullable=False),
        sa.Column("updated_ts", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_orders_account_id", "orders", ["account_id"])
    op.create_table(
        "fills",
        *_event_key(),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("trade_id", sa.BigInteger, nullable=False),
        sa.Column("order_id", sa.String(50), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("qty", _money(), nullable=False),
        sa.Column("price", _money(), nullable=False),
        sa.Column("is_maker", sa.Boolean, nullable=False),
        sa.Column("fee", _money(), nullable=False),
        sa.Column("realized_pnl", _money(), nullable=False),
        sa.Column("asset", sa.String(20)),
    )
    op.create_index("ix_fills_account_id", "fills", ["account_id"])
    op.create_table(
        "funding_payments",
        *_event_key(),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("symbol", sa.String(40), nullable=False),
        sa.Column("position_side", sa.String(10), nullable=False),
        sa.Column("rate", _money(), nullable=False),
        sa.Column("amount", _money(), nullable=False),
        sa.Column("asset", sa.String(20)),
    )
    op.create_index("ix_funding_payments_account_id", "funding_payments", ["account_id"])
    op.create_table(
        "liquidations",
        *_event_key(),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("pool", sa.String(60)),
        sa.Column("symbol", sa.String(40)),
        sa.Column("position_side", sa.String(10)),
        sa.Column("qty", _money()),
        sa.Column("price", _money()),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_liquidations_account_id", "liquidations", ["account_id"])
    op.create_table(
        "margin_calls",
        *_event_key(),
        sa.Column("account_id", sa.String(100), nullable=False),
        sa.Column("pool", sa.String(60), nullable=False),
        sa.Column("metric", sa.String(30), nullable=False),
        sa.Column("threshold", _money(), nullable=False),
        sa.Column("value", _money()),
    )
    op.create_index("ix_margin_calls_account_id", "margin_calls", ["account_id"])
    op.create_table(
        "insurance_fund",
        *_event_key(),
        sa.Column("asset", sa.String(20), nullable=False),
        sa.Column("change", _money(), nullable=False),
        sa.Column("balance", _money(), nullable=False),
        sa.Column("counterparty", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "insurance_fund",
        "margin_calls",
        "liquidations",
        "funding_payments",
        "fills",
        "orders",
        "positions",
        "balances",
        "account_settings",
        "accounts",
        "projection",
        "snapshots",
        "journal_quarantine",
        "journal",
    ):
        op.drop_table(table)

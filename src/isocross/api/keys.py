"""API accounts and keys: who may call the API, for which account, with which permissions.

Kept in the store's database, in two tables of the service's own (``api_accounts``,
``api_keys``; migrated by the service's own Alembic environment and version table, so they
never collide with the store's migrations). The command line (``isocross accounts …``) writes
them; a running server reads them (:class:`KeyStore.lookup`) and opens each registered account
in the exchange through the journal.

Secrets are stored as issued: HMAC-SHA256 signing needs the server to hold the same secret (as
Binance does). Protect the database accordingly.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from isocross.engine.fees import FeeSchedule
from isocross.model.errors import IsocrossError
from isocross.store.db import StoreError, make_engine, resolve_url

VERSION_TABLE = "isocross_api_schema_version"
MIGRATIONS = Path(__file__).with_name("migrations")
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Permission(StrEnum):
    """What a key may do: read (every GET), trade (orders and settings), transfer (money)."""

    READ = "read"
    TRADE = "trade"
    TRANSFER = "transfer"


ALL_PERMISSIONS = frozenset(Permission)

metadata = MetaData()
api_accounts = Table(
    "api_accounts",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("fee_tier", String(20), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("secret", String(128), nullable=False),
    Column("permissions", String(100), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger),
)


class KeyManagementError(ValueError):
    """A key-management request that cannot be done (unknown account, bad id …)."""


@dataclass(frozen=True, slots=True)
class ApiAccount:
    account_id: str
    fee_tier: str
    label: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key. ``secret`` is empty when listed (it is shown once, when issued)."""

    api_key: str
    account_id: str
    secret: str
    permissions: frozenset[Permission]
    label: str
    created_ms: int
    revoked_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions


def parse_permissions(text: str | Iterable[str]) -> frozenset[Permission]:
    """``"read,trade"`` (or a list) as permissions; refuses unknown names."""
    names = text.split(",") if isinstance(text, str) else list(text)
    out: set[Permission] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        try:
            out.add(Permission(name))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise KeyManagementError(f"unknown permission {name!r}; use {known}") from None
    if not out:
        raise KeyManagementError("a key needs at least one permission (read, trade, transfer)")
    return frozenset(out)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the service's tables (its own Alembic version table)."""
    config = _alembic_config()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        current = context.get_current_revision()
    if current != "api_0001_keys":
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


class KeyStore:
    """The API accounts and keys of one database (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, database: str, *, schema: str | None = None) -> KeyStore:
        """Open (creating and migrating as needed) the key tables of ``database``."""
        try:
            engine = make_engine(resolve_url(database), schema=schema, create=True)
            migrate(engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the key tables of {database}: {exc}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ accounts
    def create_account(
        self,
        account_id: str,
        *,
        fee_tier: str = "VIP0",
        label: str = "",
        permissions: Iterable[Permission] = ALL_PERMISSIONS,
    ) -> ApiKey:
        """Register ``account_id`` and issue its first key (returned with its secret)."""
        if not ACCOUNT_ID.fullmatch(account_id):
            raise KeyManagementError(
                f"account id {account_id!r} is not allowed: use 1 to 64 letters, digits, "
                "'_', '-' or '.'"
            )
        try:
            FeeSchedule().rates(fee_tier)
        except IsocrossError as exc:
            raise KeyManagementError(exc.message) from None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(api_accounts).values(
                        account_id=account_id,
                        fee_tier=fee_tier,
                        label=label,
                        created_ms=_now_ms(),
                    )
                )
        except IntegrityError:
            raise KeyManagementError(f"account {account_id!r} already exists") from None
        return self.add_key(account_id, permissions, label=label)

    def account(self, account_id: str) -> ApiAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_accounts).where(api_accounts.c.account_id == account_id)
            ).first()
        return None if row is None else ApiAccount(*row)

    def accounts(self) -> list[ApiAccount]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_accounts).order_by(api_accounts.c.account_id))
            return [ApiAccount(*row) for row in rows]

    # ------------------------------------------------------------------ keys
    def add_key(
        self, account_id: str, permissions: Iterable[Permission], *, label: str = ""
    ) -> ApiKey:
        """Issue a new key for a registered account (returned with its secret)."""
        if self.account(account_id) is None:
            raise KeyManagementError(f"no account {account_id!r}; create it first")
        perms = parse_permissions([str(p) for p in permissions])
        key = ApiKey(
            api_key=secrets.token_hex(32),
            account_id=account_id,
            secret=secrets.token_hex(32),
            permissions=perms,
            label=label,
            created_ms=_now_ms(),
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    api_key=key.api_key,
                    account_id=account_id,
                    secret=key.secret,
                    permissions=",".join(sorted(perms)),
                    label=label,
                    created_ms=key.created_ms,
                )
            )
        return key

    def revoke(self, api_key: str) -> bool:
        """Revoke a key; False if there is no such active key."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(api_keys)
                .where(api_keys.c.api_key == api_key, api_keys.c.revoked_ms.is_(None))
                .values(revoked_ms=_now_ms())
            ).rowcount
        return bool(done)

    def keys(self, account_id: str | None = None) -> list[ApiKey]:
        """Every key (of ``account_id``), secrets left out."""
        stmt = select(api_keys).order_by(api_keys.c.account_id, api_keys.c.created_ms)
        if account_id is not None:
            stmt = stmt.where(api_keys.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [self._key(row, secret=False) for row in conn.execute(stmt)]

    def lookup(self, api_key: str) -> ApiKey | None:
        """The active key ``api_key`` with its secret, or None."""
        stmt = select(api_keys).where(
            api_keys.c.api_key == api_key, api_keys.c.revoked_ms.is_(None)
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._key(row, secret=True)

    @staticmethod
    def _key(row: object, *, secret: bool) -> ApiKey:
        values = row._mapping  # type: ignore[attr-defined]
        return ApiKey(
            api_key=values["api_key"],
            account_id=values["account_id"],
            secret=values["secret"] if secret else "",
            permissions=parse_permissions(values["permissions"]),
            label=values["label"],
            created_ms=values["created_ms"],
            revoked_ms=values["revoked_ms"],
        )

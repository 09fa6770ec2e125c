"""Databases: URLs, engines tuned for durability, migrations on open, the single-writer lock.

SQLite (the embedded default) is one file under a data directory, in WAL mode with
``synchronous=FULL``: a commit returns once the WAL is on disk. PostgreSQL keeps its own
durability (``synchronous_commit``); a store can live in its own schema (``search_path``).
Alembic migrates the schema programmatically on open; a database whose revision this code does
not know (written by a newer isocross) is refused, never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from isocross.store.schema import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_DATA_DIR = Path("data")
SQLITE_FILE = "isocross.sqlite3"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class StoreError(Exception):
    """The store cannot do what was asked (no database, newer schema, lock held, I/O …)."""


def resolve_url(db: str | os.PathLike[str] | None) -> str:
    """A SQLAlchemy URL from a URL, a SQLite file path or a data directory (None: ``data/``)."""
    if db is None:
        db = DEFAULT_DATA_DIR
    text_db = os.fspath(db)
    if "://" in text_db:
        return text_db
    path = Path(text_db)
    if path.is_dir() or not path.suffix:
        path = path / SQLITE_FILE
    return f"sqlite:///{path}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other backends)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise StoreError("an in-memory SQLite database is not durable; give a file")
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, *, schema: str | None = None, create: bool = True) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL) is created when missing if ``create``."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        assert path is not None
        if not path.exists():
            if not create:
                raise StoreError(f"no journal at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend != "postgresql":
        raise StoreError(f"unsupported database {backend!r}: use sqlite or postgresql")
    connect_args: dict[str, Any] = {"connect_timeout": 10}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"schema name {schema!r} is not a plain SQL identifier")
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, connect_args=connect_args, pool_size=4, max_overflow=4)
    if schema is not None:
        try:
            with engine.begin() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
                ).first()
                if exists is None:
                    if not create:
                        raise StoreError(f"no schema {schema!r} in {_safe(url)}")
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot reach {_safe(url)}: {_first_line(exc)}") from exc
    return engine


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def revisions() -> list[str]:
    """The schema revisions this code knows, oldest first: one migration module per revision,
    named after its id (``0001_initial.py``), numbered in order (a test holds Alembic to it).
    Read from the file names, so opening a current database needs no Alembic at all."""
    names = (p.stem for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    return sorted(names)


def head_revision() -> str:
    return revisions()[-1]


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision (None: no isocross schema yet)."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise StoreError(f"{VERSION_TABLE} names {len(rows)} revisions: {', '.join(rows)}")
    return rows[0] if rows else None


def migrate(engine: Engine, *, create: bool = True) -> str:
    """Bring the schema to the head revision; returns it. Refuses a revision it does not know
    (a newer isocross wrote it) and, unless ``create``, a database without a journal."""
    known = revisions()
    head = known[-1]
    url = _safe(str(engine.url))
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
        if current is not None and current not in known:
            raise StoreError(
                f"{url} has schema revision {current!r}, which this isocross does not know "
                f"(it knows up to {head!r}): it was written by a newer version; upgrade "
                "isocross to open it"
            )
        if current is None and not create:
            raise StoreError(f"{url} holds no isocross journal")
        if current != head:
            from alembic import command

            config = _alembic_config()
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open {url}: {_first_line(exc)}") from exc
    return head


class WriterLock:
    """One writer per journal: an advisory lock (PostgreSQL, per schema) or a lock file beside
    the SQLite database. A killed process loses it with its connection or file descriptor."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._fd: int | None = None

    def acquire(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._try():
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"another process is writing to {_safe(str(self.engine.url))} "
                    f"(waited {timeout:g} s for its lock)"
                )
            time.sleep(0.05)

    def _try(self) -> bool:
        path = sqlite_path(str(self.engine.url))
        if path is not None:
            if self._fd is None:
                self._fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
        if self._conn is None:
            self._conn = self.engine.connect()
        got = self._conn.execute(
            text("SELECT pg_try_advisory_lock(1397966677, hashtext(current_schema()))")
        ).scalar()
        self._conn.commit()
        return bool(got)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.invalidate()  # really close: the session's lock goes with it
                self._conn.close()
            self._conn = None

"""Databases for the store's tests: one per test, on SQLite and on PostgreSQL.

Every store test that takes ``db`` runs on both backends. SQLite gets a file in the test's own
directory; PostgreSQL (``ISOCROSS_TEST_PG``, default the local server's ``test`` database) a
fresh schema, dropped afterwards, so parallel workers never meet. An unreachable PostgreSQL
fails these tests: it does not skip them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text

from isocross.store import DurableExchange, Store

PG_URL = os.environ.get("ISOCROSS_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Db:
    """Where one test's store lives."""

    backend: str
    url: str
    schema: str | None

    def store(self, **options: Any) -> Store:
        return Store.open(self.url, schema=self.schema, **options)

    def durable(self, **options: Any) -> DurableExchange:
        options.setdefault("batch_window_ms", 0.5)
        return DurableExchange.open(self.url, schema=self.schema, **options)

    def args(self) -> list[str]:
        """The command-line options naming this database."""
        return ["--db", self.url] + (["--schema", self.schema] if self.schema else [])


def pg_schema() -> Iterator[Db]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 5})
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Db("postgresql", PG_URL, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
